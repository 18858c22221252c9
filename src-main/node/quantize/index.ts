/** @file Public surface of quantization's ORT-driven part: calibration, PTQQuantizer, fusion verification, fallback, data. */
export { calibrate, type CalibrateOptions, type CalibrationResult } from './calibrate.ts';
export {
  PTQQuantizer,
  QUANTIZER_CLASSES,
  wantsReduceRange,
  type QuantizerClass,
  type QuantEvaluator,
  type PTQOptions,
  type PTQResult,
  type ExportResult,
} from './ptq.ts';
export { verifyFusion, optimizedGraph, fusionDiagnostics, INTEGER_OPS, type FusionReport } from './verify.ts';
export { accuracyFallback, schedule, type FallbackOptions, type FallbackResult } from './fallback.ts';
export { checkSamples, batchesOf, declaredBatch, imageEvaluator, type ImageEvaluatorOptions } from './data.ts';
export {
  checkDeployed,
  isTrainedQuantizer,
  SimulatedDeployedMismatchError,
  TRAINED_QUANTIZER_CLASSES,
  type DeployedCheck,
  type TrainedQuantizerClass,
} from './trained.ts';
export {
  compareQuantizedSpeed,
  formatSpeed,
  slowdownReasons,
  TINY_MODEL_MS,
  type BatchLatency,
  type SpeedReport,
} from './speed.ts';
export {
  latencyAwarePrecision,
  type MixedPrecisionOptions,
  type MixedPrecisionResult,
  type SpeedProbe,
} from './mixed.ts';
