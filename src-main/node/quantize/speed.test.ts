/**
 * @file Never slower without saying so: the reasons a slower quantized model is given come from ORT's optimized
 * graph (unfused nodes by name, float linear ops, kept Q/DQ), its size and the CPU; and the side-by-side timing of
 * the bundled example's int8 model reports both batch sizes.
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { ORT_CPU_STATIC_CONFIG } from '../../core/compress/quantization/index.ts';
import { loadModelFile } from '../io/model-file.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { imageEvaluator, PTQQuantizer } from './index.ts';
import { loadSamples } from '../train/data.ts';
import { compareQuantizedSpeed, slowdownReasons } from './speed.ts';
import type { CpuInfo } from '../runtime/index.ts';

const cpu = (vnni: boolean): CpuInfo =>
  ({
    arch: 'x64',
    model: 'Test CPU',
    logicalCores: 2,
    flags: { avx2: true, avx512f: false, avx512_vnni: vnni, avx_vnni: false },
  }) as unknown as CpuInfo;

describe('slowdown reasons', () => {
  it('name unfused nodes, float linear ops, kept Q/DQ, a tiny model and a CPU without VNNI', () => {
    const fusion = {
      counts: { QuantizeLinear: 3, DequantizeLinear: 4, FusedConv: 1 },
      integerOps: 2,
      floatLinear: 1,
      unfused: [{ node: '/conv1/Conv', opType: 'FusedConv', reason: 'its bias is float' }],
      optimization: 'all' as const,
    };
    const r = slowdownReasons([{ batch: 1, floatMs: 0.1, quantizedMs: 0.2, speedup: 0.5 }], fusion, cpu(false));
    expect(r[0]).toBe('"/conv1/Conv" (FusedConv) runs in float: its bias is float');
    expect(r.some((x) => /7 QuantizeLinear \/ DequantizeLinear/.test(x))).toBe(true);
    expect(r.some((x) => /tiny \(0\.100 ms/.test(x))).toBe(true);
    expect(r.some((x) => /Test CPU\) has no VNNI/.test(x))).toBe(true);
    const clean = slowdownReasons(
      [{ batch: 64, floatMs: 30, quantizedMs: 31, speedup: 0.97 }],
      { counts: {}, integerOps: 5, floatLinear: 0, unfused: [], optimization: 'all' },
      cpu(true),
    );
    expect(clean).toEqual([
      'every quantized node runs an integer kernel; the conversions and re-layouts ORT adds cost more than they save on this machine',
    ]);
  });

  it('times the example int8 model against fp32 at batch 1 and 64, side by side', async () => {
    const model = loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
    const ev = imageEvaluator(model, {
      calibration: await loadSamples(join(RESOURCES_DIR, 'mnist', 'train-images-idx3-ubyte.gz'), { limit: 64 }),
    });
    const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto' });
    await q.compress();
    const e = await q.exportQDQ();
    const s = await compareQuantizedSpeed(model, e.model, e.fusion, { batches: [1, 64], runs: 5 });
    expect(s.batches.map((b) => b.batch)).toEqual([1, 64]);
    for (const b of s.batches) expect(b.floatMs).toBeGreaterThan(0);
    expect(s.slowerAt).toEqual(s.batches.filter((b) => b.speedup < 1).map((b) => b.batch));
    expect(s.reasons.length > 0).toBe(s.slowerAt.length > 0);
    console.log('mnist int8 vs fp32', s.batches);
  });
});
