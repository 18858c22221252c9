/**
 * @file Evaluation of the small integer computations exporters emit for shapes (Shape → Gather → Div → Mul →
 * Slice bounds, Concat of dims → Reshape targets) on the traced shapes, with a taint that marks entries following
 * a dynamic input dim (batch, sequence). Speedup reads Reshape targets, Split sizes and Slice bounds from here, and
 * rewrites as constants only the untainted ones. Pure: imports only the IR.
 */
import { isFloatType, type Graph, type Node, type Value } from '../../ir/index.ts';

/** A small integer (or float scalar) tensor known on the trace. */
/** A dim of a value an entry was computed from (via Shape / Size). */
export type DimRef = readonly [Value, number];

export interface IntValue {
  dims: number[];
  values: number[];
  /** Per entry: depends on a dynamic dim (must not be baked into a constant). */
  dynamic: boolean[];
  /** Per entry: the dims it was computed from (a shrinking one makes the entry follow by itself). */
  deps: DimRef[][];
  float: boolean;
}

const MAX_ELEMENTS = 4096;

type Evaluator = (
  node: Node,
  ins: (IntValue | undefined)[],
  shapeOf: (v: Value) => readonly number[] | undefined,
  dyn: (v: Value, axis: number) => boolean,
) => IntValue | undefined;

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function make(dims: number[], values: number[], dynamic: boolean[], float = false, deps?: DimRef[][]): IntValue {
  return { dims, values, dynamic, float, deps: deps ?? values.map(() => []) };
}

function broadcast2(
  a: IntValue,
  b: IntValue,
  f: (x: number, y: number) => number,
  float: boolean,
): IntValue | undefined {
  const n = Math.max(a.values.length, b.values.length);
  if (a.values.length !== n && a.values.length !== 1) return undefined;
  if (b.values.length !== n && b.values.length !== 1) return undefined;
  const at = (v: IntValue, i: number) => (v.values.length === 1 ? 0 : i);
  const values: number[] = [];
  const dynamic: boolean[] = [];
  const deps: DimRef[][] = [];
  for (let i = 0; i < n; i++) {
    const r = f(a.values[at(a, i)]!, b.values[at(b, i)]!);
    values.push(float ? r : Math.trunc(r));
    dynamic.push(a.dynamic[at(a, i)]! || b.dynamic[at(b, i)]!);
    deps.push([...a.deps[at(a, i)]!, ...b.deps[at(b, i)]!]);
  }
  return make(a.values.length >= b.values.length ? a.dims : b.dims, values, dynamic, float, deps);
}

const binary =
  (f: (x: number, y: number) => number): Evaluator =>
  (_n, [a, b]) =>
    a && b ? broadcast2(a, b, f, a.float || b.float) : undefined;

const unary =
  (f: (x: number) => number): Evaluator =>
  (_n, [a]) =>
    a ? make(a.dims, a.values.map(f), a.dynamic, a.float, a.deps) : undefined;

function axesOf(node: Node, input: IntValue | undefined): number[] | undefined {
  return node.attrInts('axes') ?? input?.values;
}

/** Op types whose small integer (shape) computations speedup evaluates: see `EVALUATORS`. */
export function shapeEvaluatedOps(): string[] {
  return Object.keys(EVALUATORS);
}

function strides(dims: readonly number[]): number[] {
  const out = dims.map(() => 1);
  for (let i = dims.length - 2; i >= 0; i--) out[i] = out[i + 1]! * dims[i + 1]!;
  return out;
}

/** Visit every index of `dims` in row-major order (f: the flat position). */
function forEachIndex(dims: readonly number[], f: (ix: number[], flat: number) => void): void {
  const n = prod(dims);
  const ix = dims.map(() => 0);
  for (let flat = 0; flat < n; flat++) {
    f(ix, flat);
    for (let k = dims.length - 1; k >= 0; k--) {
      if (++ix[k]! < dims[k]!) break;
      ix[k] = 0;
    }
  }
}

type Entries = Pick<IntValue, 'values' | 'dynamic' | 'deps'>;
const emptyLike = (n: number): Entries => ({
  values: new Array<number>(n),
  dynamic: new Array<boolean>(n),
  deps: new Array<DimRef[]>(n),
});
function copyEntry(out: Entries, at: number, from: IntValue, src: number): void {
  out.values[at] = from.values[src]!;
  out.dynamic[at] = from.dynamic[src]!;
  out.deps[at] = from.deps[src]!;
}

