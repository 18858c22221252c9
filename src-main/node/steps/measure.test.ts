/**
 * @file The run measurement: after a run, the original model is timed alternately with the result (the
 * side-by-side speedup the report uses); before a run, or when the result is the original file, plain timing.
 */
import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { computeFactors, parsePlan } from '../../../src-shared/experiment.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { MeasureContext } from '../jobs/registry.ts';
import { measureModel, slowerReasons } from './measure.ts';
import { loadModelFile } from '../io/model-file.ts';
import { ORT_CPU_STATIC_CONFIG } from '../../core/compress/quantization/index.ts';
import { imageEvaluator, PTQQuantizer } from '../quantize/index.ts';
import { loadSamples } from '../train/data.ts';

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

  it('times batch 1 and the evaluation batch size, both side by side with the original after a run', async () => {
    const evaluation = {
      kind: 'idx',
      paths: [
        resolve('resources/mnist/t10k-images-idx3-ubyte.gz'),
        resolve('resources/mnist/t10k-labels-idx1-ubyte.gz'),
      ],
      limit: 200,
    };
    const evalPlan = parsePlan({
      model: original,
      dataset: { evaluation },
      evaluator: { batchSize: 100 },
      steps: [],
    });
    const copy = join(mkdtempSync(join(tmpdir(), 'measure-')), 'result.onnx');
    copyFileSync(original, copy);
    const before = await measureModel({ ...ctx('before', original), plan: evalPlan });
    const after = await measureModel({ ...ctx('after', copy), plan: evalPlan });
    expect(before.latencyAtEvalBatch).toMatchObject({ batch: 100, p50: expect.any(Number) });
    expect(before.latencyAtEvalBatch?.speedup).toBeUndefined();
    // a batch of 100 images is far more work than one image
    expect(before.latencyAtEvalBatch!.p50).toBeGreaterThan(5 * before.latencyMs!.p50);
    expect(after.latencyAtEvalBatch).toMatchObject({ batch: 100, baselineP50: expect.any(Number) });
    expect(after.latencyAtEvalBatch?.speedup).toBeGreaterThan(0.5);
    expect(after.latencyAtEvalBatch?.speedup).toBeLessThan(2);
    const f = computeFactors(before, after);
    expect(f.latencyAtEvalBatch).toBe(after.latencyAtEvalBatch?.speedup);
  });

  it('has no evaluation-batch latency without an evaluator', async () => {
    const before = await measureModel(ctx('before', original));
    expect(before.latencyAtEvalBatch).toBeNull();
  });

  it('says why a result is slower: a tiny float model, or what ORT made of a quantized one', async () => {
    const model = loadModelFile(original);
    const lat = (speedup: number, batch?: number) => ({
      p50: 0.1 / speedup,
      baselineP50: 0.1,
      speedup,
      ...(batch ? { batch } : {}),
    });
    expect(await slowerReasons(model, lat(1.2), { ...lat(2), batch: 500 })).toBeNull();
    const float = await slowerReasons(model, lat(0.9), { ...lat(1.5), batch: 500 });
    expect(float).toEqual({
      batches: [1],
      reasons: [expect.stringMatching(/^the model is tiny \(0\.100 ms at batch 1\)/)],
    });
    const ev = imageEvaluator(model, {
      calibration: await loadSamples(resolve('resources/mnist/train-images-idx3-ubyte.gz'), { limit: 64 }),
    });
    const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto' });
    await q.compress();
    const { model: int8 } = await q.exportQDQ({ verify: false });
    const quantized = await slowerReasons(int8, lat(0.8), { ...lat(0.9), batch: 500 });
    expect(quantized?.batches).toEqual([1, 500]);
    expect(quantized?.reasons).toContainEqual(expect.stringMatching(/tiny \(0\.100 ms in float at batch 1\)/));
  });
});
