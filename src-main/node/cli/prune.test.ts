/** @file `pruneCommand`: files written, table and JSON output, plan replayable, bad arguments named. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mnistCnn, randomInput, runOrt } from '../../../test/pruning/helpers.ts';
import { applyPlan, planFromJson } from '../../core/compress/pruning/index.ts';
import { loadModelFile, saveModelFile } from '../io/model-file.ts';
import { PruneCommandError, pruneCommand, type CommandIO } from './prune.ts';

const dir = mkdtempSync(join(tmpdir(), 'prune-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): CommandIO & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (s: string) => void (io.out += s), stderr: (s: string) => void (io.err += s) };
  return io;
}

const modelPath = join(dir, 'cnn.onnx');
saveModelFile(mnistCnn(), modelPath);
const configPath = join(dir, 'config.json');
writeFileSync(
  configPath,
  JSON.stringify([
    { op_types: ['Conv'], sparse_ratio: 0.5 },
    { op_names: ['fc9'], sparse_ratio: 0.5 },
  ]),
);

describe('pruneCommand', () => {
  it('--speedup with auto groups writes compact.onnx, warns on unaligned widths, and roundTo aligns them', async () => {
    const cfg = join(dir, 'auto.json');
    writeFileSync(cfg, JSON.stringify([{ op_types: ['Conv'], sparse_ratio: 0.3, dependency_group_id: 'auto' }]));
    const plain = await pruneCommand(
      { model: modelPath, config: cfg, pruner: 'l1', out: join(dir, 'sp1'), speedup: true },
      capture(),
    );
    const sp = plain.speedup!;
    expect(existsSync(sp.compact)).toBe(true);
    expect(sp.max_rel_err).toBeLessThan(1e-4);
    expect(sp.macs_after).toBeLessThan(sp.macs_before);
    expect(sp.warnings.some((w) => /not multiples of 8.*use roundTo: 8/.test(w))).toBe(true);
    const rounded = await pruneCommand(
      { model: modelPath, config: cfg, pruner: 'l1', out: join(dir, 'sp2'), speedup: true, roundTo: 8 },
      capture(),
    );
    const r = rounded.speedup!;
    expect(r.warnings.some((w) => /not multiples of 8/.test(w))).toBe(false);
    const convs = r.report.layers.filter((l) => l.opType === 'Conv' && l.channelsAfter < l.channelsBefore);
    expect(convs.length).toBeGreaterThan(0);
    for (const l of convs) expect(l.channelsAfter % 8).toBe(0);
  });

  it('writes simulated.onnx and plan.json and prints a sparsity table', async () => {
    const io = capture();
    const out = join(dir, 'table');
    const r = await pruneCommand({ model: modelPath, config: configPath, pruner: 'l1', out }, io);
    expect(existsSync(r.simulatedPath) && existsSync(r.planPath)).toBe(true);
    expect(io.out).toMatch(/^node\s+op\s+target\s+shape\s+sparsity\s+method\n/);
    expect(io.out).toMatch(/conv1\s+Conv\s+weight\s+16×1×3×3\s+50\.0%\s+mul/);
    expect(io.out).toMatch(/6 targets; \d+ of \d+ parameter elements masked/);
    expect(io.err).toMatch(/warning: \$\[1\]\.op_names\[0\]: no node is named 'fc9'/);
    const sim = loadModelFile(r.simulatedPath);
    await runOrt(sim, { input: randomInput([1, 1, 28, 28]) });
    const plan = planFromJson(readFileSync(r.planPath, 'utf8'));
    expect(plan.model.name).toBe('cnn');
    expect(applyPlan(loadModelFile(modelPath), plan).diagnostics).toEqual([]);
  });

  it('prints JSON with --json', async () => {
    const io = capture();
    await pruneCommand(
      { model: modelPath, config: configPath, pruner: 'fpgm', out: join(dir, 'json'), json: true },
      io,
    );
    const j = JSON.parse(io.out);
    expect(j.pruner).toBe('fpgm');
    expect(
      j.targets.map((t: { node: string; target: string; sparsity: number }) => `${t.node}.${t.target}:${t.sparsity}`),
    ).toContain('conv2.weight:0.5');
    expect(j.diagnostics[0].code).toBe('unmatched-op-name');
    expect(io.err).toBe('');
  });

  it('names bad arguments', async () => {
    await expect(pruneCommand({ model: modelPath, config: configPath, pruner: 'taylor' as never })).rejects.toThrow(
      PruneCommandError,
    );
    await expect(pruneCommand({ model: modelPath, config: join(dir, 'none.json'), pruner: 'l1' })).rejects.toThrow(
      /config list ".*none\.json" does not exist/,
    );
    writeFileSync(join(dir, 'bad.json'), '[{');
    await expect(pruneCommand({ model: modelPath, config: join(dir, 'bad.json'), pruner: 'l1' })).rejects.toThrow(
      /is not JSON/,
    );
    writeFileSync(join(dir, 'range.json'), '[{"op_types": ["Conv"], "sparse_ratio": 2}]');
    await expect(pruneCommand({ model: modelPath, config: join(dir, 'range.json'), pruner: 'l1' })).rejects.toThrow(
      /\$\[0\]\.sparse_ratio: must be < 1/,
    );
  });
});
