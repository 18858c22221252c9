/**
 * @file The Emitter: appends ONNX nodes with statically known shapes and dtypes to a graph, and (while
 * recording) puts each one on the tape the backward pass replays. Helpers cover the handful of ops gradient
 * rules, losses and optimizers are written in. Pure: imports only the IR.
 */
import {
  Tensor,
  allocData,
  type AttributeValue,
  type DataType,
  type Graph,
  type Node,
  type Value,
} from '../ir/index.ts';
import { MissingShapeError } from './errors.ts';

/** Attribute constructors, so emitted attributes say their ONNX kind. */
export const attr = {
  int: (value: number): AttributeValue => ({ type: 'int', value }),
  ints: (value: number[]): AttributeValue => ({ type: 'ints', value }),
  float: (value: number): AttributeValue => ({ type: 'float', value }),
  floats: (value: number[]): AttributeValue => ({ type: 'floats', value }),
  string: (value: string): AttributeValue => ({ type: 'string', value }),
  tensor: (value: Tensor): AttributeValue => ({ type: 'tensor', value }),
};

export type Attrs = Record<string, AttributeValue>;

/** A vector-Jacobian product of a composite tape entry: output gradients in, input gradients out. */
export type CompositeVjp = (dys: (Value | null)[], needs: boolean[]) => (Value | null)[];

/** One forward step the backward pass replays: a graph node (its rule comes from the table) or a composite. */
export interface TapeEntry {
  label: string;
  opType: string;
  node: Node | null;
  inputs: (Value | null)[];
  outputs: Value[];
  /** Set for composites (e.g. training-mode BatchNormalization emitted as several nodes). */
  vjp?: CompositeVjp;
}

/** ONNX element-type codes the Cast `to` attribute takes. */
const CAST_CODES: Partial<Record<DataType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

