/**
 * @file Gradient rules of the linear ops: MatMul (batched, broadcast), Gemm, Conv and ConvTranspose, in the
 * formulations AUTODIFF-NOTES §5 verified fastest on ORT's CPU kernels. Pure: imports the IR and autodiff kit.
 */
import { Tensor, numel, type Node, type Value } from '../../ir/index.ts';
import { attr, type Emitter } from '../emitter.ts';
import { axesExcept, type Grads, type VjpContext, type VjpRule } from '../rule.ts';

/** Swap the last two axes. */
function swapLast(e: Emitter, v: Value): Value {
  const r = e.shape(v).length;
  return e.transpose(v, [...Array.from({ length: r - 2 }, (_, i) => i), r - 1, r - 2]);
}

// y = a·b (numpy matmul): da = dy·bᵀ, db = aᵀ·dy, un-broadcast; 1-D operands are lifted to 2-D first.
const matMul: VjpRule = (c) => {
  const { e } = c;
  const sa = c.xs(0);
  const sb = c.xs(1);
  const a2 = sa.length === 1 ? e.reshape(c.x(0), [1, sa[0]!]) : c.x(0);
  const b2 = sb.length === 1 ? e.reshape(c.x(1), [sb[0]!, 1]) : c.x(1);
  const ys = [...c.shape(c.y())];
  if (sa.length === 1) ys.splice(ys.length - (sb.length === 1 ? 0 : 1), 0, 1);
  if (sb.length === 1) ys.push(1);
  const dy = e.reshape(c.dy, ys);
  let da: Value | null = null;
  let db: Value | null = null;
  if (c.need(0)) da = e.reshape(e.unbroadcast(e.matmul(dy, swapLast(e, b2)), e.shape(a2)), sa);
  if (c.need(1)) {
    const s2 = e.shape(a2);
    if (e.shape(b2).length === 2 && s2.length > 2) {
      // weight-like b: contract over all leading axes in one 2-D product
      const rows = s2.slice(0, -1).reduce((p, q) => p * q, 1);
      const flatA = e.reshape(a2, [rows, s2[s2.length - 1]!]);
      const flatDy = e.reshape(dy, [rows, ys[ys.length - 1]!]);
      db = e.reshape(e.matmul(e.transpose(flatA, [1, 0]), flatDy), sb);
    } else {
      db = e.reshape(e.unbroadcast(e.matmul(swapLast(e, a2), dy), e.shape(b2)), sb);
    }
  }
  return [da, db];
};

// y = α·A'·B' + β·C with A' = transA ? Aᵀ : A, B' likewise:
//   dA' = α·dy·B'ᵀ, dB' = α·A'ᵀ·dy, dC = β·dy (un-broadcast); transposes folded into Gemm's flags.
const gemm: VjpRule = (c) => {
  const { e } = c;
  const alpha = c.float('alpha', 1);
  const beta = c.float('beta', 1);
  const tA = c.int('transA', 0);
  const tB = c.int('transB', 0);
  const g = (a: Value, b: Value, ta: number, tb: number, shape: number[]) =>
    e.op('Gemm', [a, b], { alpha: attr.float(alpha), transA: attr.int(ta), transB: attr.int(tb) }, shape);
  const dA = c.need(0) ? (tA ? g(c.x(1), c.dy, tB, 1, c.xs(0)) : g(c.dy, c.x(1), 0, 1 - tB, c.xs(0))) : null;
  const dB = c.need(1) ? (tB ? g(c.dy, c.x(0), 1, tA, c.xs(1)) : g(c.x(0), c.dy, 1 - tA, 0, c.xs(1))) : null;
  const C = c.maybe(2);
  const dC = C && c.need(2) ? e.unbroadcast(e.scale(c.dy, beta), c.shape(C)) : null;
  return [dA, dB, dC];
};

