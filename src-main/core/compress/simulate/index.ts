/** @file Public surface of simulation (masks written into a copy of the graph). Pure TypeScript. */
export {
  simulate,
  APPLY_METHODS,
  MASKED_LOGIT,
  type ApplyMethod,
  type ApplyMethods,
  type SimulateOptions,
} from './simulate.ts';
export {
  applyNormMasks,
  normStatisticsOf,
  NORM_STATISTICS,
  NormMaskError,
  type NormMask,
  type NormStatistics,
} from './norm-stats.ts';
