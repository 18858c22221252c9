/** @file Public surface of the experiment runner: queue, worker protocol, step registry, export and CLI pieces. Never imports Electron. */
export {
  Runner,
  Job,
  buildReport,
  type RunnerOptions,
  type JobOutcome,
  type FinalStatus,
  type StepEvent,
} from './runner.ts';
export {
  registerStep,
  registerMeasure,
  currentMeasure,
  defaultMeasure,
  stepExecutor,
  registeredSteps,
  NoStepExecutorError,
} from './registry.ts';
export type { StepContext, StepExecutor, StepProgress, Measure, MeasureContext } from './registry.ts';
export { CancellationSource, CancelledError, sleep, type CancellationToken } from './cancel.ts';
export {
  forkSpawner,
  utilityProcessSpawner,
  type WorkerSpawner,
  type WorkerHandle,
  type WorkerExit,
  type UtilityProcessLike,
  type UtilityForkFn,
} from './spawn.ts';
export {
  PROTOCOL_VERSION,
  decodeHostMessage,
  decodeWorkerMessage,
  serializeError,
  ProtocolError,
  type HostMessage,
  type WorkerMessage,
  type StartMessage,
} from './protocol.ts';
export { loadPlanFile, resolvePlanPaths, checkPlanInputs, assertPlanInputs } from './plan-file.ts';
export {
  exportRun,
  diskIo,
  versions,
  ExportError,
  type ExportIo,
  type ExportResult,
  type ExportedFile,
  type ExperimentRecordFile,
  type Versions,
} from './export.ts';
