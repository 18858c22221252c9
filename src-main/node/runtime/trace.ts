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
 *
 * Memory: every exposed value is alive at once in one run (8 GB for efficientnet_b7 at 600×600), so a model whose
 * values may exceed `maxBytes` is traced slice by slice (`sliceModel`): each slice a session of its own, fed the
 * values it reads from earlier slices, which are held only until their last reader has run. The slices run the
 * same kernels on the same inputs, so the values are the ones a single run gives.
 */
import {
  cloneModel,
  rawByteLength,
  externalInputs,
  sliceModel,
  type DataType,
  type Dim,
  type Model,
  type Node,
  type Tensor,
  type Value,
} from '../../core/ir/index.ts';
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
  /**
   * Bytes of traced values one run may hold (default TRACE_MAX_BYTES, 1 GiB). A model whose values may exceed it is
   * traced in slices, each sized by the largest value seen so far; a model ORT cannot run in slices (a non-tensor
   * value crossing a cut) is traced whole.
   */
  maxBytes?: number;
}

/** The default `maxBytes` of a trace: 1 GiB of intermediate values per run. */
export const TRACE_MAX_BYTES = 2 ** 30;

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
  /** Sessions the (first) trace ran in: 1, or the number of slices of a large model. */
  slices: number;
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
  const budget = opts.maxBytes ?? TRACE_MAX_BYTES;
  const nodes = model.graph.nodes;
  if (sliceEnd(nodes, 0, firstGuess(inputs), budget) < nodes.length) {
    try {
      return await traceSliced(model, inputs, opts, budget);
    } catch (e) {
      if (!(e instanceof NotSliceable)) throw e;
      const whole = await traceWhole(model, inputs, opts);
      whole.notes.push(`traced in one run, not in slices of ${budget} bytes: ${e.message}`);
      return whole;
    }
  }
  return traceWhole(model, inputs, opts);
}

/** Why a model cannot be traced slice by slice (it is traced whole instead). */
class NotSliceable extends Error {}

/**
 * Guessed bytes of one value before any is traced: 4× the largest feed, at least 1 MiB (so a model of up to 1,024
 * values at the default budget, or one whose values are not much larger than its input, runs whole). Slices after
 * the first are sized by the largest value of the slice before.
 */
function firstGuess(inputs: Record<string, Tensor>): number {
  let largest = 0;
  for (const t of Object.values(inputs)) largest = Math.max(largest, tensorBytes(t.dtype, t.dims));
  return Math.max(4 * largest, 2 ** 20);
}

function tensorBytes(dtype: DataType, dims: readonly number[]): number {
  return rawByteLength(
    dtype,
    dims.reduce((a, b) => a * b, 1),
  );
}

/** The end of the slice starting at `start` whose node outputs, at `perValue` bytes each, fit `budget` (≥ 1 node). */
function sliceEnd(nodes: readonly Node[], start: number, perValue: number, budget: number): number {
  let bytes = 0;
  let end = start;
  while (end < nodes.length) {
    bytes += Math.max(1, nodes[end]!.outputs.length) * perValue;
    if (bytes > budget && end > start) break;
    end++;
  }
  return end;
}

/**
 * The trace as a sequence of slices, each in a session of its own: values read by a later slice are kept (as its
 * feeds) until their last reader has run; the others are recorded (shape, dtype, data when asked) and dropped.
 */
