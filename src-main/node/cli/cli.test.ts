/** @file The `studio` command as a user runs it: JSON shapes, exit codes, and clear errors on bad input. */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseShapes } from './main.ts';
import { loadModelFile } from '../io/model-file.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'studio.mjs');
const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures');
const MNIST = join(import.meta.dirname, '..', '..', '..', 'resources', 'mnist-cnn.onnx');

async function studio(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('studio CLI', () => {
  it('inspect --json prints the documented keys with real figures', async () => {
    const r = await studio('inspect', MNIST, '--json', '--shape', 'input=4,1,28,28');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    for (const k of ['opset', 'inputs', 'outputs', 'nodes', 'opTypes', 'params', 'macs', 'sizeBytes'])
      expect(info).toHaveProperty(k);
    expect(info.opset).toBe(17);
    expect(info.opTypes.Conv).toBe(3);
    expect(info.params).toBe(24170);
    expect(info.tracedInputs.input).toEqual([4, 1, 28, 28]);
    // conv MACs at batch 4: 4 × (16·9·28² + 32·144·14² + 64·288·7²) plus the head 4·64·10
    expect(info.macs).toBe(4 * (16 * 9 * 784 + 32 * 144 * 196 + 64 * 288 * 49) + 4 * 640);
  });

  it('inspect counts the nodes the file holds, and the Constant nodes it lifted separately', async () => {
    const file = join(FIXTURES, 'constant_weights_cnn.onnx');
    const raw = loadModelFile(file).graph.nodes;
    const constants = raw.filter((n) => n.opType === 'Constant').length;
    expect(constants).toBeGreaterThan(0);
    const r = await studio('inspect', file, '--json');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.nodes).toBe(raw.length);
    expect(info.liftedConstantNodes).toBe(constants);
    expect(info.loadedNodes).toBe(raw.length - constants);
    const text = await studio('inspect', file);
    expect(text.stdout).toContain(
      `nodes   ${raw.length} (${constants} Constant lifted to initializers, ${raw.length - constants} once opened)`,
    );
  });

  it('inspect --trace lists every value of a model with control flow', async () => {
    const r = await studio('inspect', join(FIXTURES, 'loop_model.onnx'), '--json', '--trace', '--shape', 'input=2,5,8');
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.controlFlow).toContain('Loop');
    expect(info.values.find((v: { name: string }) => v.name === info.outputs[0].name).shape[0]).toBe(2);
  });

  it('bench --json reports ordered percentiles and the CPU flags', async () => {
    const r = await studio('bench', MNIST, '--runs', '10', '--threads', '1', '--json', '--shape', 'input=1,1,28,28');
    expect(r.code).toBe(0);
    const b = JSON.parse(r.stdout);
    expect(b.runs).toBe(10);
    expect(b.threads).toBe(1);
    expect(b.p50).toBeLessThanOrEqual(b.p90);
    expect(b.p90).toBeLessThanOrEqual(b.p99);
    expect(b.cpu.flags).toHaveProperty('avx2');
  });

  it('an unavailable provider falls back to CPU and says so', async () => {
    const r = await studio('bench', MNIST, '--runs', '3', '--json', '--ep', 'cuda', '--shape', 'input=1,1,28,28');
    expect(r.code).toBe(0);
    const b = JSON.parse(r.stdout);
    expect(b.ep).toBe('cpu');
    expect(b.fallback.requested).toBe('cuda');
  });

  it('bad input: a non-ONNX file, a missing file, a bad --shape each exit 1 with a named error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'studio-cli-'));
    writeFileSync(join(dir, 'notes.onnx'), 'these are my notes, not a model\n'.repeat(10));
    const a = await studio('inspect', join(dir, 'notes.onnx'));
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/^ModelFormatError: /);
    const b = await studio('inspect', join(dir, 'missing.onnx'));
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(/ModelFileError: model file ".*missing.onnx" does not exist/);
    expect(() => parseShapes(['input=1,x'])).toThrow(/--shape expects/);
  });

  it('bad numbers (a zero epoch count, a negative learning rate, a fractional batch) and a bad --resume each exit 1 naming the fault, writing nothing', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'studio-cli-')), 'out');
    const data = join(import.meta.dirname, '..', '..', '..', 'resources', 'mnist');
    for (const [flag, value, why] of [
      ['--epochs', '0', /whole number ≥ 1/],
      ['--lr', '-1', /greater than 0/],
      ['--batch-size', '2.5', /whole number ≥ 1/],
      ['--momentum', '1.5', /\[0, 1\)/],
    ] as const) {
      const r = await studio('train', MNIST, '--data', data, '--out', out, flag, value);
      expect(r.code, flag).toBe(1);
      expect(r.stderr).toContain(`option '${flag} <`);
      expect(r.stderr).toMatch(why);
    }
    expect(existsSync(out)).toBe(false);
    const notCheckpoint = await studio('train', MNIST, '--data', data, '--out', out, '--resume', MNIST);
    expect(notCheckpoint.code).toBe(1);
    expect(notCheckpoint.stderr).toMatch(/^CheckpointError: .*mnist-cnn\.onnx is not a training checkpoint/);
    expect(existsSync(out)).toBe(false);
  });
});
