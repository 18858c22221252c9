/**
 * @file Thin onnxruntime-node helpers for training: session creation with settings that behave on shared
 * CPUs, IR tensor ↔ ORT tensor conversion, and the concrete trace (every value's shape and dtype from one run).
 * Node layer: may import onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
import { cloneModel, Tensor, type DataType, type Model } from '../../core/ir/index.ts';
import { withSessionSource } from '../runtime/model-source.ts';

export interface SessionSettings {
  /** Intra-op threads (default: ORT's choice). */
  threads?: number;
  /** Keep ORT's memory arena (faster, more memory). Default true. */
  arena?: boolean;
}

/** Session options: no spin-waiting (it starves other processes on small shared machines). */
export function sessionOptions(s: SessionSettings = {}): ort.InferenceSession.SessionOptions {
  const o: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
  if (s.threads) o.intraOpNumThreads = s.threads;
  if (s.arena === false) {
    o.enableCpuMemArena = false;
    o.enableMemPattern = false;
  }
  return o;
}

/** Create a session from an IR model or encoded bytes (a model over protobuf's 2 GB limit goes by external data). */
export async function createSession(model: Model | Uint8Array, s: SessionSettings = {}): Promise<ort.InferenceSession> {
  return withSessionSource(model, (source) => ort.InferenceSession.create(source as Uint8Array, sessionOptions(s)));
}

type OrtType = ort.Tensor.Type;
const ORT_TYPES: Partial<Record<DataType, OrtType>> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  int32: 'int32',
  int8: 'int8',
  uint8: 'uint8',
  bool: 'bool',
  float16: 'float16',
};

/** An ORT tensor over the same memory as `data`. */
export function ortTensor(dtype: DataType, data: ArrayLike<unknown>, dims: readonly number[]): ort.Tensor {
  const t = ORT_TYPES[dtype];
  if (!t) throw new TypeError(`no ORT tensor type for ${dtype}`);
  return new ort.Tensor(t, data as never, [...dims]);
}

/** An IR tensor as an ORT tensor (shares the data). */
export function toOrt(t: Tensor): ort.Tensor {
  return ortTensor(t.dtype, t.require(`tensor`) as ArrayLike<unknown>, t.dims);
}

/** The IR dtype of an ORT tensor. */
export function dtypeOf(t: ort.Tensor): DataType {
  return (
    t.type === 'float32' ||
    t.type === 'float64' ||
    t.type === 'int64' ||
    t.type === 'int32' ||
    t.type === 'int8' ||
    t.type === 'uint8' ||
    t.type === 'bool' ||
    t.type === 'float16'
      ? t.type
      : 'float32'
  ) as DataType;
}

/** An ORT tensor as an IR tensor (copies). */
export function fromOrt(t: ort.Tensor): Tensor {
  const d = t.data as ArrayLike<unknown> & { slice(): unknown };
  return new Tensor(dtypeOf(t), t.dims.map(Number), d.slice() as never);
}

export interface Trace {
  shapes: Map<string, number[]>;
  dtypes: Map<string, DataType>;
  /** Values of integer tensors with at most 64 elements (computed shapes, axes, slice bounds). */
  intValues: Map<string, number[]>;
}

/**
 * Concrete trace: run the model once with every node output exposed, and record each value's shape and dtype.
 * Inputs and initializers are included. Subgraph values are not traced.
 */
export async function traceModel(
  model: Model,
  feeds: Record<string, ort.Tensor>,
  s: SessionSettings = {},
): Promise<Trace> {
  const m = cloneModel(model);
  const g = m.graph;
  const outs = new Set(g.outputs);
  for (const n of g.nodes)
    for (const v of n.outputs)
      if (!v.anonymous && !outs.has(v)) {
        g.addOutput(v);
        outs.add(v);
      }
  // tensors no node reads yet (a distiller's projections, used only by its loss term) would only draw ORT's warnings
  for (const v of [...g.initializers]) if (v.uses.length === 0 && !v.isGraphOutput) g.removeInitializer(v);
  const session = await createSession(m, s);
  try {
    const r = await session.run(feeds);
    const shapes = new Map<string, number[]>();
    const dtypes = new Map<string, DataType>();
    const intValues = new Map<string, number[]>();
    for (const [k, t] of Object.entries(r)) {
      shapes.set(k, t.dims.map(Number));
      dtypes.set(k, dtypeOf(t));
      if ((t.type === 'int64' || t.type === 'int32') && t.size <= 64)
        intValues.set(k, Array.from(t.data as ArrayLike<number | bigint>, Number));
    }
    for (const [k, t] of Object.entries(feeds)) {
      shapes.set(k, t.dims.map(Number));
      dtypes.set(k, dtypeOf(t));
    }
    for (const v of model.graph.initializers) {
      shapes.set(v.name, [...v.initializer!.dims]);
      dtypes.set(v.name, v.initializer!.dtype);
    }
    return { shapes, dtypes, intValues };
  } finally {
    await session.release();
  }
}
