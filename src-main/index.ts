/**
 * @file The package entry point: NNI 3.0's compression API for ONNX models. A plain list of exports; every module
 * named here documents itself.
 */
export {
  Model,
  Graph,
  Node,
  Value,
  Tensor,
  cloneModel,
  printGraph,
  printModel,
  StudioError,
  GraphError,
  UnsupportedOpError,
} from './core/ir/index.ts';
export type { DataType, Dim, AttributeValue } from './core/ir/index.ts';
export { decodeModel, encodeModel, ModelFormatError } from './core/onnx/index.ts';
export { loadModelFile, loadModelBytes, saveModelFile, ModelFileError } from './node/io/model-file.ts';
export { liftConstants, deadCode, runPasses } from './core/passes/index.ts';
export {
  parseConfigList,
  registerTemplate,
  getTemplate,
  ConfigListError,
  NoTemplateError,
  hasErrors,
} from '../src-shared/config/index.ts';
export type {
  Diagnostic,
  DiagnosticLevel,
  PruningConfig,
  PruningSetting,
  Granularity,
} from '../src-shared/config/index.ts';
export {
  resolveTargets,
  bindTarget,
  OUT_AXIS,
  type ResolvedTarget,
  type TargetTable,
  type TargetKind,
} from './core/compress/targets/index.ts';
export {
  Pruner,
  LevelPruner,
  L1NormPruner,
  L2NormPruner,
  FPGMPruner,
  PRUNER_CLASSES,
  applyPlan,
  planFromJson,
  planToJson,
  planMasks,
  planApplyMethods,
  graphHash,
  weightsHash,
  type PrunerKind,
  type PrunerOptions,
  type PruneResult,
  type PruningPlan,
  type PlanTarget,
} from './core/compress/pruning/index.ts';
export {
  Compressor,
  MissingEvaluatorError,
  FusionChainError,
  type CompressionMode,
  type CompressionEvaluator,
  type CompressorOptions,
  type TrainingHooks,
  type TrainBudget,
  type StepState,
  type StepTask,
} from './core/compress/compressor.ts';
export {
  PRUNER_REGISTRY,
  QUANTIZER_REGISTRY,
  DISTILLER_REGISTRY,
  OBSERVER_REGISTRY,
  PRUNERS,
  QUANTIZERS,
  DISTILLERS,
  OBSERVERS,
  type CompressorInfo,
  type PrunerName,
  type QuantizerName,
  type DistillerName,
  type ObserverName,
} from '../src-shared/compressors.ts';
export {
  simulate,
  MASKED_LOGIT,
  type ApplyMethod,
  type ApplyMethods,
  type SimulateOptions,
} from './core/compress/simulate/index.ts';
export {
  makeMask,
  setMask,
  getMask,
  expandMask,
  keptAlong,
  maskSparsity,
  maskTensor,
  maskToJson,
  maskFromJson,
  masksToJson,
  masksFromJson,
  type Masks,
  type TargetMask,
  type MaskJson,
} from './core/compress/masks.ts';
export { CompressionConfigError, MaskApplyError, PruningPlanError, formatDiagnostic } from './core/compress/errors.ts';
export {
  quantRange,
  onnxStorage,
  qparams,
  fakeQuantize,
  createObserver,
  OBSERVER_KINDS,
  planQuantization,
  buildQuantized,
  quantizeDynamic,
  toCalibrationConfig,
  ORT_CPU_STATIC_CONFIG,
  CalibrationDataError,
  QuantizerStateError,
  type QuantRange,
  type QuantScheme,
  type Observer,
  type ObserverKind,
  type ObserverOptions,
  type QuantTarget,
  type CalibrationConfig,
  type CalibrationEntry,
  type DynamicOptions,
} from './core/compress/quantization/index.ts';
export {
  fuseModules,
  foldBatchNormsPass,
  type FusedGroup,
  type FuseOptions,
  type FuseResult,
} from './core/compress/fusion/index.ts';
export {
  PTQQuantizer,
  QUANTIZER_CLASSES,
  wantsReduceRange,
  calibrate,
  verifyFusion,
  imageEvaluator,
  type QuantEvaluator,
  type PTQOptions,
  type PTQResult,
  type ExportResult,
  type FusionReport,
  type FallbackOptions,
  type FallbackResult,
} from './node/quantize/index.ts';
export { ModelSpeedup, type ModelSpeedupOptions, type SpeedupResult } from './node/speedup/index.ts';
export { speedupCommand } from './node/cli/speedup.ts';
export { registerPropagationRule, registerReplacer } from './core/compress/dependency/index.ts';
export { autoDependencyGroups, resolveAutoDependencyGroups, groupPruningMasks } from './core/compress/pruning/index.ts';
export {
  SlimPruner,
  TaylorPruner,
  MovementPruner,
  LinearPruner,
  AGPPruner,
  type TrainingPruneResult,
  type TrajectoryPoint,
} from './core/compress/pruning/index.ts';
export { trainingPrune, type TrainingPruneRun } from './node/train/prune.ts';
export { compactModel, EmptyLayerError, SpeedupVerificationError } from './core/compress/speedup/index.ts';
export type { SpeedupReport } from '../src-shared/speedup-report.ts';
export { Evaluator, Trainer, train, loadDataset, loadSamples, ArrayDataset } from './node/train/index.ts';
export {
  DynamicLayerwiseDistiller,
  Adaptive1dLayerwiseDistiller,
  LogitsDistiller,
  DISTILLER_CLASSES,
  DistillLinkError,
  recoverKeptChannels,
  TeacherError,
  mergeTeacher,
  type DistillLink,
  type DistillResult,
  type DistillerOptions,
  type Adaptive1dOptions,
  type LogitsDistillerOptions,
} from './core/compress/distillation/index.ts';
export { makeDistiller, openTeacher, type DistillSpec } from './node/train/distill.ts';
export {
  QATQuantizer,
  LsqQuantizer,
  LsqPlusQuantizer,
  type TrainedQuantResult,
} from './core/compress/quantization/trained.ts';
export { DoReFaQuantizer, BNNQuantizer } from './core/compress/quantization/dorefa-bnn.ts';
export { carryQuantization, refoldedParams, QuantCarryError } from './core/compress/fused/carry.ts';
export {
  buildFusedChain,
  trainFused,
  finishFused,
  type FusedSpec,
  type FusedChain,
  type FusedTrained,
  type FusedFinal,
} from './node/train/fused.ts';
export { buildTrainingStep, buildLoopStep, registerGradient, NotDifferentiableError } from './core/autodiff/index.ts';
export { parsePlan, PlanError } from '../src-shared/experiment.ts';
export { Runner, registerStep } from './node/jobs/index.ts';
export { openStore } from './node/store/index.ts';
