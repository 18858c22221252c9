/**
 * @file Gradient rules of pooling, normalization, softmax and reductions. Training-mode BatchNormalization is
 * not here: it is rewritten before differentiation (training-forward.ts). Pure: imports the IR and autodiff kit.
 */
import { Tensor, type Value } from '../../ir/index.ts';
import { attr } from '../emitter.ts';
import { axesExcept, channelShape, keepShape, normAxis, type VjpContext, type VjpRule } from '../rule.ts';
import { convInputGrad, type ConvGeometry } from './linear.ts';

// MaxPool with its Indices output (added by the training forward): dx = scatter-add of dy at the indices,
// which ORT gives flat over the whole N·C·H·W input. Non-overlapping float32 windows use MaxUnpool (faster).
const maxPool: VjpRule = (c) => {
  const { e } = c;
  const idx = c.node.outputs[1];
  if (!idx || idx.anonymous)
    throw c.fail('MaxPool without its Indices output (build the step with the training forward)');
  const xs = c.xs(0);
  const k = c.ints('kernel_shape')!;
  const s = c.ints('strides') ?? k.map(() => 1);
  const dil = c.ints('dilations') ?? k.map(() => 1);
  const disjoint = k.every((kk, i) => kk * dil[i]! <= s[i]!);
  if (disjoint && e.dtype(c.dy) === 'float32' && c.int('storage_order', 0) === 0) {
    return [e.op('MaxUnpool', [c.dy, idx, e.ints(xs)], { kernel_shape: attr.ints(k), strides: attr.ints(s) }, xs)];
  }
  const n = xs.reduce((a, b) => a * b, 1);
  const flat = e.op(
    'ScatterElements',
    [
      e.zeros([n], e.dtype(c.dy)),
      e.reshape(idx, [e.shape(idx).reduce((a, b) => a * b, 1)]),
      e.reshape(c.dy, [e.shape(c.dy).reduce((a, b) => a * b, 1)]),
    ],
    { axis: attr.int(0), reduction: attr.string('add') },
    [n],
  );
  return [e.reshape(flat, xs)];
};

/** Divisor of each average-pool window (ORT semantics: in-bounds count unless count_include_pad). */
function poolDivisors(
  inSpatial: number[],
  outSpatial: number[],
  k: number[],
  s: number[],
  pb: number[],
  includePad: boolean,
): Float64Array {
  const P = outSpatial.reduce((a, b) => a * b, 1);
  const out = new Float64Array(P);
  for (let p = 0; p < P; p++) {
    let rest = p;
    let count = 1;
    for (let i = outSpatial.length - 1; i >= 0; i--) {
      const o = rest % outSpatial[i]!;
      rest = Math.floor(rest / outSpatial[i]!);
      const start = o * s[i]! - pb[i]!;
      const lo = includePad ? start : Math.max(0, start);
      const hi = includePad ? start + k[i]! : Math.min(inSpatial[i]!, start + k[i]!);
      count *= includePad ? k[i]! : hi - lo;
    }
    out[p] = 1 / count;
  }
  return out;
}

// y = windowed mean: dx = ConvTranspose(dy / divisor, ones[C,1,k…], group C) (the adjoint of a box filter).
const averagePool: VjpRule = (c) => {
  const { e } = c;
  const xs = c.xs(0);
  const ys = c.shape(c.y());
  const k = c.ints('kernel_shape')!;
  const r = k.length;
  const s = c.ints('strides') ?? k.map(() => 1);
  const pads = c.ints('pads') ?? new Array(2 * r).fill(0);
  if ((c.node.attrString('auto_pad') ?? 'NOTSET') !== 'NOTSET') throw c.fail('auto_pad');
  const includePad = c.int('count_include_pad', 0) === 1;
  const dt = e.dtype(c.dy);
  const div = poolDivisors(xs.slice(2), ys.slice(2), k, s, pads.slice(0, r), includePad);
  const allSame = div.every((v) => v === div[0]);
  const scaled = allSame
    ? e.scale(c.dy, div[0]!)
    : e.mul(
        c.dy,
        e.constant(new Tensor(dt, [1, 1, ...ys.slice(2)], dt === 'float64' ? div : Float32Array.from(div)), 'pool_div'),
      );
  const C = xs[1]!;
  const ones = e.filled(1, [C, 1, ...k], dt);
  const g: ConvGeometry = { r, k, s, d: k.map(() => 1), pb: pads.slice(0, r), pe: pads.slice(r), group: C };
  return [convInputGrad(e, scaled, ones, g, xs)];
};