/** The sub-tensor of `data` at the given indices of each axis (row-major). */
function gatherND(data: IntValue, picks: readonly number[][]): IntValue {
  const dims = picks.map((p) => p.length);
  const st = strides(data.dims);
  const out = emptyLike(prod(dims));
  forEachIndex(dims, (ix, f) => {
    let src = 0;
    ix.forEach((x, k) => (src += picks[k]![x]! * st[k]!));
    copyEntry(out, f, data, src);
  });
  return make(dims, out.values, out.dynamic, data.float, out.deps);
}

const EVALUATORS: Record<string, Evaluator> = {
  Shape(node, _ins, shapeOf, dyn) {
    const x = node.input(0);
    const s = x ? shapeOf(x) : undefined;
    if (!x || !s) return undefined;
    const r = s.length;
    const norm = (a: number) => Math.min(Math.max(a < 0 ? a + r : a, 0), r);
    const start = norm(node.attrInt('start', 0));
    const end = norm(node.attrInt('end') ?? r);
    const axes = Array.from({ length: Math.max(0, end - start) }, (_, i) => start + i);
    return make(
      [axes.length],
      axes.map((a) => s[a]!),
      axes.map((a) => dyn(x, a)),
      false,
      axes.map((a) => [[x, a] as const]),
    );
  },
  Size(node, _ins, shapeOf, dyn) {
    const x = node.input(0);
    const s = x ? shapeOf(x) : undefined;
    if (!x || !s) return undefined;
    return make([], [prod(s)], [s.some((_, a) => dyn(x, a))], false, [s.map((_, a) => [x, a] as const)]);
  },
  Identity: (_n, [a]) => a,
  Cast(node, [a]) {
    if (!a) return undefined;
    const to = node.attrInt('to', 7);
    const float = to === 1 || to === 10 || to === 11 || to === 16;
    return make(a.dims, float ? a.values : a.values.map(Math.trunc), a.dynamic, float, a.deps);
  },
  Gather(node, [data, idx]) {
    if (!data || !idx || data.dims.length > 1 || node.attrInt('axis', 0) !== 0) return undefined;
    const n = data.values.length;
    const values: number[] = [];
    const dynamic: boolean[] = [];
    const deps: DimRef[][] = [];
    for (const i of idx.values) {
      const k = i < 0 ? i + n : i;
      if (k < 0 || k >= n) return undefined;
      values.push(data.values[k]!);
      dynamic.push(data.dynamic[k]!);
      deps.push(data.deps[k]!);
    }
    return make(idx.dims, values, dynamic, data.float, deps);
  },
  Slice(node, [data, startsIn, endsIn, axesIn, steps]) {
    // opset < 10 (paddle2onnx writes opset 9) gives starts / ends / axes as attributes
    const attr = (k: string) =>
      node.attrInts(k) &&
      make(
        [node.attrInts(k)!.length],
        node.attrInts(k)!,
        node.attrInts(k)!.map(() => false),
      );
    const [starts, ends, axesV] = [startsIn ?? attr('starts'), endsIn ?? attr('ends'), axesIn ?? attr('axes')];
    if (!data || !starts || !ends) return undefined;
    const r = data.dims.length;
    const axes = (axesV?.values ?? starts.values.map((_, i) => i)).map((x) => (x < 0 ? x + r : x));
    // per axis: the indices kept, in order (ONNX clamping, negative steps walk backwards)
    const picks = data.dims.map((n) => Array.from({ length: n }, (_, i) => i));
    for (const [k, a] of axes.entries()) {
      const n = data.dims[a];
      const step = steps?.values[k] ?? 1;
      if (n === undefined || step === 0) return undefined;
      const norm = (v: number) => (v < 0 ? v + n : v);
      const lo = step > 0 ? 0 : -1;
      const hi = step > 0 ? n : n - 1;
      const st = Math.min(Math.max(norm(starts.values[k]!), lo), hi);
      const en = Math.min(Math.max(norm(ends.values[k]!), lo), hi);
      const idx: number[] = [];
      for (let i = st; step > 0 ? i < en : i > en; i += step) idx.push(i);
      picks[a] = idx;
    }
    return gatherND(data, picks);
  },
  Transpose(node, [data]) {
    if (!data) return undefined;
    const r = data.dims.length;
    const perm = node.attrInts('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    const inStrides = strides(data.dims);
    const dims = perm.map((p) => data.dims[p]!);
    const out = emptyLike(prod(dims));
    forEachIndex(dims, (ix, f) => {
      let src = 0;
      ix.forEach((x, k) => (src += x * inStrides[perm[k]!]!));
      copyEntry(out, f, data, src);
    });
    return make(dims, out.values, out.dynamic, data.float, out.deps);
  },
  ConstantOfShape(node, [shape]) {
    if (!shape) return undefined;
    const fill = node.attr('value');
    const v = fill?.type === 'tensor' && fill.value.data !== null ? fill.value.toNumbers()[0]! : 0;
    const n = prod(shape.values);
    if (n > MAX_ELEMENTS) return undefined;
    const dynamic = shape.dynamic.some(Boolean);
    return make(
      [...shape.values],
      Array<number>(n).fill(v),
      Array<boolean>(n).fill(dynamic),
      fill?.type === 'tensor' && isFloatType(fill.value.dtype),
    );
  },
  Concat(node, ins) {
    if (ins.some((v) => !v) || ins.some((v) => v!.dims.length > 1)) return undefined;
    const all = ins as IntValue[];
    return make(
      [all.reduce((a, v) => a + v.values.length, 0)],
      all.flatMap((v) => v.values),
      all.flatMap((v) => v.dynamic),
      all.some((v) => v.float),
      all.flatMap((v) => v.deps),
    );
  },
  Unsqueeze(node, [a, axesIn]) {
    if (!a) return undefined;
    const axes = axesOf(node, axesIn);
    if (!axes) return undefined;
    const r = a.dims.length + axes.length;
    const norm = axes.map((x) => (x < 0 ? x + r : x));
    const dims: number[] = [];
    let k = 0;
    for (let i = 0; i < r; i++) dims.push(norm.includes(i) ? 1 : a.dims[k++]!);
    return make(dims, a.values, a.dynamic, a.float, a.deps);
  },
  Squeeze(node, [a, axesIn]) {
    if (!a) return undefined;
    const axes = axesOf(node, axesIn)?.map((x) => (x < 0 ? x + a.dims.length : x));
    const dims = a.dims.filter((d, i) => (axes ? !axes.includes(i) : d !== 1));
    return make(dims, a.values, a.dynamic, a.float, a.deps);
  },
  Reshape(_node, [a, shape]) {
    if (!a || !shape) return undefined;
    const known = shape.values.filter((d) => d > 0);
    const rest = a.values.length / Math.max(1, prod(known));
    return make(
      shape.values.map((d) => (d === -1 ? rest : d === 0 ? 1 : d)),
      a.values,
      a.dynamic,
      a.float,
      a.deps,
    );
  },
  Add: binary((x, y) => x + y),
  Sub: binary((x, y) => x - y),
  Mul: binary((x, y) => x * y),
  Div: binary((x, y) => x / y),
  Mod: binary((x, y) => x % y),
  Max: binary(Math.max),
  Min: binary(Math.min),
  Neg: unary((x) => -x),
  Abs: unary(Math.abs),
  Floor: unary(Math.floor),
  Ceil: unary(Math.ceil),
  Sqrt: unary(Math.sqrt),
};

/**
 * Evaluate every small integer value of the main graph that can be known from initializers and traced shapes.
 * `isDynamic(v, axis)` says whether dim `axis` of `v` follows a dynamic input dim.
 *
 * @example
 * const ints = evalShapeInts(graph, (v) => shapes.get(v.name), () => false);
 * ints.get(sliceNode.input(2)!)?.values // [64]
 */
export function evalShapeInts(
  graph: Graph,
  shapeOf: (v: Value) => readonly number[] | undefined,
  isDynamic: (v: Value, axis: number) => boolean,
): Map<Value, IntValue> {
  const known = new Map<Value, IntValue>();
  for (const v of graph.initializers) {
    const t = v.initializer!;
    if (t.data === null || t.dtype === 'string' || t.size > MAX_ELEMENTS) continue;
    const values = t.toNumbers();
    known.set(
      v,
      make(
        [...t.dims],
        values,
        values.map(() => false),
        isFloatType(t.dtype),
      ),
    );
  }
  for (const node of graph.nodes) {
    const ev = EVALUATORS[node.opType];
    if (!ev || node.domain !== '') continue;
    const ins = node.inputs.map((v) => (v ? known.get(v) : undefined));
    // Shape and Size read only the shape of their input; the others need every present input known.
    if (node.opType !== 'Shape' && node.opType !== 'Size' && node.inputs.some((v, i) => v && !ins[i])) continue;
    const out = ev(node, ins, shapeOf, isDynamic);
    if (out && out.values.length <= MAX_ELEMENTS && out.values.every(Number.isFinite)) known.set(node.outputs[0]!, out);
  }
  return known;
}
