/**
 * @file `studio prune --shape`: a model with dynamic spatial dims is refused by name (nothing written) when no
 * shape sizes them, and prunes + speeds up when `--shape` does; the same through the real command line.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Builder } from '../../../test/pruning/helpers.ts';
import { saveModelFile } from '../io/model-file.ts';
import { DynamicDimsError } from '../runtime/index.ts';
import { pruneCommand, type CommandIO } from './prune.ts';

const dir = mkdtempSync(join(tmpdir(), 'prune-shape-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet: CommandIO = { stdout: () => {}, stderr: () => {} };

/** conv → relu → conv → relu → global pool → Gemm over an input of dynamic batch, height and width. */
function dynamicCnn(): string {
  const b = new Builder(7);
  const x = b.g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['N', 3, 'height', 'width'] });
  const h = b.op('Relu', 'r2', [b.conv('conv2', b.op('Relu', 'r1', [b.conv('conv1', x, 16, 3)]), 16, 16)]);
  const pooled = b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [h])]);
  const y = b.gemm('fc', pooled, 4, 16);
  y.type = { kind: 'tensor', dtype: 'float32', shape: ['N', 4] };
  b.g.outputs.push(y);
  const path = join(dir, 'dyn.onnx');
  saveModelFile(b.model, path);
  return path;
}

const model = dynamicCnn();
const config = join(dir, 'auto.json');
writeFileSync(config, JSON.stringify([{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }]));

describe('prune with dynamic spatial dims', () => {
  it('refuses by name when nothing sizes them, and writes nothing', async () => {
    const out = join(dir, 'refused');
    await expect(pruneCommand({ model, config, pruner: 'l1', out, speedup: true }, quiet)).rejects.toThrow(
      DynamicDimsError,
    );
    await expect(pruneCommand({ model, config, pruner: 'l1', out }, quiet)).rejects.toThrow(
      /input "x" dims "height" \(axis 2\), "width" \(axis 3\).*--shape x=1,3,<height>,<width>/,
    );
    expect(existsSync(out)).toBe(false);
  });

  it('prunes and speeds up at the given --shape', async () => {
    const r = await pruneCommand(
      { model, config, pruner: 'l1', out: join(dir, 'ok'), speedup: true, shapes: { x: [1, 3, 20, 12] } },
      quiet,
    );
    expect(r.speedup!.max_rel_err).toBeLessThan(1e-4);
    expect(r.speedup!.macs_after).toBeLessThan(r.speedup!.macs_before);
    // traced at 20×12 (240 positions): conv1 16·27 and conv2 16·144 MACs per position, the head 16·4
    expect(r.speedup!.macs_before).toBe(16 * 27 * 240 + 16 * 144 * 240 + 16 * 4);
  });

  it('studio prune --shape on the command line', async () => {
    const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'studio.mjs');
    const run = (...args: string[]) =>
      promisify(execFile)(process.execPath, [
        bin,
        'prune',
        model,
        '--config',
        config,
        '--speedup',
        '--json',
        ...args,
      ]).then(
        (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
    const refused = await run('--out', join(dir, 'cli-refused'));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      /dynamic dims that cannot be inferred: input "x" dims "height" \(axis 2\), "width" \(axis 3\)/,
    );
    const ok = await run('--out', join(dir, 'cli-ok'), '--shape', 'x=1,3,16,16');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).max_rel_err).toBeLessThan(1e-4);
  });
});