/** Geometry of a Conv/ConvTranspose: spatial rank, kernel, strides, dilations, begin/end pads, groups. */
export interface ConvGeometry {
  r: number;
  k: number[];
  s: number[];
  d: number[];
  pb: number[];
  pe: number[];
  group: number;
}

/** Conv geometry of a Conv node with auto_pad resolved against the traced input size. */
export function convGeometry(node: Node, xSpatial: number[], kernel: number[]): ConvGeometry {
  const r = kernel.length;
  const s = node.attrInts('strides') ?? kernel.map(() => 1);
  const d = node.attrInts('dilations') ?? kernel.map(() => 1);
  const pads = node.attrInts('pads') ?? new Array(2 * r).fill(0);
  const auto = node.attrString('auto_pad') ?? 'NOTSET';
  let pb = pads.slice(0, r);
  let pe = pads.slice(r);
  if (auto === 'VALID') {
    pb = kernel.map(() => 0);
    pe = kernel.map(() => 0);
  } else if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const total = xSpatial.map((n, i) =>
      Math.max(0, (Math.ceil(n / s[i]!) - 1) * s[i]! + (kernel[i]! - 1) * d[i]! + 1 - n),
    );
    pb = total.map((t) => (auto === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2)));
    pe = total.map((t, i) => t - pb[i]!);
  }
  return { r, k: kernel, s, d, pb, pe, group: node.attrInt('group', 1) };
}

/** Attributes of a Conv/ConvTranspose with explicit pads. */
function convAttrs(g: ConvGeometry, pb: number[], pe: number[], extra: Record<string, number[]> = {}) {
  const a: Record<string, ReturnType<typeof attr.ints>> = {
    strides: attr.ints(g.s),
    dilations: attr.ints(g.d),
    pads: attr.ints([...pb, ...pe]),
    kernel_shape: attr.ints(g.k),
    group: attr.int(g.group),
  };
  for (const [k, v] of Object.entries(extra)) a[k] = attr.ints(v);
  return a;
}

/**
 * Adjoint of a strided conv with respect to its input: dX [N, C, in…] from dY [N, M, out…] and W [M, C/g, k…].
 * Stride 1 with small pads and C ≥ M: a plain Conv with the group-transposed, flipped kernel.
 * Otherwise ConvTranspose with output_padding/pads chosen so its output is exactly `inSpatial`.
 */
export function convInputGrad(e: Emitter, dy: Value, w: Value, g: ConvGeometry, inShape: number[]): Value {
  const ws = e.shape(w);
  const [m, cg] = [ws[0]!, ws[1]!];
  const reach = g.k.map((k, i) => g.d[i]! * (k - 1));
  const stride1 =
    g.s.every((s) => s === 1) && g.pb.every((p, i) => p <= reach[i]!) && g.pe.every((p, i) => p <= reach[i]!);
  // the flipped-kernel Conv is one GEMM per image with C rows: when C < M (and K > 1) ConvTranspose's
  // [C·K, M] × [M, P] product wins (example CNN: 5–8 % off the step); resnet-style C = M keeps the Conv
  const narrow = cg * g.group < m && g.k.some((k) => k > 1);
  if (stride1 && !narrow) {
    const mg = m / g.group;
    const K = numel(g.k);
    // flip the kernel offsets with one MatMul by the K×K reversal permutation (exact: each output is one
    // weight times 1 plus zeros; far faster on ORT than a negative-step Slice), then swap M and C per group
    let wt = e.matmul(e.reshape(w, [m * cg, K]), reversalMatrix(e, K, w));
    wt = e.transpose(e.reshape(wt, [g.group, mg, cg, K]), [0, 2, 1, 3]);
    wt = e.reshape(wt, [g.group * cg, mg, ...g.k]);
    const pads = { pb: reach.map((r, i) => r - g.pb[i]!), pe: reach.map((r, i) => r - g.pe[i]!) };
    const a = convAttrs({ ...g, s: g.k.map(() => 1) }, pads.pb, pads.pe);
    return e.op('Conv', [dy, wt], a, inShape);
  }
  return convTransposeAdjoint(e, dy, w, g, inShape);
}

