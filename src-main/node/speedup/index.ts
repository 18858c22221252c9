/** @file Public surface of the ORT side of pruning speedup: ModelSpeedup (trace, shrink, verify, measure) and the CLI command. */
export {
  ModelSpeedup,
  relErr,
  simulateAsCompact,
  type SimulateAsCompactOptions,
  type SimulatedAsCompact,
  type ModelSpeedupOptions,
  type SpeedupBenchOptions,
  type SpeedupResult,
} from './model-speedup.ts';
export { registerPropagationRule, registerReplacer } from '../../core/compress/dependency/index.ts';
export {
  autoDependencyGroups,
  resolveAutoDependencyGroups,
  groupPruningMasks,
} from '../../core/compress/pruning/index.ts';
