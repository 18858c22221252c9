/** @file Public surface of pruning: the one-shot pruners, pruning plans, and the metric / rule building blocks. Pure TypeScript. */
export {
  Pruner,
  LevelPruner,
  L1NormPruner,
  L2NormPruner,
  FPGMPruner,
  PRUNER_CLASSES,
  type PrunerClass,
  type PrunerKind,
  type PrunerOptions,
  type PruneResult,
} from './pruner.ts';
export {
  PLAN_FORMAT,
  PLAN_VERSION,
  applyPlan,
  graphHash,
  weightsHash,
  planApplyMethods,
  planFromJson,
  planMasks,
  planToJson,
  type PlanTarget,
  type PruningPlan,
} from './plan.ts';
export {
  kernelFor,
  blockView,
  blockIds,
  expandBlockMask,
  permute,
  inversePerm,
  GranularityFault,
  type BlockView,
} from './granularity.ts';
export { normMetric, fpgmMetric, blockRows, type Metric } from './metrics.ts';
export {
  ratioMask,
  maskSmallest,
  thresholdRule,
  dependencyRule,
  globalRule,
  ratioRule,
  type RuleTarget,
} from './sparsity.ts';
export type { ShapeSource } from './setup.ts';
export { autoDependencyGroups, resolveAutoDependencyGroups } from './auto-groups.ts';
export { groupPruningMasks, type GroupPruningOptions } from './group-masks.ts';
export {
  allocate,
  allocationFrontier,
  uniformAllocations,
  allocationAt,
  parseBudget,
  AllocationError,
  costAxis,
  targetRatio,
  type AllocateOptions,
} from './allocate.ts';
export {
  TrainingPruner,
  SlimPruner,
  TaylorPruner,
  MovementPruner,
  ScheduledPruner,
  LinearPruner,
  AGPPruner,
  MaskBuffers,
  TRAINING_PRUNER_CLASSES,
  PrunerOptionError,
  TrainingTooShortError,
  movementRatio,
  linearSchedule,
  agpSchedule,
  type TrainingPruneResult,
  type TrajectoryPoint,
  type TaylorPrunerOptions,
  type SlimPrunerOptions,
  type MovementPrunerOptions,
  type ScheduleOptions,
  type SchedulablePruner,
} from './training.ts';
