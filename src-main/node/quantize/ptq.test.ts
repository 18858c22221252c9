/**
 * @file PTQQuantizer end to end in ORT: the bundled MNIST example loses ≤ 0.5 point of top-1 on the 10k test set
 * (500 calibration images) and runs on integer kernels; resnet18_bn exports fully fused; NNI's calibration shape;
 * bad calibration data, unsupported dtypes, unfusable nodes and call order each reported by name.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, type Model } from '../../core/ir/index.ts';
import {
  ORT_CPU_STATIC_CONFIG,
  CalibrationDataError,
  QuantizerStateError,
} from '../../core/compress/quantization/index.ts';
import { CompressionConfigError } from '../../core/compress/errors.ts';
import { loadCorpusModel } from '../../../test/corpus/materialize.ts';
import { loadModelFile } from '../io/model-file.ts';
import { sampleInputs } from '../runtime/index.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { join } from 'node:path';
import { PTQQuantizer, imageEvaluator, optimizedGraph, type QuantEvaluator } from './index.ts';
import { loadSamples } from '../train/data.ts';
import { ArrayDataset } from '../train/data.ts';

const MNIST = join(RESOURCES_DIR, 'mnist');
const example = () => loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
const calib = () => loadSamples(join(MNIST, 'train-images-idx3-ubyte.gz'), { limit: 500 });
const test = (limit?: number) => loadSamples(join(MNIST, 't10k-images-idx3-ubyte.gz'), limit ? { limit } : {});

function randomEvaluator(model: Model, batches = 2): QuantEvaluator {
  return {
    async *calibrationBatches() {
      for (let i = 0; i < batches; i++) yield sampleInputs(model, { seed: i });
    },
    evaluate: async () => 0,
  };
}

const codes = (ds: { code: string; node?: string }[]) => ds.map((d) => `${d.code}@${d.node ?? ''}`);

describe('the bundled MNIST example', () => {
  it('loses at most 0.5 point of top-1 on the 10k test set and runs on ORT integer kernels', async () => {
    const model = example();
    const ev = imageEvaluator(model, { calibration: await calib(), evaluation: await test() });
    const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto' });
    const { model: simulated, calibration } = await q.compress();
    const exported = await q.exportQDQ();
    const [fp32, sim, int8] = [
      await ev.evaluate(model),
      await ev.evaluate(simulated),
      await ev.evaluate(exported.model),
    ];
    expect(fp32).toBeGreaterThan(0.985);
    expect(fp32 - int8).toBeLessThanOrEqual(0.005);
    expect(fp32 - sim).toBeLessThanOrEqual(0.005);
    expect(exported.fusion!.counts.QLinearConv).toBe(3);
    expect(exported.fusion!.counts.QGemm).toBe(1);
    expect(exported.fusion!.floatLinear).toBe(0);
    expect(exported.fusion!.unfused).toEqual([]);
    // NNI's calibration config shape, per-channel weights as arrays
    const conv1 = calibration['/conv1/Conv']!;
    expect(Object.keys(conv1).sort()).toEqual(['_input_0', '_output_0', 'bias', 'weight']);
    expect(conv1.weight).toMatchObject({ quant_dtype: 'int8', quant_scheme: 'symmetric', axis: 0 });
    expect((conv1.weight!.zero_point as number[]).every((z) => z === 0)).toBe(true);
    expect(conv1._input_0).toMatchObject({
      quant_dtype: 'uint8',
      quant_scheme: 'affine',
      zero_point: 0,
      tracked_min: 0,
      tracked_max: 1,
    });
    expect(conv1._output_0!.tracked_min).toBe(0); // read after the fused Relu
    expect(conv1.bias!.quant_dtype).toBe('int32');
  });

  it('calibrates with the histogram observers too', async () => {
    const model = example();
    const ev = imageEvaluator(model, { calibration: await calib(), evaluation: await test(2000) });
    const fp32 = await ev.evaluate(model);
    const minmax = (await new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto' }).compress()).calibration;
    const max = (c: typeof minmax) => c['/conv3/Conv']!._output_0!.tracked_max as number;
    for (const observer of ['ema', 'percentile', 'entropy', 'mse'] as const) {
      const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto', observer });
      const { model: sim, calibration } = await q.compress();
      expect(max(calibration)).toBeLessThan(max(minmax)); // each clips the tail min / max keeps
      expect(fp32 - (await ev.evaluate(sim))).toBeLessThanOrEqual(0.005);
    }
  });
});

describe('export on a real architecture', () => {
  it('fuses every Conv of resnet18_bn into QLinearConv (no float Conv left)', async () => {
    const model = loadCorpusModel('resnet18_bn_op17_b1', 0);
    const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, randomEvaluator(model), { fuse: 'auto' });
    await q.compress();
    const { fusion, diagnostics } = await q.exportQDQ();
    expect(fusion!.counts.QLinearConv).toBe(20);
    expect(fusion!.counts.QLinearAdd).toBe(8);
    expect(fusion!.floatLinear).toBe(0);
    expect(diagnostics).toEqual([]);
  });
});

describe('bad input, named', () => {
  const model = example();
  const batches = (feeds: Record<string, Tensor>[]): QuantEvaluator => ({
    async *calibrationBatches() {
      yield* feeds;
    },
    evaluate: async () => 0,
  });

  it('rejects calibration batches of the wrong shape, type or name, and an empty stream', async () => {
    const run = (feeds: Record<string, Tensor>[]) =>
      new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, batches(feeds), { fuse: 'auto' }).compress();
    await expect(
      run([{ input: Tensor.zeros('float32', [2, 1, 28, 28]) }, { input: Tensor.zeros('float32', [2, 3, 28, 28]) }]),
    ).rejects.toThrow(
      /calibration batch 1 does not fit the model: input "input": expected float32\[.*,1,28,28\], given float32\[2,3,28,28\]/,
    );
    await expect(run([{ input: Tensor.zeros('int64', [1, 1, 28, 28]) }])).rejects.toBeInstanceOf(CalibrationDataError);
    await expect(run([{ image: Tensor.zeros('float32', [1, 1, 28, 28]) }])).rejects.toThrow(/input "image"/);
    await expect(run([])).rejects.toThrow(/no calibration batch/);
    expect(() =>
      imageEvaluator(model, { calibration: new ArrayDataset(new Float32Array(8), [2, 2], null, [], 'x.npy') }),
    ).toThrow(/input "input" expects float32\[.*,1,28,28\], but calibration data x.npy holds samples of \[2,2\]/);
  });

  it('keeps a quant_dtype ONNX cannot run simulated, with a diagnostic naming the node; the export still runs', async () => {
    const ev = imageEvaluator(model, { calibration: await calib(), evaluation: await test(500) });
    const list = [
      ...ORT_CPU_STATIC_CONFIG.slice(1),
      {
        op_types: ['Conv', 'Gemm'],
        exclude_op_names: ['/conv2/Conv'],
        target_names: ['_input_', 'weight', 'bias', '_output_'],
        quant_dtype: 'uint8',
        quant_scheme: 'affine',
        target_settings: { weight: { quant_dtype: 'int8' } },
      },
      {
        op_names: ['/conv2/Conv'],
        target_names: ['_input_', 'weight', '_output_'],
        quant_dtype: 'uint6',
        quant_scheme: 'affine',
        target_settings: { weight: { quant_dtype: 'int4' } },
      },
    ];
    const q = new PTQQuantizer(model, list, ev, { fuse: 'auto' });
    await q.compress();
    const ex = await q.exportQDQ();
    expect(codes(ex.diagnostics)).toContain('kept-simulated@/conv2/Conv');
    expect(ex.diagnostics.map((d) => d.message)).toContainEqual(
      expect.stringMatching(/_input_0 of "\/conv2\/Conv" \(uint6\) stays simulated/),
    );
    expect(ex.fusion!.unfused.map((u) => u.node)).toContain('/conv2/Conv');
    expect(await ev.evaluate(ex.model)).toBeGreaterThan(0.95);
  });

  it('reports a node ORT cannot fuse (per-channel input scale) instead of hiding it', async () => {
    const list = [
      {
        op_types: ['Conv', 'Gemm'],
        exclude_op_names: ['/conv3/Conv'],
        target_names: ['_input_', 'weight', 'bias', '_output_'],
        quant_dtype: 'uint8',
        quant_scheme: 'affine',
        target_settings: { weight: { quant_dtype: 'int8' } },
      },
      {
        op_names: ['/conv3/Conv'],
        target_names: ['_input_', 'weight', '_output_'],
        quant_dtype: 'uint8',
        quant_scheme: 'affine',
        target_settings: { _input_: { granularity: 'per_channel' }, weight: { quant_dtype: 'int8' } },
      },
    ];
    const q = new PTQQuantizer(model, list, imageEvaluator(model, { calibration: await calib() }), { fuse: 'auto' });
    await q.compress();
    const ex = await q.exportQDQ();
    expect(ex.fusion!.unfused).toEqual([
      expect.objectContaining({ node: '/conv3/Conv', reason: expect.stringMatching(/per channel/) }),
    ]);
    expect(codes(ex.diagnostics)).toEqual(['not-fused@/conv3/Conv']);
    const optimized = await optimizedGraph(ex.model);
    expect(optimized.graph.nodes.filter((n) => n.opType === 'QLinearConv')).toHaveLength(2);
  });

  it('refuses configs that cannot apply (fused member configured) and export before compress', async () => {
    const list = [
      {
        op_names: ['/conv1/Conv'],
        target_names: ['weight', '_output_'],
        quant_dtype: 'int8',
        fuse_names: [['/conv1/Conv', '/bn1/BatchNormalization', '/Relu']],
      },
      { op_names: ['/Relu'], quant_dtype: 'uint8' },
    ];
    expect(() => new PTQQuantizer(model, list, batches([]))).toThrow(CompressionConfigError);
    expect(() => new PTQQuantizer(model, list, batches([]))).toThrow(/"\/Relu".*fused-node-configured/s);
    const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, batches([]));
    await expect(q.exportQDQ()).rejects.toBeInstanceOf(QuantizerStateError);
  });
});

describe('accuracy-controlled fallback', () => {
  it('returns the most harmful nodes to float until the drop is met and keeps the best model', async () => {
    const model = example();
    const ev = imageEvaluator(model, { calibration: await calib(), evaluation: await test(1000) });
    // 3-bit weights on every layer: far too coarse
    const list = [
      {
        op_types: ['Conv', 'Gemm'],
        target_names: ['_input_', 'weight', 'bias', '_output_'],
        quant_dtype: 'uint8',
        quant_scheme: 'affine',
        target_settings: { weight: { quant_dtype: 'int3' } },
      },
    ];
    const q = new PTQQuantizer(model, list, ev, { fuse: 'auto' });
    await q.compress();
    const baseline = await ev.evaluate(model);
    const r = await q.fallback({ maxDrop: 0.01, baseline });
    expect(r.ranking.map((x) => x.node).sort()).toEqual(['/conv1/Conv', '/conv2/Conv', '/conv3/Conv', '/fc/Gemm']);
    expect(r.history[0]!.floatNodes).toBe(0);
    expect(r.history[0]!.metric).toBeLessThan(baseline - 0.01);
    expect(r.met).toBe(true);
    expect(r.drop).toBeLessThanOrEqual(0.01);
    expect(r.floatNodes.length).toBeGreaterThan(0);
    expect(r.floatNodes.length).toBeLessThan(4);
    expect(r.metric).toBe(Math.max(...r.history.map((h) => h.metric)));
    expect(await ev.evaluate(r.model)).toBe(r.metric);
  });
});
