/**
 * @file The training options of a plan step (optimizer, schedule, epochs, batches per epoch) as the trainer takes
 * them, and the number of optimizer steps they make. Shared by the steps that train (`distill`).
 */
import type { OptimizerSpec } from '../../core/autodiff/index.ts';
import type { FinetuneStep } from '../../../src-shared/experiment.ts';
import type { ScheduleSpec } from '../train/schedule.ts';
import { scheduleOf } from './finetune.ts';

/** The training keys every training step carries (src-shared/experiment.ts's trainingShape). */
export interface StepTraining {
  epochs: number;
  lr: number;
  batchSize: number;
  maxBatchesPerEpoch?: number;
  optimizer: { kind: 'sgd' | 'adam' | 'adamw'; momentum?: number; weightDecay?: number };
  schedule: FinetuneStep['schedule'];
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
  // every kind the plan offers, the one mapping the fine-tune step uses (a `linear` schedule used to run constant)
  const schedule = scheduleOf(step.schedule);
  const perEpochAll = Math.floor(samples / step.batchSize);
  const perEpoch = step.maxBatchesPerEpoch ? Math.min(step.maxBatchesPerEpoch, perEpochAll) : perEpochAll;
  return { optimizer, schedule, totalSteps: Math.max(1, Math.round(perEpoch * step.epochs)) };
}