/** The input-adjoint of a conv as one ConvTranspose whose output is exactly `inShape` (any stride). */
function convTransposeAdjoint(e: Emitter, dy: Value, w: Value, g: ConvGeometry, inShape: number[]): Value {
  const inSpatial = inShape.slice(2);
  const outSpatial = e.shape(dy).slice(2);
  const reach = g.k.map((k, i) => g.d[i]! * (k - 1));
  // ConvTranspose output = (o−1)s + d(k−1) + 1 − pb − pe' + op; choose pe'/op so that it equals `in`.
  const pe: number[] = [];
  const op: number[] = [];
  inSpatial.forEach((n, i) => {
    const r = (outSpatial[i]! - 1) * g.s[i]! + reach[i]! + 1 - g.pb[i]! - n;
    if (r >= 0 && r <= g.pe[i]!) {
      pe.push(g.pe[i]!);
      op.push(g.pe[i]! - r);
    } else if (r >= 0) {
      pe.push(r);
      op.push(0);
    } else {
      pe.push(0);
      op.push(-r);
    }
  });
  return e.op('ConvTranspose', [dy, w], convAttrs(g, g.pb, pe, { output_padding: op }), inShape);
}

/** The K×K reversal permutation J (J[i, K−1−i] = 1): X·J reverses X's last axis. */
function reversalMatrix(e: Emitter, K: number, like: Value): Value {
  const data = new Float64Array(K * K);
  for (let i = 0; i < K; i++) data[i * K + (K - 1 - i)] = 1;
  const dt = e.dtype(like);
  const t = dt === 'float64' ? new Tensor('float64', [K, K], data) : new Tensor(dt, [K, K], Float32Array.from(data));
  return e.constant(t, 'reversal');
}

/** One-hot unfold kernel E [K, 1, k…]: E[j, 0, …] = 1 at kernel offset j. */
function unfoldKernel(e: Emitter, kernel: number[], like: Value): Value {
  const K = numel(kernel);
  const data = new Float64Array(K * K);
  for (let j = 0; j < K; j++) data[j * K + j] = 1;
  const dt = e.dtype(like);
  const t =
    dt === 'float64'
      ? new Tensor('float64', [K, 1, ...kernel], data)
      : new Tensor(dt, [K, 1, ...kernel], Float32Array.from(data));
  return e.constant(t, 'unfold_kernel');
}

/**
 * Inputs with at most this many spatial positions are unfolded by one MatMul with a constant 0/1 selection
 * matrix instead of the one-hot Conv: [N·C, in] × [in, K·P] costs `in` multiply-adds per copied element,
 * which beats the Conv (NCHWc, output padded to the block size, then reordered) while `in` is this small
 * (resnet18 training step at 64×64, one thread: 36 → 7 % faster than none, 64 → another 3–4 %).
 */
export const UNFOLD_MATMUL_MAX_INPUT = 64;

/**
 * The selection matrix U [in, K·P] of a conv's unfold: U[i, j·P + p] = 1 where output position p reads input
 * position i at kernel offset j (padding reads nothing). x [N·C, in] · U = cols [N·C, K·P], exactly.
 */
function unfoldMatrix(e: Emitter, g: ConvGeometry, inSpatial: number[], outSpatial: number[], like: Value): Value {
  const In = numel(inSpatial);
  const P = numel(outSpatial);
  const K = numel(g.k);
  const dt = e.dtype(like);
  const key = `unfold:${dt}:${inSpatial}:${outSpatial}:${g.k}:${g.s}:${g.d}:${g.pb}`;
  return e.cached(
    key,
    () => {
      const data = dt === 'float64' ? new Float64Array(In * K * P) : new Float32Array(In * K * P);
      const kIdx = new Array<number>(g.r).fill(0);
      for (let j = 0; j < K; j++) {
        for (let r = g.r - 1, rem = j; r >= 0; r--) {
          kIdx[r] = rem % g.k[r]!;
          rem = Math.floor(rem / g.k[r]!);
        }
        for (let p = 0; p < P; p++) {
          let flat = 0;
          let inside = true;
          for (let r = 0, rem = p, stride = P; r < g.r; r++) {
            stride /= outSpatial[r]!;
            const o = Math.floor(rem / stride);
            rem -= o * stride;
            const i = o * g.s[r]! - g.pb[r]! + kIdx[r]! * g.d[r]!;
            if (i < 0 || i >= inSpatial[r]!) inside = false;
            flat = flat * inSpatial[r]! + i;
          }
          if (inside) data[flat * K * P + j * P + p] = 1;
        }
      }
      return new Tensor(dt, [In, K * P], data);
    },
    'unfold_matrix',
  );
}

