/**
 * @file The run measurement: after a run, the original model is timed alternately with the result (the
 * side-by-side speedup the report uses); before a run, or when the result is the original file, plain timing.
 */
import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parsePlan } from '../../../src-shared/experiment.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { MeasureContext } from '../jobs/registry.ts';
import { measureModel } from './measure.ts';

const original = resolve('resources/mnist-cnn.onnx');
const plan = parsePlan({ model: original, steps: [] });
const ctx = (phase: 'before' | 'after', modelPath: string): MeasureContext => ({
  phase,
  modelPath,
  plan,
  token: new CancellationSource().token,
  progress: () => {},
  log: () => {},
});

describe('measureModel', () => {
  it('times the result side by side with the original after a run', async () => {
    // the same network under another path: the side-by-side speedup of identical models is about 1
    const copy = join(mkdtempSync(join(tmpdir(), 'measure-')), 'result.onnx');
    copyFileSync(original, copy);
    const after = await measureModel(ctx('after', copy));
    expect(after.latencyMs?.baselineP50).toBeGreaterThan(0);
    expect(after.latencyMs?.speedup).toBeGreaterThan(0.5);
    expect(after.latencyMs?.speedup).toBeLessThan(2);
    expect(after.params).toBe(24170);
  });

  it('times the model alone before a run', async () => {
    const before = await measureModel(ctx('before', original));
    expect(before.latencyMs?.p50).toBeGreaterThan(0);
    expect(before.latencyMs?.baselineP50).toBeUndefined();
    expect(before.latencyMs?.speedup).toBeUndefined();
    expect(before.provider).toEqual({ requested: 'cpu', used: 'cpu', fallback: null });
  });

  it('a provider that cannot run here falls back to CPU and says so in the log and the snapshot', async () => {
    // No GPU on these machines (and Dawn refuses the CPU Vulkan driver): webgpu cannot start.
    const logs: { msg: string; level?: string }[] = [];
    const gpuPlan = parsePlan({ model: original, executionProvider: 'webgpu', steps: [] });
    const snap = await measureModel({
      ...ctx('before', original),
      plan: gpuPlan,
      log: (msg, level) => logs.push({ msg, level }),
    });
    if (snap.provider?.used === 'webgpu') return; // a machine with a GPU: nothing fell back
    expect(snap.provider).toMatchObject({
      requested: 'webgpu',
      used: 'cpu',
      fallback: expect.stringContaining('webgpu requested but'),
    });
    expect(logs).toContainEqual({
      msg: expect.stringMatching(/^execution provider: webgpu requested but .*; ran on cpu \(measuring before\)$/),
      level: 'warn',
    });
  });
});
