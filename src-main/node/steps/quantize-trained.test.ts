/**
 * @file The quantize step with a trained quantizer, from a parsed plan: QAT trains on the plan's train split, the
 * step writes a QDQ model whose accuracy equals the simulated model's, and reports both; a plan naming a trained
 * quantizer without dataset.train, or with options the quantizer does not read, is refused with the JSON path.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parsePlan, PlanError, type QuantizeStep } from '../../../src-shared/experiment.ts';
import { loadModelFile } from '../io/model-file.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { StepContext } from '../jobs/registry.ts';
import { quantizeStep } from './quantize.ts';

const res = (p: string) => resolve('resources', p);
const mnist = (split: 'train' | 't10k', limit: number) => ({
  kind: 'idx' as const,
  paths: [res(`mnist/${split}-images-idx3-ubyte.gz`), res(`mnist/${split}-labels-idx1-ubyte.gz`)],
  limit,
});

function issues(plan: unknown): string[] {
  try {
    parsePlan(plan);
  } catch (e) {
    if (e instanceof PlanError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  return [];
}

interface StepSummary {
  simulated: number;
  latency: { batch: number; speedup: number }[];
  slower?: string[];
  accuracyAfterLatencyAware?: number;
  mixedPrecision?: {
    floatLayers: { node: string; gain: number; gains: { batch: number; gain: number }[] }[];
    wholeModelFloat: boolean;
    slowerAt: number[];
    reasons: string[];
  };
}

async function runStep(plan: ReturnType<typeof parsePlan>, logs: string[]) {
  const step = plan.steps[0] as QuantizeStep;
  return quantizeStep({
    runId: 't',
    index: 0,
    step,
    plan,
    inputModel: plan.model,
    checkpointDir: mkdtempSync(join(tmpdir(), 'quantize-')),
    token: new CancellationSource().token,
    progress: () => {},
    metric: () => {},
    log: (m) => void logs.push(m),
  } as StepContext<QuantizeStep>);
}

describe('quantize step, trained quantizers', () => {
  it('QAT on the train split: a QDQ model whose deployed accuracy is the simulated one', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: { train: mnist('train', 1280), evaluation: mnist('t10k', 1000) },
      seed: 0,
      steps: [
        {
          kind: 'quantize',
          quantizer: 'qat',
          configList: [
            {
              op_types: ['Conv', 'Gemm'],
              target_names: ['_input_', 'weight', '_output_'],
              quant_dtype: 'uint8',
              quant_scheme: 'affine',
              target_settings: {
                weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' },
              },
            },
          ],
          lr: 2e-5,
          quantStartStep: 5,
          // the QDQ path itself (latency-aware precision, on by default, may return fp32 on a tiny model)
          latencyAware: false,
        },
      ],
    });
    const logs: string[] = [];
    const step = plan.steps[0] as QuantizeStep;
    const r = await quantizeStep({
      runId: 't',
      index: 0,
      step,
      plan,
      inputModel: plan.model,
      checkpointDir: mkdtempSync(join(tmpdir(), 'qat-')),
      token: new CancellationSource().token,
      progress: () => {},
      metric: () => {},
      log: (m) => void logs.push(m),
    } as StepContext<QuantizeStep>);
    const s = r.summary as {
      quantizer: string;
      steps: number;
      simulated: number;
      deployed: number;
      integerKernels: Record<string, number>;
    };
    expect(s.quantizer).toBe('qat');
    expect(s.steps).toBe(20); // 1280 / 64 for one epoch
    expect(Math.abs(s.simulated - s.deployed)).toBeLessThanOrEqual(0.001);
    expect(s.deployed).toBeGreaterThan(0.97);
    expect(s.integerKernels.QLinearConv).toBe(3);
    expect(loadModelFile(r.outputModel!).graph.nodes.some((n) => n.opType === 'QuantizeLinear')).toBe(true);
    expect(logs.some((l) => /simulated .* %, deployed .* %/.test(l))).toBe(true);
    // never slower without saying so: timed against the input at batch 1 and the evaluation batch (64 by default)
    const latency = (r.summary as { latency: { batch: number; speedup: number }[] }).latency;
    expect(latency.map((b) => b.batch)).toEqual([1, 64]);
    const slower = latency.filter((b) => b.speedup < 1).map((b) => b.batch);
    expect(logs.some((l) => l.startsWith('the quantized model is SLOWER'))).toBe(slower.length > 0);
    expect(((r.summary as { slower?: string[] }).slower ?? []).length > 0).toBe(slower.length > 0);
  });

  it('PTQ, latency-aware by default: where int8 measured slower, the summary says which layers stayed fp32 (or the whole model) and why', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: { calibration: mnist('train', 256) },
      seed: 0,
      steps: [
        {
          kind: 'quantize',
          quantizer: 'ptq',
          configList: [
            {
              op_types: ['Conv', 'Gemm'],
              target_names: ['_input_', 'weight', 'bias', '_output_'],
              quant_dtype: 'uint8',
              quant_scheme: 'affine',
              target_settings: {
                weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' },
              },
            },
          ],
          calibrationBatches: 2,
        },
      ],
    });
    expect((plan.steps[0] as { latencyAware: boolean }).latencyAware).toBe(true);
    const logs: string[] = [];
    const r = await runStep(plan, logs);
    const s = r.summary as unknown as StepSummary;
    const firstCheck = logs.filter((l) => l.startsWith('latency vs the input')).slice(0, 2);
    const wasSlower = logs.some((l) => l.startsWith('the quantized model is SLOWER'));
    expect(s.mixedPrecision !== undefined).toBe(wasSlower);
    expect(firstCheck).toHaveLength(2);
    const m = s.mixedPrecision;
    if (!m) return expect(s.slower).toBeUndefined(); // int8 not slower at either batch size: nothing to decide
    expect(m.slowerAt.length).toBeGreaterThan(0);
    expect(m.reasons.length).toBeGreaterThan(0);
    for (const l of m.floatLayers) {
      expect(l.gains.map((g) => g.batch)).toEqual([1, 64]);
      expect(
        logs.some((x) => x.startsWith(`latency-aware precision: "${l.node}" stays fp32 (${l.gain.toFixed(2)}×`)),
      ).toBe(true);
    }
    expect(logs.some((l) => l.includes('so the model stays fp32'))).toBe(m.wholeModelFloat);
    const out = loadModelFile(r.outputModel!);
    if (m.wholeModelFloat) {
      // the input itself: nothing quantized, never slower
      expect(out.graph.nodes.some((n) => n.opType === 'QuantizeLinear')).toBe(false);
      expect(s.slower).toBeUndefined();
    } else {
      const floatConvs = out.graph.nodes
        .filter((n) => n.opType === 'Conv' && !n.inputs[1]?.producer)
        .map((n) => n.name);
      expect(floatConvs).toEqual(m.floatLayers.map((l) => l.node).filter((n) => n.includes('Conv')));
    }
  });

  it('DoReFa, latency-aware by default: a slower export goes back to fp32 as the TRAINED model (its 2-bit grid kept), never the input', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: { train: mnist('train', 640), evaluation: mnist('t10k', 500) },
      seed: 0,
      steps: [
        {
          kind: 'quantize',
          quantizer: 'dorefa',
          configList: [{ op_names: ['/conv2/Conv'], target_names: ['weight'], quant_dtype: 'int2' }],
          lr: 1e-3,
        },
      ],
    });
    const logs: string[] = [];
    const r = await runStep(plan, logs);
    const s = r.summary as unknown as StepSummary;
    const out = loadModelFile(r.outputModel!);
    // the conv2 weights as deployed: on the 2-bit grid 2n/3 − 1 whether quantized (int8 → DQ) or kept fp32
    const conv2 = out.graph.node('/conv2/Conv')!;
    const w = conv2.inputs[1]!.initializer ?? conv2.inputs[1]!.producer!.inputs[0]!.initializer!;
    const scale = conv2.inputs[1]!.initializer ? 1 : conv2.inputs[1]!.producer!.inputs[1]!.initializer!.toFloat32()[0]!;
    const values = new Set(Array.from(w.toFloat32(), (v) => Math.round(v * scale * 3)));
    expect([...values].every((v) => [-3, -1, 1, 3].includes(v))).toBe(true);
    if (s.mixedPrecision?.wholeModelFloat) {
      expect(out.graph.nodes.some((n) => n.opType === 'DequantizeLinear')).toBe(false);
      expect(s.accuracyAfterLatencyAware).toBeCloseTo(s.simulated, 2);
      expect(logs.some((l) => l.includes('so the model stays fp32 (the trained float model)'))).toBe(true);
    } else if (!s.mixedPrecision?.floatLayers.length) {
      expect(out.graph.nodes.some((n) => n.opType === 'DequantizeLinear')).toBe(true);
    }
    console.log('DoReFa step, latency-aware:', s.mixedPrecision ?? 'not slower', s.latency);
  });

  it('refuses a trained quantizer without dataset.train, and options it does not read, with the JSON path', () => {
    const base = {
      model: 'm.onnx',
      steps: [{ kind: 'quantize', quantizer: 'lsq', configList: [{ op_types: ['Conv'] }] }],
    };
    expect(issues(base)).toEqual(['$.steps[0]: the "lsq" quantizer trains and needs dataset.train']);
    const withData = { ...base, dataset: { train: mnist('train', 10) } };
    expect(issues({ ...withData, steps: [{ ...base.steps[0], observer: 'minmax' }] })[0]).toMatch(
      /^\$\.steps\[0\]\.observer/,
    );
    expect(issues({ ...withData, steps: [{ ...base.steps[0], quantStartStep: 3 }] })[0]).toMatch(
      /^\$\.steps\[0\]\.quantStartStep/,
    );
    expect(issues({ ...withData, steps: [{ ...base.steps[0], lr: -1 }] })[0]).toMatch(/^\$\.steps\[0\]\.lr/);
    expect(issues({ ...withData, steps: [{ ...base.steps[0], gradientBits: 8 }] })[0]).toMatch(
      /^\$\.steps\[0\]\.gradientBits/,
    );
    const dorefa = { ...withData, steps: [{ ...base.steps[0], quantizer: 'dorefa', gradientBits: 0 }] };
    expect(issues(dorefa)[0]).toMatch(/^\$\.steps\[0\]\.gradientBits/);
    expect(issues({ ...dorefa, steps: [{ ...dorefa.steps[0], gradientBits: 8 }] })).toEqual([]);
  });
});