/**
 * Unfold (im2col) of x [N, C, in…] for a conv geometry (group ignored): [N·C, K·P] with K kernel offsets and P
 * output positions — the Conv's columns, image by image and channel by channel. Emitted on the emitter's tape
 * when recording (both forms have gradient rules).
 */
export function unfold(e: Emitter, x: Value, g: ConvGeometry, outSpatial: number[], form?: 'matmul' | 'conv'): Value {
  const xs = e.shape(x);
  const [n, c] = [xs[0]!, xs[1]!];
  const inSpatial = xs.slice(2);
  const In = numel(inSpatial);
  const K = numel(g.k);
  const P = numel(outSpatial);
  if ((form ?? (In <= UNFOLD_MATMUL_MAX_INPUT ? 'matmul' : 'conv')) === 'matmul')
    return e.matmul(e.reshape(x, [n * c, In]), unfoldMatrix(e, g, inSpatial, outSpatial, x));
  const flat = e.reshape(x, [n * c, 1, ...inSpatial]);
  const u = e.op('Conv', [flat, unfoldKernel(e, g.k, x)], convAttrs({ ...g, group: 1 }, g.pb, g.pe), [
    n * c,
    K,
    ...outSpatial,
  ]);
  return e.reshape(u, [n * c, K * P]);
}

/**
 * Gradient of a conv with respect to its weight ("unfold + MatMul", AUTODIFF-NOTES §5):
 * cols = unfold(X) → [N, g, Cg·K, P]; dW = Σ_N cols · dYᵀ, reshaped to [M, Cg, k…].
 * When P < M/g the product contracts over N·P in one MatMul instead.
 */
export function convWeightGrad(e: Emitter, x: Value, dy: Value, g: ConvGeometry, wShape: number[]): Value {
  const xs = e.shape(x);
  const ys = e.shape(dy);
  const [n, cin] = [xs[0]!, xs[1]!];
  const m = ys[1]!;
  const cg = cin / g.group;
  const mg = m / g.group;
  const K = numel(g.k);
  const outSpatial = ys.slice(2);
  const P = numel(outSpatial);
  const pointwise = K === 1 && [...g.pb, ...g.pe].every((p) => p === 0);
  let cols: Value;
  if (pointwise) {
    const axes = g.k.map((_, i) => 2 + i);
    const strided = g.s.some((s) => s !== 1)
      ? e.slice(
          x,
          axes.map(() => 0),
          axes.map((a) => xs[a]!),
          axes,
          g.s,
        )
      : x;
    const sameSize = axes.every((a, i) => e.shape(strided)[a] === outSpatial[i]);
    const cropped = sameSize
      ? strided
      : e.slice(
          strided,
          axes.map(() => 0),
          outSpatial,
          axes,
        );
    cols = e.reshape(cropped, [n, g.group, cg, P]);
  } else {
    cols = e.reshape(unfold(e, x, g, outSpatial), [n, g.group, cg * K, P]);
  }
  const dyr = e.reshape(dy, [n, g.group, mg, P]);
  // products come out as [g, Mg, Cg·K] = W's layout: no transpose of the result (ORT folds the
  // last-two-axes transpose of the right operand into FusedMatMul)
  let prod: Value;
  if (P >= mg) {
    prod = e.reduceSum(e.matmul(dyr, e.transpose(cols, [0, 1, 3, 2])), [0], false);
  } else {
    const dyT = e.reshape(e.transpose(dyr, [1, 2, 0, 3]), [g.group, mg, n * P]);
    const colsT = e.reshape(e.transpose(cols, [1, 2, 0, 3]), [g.group, cg * K, n * P]);
    prod = e.matmul(dyT, e.transpose(colsT, [0, 2, 1]));
  }
  return e.reshape(prod, wShape);
}