// y = mean over spatial axes: dx = dy/(H·W) broadcast
const globalAveragePool: VjpRule = (c) => {
  const xs = c.xs(0);
  const n = xs.slice(2).reduce((a, b) => a * b, 1);
  return [c.e.expand(c.e.scale(c.dy, 1 / n), xs)];
};

// Inference-mode BN, y = (x − μ)·γ/√(σ²+ε) + β with frozen running stats:
//   dx = dy·γ·inv;  dγ = Σ dy·(x − μ)·inv;  dβ = Σ dy
const batchNormInference: VjpRule = (c) => {
  const { e } = c;
  if (c.int('training_mode', 0) === 1) throw c.fail('training_mode=1 outside the training forward');
  const xs = c.xs(0);
  const cs = channelShape(xs[1]!, xs.length);
  const axes = axesExcept(xs.length, 1);
  const inv = e.reshape(
    e.unary('Reciprocal', e.unary('Sqrt', e.add(c.x(4), e.scalarLike(c.float('epsilon', 1e-5), c.x(4))))),
    cs,
  );
  const gamma = e.reshape(c.x(1), cs);
  const dx = c.need(0) ? e.mul(c.dy, e.mul(gamma, inv)) : null;
  const dg = c.need(1) ? e.reduceSum(e.mul(c.dy, e.mul(e.sub(c.x(0), e.reshape(c.x(3), cs)), inv)), axes, false) : null;
  const db = c.need(2) ? e.reduceSum(c.dy, axes, false) : null;
  return [dx, dg, db, null, null];
};

// LayerNormalization over axes A = [axis, rank): x̂ = (x − μ)·inv, y = x̂·γ + β. With g = dy·γ:
//   dx = inv·(g − mean_A(g) − x̂·mean_A(g·x̂));  dγ = Σ dy·x̂;  dβ = Σ dy   (the latter two un-broadcast)
const layerNorm: VjpRule = (c) => {
  const { e } = c;
  const xs = c.xs(0);
  const axis = normAxis(c.int('axis', -1), xs.length);
  const A = Array.from({ length: xs.length - axis }, (_, i) => axis + i);
  const [mean, inv] = layerNormStats(c, A);
  const xhat = e.mul(e.sub(c.x(0), mean), inv);
  const mean_ = (v: Value) => e.reduce('ReduceMean', v, A, true);
  let dx: Value | null = null;
  if (c.need(0)) {
    const g = e.mul(c.dy, c.x(1));
    dx = e.mul(inv, e.sub(e.sub(g, mean_(g)), e.mul(xhat, mean_(e.mul(g, xhat)))));
  }
  const dg = c.need(1) ? e.unbroadcast(e.mul(c.dy, xhat), c.xs(1)) : null;
  const db = c.maybe(2) && c.need(2) ? e.unbroadcast(c.dy, c.xs(2)) : null;
  return [dx, dg, db];
};

/** Mean and inverse std of a LayerNormalization: its own outputs 1 and 2 when present, else recomputed. */
function layerNormStats(c: VjpContext, A: number[]): [Value, Value] {
  const { e } = c;
  const out = c.node.outputs;
  if (out.length >= 3 && !out[1]!.anonymous && !out[2]!.anonymous && e.dtype(out[1]!) === e.dtype(c.x(0)))
    return [out[1]!, out[2]!];
  const mean = e.reduce('ReduceMean', c.x(0), A, true);
  const xc = e.sub(c.x(0), mean);
  const variance = e.reduce('ReduceMean', e.mul(xc, xc), A, true);
  const inv = e.unary('Reciprocal', e.unary('Sqrt', e.add(variance, e.scalarLike(c.float('epsilon', 1e-5), variance))));
  return [mean, inv];
}

