/**
 * @file The calibration loop: run the (fused) float model in ORT over calibration batches with every observed value
 * exposed as an output (the concrete-trace idea, limited to the values quantization needs), fold each batch into
 * streaming observers and drop it, then turn the ranges into NNI's scale / zero point. Weights are read directly.
 * May import core, the runtime and onnxruntime-node (through the runtime).
 */
import { cloneModel, type Model, type Tensor } from '../../core/ir/index.ts';
import {
  activationParams,
  constantParams,
  createObserver,
  deriveParams,
  paramKey,
  CalibrationDataError,
  type Observer,
  type ObserverOptions,
  type ParamTable,
  type QuantTarget,
} from '../../core/compress/quantization/index.ts';
import type { Diagnostic } from '../../../src-shared/config/index.ts';
import { InputMismatchError, ModelRunner, type SessionOptions } from '../runtime/index.ts';

export interface CalibrateOptions extends SessionOptions {
  /** Observer for activations (default MinMax); weights always use their exact min / max. */
  observer?: ObserverOptions;
  /** Stop after this many batches. */
  maxBatches?: number;
  onProgress?: (batches: number) => void;
}

export interface CalibrationResult {
  params: ParamTable;
  /** Batches folded in. */
  batches: number;
  /** Samples folded in (leading dim of the first input, summed). */
  samples: number;
  diagnostics: Diagnostic[];
}

/**
 * Parameters of every target: weights from their data, activations from observers fed by ORT runs over `batches`.
 *
 * @example const { params } = await calibrate(fused, plan.targets, evaluator.calibrationBatches(), { observer: { kind: 'percentile' } });
 * @throws CalibrationDataError for a batch that does not fit the model (naming the input and the batch), or no batch
 */
export async function calibrate(
  model: Model,
  targets: readonly QuantTarget[],
  batches: AsyncIterable<Record<string, Tensor>>,
  opts: CalibrateOptions = {},
): Promise<CalibrationResult> {
  const params: ParamTable = new Map();
  const diagnostics: Diagnostic[] = [];
  for (const t of targets) {
    if (t.role === 'activation' || t.int32Bias) continue;
    const w = model.graph.node(t.node)?.input(t.index)?.initializer;
    if (w?.dtype === 'float32' && w.hasData)
      params.set(paramKey(t.node, t.target), constantParams(t, w.toFloat32(), w.dims));
  }
  for (const t of targets) {
    // an activation target on a constant (e.g. Add's second operand): quantized from its data, per tensor
    const c = t.role === 'activation' ? model.graph.get(t.value)?.initializer : undefined;
    if (c?.dtype === 'float32' && c.hasData)
      params.set(
        paramKey(t.node, t.target),
        constantParams({ ...t, granularity: { kind: 'tensor' } }, c.toFloat32(), c.dims),
      );
  }
  const observed = targets.filter(
    (t) => t.role === 'activation' && !t.shareWith && !model.graph.get(t.value)?.isInitializer,
  );
  const observers = new Map<string, Observer>();
  const keyOf = (t: QuantTarget) => `${t.value}\u0000${t.granularity.kind === 'axis' ? t.granularity.axis : ''}`;
  for (const t of observed) {
    if (!observers.has(keyOf(t)))
      observers.set(
        keyOf(t),
        createObserver({ ...opts.observer, axis: t.granularity.kind === 'axis' ? t.granularity.axis : null }),
      );
  }
  const values = [...new Set(observed.map((t) => t.value))];
  const { count, samples } = await observe(model, values, observed, observers, keyOf, batches, opts, diagnostics);
  for (const t of observed) {
    const obs = observers.get(keyOf(t))!;
    if (obs.batches === 0) continue;
    params.set(paramKey(t.node, t.target), activationParams(t, obs.range({ range: t.range, scheme: t.scheme })));
  }
  deriveParams(model, targets, params);
  return { params, batches: count, samples, diagnostics };
}

async function observe(
  model: Model,
  values: string[],
  targets: readonly QuantTarget[],
  observers: Map<string, Observer>,
  keyOf: (t: QuantTarget) => string,
  batches: AsyncIterable<Record<string, Tensor>>,
  opts: CalibrateOptions,
  diagnostics: Diagnostic[],
): Promise<{ count: number; samples: number }> {
  const exposed = exposeValues(model, values);
  const inputNames = new Set(model.graph.inputs.map((v) => v.name));
  const fetch = values.filter((v) => !inputNames.has(v));
  const runner = await ModelRunner.create(exposed, { ...opts, optimization: opts.optimization ?? 'basic' });
  const skipped = new Set<string>();
  let count = 0;
  let samples = 0;
  try {
    for await (const feeds of batches) {
      if (opts.maxBatches !== undefined && count >= opts.maxBatches) break;
      const out = await runBatch(runner, feeds, fetch, count);
      const all: Record<string, Tensor> = { ...feeds, ...out };
      for (const t of targets) {
        const v = all[t.value];
        if (!v || skipped.has(t.value)) continue;
        if (v.dtype !== 'float32') {
          skipped.add(t.value);
          diagnostics.push({
            level: 'warning',
            code: 'not-float',
            node: t.node,
            message: `${t.target} of "${t.node}" reads ${v.dtype} value "${t.value}": only float32 activations are quantized; skipped`,
          });
          continue;
        }
        const obs = observers.get(keyOf(t))!;
        if (obs.batches === count) obs.update(v.data as Float32Array, v.dims);
      }
      count++;
      samples += Object.values(feeds)[0]?.dims[0] ?? 0;
      opts.onProgress?.(count);
    }
  } finally {
    await runner.release();
  }
  if (count === 0)
    throw new CalibrationDataError('the evaluator gave no calibration batch; calibration needs at least one');
  return { count, samples };
}

async function runBatch(
  runner: ModelRunner,
  feeds: Record<string, Tensor>,
  fetch: string[],
  index: number,
): Promise<Record<string, Tensor>> {
  try {
    return await runner.run(feeds, { outputs: fetch });
  } catch (e) {
    if (e instanceof InputMismatchError) {
      throw new CalibrationDataError(`calibration batch ${index} does not fit the model: ${e.message}`, {
        batch: index,
        ...e.details,
      });
    }
    throw e;
  }
}

/** A clone whose graph also outputs the given values (types without shapes, so a stale shape cannot break it). */
function exposeValues(model: Model, names: readonly string[]): Model {
  const m = cloneModel(model);
  const g = m.graph;
  for (const name of names) {
    const v = g.get(name);
    if (!v || v.isGraphOutput || v.isGraphInput || v.isInitializer) continue;
    const dtype = v.dtype;
    v.type = dtype ? { kind: 'tensor', dtype, shape: undefined } : undefined;
    g.addOutput(v);
  }
  return m;
}