/** Broadcast two shapes by numpy rules. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new RangeError(`shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export class Emitter {
  /** Shapes of every value the emitter knows (forward values from the trace, emitted ones as computed). */
  readonly shapes = new Map<Value, number[]>();
  readonly dtypes = new Map<Value, DataType>();
  /** Run-time values of small integer tensors (shapes, axes, slice bounds) recorded by the trace. */
  readonly knownInts = new Map<Value, number[]>();
  /** While non-null, every emitted node is recorded here for the backward pass. */
  tape: TapeEntry[] | null = null;
  private counter = 0;
  private readonly cache = new Map<string, Value>();

  constructor(
    readonly graph: Graph,
    /** Default-domain opset of the graph being emitted into (decides attribute-vs-input forms). */
    readonly opset: number,
    readonly prefix = 'ad',
  ) {}

  shape(v: Value): number[] {
    const s = this.shapes.get(v) ?? (v.initializer ? [...v.initializer.dims] : undefined);
    if (!s) throw new MissingShapeError(v.name);
    return s;
  }

  dtype(v: Value): DataType {
    const d = this.dtypes.get(v) ?? v.dtype;
    if (!d) throw new MissingShapeError(`${v.name} (element type)`);
    return d;
  }

  /** Record a value's shape and dtype (and write them into its static type). */
  declare(v: Value, shape: number[], dtype: DataType): Value {
    this.shapes.set(v, shape);
    this.dtypes.set(v, dtype);
    v.type = { kind: 'tensor', dtype, shape: [...shape] };
    return v;
  }

  private fresh(base: string): string {
    let name: string;
    do name = `${this.prefix}/${base}_${this.counter++}`;
    while (this.graph.lookup(name));
    return name;
  }

  /** Emit a node with several outputs of the given shapes and dtypes. */
  opN(
    opType: string,
    inputs: (Value | null)[],
    attrs: Attrs,
    outs: { shape: number[]; dtype: DataType }[],
    domain = '',
  ): Value[] {
    const name = this.fresh(opType);
    const node = this.graph.addNode({
      opType,
      domain,
      name,
      inputs,
      outputs: outs.map((_, i) => `${name}${i ? `:${i}` : ''}`),
      attributes: attrs,
    });
    node.outputs.forEach((v, i) => this.declare(v, outs[i]!.shape, outs[i]!.dtype));
    this.tape?.push({ label: name, opType, node, inputs: [...inputs], outputs: [...node.outputs] });
    return node.outputs;
  }

  /** Emit a one-output node; its dtype defaults to the first input's. */
  op(opType: string, inputs: (Value | null)[], attrs: Attrs, shape: number[], dtype?: DataType): Value {
    const dt = dtype ?? this.dtype(inputs.find((v): v is Value => v !== null)!);
    return this.opN(opType, inputs, attrs, [{ shape, dtype: dt }])[0]!;
  }

  /** An initializer holding `t` (not cached). */
  constant(t: Tensor, base = 'const'): Value {
    const v = this.graph.addInitializer(this.fresh(base), t);
    return this.declare(v, [...t.dims], t.dtype);
  }

  /** An initializer made once per `key` and shared by every later request for the same key. */
  cached(key: string, make: () => Tensor, base = 'const'): Value {
    let v = this.cache.get(key);
    if (!v) {
      v = this.constant(make(), base);
      this.cache.set(key, v);
    }
    return v;
  }

  /** A scalar constant of element type `dtype` (cached). */
  scalar(x: number, dtype: DataType): Value {
    return this.cached(`s:${dtype}:${x}`, () => {
      if (dtype === 'int64') return Tensor.int64([], [x]);
      const d = allocData(dtype, 1) as Float32Array;
      d[0] = x;
      return new Tensor(dtype, [], d);
    });
  }

  /** A scalar constant of the same element type as `like`. */
  scalarLike(x: number, like: Value): Value {
    return this.scalar(x, this.dtype(like));
  }

  /** A 1-D int64 constant (shapes, axes, pads; cached). */
  ints(xs: readonly number[]): Value {
    return this.cached(`i:${xs.join(',')}`, () => Tensor.int64([xs.length], xs));
  }

  /** A constant filled with `x`, of the given shape and dtype (cached). */
  filled(x: number, shape: number[], dtype: DataType): Value {
    return this.cached(`f:${dtype}:${x}:${shape.join(',')}`, () => {
      const n = shape.reduce((a, b) => a * b, 1);
      const d = allocData(dtype, n) as Float32Array;
      if (x !== 0) d.fill(x);
      return new Tensor(dtype, shape, d);
    });
  }

  // ---- elementwise -------------------------------------------------------------------------------------

  private binary(opType: string, a: Value, b: Value): Value {
    return this.op(opType, [a, b], {}, broadcastShapes(this.shape(a), this.shape(b)), this.dtype(a));
  }

  add(a: Value, b: Value): Value {
    return this.binary('Add', a, b);
  }
  sub(a: Value, b: Value): Value {
    return this.binary('Sub', a, b);
  }
  mul(a: Value, b: Value): Value {
    return this.binary('Mul', a, b);
  }
  div(a: Value, b: Value): Value {
    return this.binary('Div', a, b);
  }
  pow(a: Value, b: Value): Value {
    return this.binary('Pow', a, b);
  }
  /** Multiply by a number (skipped when it is 1). */
  scale(a: Value, k: number): Value {
    return k === 1 ? a : this.mul(a, this.scalarLike(k, a));
  }
  unary(opType: string, x: Value, attrs: Attrs = {}): Value {
    return this.op(opType, [x], attrs, this.shape(x), this.dtype(x));
  }
  neg(x: Value): Value {
    return this.unary('Neg', x);
  }
  /** A comparison (`Greater`, `Less`, `Equal`, …): a bool tensor. */
  compare(opType: string, a: Value, b: Value): Value {
    return this.op(opType, [a, b], {}, broadcastShapes(this.shape(a), this.shape(b)), 'bool');
  }
  where(cond: Value, a: Value, b: Value): Value {
    const shape = broadcastShapes(this.shape(cond), broadcastShapes(this.shape(a), this.shape(b)));
    return this.op('Where', [cond, a, b], {}, shape, this.dtype(a));
  }
  cast(x: Value, to: DataType): Value {
    if (this.dtype(x) === to) return x;
    return this.op('Cast', [x], { to: attr.int(CAST_CODES[to]!) }, this.shape(x), to);
  }
  /** Sum of several values (Add for two, Sum for more). */
  sum(xs: Value[]): Value {
    if (xs.length === 1) return xs[0]!;
    if (xs.length === 2) return this.add(xs[0]!, xs[1]!);
    const shape = xs.map((x) => this.shape(x)).reduce(broadcastShapes);
    return this.op('Sum', xs, {}, shape, this.dtype(xs[0]!));
  }

  // ---- shape ops ---------------------------------------------------------------------------------------

  reshape(x: Value, shape: number[]): Value {
    if (sameShape(this.shape(x), shape)) return x;
    return this.op('Reshape', [x, this.ints(shape)], {}, shape);
  }
  transpose(x: Value, perm: number[]): Value {
    if (perm.every((p, i) => p === i)) return x;
    const s = this.shape(x);
    return this.op(
      'Transpose',
      [x],
      { perm: attr.ints(perm) },
      perm.map((p) => s[p]!),
    );
  }
  expand(x: Value, shape: number[]): Value {
    if (sameShape(this.shape(x), shape)) return x;
    return this.op('Expand', [x, this.ints(shape)], {}, broadcastShapes(this.shape(x), shape));
  }
  /** Slice with constant starts/ends/axes/steps. */
  slice(x: Value, starts: number[], ends: number[], axes: number[], steps?: number[]): Value {
    const shape = [...this.shape(x)];
    axes.forEach((ax, i) => {
      shape[ax] = sliceLength(shape[ax]!, starts[i]!, ends[i]!, steps?.[i] ?? 1);
    });
    const ins = [x, this.ints(starts), this.ints(ends), this.ints(axes)];
    if (steps) ins.push(this.ints(steps));
    return this.op('Slice', ins, {}, shape);
  }
  concat(xs: Value[], axis: number): Value {
    if (xs.length === 1) return xs[0]!;
    const shape = [...this.shape(xs[0]!)];
    shape[axis] = xs.reduce((n, x) => n + this.shape(x)[axis]!, 0);
    return this.op('Concat', xs, { axis: attr.int(axis) }, shape);
  }
  split(x: Value, sizes: number[], axis: number): Value[] {
    const s = this.shape(x);
    const outs = sizes.map((n) => ({ shape: s.map((d, i) => (i === axis ? n : d)), dtype: this.dtype(x) }));
    return this.opN('Split', [x, this.ints(sizes)], { axis: attr.int(axis) }, outs);
  }
  pad(x: Value, begin: number[], end: number[]): Value {
    if ([...begin, ...end].every((p) => p === 0)) return x;
    const shape = this.shape(x).map((d, i) => d + begin[i]! + end[i]!);
    return this.op('Pad', [x, this.ints([...begin, ...end])], {}, shape);
  }
  unsqueeze(x: Value, axes: number[]): Value {
    const s = [...this.shape(x)];
    for (const a of [...axes].sort((p, q) => p - q)) s.splice(a, 0, 1);
    return this.reshape(x, s);
  }

  // ---- reductions and products -------------------------------------------------------------------------

  /** A reduction over `axes` (all when empty); opset-aware (axes as input from 13 for ReduceSum, 18 for others). */
  reduce(opType: string, x: Value, axes: number[], keepdims: boolean): Value {
    const s = this.shape(x);
    const all = axes.length === 0 ? s.map((_, i) => i) : axes.map((a) => (a < 0 ? a + s.length : a));
    if (all.length === 0) return x;
    const shape = keepdims ? s.map((d, i) => (all.includes(i) ? 1 : d)) : s.filter((_, i) => !all.includes(i));
    const asInput = opType === 'ReduceSum' ? this.opset >= 13 : this.opset >= 18;
    const attrs: Attrs = { keepdims: attr.int(keepdims ? 1 : 0) };
    if (asInput) return this.op(opType, [x, this.ints(all)], attrs, shape);
    return this.op(opType, [x], { ...attrs, axes: attr.ints(all) }, shape);
  }
  reduceSum(x: Value, axes: number[], keepdims = true): Value {
    return this.reduce('ReduceSum', x, axes, keepdims);
  }
  matmul(a: Value, b: Value): Value {
    const sa = this.shape(a);
    const sb = this.shape(b);
    const batch = broadcastShapes(sa.slice(0, -2), sb.slice(0, -2));
    return this.op('MatMul', [a, b], {}, [...batch, sa[sa.length - 2]!, sb[sb.length - 1]!]);
  }

  /**
   * Reduce a broadcast gradient back to `shape`: sum over the leading axes `shape` lacks and over the axes
   * where it has size 1, then reshape.
   */
  unbroadcast(g: Value, shape: readonly number[]): Value {
    const gs = this.shape(g);
    if (sameShape(gs, shape)) return g;
    const lead = gs.length - shape.length;
    const axes: number[] = [];
    gs.forEach((d, i) => {
      if (i < lead || (shape[i - lead] === 1 && d !== 1)) axes.push(i);
    });
    return this.reshape(axes.length ? this.reduceSum(g, axes, true) : g, [...shape]);
  }

  /** Zeros shaped and typed like `like`. */
  zerosLike(like: Value): Value {
    return this.zeros(this.shape(like), this.dtype(like));
  }

  /** A zero tensor made at run time (ConstantOfShape: no large constant stored in the model). */
  zeros(shape: number[], dtype: DataType): Value {
    const value = dtype === 'int64' ? Tensor.int64([1], [0]) : new Tensor(dtype, [1], allocData(dtype, 1));
    return this.op('ConstantOfShape', [this.ints(shape)], { value: attr.tensor(value) }, shape, dtype);
  }
}

/** Number of elements a Slice keeps on one axis of size `n` (ONNX clamping rules). */
export function sliceLength(n: number, start: number, end: number, step: number): number {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + n : start;
  let e = end < 0 ? end + n : end;
  if (step > 0) {
    s = clamp(s, 0, n);
    e = clamp(e, 0, n);
    return Math.max(0, Math.ceil((e - s) / step));
  }
  s = clamp(s, -1, n - 1);
  e = clamp(e, -1, n - 1);
  return Math.max(0, Math.ceil((s - e) / -step));
}
