/**
 * @file The step registry: one executor per step kind (`registerStep`), and the measurement run before and after
 * the steps (`registerMeasure`). Steps plug in here; the worker looks them up. Imports src-shared, the IR and the
 * serde; never the store, host or Electron.
 */
import { READ_LIMITS, readInputFile } from '../io/guard.ts';
import { statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import type {
  CustomStep,
  LogLevel,
  MetricSnapshot,
  Plan,
  StepKind,
  StepOf,
  StepResult,
  Step,
} from '../../../src-shared/experiment.ts';
import { emptySnapshot } from '../../../src-shared/experiment.ts';
import { isFloatType } from '../../core/ir/index.ts';
import { decodeModel } from '../../core/onnx/index.ts';
import type { CancellationToken } from './cancel.ts';

/** What a step reports as it works; the worker throttles it and adds step index, overall fraction and ETA. */
export interface StepProgress {
  /** Fraction of this step done, 0..1. */
  fraction: number;
  loss?: number;
  /** Parts of the loss (`loss.task`, `loss.distill`, …): each becomes its own metric series and rides the event. */
  parts?: Record<string, number>;
  metric?: number;
  message?: string;
  /** The training step `loss` belongs to: the x of its point on the loss curve (else the count of losses so far). */
  step?: number;
}

/**
 * Everything a step executor gets.
 *
 * @example
 * registerStep('speedup', async (ctx) => {
 *   const out = join(ctx.checkpointDir, 'model.onnx');
 *   // … read ctx.inputModel, write out, calling ctx.progress({ fraction }) and ctx.token.throwIfCancelled() …
 *   return { outputModel: out, summary: { removedChannels: 120 } };
 * });
 */
export interface StepContext<S extends Step = Step> {
  runId: string;
  /** Index of this step in `plan.steps`. */
  index: number;
  step: S;
  plan: Plan;
  /** The model this step reads (the plan's model, or the previous step's output). */
  inputModel: string;
  /** An empty folder of this step's own; write outputs here. */
  checkpointDir: string;
  token: CancellationToken;
  progress(update: StepProgress): void;
  /** A point of a metric series (e.g. per-batch loss); `x` defaults to a per-step counter. */
  metric(name: string, value: number, x?: number): void;
  log(message: string, level?: LogLevel): void;
}

export type StepExecutor<S extends Step = Step> = (ctx: StepContext<S>) => Promise<StepResult>;

/** Context of a measurement of one model (before the steps, or after them). */
export interface MeasureContext {
  phase: 'before' | 'after';
  modelPath: string;
  plan: Plan;
  token: CancellationToken;
  progress(update: StepProgress): void;
  log(message: string, level?: LogLevel): void;
}

export type Measure = (ctx: MeasureContext) => Promise<MetricSnapshot>;

/** No executor is registered for a step kind the plan uses. */
export class NoStepExecutorError extends Error {
  readonly code = 'NO_STEP_EXECUTOR';
  constructor(
    readonly kind: string,
    readonly index: number,
  ) {
    super(`no executor registered for step kind "${kind}" ($.steps[${index}]); load the module that registers it`);
    this.name = 'NoStepExecutorError';
  }
}

const executors = new Map<string, StepExecutor<any>>();
let measure: Measure = defaultMeasure;

/**
 * Registers the executor of a step kind (replacing any earlier one).
 *
 * @example registerStep('prune', async (ctx) => ({ outputModel: await prune(ctx) }));
 */
export function registerStep<K extends StepKind>(kind: K, executor: StepExecutor<StepOf<K>>): void;
export function registerStep<S extends CustomStep = CustomStep>(kind: string, executor: StepExecutor<S>): void;
export function registerStep(kind: string, executor: StepExecutor<any>): void {
  executors.set(kind, executor);
}

/** The executor of a step kind; throws `NoStepExecutorError` naming the kind and step index. */
export function stepExecutor(kind: string, index: number): StepExecutor {
  const exec = executors.get(kind);
  if (!exec) throw new NoStepExecutorError(kind, index);
  return exec;
}

/** The step kinds with an executor. */
export function registeredSteps(): string[] {
  return [...executors.keys()];
}

/** Replaces the measurement (the runtime's evaluator and benchmark plug in here). */
export function registerMeasure(fn: Measure): void {
  measure = fn;
}

export function currentMeasure(): Measure {
  return measure;
}

/**
 * The measurement available without a runtime: parameter count (elements of float initializers), size on disk
 * (model plus external data) and opset. Accuracy, MACs and latency stay null until a runtime measure is registered.
 */
export async function defaultMeasure(ctx: MeasureContext): Promise<MetricSnapshot> {
  ctx.progress({ fraction: 0, message: 'reading model' });
  const external = new Set<string>();
  // External weights are not read, only located: counting needs dims, not values.
  const model = decodeModel(readInputFile(ctx.modelPath, { what: 'model file', maxBytes: READ_LIMITS.model }), {
    allowWeightless: true,
    readExternal: ({ location, length }) => {
      external.add(location);
      return new Uint8Array(length);
    },
  });
  let params = 0;
  for (const v of model.graph.initializers)
    if (v.initializer && isFloatType(v.initializer.dtype)) params += v.initializer.size;
  let sizeBytes = statSync(ctx.modelPath).size;
  for (const loc of external) sizeBytes += statSync(join(dirname(ctx.modelPath), loc)).size;
  ctx.progress({ fraction: 1 });
  return { ...emptySnapshot(), metric: ctx.plan.evaluator?.metric ?? null, params, sizeBytes, opset: model.opset };
}
