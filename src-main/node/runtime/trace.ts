/**
 * @file Concrete trace: run the model once in ORT with every intermediate value of the main graph exposed
 * as a graph output, to learn real dtypes and shapes (and, on request, values). Shape questions are answered
 * from here, not guessed. May import core and onnxruntime-node.
 *
 * Output types: an added output keeps its declared element type when it has one and is otherwise declared
 * without a type; ORT's loader infers the type of every node output anyway (a model whose types it cannot
 * infer does not load at all), and the dtype recorded here is read from the tensor ORT returns. Declared
 * shapes are dropped from added outputs, so a stale shape in value_info cannot break the trace. Outputs
 * ORT reports as non-tensors (sequences, maps, optionals) are not fetched and are listed in `skipped`.
 */
import { cloneModel, type DataType, type Dim, type Model, type Tensor, type Value } from '../../core/ir/index.ts';
import { inputSpecs, sampleInputs, type SampleInputOptions } from './inputs.ts';
import type { Fallback, ProviderName, SessionOptions } from './providers.ts';
import { fromOrtTensor, ModelRunner } from './run.ts';

export interface TraceOptions extends SampleInputOptions, SessionOptions {
  /** Keep every value's data (default false: dtypes and shapes only). */
  keepData?: boolean;
  /** Keep the data of these values only. */
  keep?: string[];
  /**
   * Write traced dtypes and shapes into the model's value types (main-graph node outputs). When inputs have
   * symbolic or unknown dims, a second run with other sizes for them tells which dims follow them (written
   * as the symbol, or null when derived from several); set `dynamic: false` to skip it.
   */
  annotate?: boolean;
  /** With `annotate`: run the second, resized trace to find dynamic dims (default true). */
  dynamic?: boolean;
}

export interface TracedValue {
  dtype: DataType;
  shape: number[];
  /** The value itself, when kept. */
  data?: Tensor;
  kind: 'input' | 'initializer' | 'node';
}

export interface TraceResult {
  /** Every traced value of the main graph by name: inputs, initializers and node outputs. */
  values: Map<string, TracedValue>;
  /** The feeds the trace ran on (given or generated). */
  inputs: Record<string, Tensor>;
  /** The model's own outputs, always kept. */
  outputs: Record<string, Tensor>;
  /** Node outputs not traced, and why (non-tensor values). */
  skipped: { name: string; reason: string }[];
  ep: ProviderName;
  fallback?: Fallback;
  /** Milliseconds of the one traced run. */
  ms: number;
  /** Milliseconds to build the session (includes ORT's own type inference). */
  sessionMs: number;
  /** Values whose types were written back into the model (0 without `annotate`). */
  annotated: number;
  /** Things the caller should know (e.g. why dynamic dims could not be probed). */
  notes: string[];
}

/**
 * Trace a model once on sample inputs.
 * @example
 * const t = await trace(model, { dimSizes: { batch: 2 } });
 * t.values.get('/conv1/Conv_output_0')  // { dtype: 'float32', shape: [2, 8, 16, 16], kind: 'node' }
 */
export async function trace(model: Model, opts: TraceOptions = {}): Promise<TraceResult> {
  const inputs = sampleInputs(model, opts);
  const traced = await traceOnce(model, inputs, opts);
  if (opts.annotate) {
    let dims: Map<string, Dim[] | undefined> | undefined;
    if (opts.dynamic !== false) {
      try {
        dims = await probeDynamicDims(model, traced, opts);
      } catch (e) {
        traced.notes.push(
          `dynamic dims not probed (a run with other input sizes failed: ${(e as Error).message}); traced sizes written as fixed`,
        );
      }
    }
    traced.annotated = annotateShapes(model, traced, dims);
  }
  return traced;
}

async function traceOnce(model: Model, inputs: Record<string, Tensor>, opts: TraceOptions): Promise<TraceResult> {
  const { exposed, added, skipped } = exposeIntermediates(model);
  const runner = await ModelRunner.create(exposed, { optimization: 'disabled', ...opts });
  try {
    const isTensor = new Map(runner.session.outputMetadata.map((m) => [m.name, m.isTensor]));
    for (const name of added)
      if (isTensor.get(name) === false) skipped.push({ name, reason: 'not a tensor (sequence, map or optional)' });
    const fetches = runner.outputNames.filter((n) => isTensor.get(n) !== false);
    const feeds = runner.prepare(inputs);
    const t0 = performance.now();
    const result = await runner.runPrepared(feeds, fetches);
    const ms = performance.now() - t0;

    const keep = (name: string) => opts.keepData === true || (opts.keep?.includes(name) ?? false);
    const values = new Map<string, TracedValue>();
    const record = (name: string, t: Tensor, kind: TracedValue['kind']) =>
      values.set(name, { dtype: t.dtype, shape: [...t.dims], kind, ...(keep(name) ? { data: t } : {}) });
    for (const [name, t] of Object.entries(inputs)) record(name, t, 'input');
    for (const v of model.graph.initializers) record(v.name, v.initializer!, 'initializer');
    const outputs: Record<string, Tensor> = {};
    const own = new Set(model.graph.outputs.map((v) => v.name));
    for (const [name, ot] of Object.entries(result)) {
      const t = fromOrtTensor(ot, `value "${name}"`);
      if (!values.has(name)) record(name, t, 'node');
      if (own.has(name)) outputs[name] = t;
    }
    return {
      values,
      inputs,
      outputs,
      skipped,
      ep: runner.ep,
      ms,
      sessionMs: runner.createMs,
      annotated: 0,
      notes: [],
      ...(runner.fallback ? { fallback: runner.fallback } : {}),
    };
  } finally {
    await runner.release();
  }
}