/** Softmax axes: one axis from opset 13, [axis, rank) before. */
function softmaxAxes(c: VjpContext): number[] {
  const rank = c.xs(0).length;
  const axis = normAxis(c.int('axis', c.e.opset >= 13 ? -1 : 1), rank);
  return c.e.opset >= 13 ? [axis] : Array.from({ length: rank - axis }, (_, i) => axis + i);
}

// y = softmax(x): dx = y·(dy − Σ dy·y)
const softmax: VjpRule = (c) => {
  const { e } = c;
  const y = c.y();
  return [e.mul(y, e.sub(c.dy, e.reduceSum(e.mul(c.dy, y), softmaxAxes(c), true)))];
};

// y = log softmax(x): dx = dy − eʸ·Σ dy
const logSoftmax: VjpRule = (c) => {
  const { e } = c;
  return [e.sub(c.dy, e.mul(e.unary('Exp', c.y()), e.reduceSum(c.dy, softmaxAxes(c), true)))];
};

/** Axes of a reduction (attribute before opset 13/18, input after), normalized; [] means all. */
function reductionAxes(c: VjpContext): number[] {
  const rank = c.xs(0).length;
  const axes = c.ints('axes') ?? c.constInts(1);
  if (c.maybe(1) && !axes) throw c.fail('axes that are not constant');
  if (!axes || axes.length === 0) {
    return c.int('noop_with_empty_axes', 0) === 1 ? [] : Array.from({ length: rank }, (_, i) => i);
  }
  return axes.map((a) => normAxis(a, rank));
}

/** Factory: a reduction whose gradient is `local(c, dyExpanded, axes)`. */
function reductionRule(local: (c: VjpContext, dyx: Value, axes: number[]) => Value): VjpRule {
  return (c) => {
    const xs = c.xs(0);
    const axes = reductionAxes(c);
    if (axes.length === 0) return [c.dy];
    const dyx = c.e.expand(c.e.reshape(c.dy, keepShape(xs, axes)), xs);
    return [local(c, dyx, axes), null];
  };
}

/** dy's broadcast copy of the reduced output, for rules that need y at x's shape. */
function yExpanded(c: VjpContext, axes: number[]): Value {
  return c.e.expand(c.e.reshape(c.y(), keepShape(c.xs(0), axes)), c.xs(0));
}

export const poolNormRules = {
  MaxPool: maxPool,
  AveragePool: averagePool,
  GlobalAveragePool: globalAveragePool,
  BatchNormalization: batchNormInference,
  LayerNormalization: layerNorm,
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  // y = Σ_A x: dx = dy broadcast
  ReduceSum: reductionRule((_c, dyx) => dyx),
  // y = mean_A x: dx = dy/n broadcast (scaled before it is expanded: one pass over x's size, not two)
  ReduceMean: (c) => {
    const xs = c.xs(0);
    const axes = reductionAxes(c);
    if (axes.length === 0) return [c.dy];
    const n = axes.reduce((k, a) => k * xs[a]!, 1);
    return [c.e.expand(c.e.reshape(c.e.scale(c.dy, 1 / n), keepShape(xs, axes)), xs), null];
  },
  // y = Σ_A x²: dx = x·(2dy) — dy scaled at its own size and broadcast by the Mul (no expanded copy)
  ReduceSumSquare: (c) => {
    const xs = c.xs(0);
    const axes = reductionAxes(c);
    if (axes.length === 0) return [c.dy];
    return [c.e.mul(c.x(0), c.e.reshape(c.e.scale(c.dy, 2), keepShape(xs, axes))), null];
  },
  // y = Σ_A |x|: dx = sign(x)·dy
  ReduceL1: reductionRule((c, dyx) => c.e.mul(c.e.unary('Sign', c.x(0)), dyx)),
  // y = √Σ_A x²: dx = x/y·dy
  ReduceL2: reductionRule((c, dyx, axes) => c.e.mul(c.e.div(c.x(0), yExpanded(c, axes)), dyx)),
  // y = max_A x: dx = dy where x equals the max (ties share it)
  ReduceMax: reductionRule((c, dyx, axes) =>
    c.e.where(c.e.compare('Equal', c.x(0), yExpanded(c, axes)), dyx, c.e.scalarLike(0, dyx)),
  ),
} satisfies Record<string, VjpRule>;
