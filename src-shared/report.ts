/**
 * @file What a run measures and reports, shared by host, worker and renderer: metric snapshots (accuracy, size,
 * latency side by side with the original), step results and reports, the before / after factors, and the progress
 * and log events a run streams. Pure TypeScript: imports only zod, never Node, DOM, Electron or src-main.
 */
import { z } from 'zod';

/** The task metrics an evaluator measures (the plan's `evaluator.metric`) and a snapshot records. */
export const METRICS = ['top1', 'top5', 'loss'] as const;
export type MetricName = (typeof METRICS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Measurements, step results, reports

export const latencySchema = z.object({
  p50: z.number().nonnegative(),
  p90: z.number().nonnegative().optional(),
  runs: z.int().optional(),
  /** After a run: the original model's p50, timed in the same session of runs, alternating with this model. */
  baselineP50: z.number().nonnegative().optional(),
  /** After a run: original ÷ this model, the median over alternating rounds (robust to drifting load). */
  speedup: z.number().positive().optional(),
});

/** One measurement of a model: task metric, size and speed. Unknown quantities are null. */
export const metricSnapshotSchema = z.object({
  metric: z.enum(METRICS).nullable(),
  /** The evaluator's top-1 / top-5 accuracy in [0, 1]; null when not evaluated or when the metric is loss. */
  accuracy: z.number().nullable(),
  loss: z.number().nullable(),
  params: z.number().nonnegative(),
  macs: z.number().nonnegative().nullable(),
  sizeBytes: z.number().nonnegative(),
  latencyMs: latencySchema.nullable(),
  /**
   * Latency at the plan's evaluation batch size (`evaluator.batchSize`), timed as `latencyMs` is (after a run, side by
   * side with the original): small models often lose at batch 1 and win at the batch they are evaluated with, so the
   * report shows both. Null or absent when the plan has no evaluator, the batch size is 1, or the model's batch
   * dimension is fixed to another size.
   */
  latencyAtEvalBatch: latencySchema.extend({ batch: z.int().positive() }).nullable().optional(),
  /**
   * After a run whose result is slower than the original at some batch size: those sizes and why (from ORT's
   * optimized graph, the model's size and the CPU), so a report never shows a slowdown without its reason.
   */
  slower: z
    .object({ batches: z.array(z.int().positive()), reasons: z.array(z.string()) })
    .nullable()
    .optional(),
  /** Default-domain opset of the measured model, when known. */
  opset: z.int().nullable().optional(),
  /**
   * The execution provider the plan asked for and the one the measurement ran on; `fallback` says why they differ
   * (e.g. "webgpu requested but no GPU adapter was found: …; ran on cpu"). Absent in runs recorded before.
   */
  provider: z.object({ requested: z.string(), used: z.string(), fallback: z.string().nullable() }).optional(),
});
export type MetricSnapshot = z.infer<typeof metricSnapshotSchema>;

/** An empty snapshot to fill in. */
export function emptySnapshot(): MetricSnapshot {
  return { metric: null, accuracy: null, loss: null, params: 0, macs: null, sizeBytes: 0, latencyMs: null };
}

const jsonRecord = z.record(z.string(), z.unknown());

/** What a step executor returns. Paths are absolute files the step wrote (normally under its checkpoint dir). */
export const stepResultSchema = z.object({
  /** The model after this step; absent = the step did not change the model. */
  outputModel: z.string().optional(),
  /** Other files worth keeping (masks, calibration tables…). */
  artifacts: z.array(z.object({ name: z.string(), path: z.string(), kind: z.string().default('file') })).optional(),
  /** Measurements the step made on its output. */
  metrics: metricSnapshotSchema.partial().optional(),
  /** Free-form facts for the report (sparsity reached, channels removed…). JSON values only. */
  summary: jsonRecord.optional(),
});
export type StepResult = z.input<typeof stepResultSchema>;

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const STEP_STATUSES = ['pending', 'running', 'done', 'failed', 'cancelled', 'interrupted'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** An error as it crosses a process boundary: name and code kept, never flattened to a message. */
export const serializedErrorSchema = z.object({
  name: z.string(),
  code: z.string(),
  message: z.string(),
  details: z.unknown().optional(),
});
export type SerializedError = z.infer<typeof serializedErrorSchema>;

/** The record of one step in a report. */
export const stepReportSchema = z.object({
  index: z.int(),
  kind: z.string(),
  status: z.enum(STEP_STATUSES),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  metrics: metricSnapshotSchema.partial().nullable(),
  summary: jsonRecord.nullable(),
  /** sha256 of the model after the step (null when the step kept the model). */
  modelSha256: z.string().nullable(),
  error: serializedErrorSchema.nullable(),
  /** Who ran the step (worker `local` for this machine's own processes); absent in reports made before it was kept. */
  ranBy: z.object({ worker: z.string(), machine: z.string(), ep: z.string() }).nullable().optional(),
});
export type StepReport = z.infer<typeof stepReportSchema>;

/** before / after ratios: params, MACs and size as compression factors (×), latency as speedup, accuracy as delta. */
export const factorsSchema = z.object({
  params: z.number().nullable(),
  macs: z.number().nullable(),
  sizeBytes: z.number().nullable(),
  latency: z.number().nullable(),
  /** Original ÷ result latency at the evaluation batch size (absent in reports recorded before it was measured). */
  latencyAtEvalBatch: z.number().nullable().optional(),
  accuracyDelta: z.number().nullable(),
});
export type Factors = z.infer<typeof factorsSchema>;

export const runReportSchema = z.object({
  runId: z.string(),
  planName: z.string().nullable(),
  status: z.enum(RUN_STATUSES),
  before: metricSnapshotSchema,
  after: metricSnapshotSchema,
  factors: factorsSchema,
  steps: z.array(stepReportSchema),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** sha256 of the final model. */
  modelSha256: z.string().nullable(),
});
export type RunReport = z.infer<typeof runReportSchema>;

const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a != null && b != null && b > 0 ? a / b : null;

/**
 * The before / after factors of a report.
 *
 * @example computeFactors({ ...b, params: 100 }, { ...a, params: 25 }).params // 4 (4× fewer parameters)
 */
export function computeFactors(before: MetricSnapshot, after: MetricSnapshot): Factors {
  return {
    params: ratio(before.params, after.params),
    macs: ratio(before.macs, after.macs),
    sizeBytes: ratio(before.sizeBytes, after.sizeBytes),
    // the side-by-side figure of the after measurement where there is one; two separate measurements otherwise
    latency: after.latencyMs?.speedup ?? ratio(before.latencyMs?.p50, after.latencyMs?.p50),
    latencyAtEvalBatch:
      after.latencyAtEvalBatch?.speedup ?? ratio(before.latencyAtEvalBatch?.p50, after.latencyAtEvalBatch?.p50),
    accuracyDelta: before.accuracy != null && after.accuracy != null ? after.accuracy - before.accuracy : null,
  };
}

/** The "before" latency a report shows beside the after one: the side-by-side baseline when measured. */
export function beforeLatencyMs(before: MetricSnapshot, after: MetricSnapshot): number | null {
  return after.latencyMs?.baselineP50 ?? before.latencyMs?.p50 ?? null;
}

/** The same at the evaluation batch size. */
export function beforeEvalBatchLatencyMs(before: MetricSnapshot, after: MetricSnapshot): number | null {
  return after.latencyAtEvalBatch?.baselineP50 ?? before.latencyAtEvalBatch?.p50 ?? null;
}

/** Report fields the comparison view may sort by (`after.*`, `before.*`, `factors.*`). */
export const SORTABLE_METRICS = [
  'after.accuracy',
  'after.loss',
  'after.params',
  'after.macs',
  'after.sizeBytes',
  'after.latencyMs.p50',
  'before.accuracy',
  'before.loss',
  'before.params',
  'before.macs',
  'before.sizeBytes',
  'before.latencyMs.p50',
  'factors.params',
  'factors.macs',
  'factors.sizeBytes',
  'factors.latency',
  'factors.accuracyDelta',
] as const;
export type SortableMetric = (typeof SORTABLE_METRICS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Progress events (worker → host → transports → renderer)

export const progressEventSchema = z.object({
  stepIndex: z.int(),
  stepCount: z.int(),
  /** Step kind, or `measure` while the before / after measurements run. */
  kind: z.string(),
  /** Fraction of the current step done, 0..1. */
  fraction: z.number().min(0).max(1),
  /** Fraction of the whole run done, 0..1. */
  overall: z.number().min(0).max(1),
  etaMs: z.number().nonnegative().nullable(),
  loss: z.number().optional(),
  /** The training step `loss` was taken at (the loss curve's x). */
  step: z.int().nonnegative().optional(),
  /** Parts of the loss where a step has several (`loss.task`, `loss.distill`). */
  parts: z.record(z.string(), z.number()).optional(),
  metric: z.number().optional(),
  message: z.string().optional(),
  /** True when the worker sent it because the step was silent. */
  heartbeat: z.boolean(),
  t: z.number(),
});
export type ProgressEvent = z.infer<typeof progressEventSchema>;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const logEventSchema = z.object({
  level: z.enum(LOG_LEVELS),
  message: z.string(),
  stepIndex: z.int().nullable(),
  t: z.number(),
});
export type LogEvent = z.infer<typeof logEventSchema>;
