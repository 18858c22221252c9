/**
 * @file The fused `compress` step on the bundled example (executor called directly): one training run with AGP(L1),
 * QAT and logits distillation, then speedup and the int8 export — the live series the run view draws (loss terms,
 * sparsity per target, quantization ranges), the report's summary, the artifacts, and the model written being the
 * int8 compact one. A training block shorter than the schedule, known only once the data is read, is a named
 * error with the option's JSON path.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { CompressStep } from '../../../src-shared/compress-step.ts';
import { parsePlan } from '../../../src-shared/experiment.ts';
import { modelStats } from '../../core/analysis/stats.ts';
import { loadModelFile } from '../io/model-file.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { StepContext } from '../jobs/registry.ts';
import { ORT_FUSED_INT8 } from '../../../src-shared/presets.ts';
import { compressStep, FusedBudgetError } from './compress.ts';

const res = (p: string) => resolve('resources', p);
const idx = (name: string, limit: number) => ({
  kind: 'idx',
  paths: [res(`mnist/${name}-images-idx3-ubyte.gz`), res(`mnist/${name}-labels-idx1-ubyte.gz`)],
  limit,
});

function context(plan: ReturnType<typeof parsePlan>, parts: Map<string, number[]>, logs: string[]) {
  return {
    runId: 'test',
    index: 0,
    step: plan.steps[0] as CompressStep,
    plan,
    inputModel: plan.model,
    checkpointDir: mkdtempSync(join(tmpdir(), 'compress-')),
    token: new CancellationSource().token,
    progress: (u) => {
      for (const [name, value] of Object.entries(u.parts ?? {}))
        (parts.get(name) ?? parts.set(name, []).get(name)!).push(value);
    },
    metric: () => {},
    log: (m) => void logs.push(m),
  } satisfies StepContext<CompressStep>;
}

const step = (training: object) => ({
  kind: 'compress',
  pruning: {
    pruner: 'agp',
    inner: 'l1',
    configList: [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
    intervalSteps: 10,
    totalTimes: 4,
  },
  quantization: { quantizer: 'qat', configList: ORT_FUSED_INT8, quantStartStep: 40 },
  distillation: { distiller: 'logits', temperature: 2, alpha: 0.5 },
  training,
});

describe('compress step', () => {
  it('prunes, quantizes and distills in one run, then speeds up and exports int8', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: { train: idx('train', 4000), evaluation: idx('t10k', 1000) },
      evaluator: { batchSize: 250 },
      steps: [{ ...step({ epochs: 1, lr: 0.002, optimizer: { kind: 'adam' }, batchSize: 64 }), batchNormStats: 1000 }],
    });
    const parts = new Map<string, number[]>();
    const logs: string[] = [];
    const r = await compressStep(context(plan, parts, logs));
    expect(logs[0]).toMatch(
      /^fused: agp\(l1\) → qat → logits in one training run of 62 steps; per target quantize → prune → distill; teacher .*mnist-cnn\.onnx \(the plan’s input model\)$/,
    );
    // the run view's live series
    expect(parts.get('loss.task')!.length).toBeGreaterThan(3);
    expect(parts.get('loss.distill')!.length).toBe(parts.get('loss.task')!.length);
    const s = parts.get('sparsity./conv3/Conv.weight')!;
    expect(s.length).toBe(parts.get('loss.task')!.length); // in every progress call
    expect(s[0]).toBe(0); // step 10's update arrives with the next call
    expect(s.at(-1)).toBe(0.5);
    expect(parts.get('qrange./conv1/Conv.weight.max')!.at(-1)).toBeGreaterThan(0);
    expect(parts.get('qrange./fc/Gemm._output_0.min')!.at(-1)).toBeLessThan(0);
    // the report
    const sum = r.summary as Record<string, unknown>;
    expect(sum).toMatchObject({
      order: ['quantize', 'prune', 'distill'],
      fused: ['agp(l1)', 'qat', 'logits'],
      pruner: 'agp(l1)',
      quantizer: 'qat',
      distiller: 'logits',
      teacher: plan.model,
      steps: 62,
    });
    expect((sum.trajectory as { step: number }[]).map((p) => p.step)).toEqual([10, 20, 30, 40]);
    // BN statistics re-estimated on 1,000 training images before the export: the three BN layers, and the
    // training graph's accuracy before and after in the log
    expect(sum.batchNorm).toMatchObject({ samples: 1000, layers: 3 });
    expect((sum.batchNorm as { trainedSimulatedBefore: number }).trainedSimulatedBefore).toBeGreaterThan(0.5);
    expect(logs.find((l) => l.startsWith('BatchNormalization statistics re-estimated'))).toMatch(
      /over 1000 training images \(3 layers\); training graph \d+\.\d\d % → \d+\.\d\d % on /,
    );
    expect(Math.abs((sum.simulated as number) - (sum.deployed as number))).toBeLessThanOrEqual(0.001);
    expect((sum.speedup as { maxRelErr: number }).maxRelErr).toBeLessThan(1e-4);
    expect((sum.integerKernels as Record<string, number>).QLinearConv).toBe(3);
    expect((sum.latency as { batch: number }[]).map((b) => b.batch)).toEqual([1, 250]);
    // the artifacts and the model: the compact int8 one
    expect(r.artifacts!.map((a) => a.name)).toEqual(['pruning-plan.json', 'speedup-report.json', 'calibration.json']);
    const cal = JSON.parse(readFileSync(r.artifacts![2]!.path, 'utf8'));
    expect(cal['/conv1/Conv'].weight.scale).toHaveLength(8); // 16 channels before, sliced to the 8 kept
    const out = loadModelFile(r.outputModel!);
    expect(r.outputModel!.endsWith('quantized.onnx')).toBe(true);
    expect(out.graph.nodes.filter((n) => n.opType === 'QuantizeLinear').length).toBeGreaterThan(0);
    expect(modelStats(out).params).toBeLessThan(modelStats(loadModelFile(plan.model)).params / 2);
  }, 300_000);

  it('refuses a training block shorter than the schedule once it knows the data, naming the option', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      // no limit: the plan cannot know the budget, the step does once it has read 640 samples
      dataset: { train: { kind: 'idx', paths: idx('train', 1).paths } },
      steps: [step({ epochs: 0.1, lr: 0.002, batchSize: 64 })],
    });
    const ctx = context({ ...plan, dataset: { train: { ...plan.dataset.train!, limit: 640 } } }, new Map(), []);
    await expect(compressStep(ctx)).rejects.toThrow(FusedBudgetError);
    await expect(compressStep(ctx)).rejects.toThrow(
      "$.steps[0].pruning.totalTimes: the schedule's last update is at step 40 (intervalSteps × totalTimes), but the training block makes 1 optimizer steps",
    );
  });
});
