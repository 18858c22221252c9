/**
 * @file Gradient rules of data-movement ops: reshapes, transposes, concat/split, slice, gather, pad, expand.
 * Index-like inputs (shapes, axes, indices, pads) get no gradient. Pure: imports the IR and autodiff kit.
 */
import type { Value } from '../../ir/index.ts';
import { attr, type Emitter } from '../emitter.ts';
import { constantOf, normAxis, type VjpContext, type VjpRule } from '../rule.ts';

// Reshape-like ops: dx = dy reshaped back to x's shape; the shape/axes input gets none.
const reshapeBack: VjpRule = (c) => [c.e.reshape(c.dy, c.xs(0)), null];

// y = transpose(x, p): dx = transpose(dy, p⁻¹)
const transpose: VjpRule = (c) => {
  const rank = c.xs(0).length;
  const perm = c.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const inv = new Array<number>(rank);
  perm.forEach((p, i) => (inv[p] = i));
  return [c.e.transpose(c.dy, inv)];
};

// y = concat(x₀, x₁, …): dxᵢ = the i-th piece of dy along the axis
const concat: VjpRule = (c) => {
  const rank = c.xs(0).length;
  const axis = normAxis(c.int('axis', 0), rank);
  const sizes = c.node.inputs.map((v) => c.shape(v!)[axis]!);
  const parts = c.e.split(c.dy, sizes, axis);
  return parts.map((p, i) => (c.need(i) ? p : null));
};

// [y₀, y₁, …] = split(x): dx = concat(dy₀, dy₁, …) with zeros for outputs that get no gradient
const split: VjpRule = (c) => {
  const axis = normAxis(c.int('axis', 0), c.xs(0).length);
  const pieces = c.node.outputs.map((y, i) => c.dys[i] ?? c.e.zerosLike(y));
  return [c.e.concat(pieces, axis), null];
};

/** Scatter a slice's gradient back into x's shape, one axis at a time (strided and reversed slices too). */
function unslice(
  e: Emitter,
  dy: Value,
  xs: number[],
  starts: number[],
  ends: number[],
  axes: number[],
  steps: number[],
): Value {
  let g = dy;
  axes.forEach((axis, i) => {
    const n = xs[axis]!;
    const step = steps[i]!;
    const len = e.shape(g)[axis]!;
    let first = starts[i]! < 0 ? starts[i]! + n : starts[i]!;
    first = step > 0 ? Math.min(Math.max(first, 0), n) : Math.min(Math.max(first, -1), n - 1);
    let lo = first;
    if (step < 0) {
      // reversed: flip dy so it runs upwards from the lowest index taken
      lo = first + (len - 1) * step;
      g = e.slice(g, [-1], [-(2 ** 31)], [axis], [-1]);
    }
    const stride = Math.abs(step);
    if (stride > 1 && len > 0) {
      const s = e.shape(g);
      const spread = e.pad(e.unsqueeze(g, [axis + 1]), s.map(() => 0).concat([0]), [
        ...s.slice(0, axis + 1).map(() => 0),
        stride - 1,
        ...s.slice(axis + 1).map(() => 0),
      ]);
      const merged = e.reshape(
        spread,
        s.map((d, k) => (k === axis ? d * stride : d)),
      );
      const keep = Math.min(len * stride, n - lo);
      g = keep === len * stride ? merged : e.slice(merged, [0], [keep], [axis]);
    }
    const have = e.shape(g)[axis]!;
    const begin = xs.map((_, k) => (k === axis ? lo : 0));
    const end = xs.map((_, k) => (k === axis ? n - lo - have : 0));
    g = e.pad(g, begin, end);
  });
  return g;
}

// y = x[starts:ends:steps] on axes: dx = zeros with dy placed back where the slice took it
const slice: VjpRule = (c) => {
  const xs = c.xs(0);
  const starts = c.constInts(1);
  const ends = c.constInts(2);
  if (!starts || !ends) throw c.fail('non-constant starts/ends');
  const axes = (c.maybe(3) ? c.constInts(3) : starts.map((_, i) => i))?.map((a) => normAxis(a, xs.length));
  const steps = c.maybe(4) ? c.constInts(4) : starts.map(() => 1);
  if (!axes || !steps) throw c.fail('non-constant axes/steps');
  return [unslice(c.e, c.dy, xs, starts, ends, axes, steps), null, null, null, null];
};

