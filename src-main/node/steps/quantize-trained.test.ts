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

  it('PTQ with latencyAware: the summary says which layers stayed fp32 (or the whole model), with the gain measured', async () => {
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
          latencyAware: true,
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
      checkpointDir: mkdtempSync(join(tmpdir(), 'ptq-')),
      token: new CancellationSource().token,
      progress: () => {},
      metric: () => {},
      log: (m) => void logs.push(m),
    } as StepContext<QuantizeStep>);
    const m = (
      r.summary as { mixedPrecision: { floatLayers: { node: string; gain: number }[]; wholeModelFloat: boolean } }
    ).mixedPrecision;
    expect(m).toBeDefined();
    for (const l of m.floatLayers)
      expect(logs).toContain(
        `latency-aware precision: "${l.node}" stays fp32 (${l.gain.toFixed(2)}× faster that way, measured side by side)`,
      );
    expect(logs.some((l) => l.includes('the model stays fp32'))).toBe(m.wholeModelFloat);
    // the default is off: a plan without it reads false
    expect(parsePlan({ ...plan, steps: [{ ...plan.steps[0], latencyAware: undefined }] }).steps[0]).toMatchObject({
      latencyAware: false,
    });
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
