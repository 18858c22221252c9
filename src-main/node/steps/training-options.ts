/**
 * @file The training options of a plan step (optimizer, schedule, epochs, batches per epoch) as the trainer takes
 * them, and the number of optimizer steps they make. Shared by the steps that train (`distill`).
 */
import type { OptimizerSpec } from '../../core/autodiff/index.ts';
import type { ScheduleSpec } from '../train/schedule.ts';

/** The training keys every training step carries (src-shared/experiment.ts's trainingShape). */
export interface StepTraining {
  epochs: number;
  lr: number;
  batchSize: number;
  maxBatchesPerEpoch?: number;
  optimizer: { kind: 'sgd' | 'adam' | 'adamw'; momentum?: number; weightDecay?: number };
  schedule: { kind: string; minLr?: number; stepSize?: number; gamma?: number };
}

/** The trainer's optimizer and schedule, and the optimizer steps the step's epochs make over `samples`. */
export function trainingOptions(
  step: StepTraining,
  samples: number,
): { optimizer: OptimizerSpec; schedule: ScheduleSpec; totalSteps: number } {
  const o = step.optimizer;
  const optimizer: OptimizerSpec =
    o.kind === 'sgd'
      ? { type: 'sgd', lr: step.lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay }
      : { type: o.kind, lr: step.lr, weightDecay: o.weightDecay };
  const s = step.schedule;
  const schedule: ScheduleSpec =
    s.kind === 'cosine'
      ? { type: 'cosine', minLr: s.minLr }
      : s.kind === 'step'
        ? { type: 'step', stepSize: s.stepSize!, gamma: s.gamma }
        : { type: 'constant' };
  const perEpochAll = Math.floor(samples / step.batchSize);
  const perEpoch = step.maxBatchesPerEpoch ? Math.min(step.maxBatchesPerEpoch, perEpochAll) : perEpochAll;
  return { optimizer, schedule, totalSteps: Math.max(1, Math.round(perEpoch * step.epochs)) };
}