/** Indices with negative entries wrapped (in JS when constant, else with Where). */
function wrapIndices(c: VjpContext, idx: Value, n: number): Value {
  const t = constantOf(idx);
  if (t?.data) {
    const vals = t.toNumbers().map((i) => (i < 0 ? i + n : i));
    return c.e.reshape(c.e.ints(vals), [...t.dims]);
  }
  const e = c.e;
  const i64 = e.cast(idx, 'int64');
  return e.where(e.compare('Less', i64, e.scalar(0, 'int64')), e.add(i64, e.scalar(n, 'int64')), i64);
}

// y = gather(x, idx, axis): dx = scatter-add of dy into zeros along the axis (repeated indices accumulate).
// Move the axis to the front so ScatterND(add) can take idx as leading index tuples.
const gather: VjpRule = (c) => {
  const { e } = c;
  const xs = c.xs(0);
  const axis = normAxis(c.int('axis', 0), xs.length);
  const is = c.xs(1);
  const idx = e.unsqueeze(wrapIndices(c, c.x(1), xs[axis]!), [is.length]);
  const q = is.length;
  // dy: x[:axis] ++ I ++ x[axis+1:]  →  I ++ x[:axis] ++ x[axis+1:]
  const perm = [
    ...Array.from({ length: q }, (_, i) => axis + i),
    ...Array.from({ length: axis }, (_, i) => i),
    ...Array.from({ length: xs.length - axis - 1 }, (_, i) => axis + q + i),
  ];
  const upd = e.transpose(c.dy, perm);
  const frontShape = [xs[axis]!, ...xs.slice(0, axis), ...xs.slice(axis + 1)];
  const scattered = e.op(
    'ScatterND',
    [e.zeros(frontShape, e.dtype(c.dy)), idx, upd],
    { reduction: attr.string('add') },
    frontShape,
  );
  const back = [
    ...Array.from({ length: axis }, (_, i) => i + 1),
    0,
    ...Array.from({ length: xs.length - axis - 1 }, (_, i) => axis + 1 + i),
  ];
  return [e.transpose(scattered, back), null];
};

// y = gather_elements(x, idx, axis): dx = scatter_elements(zeros, idx, dy, add)
const gatherElements: VjpRule = (c) => {
  const xs = c.xs(0);
  const axis = normAxis(c.int('axis', 0), xs.length);
  const idx = wrapIndices(c, c.x(1), xs[axis]!);
  const attrs = { axis: attr.int(axis), reduction: attr.string('add') };
  return [c.e.op('ScatterElements', [c.e.zeros(xs, c.e.dtype(c.dy)), idx, c.dy], attrs, xs), null];
};

// y = pad(x, pads) in constant mode: dx = the interior of dy (negative pads, which crop, are padded back)
const pad: VjpRule = (c) => {
  const { e } = c;
  if ((c.node.attrString('mode') ?? 'constant') !== 'constant') throw c.fail(`mode "${c.node.attrString('mode')}"`);
  const xs = c.xs(0);
  const raw = c.ints('pads') ?? c.constInts(1);
  if (!raw) throw c.fail('non-constant pads');
  const axes = (c.maybe(3) ? c.constInts(3) : xs.map((_, i) => i))!.map((a) => normAxis(a, xs.length));
  const begin = xs.map(() => 0);
  const end = xs.map(() => 0);
  axes.forEach((a, i) => {
    begin[a] = raw[i]!;
    end[a] = raw[axes.length + i]!;
  });
  const ds = e.shape(c.dy);
  const cropAxes = xs.map((_, i) => i).filter((i) => begin[i]! > 0 || end[i]! > 0);
  let g = cropAxes.length
    ? e.slice(
        c.dy,
        cropAxes.map((i) => Math.max(begin[i]!, 0)),
        cropAxes.map((i) => ds[i]! - Math.max(end[i]!, 0)),
        cropAxes,
      )
    : c.dy;
  g = e.pad(
    g,
    begin.map((b) => Math.max(-b, 0)),
    end.map((b) => Math.max(-b, 0)),
  );
  return [g, null, null, null];
};

export const shapeRules = {
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  GatherElements: gatherElements,
  Pad: pad,
  // y = broadcast(x): dx = Σ over the broadcast axes
  Expand: (c) => [c.e.unbroadcast(c.dy, c.xs(0)), null],
} satisfies Record<string, VjpRule>;
