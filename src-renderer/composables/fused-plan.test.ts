/**
 * @file The wizard's fused recipe: two or more compressions chosen make ONE `compress` step by default (its blocks,
 * one training block, speedup), sequential stays available, a one-shot pruner is scheduled by AGP and PTQ becomes
 * QAT, the mask schedule is fitted to a run of known length, and the review outlines the order and the schedule.
 */
import { describe, expect, it } from 'vitest';
import type { Examples } from '../../src-shared/ipc/dto.ts';
import { buildPlan, describeStep, fusedOutline, newDraft, reviveDraft, trainingSteps } from './plan-builder.ts';

const examples: Examples = {
  models: [],
  datasets: [
    {
      id: 'mnist-quick',
      name: 'MNIST (quick)',
      description: '',
      dataset: {
        train: { kind: 'idx', paths: ['a', 'b'], limit: 2000 },
        evaluation: { kind: 'idx', paths: ['c', 'd'], limit: 2000 },
      },
    },
  ],
};

/** Pruning + quantization + distillation chosen on the bundled model, as a user who ticks all three. */
const all = () => {
  const d = { ...newDraft(), model: { path: '/m.onnx', name: 'm.onnx' } };
  d.distill.enabled = true;
  return d;
};
const steps = (d: ReturnType<typeof all>) => buildPlan(d, examples).plan!.steps as Record<string, unknown>[];

describe('fused recipe in the wizard', () => {
  it('makes one compress step by default: AGP around the one-shot pruner, QAT for PTQ, the teacher, one training block', () => {
    const d = all();
    expect(steps(d).map((s) => s.kind)).toEqual(['compress']);
    // 2,000 samples / batch 64 = 31 steps an epoch, 8 epochs: 248 steps; 50 × 10 would not fit, so it is fitted
    expect(trainingSteps(d, 2000)).toBe(248);
    expect(steps(d)[0]).toEqual({
      kind: 'compress',
      pruning: {
        pruner: 'agp',
        inner: 'l1',
        configList: [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
        intervalSteps: 6,
        totalTimes: 10,
      },
      quantization: { quantizer: 'qat', configList: expect.any(Array) },
      distillation: { distiller: 'logits', temperature: 2, alpha: 0.5 },
      training: { epochs: 8, lr: 0.003, optimizer: { kind: 'adam' }, schedule: { kind: 'cosine' }, batchSize: 64 },
      speedup: true,
    });
  });

  it('keeps a training-aware pruner and a trained quantizer as chosen, and the schedule when it fits', () => {
    const d = all();
    d.prune.pruner = 'taylor';
    d.quantize.quantizer = 'lsq';
    d.fusion.quantStartStep = 100;
    const c = steps(d)[0]!;
    expect(c.pruning).toEqual({ pruner: 'taylor', configList: expect.any(Array), trainingSteps: 100 });
    // (quantStartStep is QAT's option)
    expect(c.quantization).toEqual({ quantizer: 'lsq', configList: expect.any(Array) });
    d.prune.pruner = 'agp';
    d.prune.training.intervalSteps = 5;
    d.quantize.quantizer = 'qat';
    expect(steps(d)[0]!.pruning).toMatchObject({ pruner: 'agp', inner: 'l1', intervalSteps: 5, totalTimes: 10 });
    expect(steps(d)[0]!.quantization).toEqual({ quantizer: 'qat', configList: expect.any(Array), quantStartStep: 100 });
  });

  it('two compressions are enough to fuse; one is not; sequential stays available', () => {
    const d = all();
    d.quantize.enabled = false;
    expect(steps(d).map((s) => s.kind)).toEqual(['compress']);
    expect(steps(d)[0]!.quantization).toBeUndefined();
    d.distill.enabled = false;
    expect(steps(d).map((s) => s.kind)).toEqual(['prune', 'speedup', 'finetune']);
    const seq = all();
    seq.combine = 'sequential';
    expect(steps(seq).map((s) => s.kind)).toEqual(['prune', 'speedup', 'finetune', 'distill', 'quantize']);
  });

  it('a build without the compress step starts sequential; a saved choice survives a reload', () => {
    expect(newDraft(['prune', 'speedup', 'finetune', 'quantize']).combine).toBe('sequential');
    expect(newDraft(['prune', 'speedup', 'finetune', 'quantize', 'compress']).combine).toBe('fused');
    expect(reviveDraft({ ...newDraft(), combine: 'sequential' }).combine).toBe('sequential');
    expect(reviveDraft({ version: 1 }).combine).toBe('fused');
  });

  it('the review shows the order on every target and the schedule', () => {
    const d = all();
    const c = steps(d)[0]!;
    expect(describeStep(c)).toBe(
      'quantization + pruning + distillation in one training run, then speedup and int8 export',
    );
    expect(fusedOutline(c, 248)).toEqual([
      'one training run: 8 epochs (≈ 248 steps), Adam at lr 0.003 with cosine decay, batch 64',
      'order on every target: quantize-dequantize → pruning mask → recorded for distillation',
      'pruning: AGP (cubic schedule) around L1 norm to 50 % sparsity: masks updated every 6 steps, 10 times (goals reached at step 60 of 248)',
      'quantization: QAT (quantization-aware training), fake quantization from step 0 (the whole run)',
      'distillation: Logits (Hinton KD) from the original model (T = 2, α = 0.5), its loss beside the task loss',
      'then: speedup (pruned channels removed) → quantization carried to the compact model → int8 QDQ export checked against the simulated model',
    ]);
  });
});
