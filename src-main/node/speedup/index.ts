/** @file Public surface of the ORT side of pruning speedup: ModelSpeedup (trace, shrink, verify, measure) and the CLI command. */
export { ModelSpeedup, relErr, type ModelSpeedupOptions, type SpeedupBenchOptions, type SpeedupResult } from './model-speedup.ts';
export { speedupCommand, renderReport, type SpeedupCommandOptions, type SpeedupCommandJson } from './command.ts';
export { registerPropagationRule, registerReplacer, autoDependencyGroups, resolveAutoDependencyGroups, groupPruningMasks } from '../../core/compress/speedup/index.ts';
