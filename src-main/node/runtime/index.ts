/** @file Public surface of the runtime: sessions and providers, runs, sample inputs, concrete trace, benchmarks. */
export {
  PROVIDER_NAMES,
  createSession,
  listProviders,
  ortSessionOptions,
  parseProvider,
  probeProvider,
  probeProviders,
  probeProvidersApart,
  type Fallback,
  type LogLevel,
  type OptimizationLevel,
  type ProviderInfo,
  type ProviderName,
  type SessionHandle,
  type SessionOptions,
} from './providers.ts';
export { ModelRunner, fromOrtTensor, runModel, sessionInputSpecs, toOrtTensor, type RunOptions } from './run.ts';
export {
  checkInputs,
  describeType,
  inputSpecs,
  resolveInputShapes,
  resolveShape,
  sampleInputs,
  type InputSpec,
  type SampleInputOptions,
} from './inputs.ts';
export {
  annotateShapes,
  exposeIntermediates,
  trace,
  TRACE_MAX_BYTES,
  type TraceOptions,
  type TraceResult,
  type TracedValue,
} from './trace.ts';
export {
  benchmark,
  compareLatency,
  latencyStats,
  percentile,
  type BenchOptions,
  type BenchResult,
  type BenchSetup,
  type CompareOptions,
  type CompareResult,
  type LatencyStats,
} from './bench.ts';
export { assertRunnable, sessionSource, withSessionSource, type SessionSource } from './model-source.ts';
export { cpuInfo, parseCpuInfo, type CpuInfo, type Flag } from './cpu.ts';
export {
  DynamicDimsError,
  InputMismatchError,
  RunError,
  SessionCreateError,
  UnknownProviderError,
  UnresolvedInputError,
  UnsupportedDTypeError,
  WeightlessModelError,
} from './errors.ts';