async function traceSliced(
  model: Model,
  inputs: Record<string, Tensor>,
  opts: TraceOptions,
  budget: number,
): Promise<TraceResult> {
  const g = model.graph;
  const index = new Map(g.nodes.map((n, i) => [n, i]));
  // the index of the last node reading each value produced in the main graph
  const lastRead = new Map<Value, number>();
  g.nodes.forEach((n, i) => {
    for (const v of externalInputs(n)) {
      if (v.graph !== g || !v.producer) continue;
      if (index.get(v.producer)! >= i) throw new NotSliceable(`${n.label} reads "${v.name}" before it is produced`);
      lastRead.set(v, i);
    }
  });
  const keep = (name: string) => opts.keepData === true || (opts.keep?.includes(name) ?? false);
  const values = new Map<string, TracedValue>();
  const record = (name: string, t: Tensor, kind: TracedValue['kind']) =>
    values.set(name, { dtype: t.dtype, shape: [...t.dims], kind, ...(keep(name) ? { data: t } : {}) });
  for (const [name, t] of Object.entries(inputs)) record(name, t, 'input');
  for (const v of g.initializers) record(v.name, v.initializer!, 'initializer');
  const own = new Set(g.outputs.map((v) => v.name));
  const outputs: Record<string, Tensor> = {};
  for (const v of g.outputs) {
    if (v.producer) continue;
    const t = inputs[v.name] ?? v.initializer;
    if (t) outputs[v.name] = t;
  }
  const live = new Map<string, Tensor>();
  const skipped: TraceResult['skipped'] = [];
  const result: Omit<TraceResult, 'values' | 'outputs' | 'skipped' | 'ep'> & { ep?: ProviderName } = {
    inputs,
    ms: 0,
    sessionMs: 0,
    annotated: 0,
    notes: [],
    slices: 0,
  };
  const floor = firstGuess(inputs);
  let perValue = floor;
  for (let start = 0; start < g.nodes.length;) {
    const end = sliceEnd(g.nodes, start, perValue, budget);
    const part = sliceModel(model, start, end, {
      inputType: (v) => {
        const t = values.get(v.name);
        return t ? { kind: 'tensor', dtype: t.dtype, shape: [...t.shape] } : v.type;
      },
    });
    const feeds: Record<string, Tensor> = {};
    for (const v of part.graph.inputs) {
      const t = inputs[v.name] ?? live.get(v.name);
      if (!t) throw new NotSliceable(`"${v.name}", read after a cut, was not traced as a tensor`);
      feeds[v.name] = t;
    }
    const exposed = exposeIntermediates(part);
    skipped.push(...exposed.skipped);
    const later = (name: string) => (lastRead.get(g.get(name)!) ?? -1) >= end;
    for (const s of exposed.skipped)
      if (later(s.name)) throw new NotSliceable(`"${s.name}", read after a cut, is not a traced tensor`);
    const runner = await ModelRunner.create(exposed.exposed, { optimization: 'disabled', ...opts });
    let fetched: Awaited<ReturnType<ModelRunner['runPrepared']>>;
    try {
      const isTensor = new Map(runner.session.outputMetadata.map((m) => [m.name, m.isTensor]));
      for (const name of exposed.added) {
        if (isTensor.get(name) !== false) continue;
        if (later(name)) throw new NotSliceable(`"${name}", read after a cut, is not a tensor`);
        skipped.push({ name, reason: 'not a tensor (sequence, map or optional)' });
      }
      const fetches = runner.outputNames.filter((n) => isTensor.get(n) !== false);
      const prepared = runner.prepare(feeds);
      const t0 = performance.now();
      fetched = fetches.length ? await runner.runPrepared(prepared, fetches) : {};
      result.ms += performance.now() - t0;
      result.sessionMs += runner.createMs;
      result.slices++;
      if (!result.ep) {
        result.ep = runner.ep;
        if (runner.fallback) result.fallback = runner.fallback;
      }
    } finally {
      await runner.release();
    }
    let largest = 0;
    for (const [name, ot] of Object.entries(fetched)) {
      const t = fromOrtTensor(ot, `value "${name}"`);
      largest = Math.max(largest, tensorBytes(t.dtype, t.dims));
      if (!values.has(name)) record(name, t, 'node');
      if (own.has(name)) outputs[name] = t;
      const v = g.get(name);
      if (v && (lastRead.get(v) ?? -1) >= end) live.set(name, t);
    }
    for (const name of [...live.keys()]) {
      const v = g.get(name)!;
      if ((lastRead.get(v) ?? -1) < end) live.delete(name);
    }
    // never below the first guess: a slice of shape arithmetic alone (vit_h_14's Gather / Unsqueeze between two
    // attention blocks) has scalars as its largest value, and sized by them the next slice took the rest of the model
    // in one run (2,097 nodes, 20 GB at batch 2)
    perValue = Math.max(largest, floor);
    start = end;
  }
  if (result.slices > 1) result.notes.push(`traced in ${result.slices} slices of at most ${budget} bytes`);
  return { ...result, values, outputs, skipped, ep: result.ep ?? 'cpu' };
}

/** The trace in one session: every intermediate value exposed as an output of one run. */
async function traceWhole(model: Model, inputs: Record<string, Tensor>, opts: TraceOptions): Promise<TraceResult> {
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
      slices: 1,
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