// y = X ⋆ W + b:  dX = adjoint conv of dY;  dW = unfold(X)·dYᵀ;  db = Σ_{N,spatial} dY
const conv: VjpRule = (c) => {
  const xs = c.xs(0);
  const ws = c.xs(1);
  const g = convGeometry(c.node, xs.slice(2), c.ints('kernel_shape') ?? ws.slice(2));
  const dx = c.need(0) ? convInputGrad(c.e, c.dy, c.x(1), g, xs) : null;
  const dw = c.need(1) ? convWeightGrad(c.e, c.x(0), c.dy, g, ws) : null;
  const db = c.maybe(2) && c.need(2) ? c.e.reduceSum(c.dy, axesExcept(xs.length, 1), false) : null;
  return [dx, dw, db];
};

/** ConvTranspose geometry: pads resolved from the traced output size (covers output_shape / auto_pad). */
function convTransposeGeometry(c: VjpContext, xs: number[], ys: number[], kernel: number[]): ConvGeometry {
  const r = kernel.length;
  const s = c.ints('strides') ?? kernel.map(() => 1);
  const d = c.ints('dilations') ?? kernel.map(() => 1);
  const op = c.ints('output_padding') ?? kernel.map(() => 0);
  const pads = c.ints('pads');
  const auto = c.node.attrString('auto_pad') ?? 'NOTSET';
  if (pads && auto === 'NOTSET' && !c.ints('output_shape')) {
    return { r, k: kernel, s, d, pb: pads.slice(0, r), pe: pads.slice(r), group: c.int('group', 1) };
  }
  const total = kernel.map((k, i) => s[i]! * (xs[2 + i]! - 1) + op[i]! + (k - 1) * d[i]! + 1 - ys[2 + i]!);
  const pb = total.map((t) => (auto === 'SAME_UPPER' ? Math.floor(t / 2) : t - Math.floor(t / 2)));
  return { r, k: kernel, s, d, pb, pe: total.map((t, i) => t - pb[i]!), group: c.int('group', 1) };
}

// y = ConvTranspose(x, W) is the input-adjoint of Conv(·, W) (W [C, M/g, k…]), so
//   dx = Conv(dy, W) with the same strides/pads/dilations/group; dW = convWeightGrad with x as "dY", dy as "X".
const convTranspose: VjpRule = (c) => {
  const xs = c.xs(0);
  const ws = c.xs(1);
  const ys = c.shape(c.y());
  const g = convTransposeGeometry(c, xs, ys, c.ints('kernel_shape') ?? ws.slice(2));
  const dx = c.need(0) ? c.e.op('Conv', [c.dy, c.x(1)], convAttrs(g, g.pb, g.pe), xs) : null;
  // the conv whose adjoint this is maps y-space (channels M) to x-space (channels C), output_padding
  // only widens y, and the unfold conv over dy with the same geometry lands exactly on x's size.
  const dw = c.need(1) ? convWeightGrad(c.e, c.dy, c.x(0), g, ws) : null;
  const db = c.maybe(2) && c.need(2) ? c.e.reduceSum(c.dy, axesExcept(xs.length, 1), false) : null;
  return [dx, dw, db];
};

export const linearRules = {
  MatMul: matMul,
  Gemm: gemm,
  Conv: conv,
  ConvTranspose: convTranspose,
} satisfies Record<string, VjpRule>;

export type { Grads };
