/**
 * @file Running a training-aware pruner (Slim, Taylor, Movement, Linear / AGP) on a data set: the evaluator the
 * pruner registers on, the pruner built from plan / CLI options, one training run, the result. The prune step and
 * `studio prune` both come here, so they build the same pruner from the same options. Node layer.
 */
import type { Model } from '../../core/ir/index.ts';
import { PRUNER_CLASSES } from '../../core/compress/pruning/index.ts';
import type { OneShotPrunerName } from '../../../src-shared/compressors.ts';
import {
  AGPPruner,
  LinearPruner,
  MovementPruner,
  PrunerOptionError,
  SlimPruner,
  TaylorPruner,
  type SchedulablePruner,
  type TrainingPruneResult,
} from '../../core/compress/pruning/training.ts';
import type { ShapeSource } from '../../core/compress/pruning/setup.ts';
import {
  checkPruneOptions,
  PRUNE_DEFAULTS,
  stepsNeeded,
  type TrainingPruneOptions,
  type TrainingPrunerName,
} from '../../../src-shared/prune-options.ts';
import type { ArrayDataset } from './data.ts';
import { Evaluator } from './evaluator.ts';
import type { ProgressEvent } from './trainer.ts';

export interface TrainingPruneRun extends TrainingPruneOptions {
  pruner: TrainingPrunerName;
  /** Main optimizer: SGD with momentum 0.9 at this rate (default 0.01). */
  lr?: number;
  batchSize?: number;
  seed?: number;
  threads?: number;
  shapes?: ShapeSource;
  modelName?: string;
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
}

/**
 * Train `model` on `data` while the chosen pruner learns its masks; returns them with the trained weights.
 *
 * @example
 * const r = await trainingPrune(model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }], train, { pruner: 'agp', inner: 'l1', intervalSteps: 20, totalTimes: 5 });
 * @throws PrunerOptionError naming the option (checkPruneOptions' faults, ranges)
 */
export async function trainingPrune(
  model: Model,
  configList: unknown,
  data: ArrayDataset,
  o: TrainingPruneRun,
): Promise<TrainingPruneResult> {
  const fault = checkPruneOptions(o.pruner, o)[0];
  if (fault) throw new PrunerOptionError(fault.key, fault.message);
  const steps = o.maxSteps ?? stepsNeeded(o.pruner, o);
  const batchSize = o.batchSize ?? 32;
  const perEpoch = Math.max(1, Math.floor(data.length / batchSize));
  const ev = new Evaluator(model, {
    train: data,
    optimizer: { type: 'sgd', lr: o.lr ?? 0.01, momentum: 0.9 },
    batchSize,
    epochs: Math.ceil(steps / perEpoch),
    seed: o.seed ?? 0,
    threads: o.threads,
  });
  const base = { shapes: o.shapes, modelName: o.modelName };
  const trainingSteps = o.trainingSteps ?? PRUNE_DEFAULTS.trainingSteps;
  const regularScale = o.regularScale ?? PRUNE_DEFAULTS.regularScale;
  const schedulable = (kind: string): SchedulablePruner => {
    if (kind === 'slim') return new SlimPruner(model, configList, ev, { ...base, trainingSteps, regularScale });
    if (kind === 'taylor') return new TaylorPruner(model, configList, ev, { ...base, trainingSteps });
    const P = Object.hasOwn(PRUNER_CLASSES, kind) ? PRUNER_CLASSES[kind as OneShotPrunerName] : undefined;
    if (!P) throw new PrunerOptionError('inner', `"${kind}" cannot be scheduled`);
    return new P(model, configList, undefined, base);
  };
  const schedule = {
    intervalSteps: o.intervalSteps ?? PRUNE_DEFAULTS.intervalSteps,
    totalTimes: o.totalTimes ?? PRUNE_DEFAULTS.totalTimes,
    evaluator: ev,
  };
  const pruner =
    o.pruner === 'movement'
      ? new MovementPruner(model, configList, ev, {
          ...base,
          warmupSteps: o.warmupSteps ?? PRUNE_DEFAULTS.warmupSteps,
          cooldownBeginStep: o.cooldownBeginStep ?? PRUNE_DEFAULTS.cooldownBeginStep,
          regularScale,
        })
      : o.pruner === 'linear'
        ? new LinearPruner(schedulable(o.inner ?? PRUNE_DEFAULTS.inner), schedule)
        : o.pruner === 'agp'
          ? new AGPPruner(schedulable(o.inner ?? PRUNE_DEFAULTS.inner), schedule)
          : schedulable(o.pruner);
  // about 100 loss points over the run
  const budget = {
    maxSteps: steps,
    onProgress: o.onProgress,
    signal: o.signal,
    progressEvery: Math.max(1, Math.round(steps / 100)),
  };
  return (pruner as { compress(b: typeof budget): Promise<TrainingPruneResult> }).compress(budget);
}
