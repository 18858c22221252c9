/**
 * @file The options of the training-aware pruners (Slim, Taylor, Movement, Linear / AGP) as the plan, the CLI and
 * the wizard give them, their defaults, and the checks between options that a schema of single keys cannot make
 * (warm-up before cool-down, a run long enough for the schedule, an inner pruner that can be scheduled). Every fault
 * names its option key, so callers report it with its JSON path. Pure TypeScript: no imports.
 */

/** Pruners Linear / AGP can wrap (NNI tests them with these; Movement has its own schedule). */
export const SCHEDULABLE_PRUNERS = ['level', 'l1', 'l2', 'fpgm', 'slim', 'taylor'] as const;
export type SchedulablePrunerName = (typeof SCHEDULABLE_PRUNERS)[number];

/** The pruners that train (they need the plan's train split). */
export const TRAINING_PRUNERS = ['slim', 'taylor', 'movement', 'linear', 'agp'] as const;
export type TrainingPrunerName = (typeof TRAINING_PRUNERS)[number];

export interface TrainingPruneOptions {
  /** Slim / Taylor: optimizer steps of collection before the masks (scheduled, they collect between updates). */
  trainingSteps?: number;
  /** Linear / AGP: steps between mask updates. */
  intervalSteps?: number;
  /** Linear / AGP: number of updates (goals reached at intervalSteps · totalTimes). */
  totalTimes?: number;
  /** Linear / AGP: the pruner whose goals are scheduled. */
  inner?: string;
  /** Movement: steps before the first masks. */
  warmupSteps?: number;
  /** Movement: the step from which the goals hold. */
  cooldownBeginStep?: number;
  /** Slim: L1 penalty weight; Movement: the sigmoid(S) regulariser's weight. */
  regularScale?: number;
  /** Optimizer steps of the whole run (default: the steps the pruner needs). */
  maxSteps?: number;
}

export const PRUNE_DEFAULTS = {
  trainingSteps: 100,
  intervalSteps: 50,
  totalTimes: 10,
  inner: 'l1',
  warmupSteps: 100,
  cooldownBeginStep: 400,
  regularScale: 1,
} as const;

/** The option keys each training-aware pruner reads (beside the training settings). */
export const PRUNE_OPTION_KEYS: Record<TrainingPrunerName, readonly (keyof TrainingPruneOptions)[]> = {
  slim: ['trainingSteps', 'regularScale', 'maxSteps'],
  taylor: ['trainingSteps', 'maxSteps'],
  movement: ['warmupSteps', 'cooldownBeginStep', 'regularScale', 'maxSteps'],
  // a scheduled Slim / Taylor collects between two updates: its trainingSteps is not read
  linear: ['intervalSteps', 'totalTimes', 'inner', 'regularScale', 'maxSteps'],
  agp: ['intervalSteps', 'totalTimes', 'inner', 'regularScale', 'maxSteps'],
};

export const isTrainingPruner = (name: string): name is TrainingPrunerName =>
  (TRAINING_PRUNERS as readonly string[]).includes(name);

/** The optimizer steps a pruner needs before its final masks exist. */
export function stepsNeeded(pruner: TrainingPrunerName, o: TrainingPruneOptions): number {
  if (pruner === 'slim' || pruner === 'taylor') return o.trainingSteps ?? PRUNE_DEFAULTS.trainingSteps;
  if (pruner === 'movement') return o.cooldownBeginStep ?? PRUNE_DEFAULTS.cooldownBeginStep;
  return (o.intervalSteps ?? PRUNE_DEFAULTS.intervalSteps) * (o.totalTimes ?? PRUNE_DEFAULTS.totalTimes);
}

export interface PruneOptionFault {
  key: keyof TrainingPruneOptions;
  message: string;
}

/**
 * Faults between options of a training-aware pruner (single-key ranges are the schema's): warm-up ≥ cool-down,
 * a run shorter than the schedule, an inner pruner that cannot be scheduled.
 *
 * @example checkPruneOptions('movement', { warmupSteps: 500, cooldownBeginStep: 400 })
 * // [{ key: 'warmupSteps', message: 'warmupSteps (500) must be smaller than cooldownBeginStep (400)' }]
 */
export function checkPruneOptions(pruner: TrainingPrunerName, o: TrainingPruneOptions): PruneOptionFault[] {
  const faults: PruneOptionFault[] = [];
  if (pruner === 'movement') {
    const w = o.warmupSteps ?? PRUNE_DEFAULTS.warmupSteps;
    const c = o.cooldownBeginStep ?? PRUNE_DEFAULTS.cooldownBeginStep;
    if (w >= c)
      faults.push({ key: 'warmupSteps', message: `warmupSteps (${w}) must be smaller than cooldownBeginStep (${c})` });
  }
  if (pruner === 'linear' || pruner === 'agp') {
    const inner = o.inner ?? PRUNE_DEFAULTS.inner;
    if (!(SCHEDULABLE_PRUNERS as readonly string[]).includes(inner)) {
      const why =
        inner === 'movement'
          ? 'Movement has its own warm-up / cool-down schedule'
          : inner === 'linear' || inner === 'agp'
            ? 'a schedule cannot wrap a schedule'
            : 'no such pruner';
      faults.push({
        key: 'inner',
        message: `"${inner}" cannot be scheduled by ${pruner} (${why}); use one of ${SCHEDULABLE_PRUNERS.join(', ')}`,
      });
    }
  }
  const need = stepsNeeded(pruner, o);
  if (o.maxSteps !== undefined && o.maxSteps < need) {
    const what =
      pruner === 'movement'
        ? `cooldownBeginStep is ${need}`
        : pruner === 'linear' || pruner === 'agp'
          ? `the schedule's last update is at step ${need} (intervalSteps × totalTimes)`
          : `trainingSteps is ${need}`;
    faults.push({ key: 'maxSteps', message: `the run is ${o.maxSteps} steps but ${what}` });
  }
  return faults;
}
