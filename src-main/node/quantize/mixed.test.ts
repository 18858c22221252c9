/**
 * @file Latency-aware mixed precision on the bundled example: the decisions follow the timings (an injected probe
 * makes them deterministic: a layer whose float form is faster goes back to float, a model still slower than its
 * input is returned as the input), and one real side-by-side run returns a model never slower than fp32 by its own
 * final measurement.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Model } from '../../core/ir/index.ts';
import { ORT_CPU_STATIC_CONFIG } from '../../core/compress/quantization/index.ts';
import { loadModelFile } from '../io/model-file.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { imageEvaluator, PTQQuantizer } from './index.ts';
import { loadSamples } from '../train/data.ts';
import { latencyAwarePrecision, type SpeedProbe } from './mixed.ts';

async function quantized() {
  const model = loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
  const ev = imageEvaluator(model, {
    calibration: await loadSamples(join(RESOURCES_DIR, 'mnist', 'train-images-idx3-ubyte.gz'), { limit: 64 }),
  });
  const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto' });
  await q.compress();
  return { model, q };
}

const floatConvs = (m: Model) =>
  m.graph.nodes.filter((n) => n.opType === 'Conv' && !n.inputs[1]?.producer).map((n) => n.name);

describe('latency-aware mixed precision', () => {
  it('moves back to float exactly the layers whose float form measured faster, and keeps the rest', async () => {
    const { model, q } = await quantized();
    // a probe that says: conv2 alone is faster in float (by 20 %), nothing else changes; the result beats fp32
    const probe: SpeedProbe = async (a, b) => {
      if (a === model) return 1.5;
      const added = floatConvs(b).filter((n) => !floatConvs(a).includes(n));
      return added.length === 1 && added[0] === '/conv2/Conv' ? 1.2 : 0.99;
    };
    const r = await latencyAwarePrecision(q.fused, q.activeTargets(), q.parameters, model, { probe });
    expect(r.floatLayers.map((l) => l.node)).toEqual(['/conv2/Conv']);
    expect(r.wholeModelFloat).toBe(false);
    expect(r.targets.some((t) => t.node === '/conv2/Conv')).toBe(false);
    expect(r.targets.some((t) => t.node === '/conv1/Conv')).toBe(true);
    expect(floatConvs(r.model)).toEqual(['/conv2/Conv']);
  });

  it('returns the float input when the quantized model stays slower', async () => {
    const { model, q } = await quantized();
    const r = await latencyAwarePrecision(q.fused, q.activeTargets(), q.parameters, model, { probe: async () => 0.8 });
    expect(r.wholeModelFloat).toBe(true);
    expect(r.model).toBe(model);
    expect(r.floatLayers).toEqual([]);
  });

  it('measured side by side: the returned model is never slower than fp32 by the last measurement', async () => {
    const { model, q } = await quantized();
    const r = await latencyAwarePrecision(q.fused, q.activeTargets(), q.parameters, model, { batch: 1, runs: 7 });
    expect(r.speedup).toBeGreaterThanOrEqual(1);
    if (r.wholeModelFloat) expect(r.model).toBe(model);
    console.log('mixed precision on the example, batch 1:', {
      wholeModelFloat: r.wholeModelFloat,
      floatLayers: r.floatLayers,
      speedup: r.speedup,
    });
  });

  it('at two batch sizes: a layer faster in fp32 at one but clearly slower at the other stays int8; slower at either → the fallback', async () => {
    const { model, q } = await quantized();
    const fallback = loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
    // conv2 in fp32: 1.3× faster at batch 1, 0.9× at batch 64 (clearly slower there): it stays int8;
    // conv3 in fp32: 1.1× faster at both: it goes back; the result beats fp32 at batch 64 only
    const probe: SpeedProbe = async (a, b, batch) => {
      if (a === model) return batch === 1 ? 0.95 : 1.4;
      const added = floatConvs(b).filter((n) => !floatConvs(a).includes(n));
      if (added.length !== 1) return 1;
      if (added[0] === '/conv2/Conv') return batch === 1 ? 1.3 : 0.9;
      if (added[0] === '/conv3/Conv') return 1.1;
      return 1;
    };
    const r = await latencyAwarePrecision(q.fused, q.activeTargets(), q.parameters, model, {
      probe,
      batches: [1, 64],
      fallback,
    });
    expect(r.floatLayers.map((l) => [l.node, l.gains])).toEqual([
      [
        '/conv3/Conv',
        [
          { batch: 1, gain: 1.1 },
          { batch: 64, gain: 1.1 },
        ],
      ],
    ]);
    expect(r.floatLayers[0]!.gain).toBeCloseTo(1.1, 10);
    // still slower at batch 1: the whole model is the fallback, and the report says at which batch
    expect(r.wholeModelFloat).toBe(true);
    expect(r.slowerAt).toEqual([1]);
    expect(r.model).toBe(fallback);
    expect(r.speedups).toEqual([
      { batch: 1, speedup: 0.95 },
      { batch: 64, speedup: 1.4 },
    ]);
  });

  it('whenSlower: a quantized model slower at no batch size is returned as is, after one comparison', async () => {
    const { model, q } = await quantized();
    const calls: [boolean, number][] = [];
    const probe: SpeedProbe = async (a, _b, batch) => {
      calls.push([a === model, batch]);
      return 1.2;
    };
    const r = await latencyAwarePrecision(q.fused, q.activeTargets(), q.parameters, model, {
      probe,
      batches: [1, 64],
      whenSlower: true,
    });
    expect(calls).toEqual([
      [true, 1],
      [true, 64],
    ]);
    expect(r).toMatchObject({ wholeModelFloat: false, floatLayers: [], slowerAt: [], speedup: 1.2 });
    expect(floatConvs(r.model)).toEqual([]);
  });
});
