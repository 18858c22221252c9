/** `studio sensitivity` and `studio allocate` end to end on the bundled model: files written, the config list prunes. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { allocateCommand, readScan, sensitivityCommand } from './sensitivity.ts';
import { pruneCommand } from './prune.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'studio.mjs');
const MODEL = join(ROOT, 'resources', 'mnist-cnn.onnx');
const DATA = join(ROOT, 'resources', 'mnist');
const dir = mkdtempSync(join(tmpdir(), 'studio-sens-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { stdout: (s: string) => void out.push(s), stderr: () => {} };
const out: string[] = [];

async function studio(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args]);
    return { code: 0, stderr: r.stderr };
  } catch (e) {
    return { code: (e as { code: number }).code, stderr: (e as { stderr: string }).stderr };
  }
}

describe('studio sensitivity / allocate', () => {
  it('scans through one worker, allocates for a MACs budget, and the config list prunes + speeds up', async () => {
    const { scan, path } = await sensitivityCommand(
      { model: MODEL, data: DATA, ratios: [0.5], evalCount: 100, latencyRuns: 3, workers: 1, out: join(dir, 'scan') },
      quiet,
    );
    expect(path).toBe(join(dir, 'scan', 'sensitivity.json'));
    expect(readScan(path).points).toHaveLength(3);
    expect(out.join('')).toMatch(/3 points \(3 groups × 1 ratios\).*on 1 worker/);
    const budget = `macs=${Math.round(scan.baseline.macs * 0.8)}`;
    const { allocation, configPath } = await allocateCommand(
      { scan: path, budget, maxDrop: 1, shortTermSteps: 20, out: join(dir, 'alloc') },
      quiet,
    );
    expect(JSON.parse(readFileSync(configPath, 'utf8'))).toEqual(allocation.configList);
    expect(existsSync(join(dir, 'alloc', 'allocation.json'))).toBe(true);
    // refined by default: the chosen allocation's MACs counted whole are its prediction; --no-refine keeps the model's
    const ref = allocation.refinement!;
    expect(ref).toMatchObject({ axis: 'macs', met: true });
    expect(allocation.predicted.macs).toBeCloseTo(scan.baseline.macs * ref.rounds[ref.chosen]!.measured, 6);
    expect(out.join('')).toMatch(/MACs of dense: scan-only model [\d.]+, measured whole [\d.]+ \(the prediction below/);
    // the candidates meeting the budget, each fine-tuned briefly on the train split: the best held-out top-1 returned
    const st = ref.shortTerm!;
    expect(st).toMatchObject({ steps: 20, heldOut: 1000 });
    expect(st.candidates[st.chosen]!.shortTerm).toBe(Math.max(...st.candidates.map((c) => c.shortTerm)));
    expect(out.join('')).toMatch(/chosen by a 20-step fine-tune of each allocation meeting the budget/);
    const plain = await allocateCommand(
      { scan: path, budget, maxDrop: 1, refine: false, out: join(dir, 'alloc-plain') },
      quiet,
    );
    expect(plain.allocation.refinement).toBeUndefined();
    // a per-group cap below the only scanned ratio leaves nothing to prune: the budget is refused, naming the cap
    await expect(
      allocateCommand({ scan: path, budget, maxDrop: 1, maxSparseRatio: 0.4, out: join(dir, 'capped') }, quiet),
    ).rejects.toThrow(/per-group cap 0\.4 \(maxSparseRatio\)/);
    const pruned = await pruneCommand(
      { model: MODEL, config: configPath, pruner: 'l1', speedup: true, out: join(dir, 'pruned') },
      quiet,
    );
    expect(pruned.speedup!.macs_after).toBeLessThanOrEqual(scan.baseline.macs * 0.8);
    expect(pruned.speedup!.max_rel_err).toBeLessThan(1e-4);
  }, 180_000);

  it('refuses bad ratios, budgets and scan files with one named line', async () => {
    const r = await studio('sensitivity', MODEL, '--data', DATA, '--ratios', '0.5,1.5');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ratios must be numbers in \(0, 1\); bad: "1.5"/);
    const notScan = join(dir, 'x.json');
    writeFileSync(notScan, '{"points": []}');
    const s = await studio('allocate', notScan, '--budget', '2x', '--max-drop', '0.01');
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/SensitivityError: .*not a sensitivity scan/);
  }, 60_000);
});
