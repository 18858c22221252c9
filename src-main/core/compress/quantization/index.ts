/** @file Public surface of quantization's pure part: ranges, NNI's formulas, observers, plan, graph building, dynamic quantization. Pure TypeScript. */
export { quantRange, narrowed, onnxStorage, type QuantRange, type QuantStorage } from './dtype.ts';
export {
  FLOAT32_EPS,
  qparams,
  fakeQuantValue,
  fakeQuantize,
  quantizeValue,
  quantizeTensor,
  roundHalfEven,
  channelLayout,
  channelMinMax,
  type QParams,
  type QuantScheme,
  type ChannelLayout,
} from './qparams.ts';
export {
  OBSERVER_KINDS,
  createObserver,
  Histogram,
  MinMaxObserver,
  EmaMinMaxObserver,
  PercentileObserver,
  EntropyObserver,
  MseObserver,
  klOfWindow,
  mseOfWindow,
  type Observer,
  type ObserverKind,
  type ObserverOptions,
  type RangeTarget,
  type TrackedRange,
} from './observers.ts';
export {
  planQuantization,
  inputQuantizer,
  SHARES_INPUT_PARAMS,
  type QuantPlan,
  type QuantTarget,
  type QuantRole,
  type QuantGranularity,
  type PlanOptions,
} from './plan.ts';
export {
  paramKey,
  constantParams,
  activationParams,
  int32BiasParams,
  quantizeInt32,
  deriveParams,
  toCalibrationConfig,
  type TargetParams,
  type ParamTable,
  type CalibrationEntry,
  type CalibrationConfig,
} from './calibration.ts';
export { buildQuantized, intTensor, type BuildOptions, type BuildResult, type Applied } from './build.ts';
export { quantizeDynamic, type DynamicOptions, type DynamicResult } from './dynamic.ts';
export { CalibrationDataError, MIN_QUANT_OPSET, QuantizationOpsetError, QuantizerStateError } from './errors.ts';
export { ORT_CPU_STATIC_CONFIG } from './defaults.ts';
