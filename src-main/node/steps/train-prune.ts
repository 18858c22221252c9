/**
 * @file The prune step's training-aware pruners (Slim, Taylor, Movement, Linear / AGP): the plan's train split, the
 * step's options, one training run through `trainingPrune`, its loss as the step's metric and its progress.
 */
import type { PruneStep } from '../../../src-shared/experiment.ts';
import type { TrainingPruneOptions, TrainingPrunerName } from '../../../src-shared/prune-options.ts';
import type { Model } from '../../core/ir/index.ts';
import type { TrainingPruneResult } from '../../core/compress/pruning/training.ts';
import type { StepContext } from '../jobs/registry.ts';
import { loadSplit } from '../train/data.ts';
import { trainingPrune } from '../train/prune.ts';
import { MissingSplitError } from './finetune.ts';

/** The options a training-aware prune step may carry (its registry entry's schema admits the ones it reads). */
type TrainingPruneStep = PruneStep & TrainingPruneOptions & { lr?: number; batchSize?: number };

export async function trainingPruneStep(
  ctx: StepContext<PruneStep>,
  model: Model,
  configList: unknown,
  shapes: Map<string, number[]> | undefined,
): Promise<TrainingPruneResult> {
  const step = ctx.step as TrainingPruneStep;
  const split = ctx.plan.dataset?.train;
  if (!split) throw new MissingSplitError(`${step.pruner} prune`, 'train');
  const data = await loadSplit(split, { field: '$.dataset.train', name: 'train' });
  ctx.progress({ fraction: 0.1, message: `training with the ${step.pruner} pruner` });
  let total = 1;
  const r = await trainingPrune(model, configList, data, {
    ...step,
    pruner: step.pruner as TrainingPrunerName,
    seed: ctx.plan.seed,
    shapes,
    onProgress: (e) => {
      ctx.token.throwIfCancelled();
      if (e.type === 'start') total = e.totalSteps;
      if (e.type === 'step') {
        ctx.metric('loss', e.loss, e.step);
        ctx.progress({ fraction: 0.1 + (0.8 * e.step) / total, loss: e.loss, message: `step ${e.step}/${total}` });
      }
    },
  });
  for (const p of r.trajectory.slice(-1)) ctx.log(`masks at step ${p.step}: goals × ${p.ratio.toFixed(3)}`);
  return r;
}
