/** @file Public surface of training on onnxruntime-node: data sets, trainer, Evaluator, checkpoints, CLI command, gradient checks. */
export {
  ArrayDataset,
  DatasetFormatError,
  loadDataset,
  loadIdxDataset,
  loadSamples,
  loadImageFolder,
  readIdx,
  readNpy,
  readNpz,
  type SplitData,
  type ImageFolderOptions,
} from './data.ts';
export { learningRate, type ScheduleSpec } from './schedule.ts';
export { CheckpointError, readCheckpoint, writeCheckpoint, type Checkpoint } from './checkpoint.ts';
export {
  Trainer,
  train,
  evaluate,
  epochOrder,
  modelWithWeights,
  dataInput,
  AUTO_STEPS_PER_RUN,
  AUTO_LOOP_MIN_STEPS,
  DatasetShapeError,
  LabelRangeError,
  NonFiniteLossError,
  type TrainConfig,
  type TrainHooks,
  type RunOptions,
  type TrainResult,
  type ProgressEvent,
  type EvalMetrics,
  type StepContext,
  type StepTask,
} from './trainer.ts';
export { Evaluator, type EvaluatorConfig, type Observer, type Revert } from './evaluator.ts';
export { StepRunner, LoopRunner, type StepResult } from './step-runner.ts';
export { buildCnn, heInitialize, type CnnSpec } from './example-cnn.ts';
export { gradCheck, lowerForFloat64, toFloat64, type GradCheckOptions, type GradCheckResult } from './gradcheck.ts';
export { createSession, sessionOptions, traceModel, type Trace, type SessionSettings } from './ort.ts';