/**
 * Which traced dims follow the inputs' symbolic dims: trace again with every symbolic (or unknown) input
 * dim resized to a fresh size, then label each dim that changed with the symbol whose (first, second)
 * sizes it matches, or null when it changed otherwise (e.g. batch·seq). Undefined when nothing is symbolic.
 */
async function probeDynamicDims(
  model: Model,
  first: TraceResult,
  opts: TraceOptions,
): Promise<Map<string, Dim[] | undefined> | undefined> {
  const specs = inputSpecs(model);
  const sizes = new Map<string, [number, number]>();
  const shapes: Record<string, number[]> = {};
  let dynamic = false;
  for (const spec of specs) {
    const dims = first.inputs[spec.name]!.dims;
    shapes[spec.name] = dims.map((d, i) => {
      const declared = spec.shape?.[i];
      if (typeof declared === 'number' && declared >= 0) return d;
      dynamic = true;
      if (typeof declared !== 'string' || declared === '') return d + 1;
      // s → s + 1 + k for the k-th symbol: small (cheap to run) and a distinct (first, second) pair per symbol
      if (!sizes.has(declared)) sizes.set(declared, [d, d + 1 + sizes.size]);
      return sizes.get(declared)![1];
    });
  }
  if (!dynamic) return undefined;
  const { inputs: _given, dimSizes: _sizes, shapes: _shapes, ...rest } = opts;
  const second = await traceOnce(model, sampleInputs(model, { ...rest, shapes }), {
    ...rest,
    keepData: false,
    keep: [],
  });
  const out = new Map<string, Dim[] | undefined>();
  for (const [name, a] of first.values) {
    const b = second.values.get(name);
    if (a.kind !== 'node' || !b) continue;
    if (b.shape.length !== a.shape.length) {
      out.set(name, undefined);
      continue;
    }
    out.set(
      name,
      a.shape.map((d1, i) => {
        const d2 = b.shape[i]!;
        if (d1 === d2) return d1;
        for (const [sym, [s1, s2]] of sizes) if (s1 === d1 && s2 === d2) return sym;
        return null;
      }),
    );
  }
  return out;
}

/**
 * A clone of the model whose main graph also outputs every intermediate node output. Values inside
 * If/Loop/Scan bodies stay inside; the control-flow nodes' own outputs are exposed like any other.
 */
export function exposeIntermediates(model: Model): {
  exposed: Model;
  added: string[];
  skipped: { name: string; reason: string }[];
} {
  const exposed = cloneModel(model);
  const g = exposed.graph;
  const already = new Set<Value>(g.outputs);
  const added: string[] = [];
  const skipped: { name: string; reason: string }[] = [];
  for (const n of g.nodes) {
    for (const v of n.outputs) {
      if (already.has(v) || (v.anonymous && v.uses.length === 0)) continue;
      if (v.type?.kind === 'opaque') {
        skipped.push({ name: v.name, reason: 'not a tensor (declared non-tensor type)' });
        continue;
      }
      const dtype = v.dtype;
      v.type = dtype ? { kind: 'tensor', dtype, shape: undefined } : undefined;
      g.addOutput(v);
      added.push(v.name);
    }
  }
  return { exposed, added, skipped };
}

/**
 * Write traced dtypes and shapes into the model's main-graph node outputs. With `dims` (from the dynamic
 * probe) a dim that follows an input symbol is written as that symbol and other varying dims as null;
 * without it, a declared symbolic dim is kept where the declared rank matches and every other dim becomes
 * the traced size. Returns how many values were annotated.
 */
export function annotateShapes(
  model: Model,
  traced: Pick<TraceResult, 'values'>,
  dims?: Map<string, Dim[] | undefined>,
): number {
  let count = 0;
  for (const n of model.graph.nodes) {
    for (const v of n.outputs) {
      const t = traced.values.get(v.name);
      if (!t || t.kind !== 'node') continue;
      const declared = v.type?.kind === 'tensor' ? v.type.shape : undefined;
      const shape: Dim[] | undefined = dims?.has(v.name)
        ? dims.get(v.name)
        : declared && declared.length === t.shape.length
          ? t.shape.map((d, i) => (typeof declared[i] === 'string' ? declared[i]! : d))
          : [...t.shape];
      v.type = { kind: 'tensor', dtype: t.dtype, shape };
      count++;
    }
  }
  return count;
}
