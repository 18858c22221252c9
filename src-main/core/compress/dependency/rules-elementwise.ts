/**
 * @file Channel rules of elementwise ops (activations, broadcasting arithmetic such as residual Add and
 * squeeze-excite Mul), pooling, resizing, padding and per-channel normalisations: how channels pass, which
 * operands unite, and what a removed channel's constant becomes. Pure: imports only the IR and sibling modules.
 */
import type { Node } from '../../ir/index.ts';
import { blockingRule, mapConsts, noChange, normAxis, passAxes, passOnly, unaryRule } from './rule-kit.ts';
import { intTensorLike, sliceAxis, uniformAlong, uniformValue } from './tensor-ops.ts';
import type { ConstantCtx, PropagateCtx, PropagationRule, Replacer } from './types.ts';

// ---------------------------------------------------------------------------------------------------------------
// Scalar maths for constants

/** erf to ~1e-7 (Numerical Recipes' erfc Chebyshev fit). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
const softplus = (x: number) => (x > 20 ? x : Math.log1p(Math.exp(x)));
const alpha = (n: Node, d: number) => n.attrFloat('alpha', d);

type Scalar = (x: number, ctx: ConstantCtx) => number;

/** Elementwise unary ops: y = f(x), so a constant channel stays constant. */
const UNARY: Record<string, Scalar | null> = {
  Relu: (x) => Math.max(0, x),
  LeakyRelu: (x, c) => (x >= 0 ? x : x * alpha(c.node, 0.01)),
  Sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  HardSigmoid: (x, c) => clamp(alpha(c.node, 0.2) * x + c.node.attrFloat('beta', 0.5), 0, 1),
  HardSwish: (x) => x * clamp(x / 6 + 0.5, 0, 1),
  Tanh: Math.tanh,
  Elu: (x, c) => (x >= 0 ? x : alpha(c.node, 1) * Math.expm1(x)),
  Selu: (x, c) =>
    c.node.attrFloat('gamma', 1.0507009873554805) * (x > 0 ? x : alpha(c.node, 1.6732632423543772) * Math.expm1(x)),
  Celu: (x, c) => Math.max(0, x) + Math.min(0, alpha(c.node, 1) * Math.expm1(x / alpha(c.node, 1))),
  Gelu: (x, c) =>
    c.node.attrString('approximate') === 'tanh'
      ? 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)))
      : 0.5 * x * (1 + erf(x / Math.SQRT2)),
  Erf: erf,
  Softplus: softplus,
  Softsign: (x) => x / (1 + Math.abs(x)),
  Mish: (x) => x * Math.tanh(softplus(x)),
  ThresholdedRelu: (x, c) => (x > alpha(c.node, 1) ? x : 0),
  Exp: Math.exp,
  Log: Math.log,
  Neg: (x) => -x,
  Abs: Math.abs,
  Sqrt: Math.sqrt,
  Reciprocal: (x) => 1 / x,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sign: Math.sign,
  Sin: Math.sin,
  Cos: Math.cos,
  Identity: (x) => x,
  Dropout: (x) => x,
  Cast: null,
  CastLike: null,
  Not: null,
  IsNaN: null,
  IsInf: null,
  Round: null,
};

/** Clip: the bounds come from inputs 1 and 2 (opset ≥ 11) or attributes. */
const clip: PropagationRule = {
  propagate: (ctx) => passAxes(ctx),
  constant(ctx) {
    const bound = (i: number, attr: string, d: number) => {
      if (!ctx.node.input(i)) return ctx.node.attrFloat(attr, d);
      const f = ctx.floats(i);
      return f && f.length === 1 ? f[0]! : Number.NaN;
    };
    const lo = bound(1, 'min', -Infinity);
    const hi = bound(2, 'max', Infinity);
    mapConsts(ctx, (k) => (Number.isNaN(lo) || Number.isNaN(hi) ? Number.NaN : clamp(k, lo, hi)));
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Broadcasting n-ary ops

function outRank(ctx: PropagateCtx | ConstantCtx): number | undefined {
  return ctx.outShape(0)?.length;
}

/**
 * Broadcasting: output axis A of rank R meets axis A − (R − r) of an input of rank r. Operands tracked on A are
 * united position by position (a residual Add, an SE gate); a full-size constant operand is sliced along; a
 * full-size untracked operand that varies pins the channels.
 */
function broadcastPropagate(ctx: PropagateCtx): void {
  const out = ctx.outShape(0);
  const n = ctx.node.inputs.length;
  if (!out) return ctx.blockInputs(`${ctx.node.label}: output shape unknown`);
  const R = out.length;
  const axes = new Set<number>();
  for (let i = 0; i < n; i++) for (const a of ctx.axes(i).keys()) axes.add(a + R - (ctx.inShape(i)?.length ?? R));
  for (const A of axes) {
    let base: Int32Array | undefined;
    for (let i = 0; i < n; i++) {
      const r = ctx.inShape(i)?.length ?? R;
      const atoms = ctx.axes(i).get(A - (R - r));
      if (!atoms) continue;
      if (atoms.length !== out[A]) {
        ctx.block(atoms, `${ctx.node.label} broadcasts a tracked axis`);
        continue;
      }
      if (base) ctx.unite(base, atoms);
      else base = atoms;
    }
    if (!base) continue;
    for (let i = 0; i < n; i++) {
      const s = ctx.inShape(i);
      if (!s || ctx.axes(i).has(A - (R - s.length))) continue;
      const d = s[A - (R - s.length)];
      if (d === undefined || d === 1 || ctx.isConst(i)) continue;
      ctx.block(base, `${ctx.node.label}: operand ${i} is not channel-tracked along axis ${A}`);
    }
    ctx.setAxis(0, A, base);
  }
}

type Combine = (vals: number[]) => number;

const anyNaN = (v: number[]) => v.some(Number.isNaN);
const strict =
  (f: (v: number[]) => number): Combine =>
  (v) =>
    anyNaN(v) ? Number.NaN : f(v);

/** What each n-ary op makes of per-position constants (NaN: varies). Mul and Div absorb a zero. */
const COMBINE: Record<string, Combine> = {
  Add: strict((v) => v[0]! + v[1]!),
  Sub: strict((v) => v[0]! - v[1]!),
  Mul: (v) => (v.includes(0) ? 0 : anyNaN(v) ? Number.NaN : v[0]! * v[1]!),
  Div: (v) => (v[0] === 0 ? 0 : anyNaN(v) ? Number.NaN : v[0]! / v[1]!),
  Pow: strict((v) => v[0]! ** v[1]!),
  Max: strict((v) => Math.max(...v)),
  Min: strict((v) => Math.min(...v)),
  Sum: strict((v) => v.reduce((a, b) => a + b, 0)),
  Mean: strict((v) => v.reduce((a, b) => a + b, 0) / v.length),
  PRelu: (v) => (v[0] === 0 ? 0 : anyNaN(v) ? Number.NaN : v[0]! < 0 ? v[0]! * v[1]! : v[0]!),
  Where: (v) => (Number.isNaN(v[0]!) ? (v[1] === v[2] ? v[1]! : Number.NaN) : v[0] ? v[1]! : v[2]!),
};

function broadcastConstant(ctx: ConstantCtx): void {
  const combine = COMBINE[ctx.node.opType];
  const R = outRank(ctx);
  if (!combine || R === undefined) return;
  for (const [A, atoms] of ctx.outAxes(0)) {
    const per: ((p: number) => number)[] = ctx.node.inputs.map((_, i) => {
      const s = ctx.inShape(i) ?? [];
      const a = A - (R - s.length);
      const ks = ctx.consts(i, a);
      if (ks) return (p) => ks[p]!;
      const f = ctx.floats(i);
      if (!f) return () => Number.NaN;
      if (a < 0 || s[a] === 1) {
        const u = uniformValue(f);
        return () => u;
      }
      const along = uniformAlong(f, s, a);
      return (p) => along[p]!;
    });
    ctx.setConst(
      0,
      A,
      Float64Array.from(atoms, (_, p) => combine(per.map((g) => g(p)))),
    );
  }
}

/** Slice every constant operand along the output axes that lose positions. */
const broadcastReplace: Replacer = (ctx) => {
  const out = ctx.outShape(0);
  if (!out) return;
  const R = out.length;
  ctx.node.inputs.forEach((_, i) => {
    let t = ctx.tensor(i);
    const s = ctx.inShape(i);
    if (!t || !s) return;
    const keys: string[] = [];
    for (const A of ctx.changedOut(0)) {
      const a = A - (R - s.length);
      if (a < 0 || s[a] === 1) continue;
      const kept = ctx.keptOut(0, A)!;
      t = sliceAxis(t, a, kept);
      keys.push(`${a}:${kept.join(',')}`);
    }
    if (keys.length) ctx.setInput(i, t, keys.join('|'));
  });
};

const broadcast: PropagationRule = { propagate: broadcastPropagate, constant: broadcastConstant };

// ---------------------------------------------------------------------------------------------------------------
// Pooling, resizing, padding

const isSpatialMix = (why: string) => (ctx: PropagateCtx) => passOnly(ctx, (a) => a === 1, `${ctx.node.label} ${why}`);

const pool = (constant: (k: number, ctx: ConstantCtx) => number): PropagationRule => ({
  propagate: isSpatialMix('pools over a tracked spatial axis'),
  constant: (ctx) => mapConsts(ctx, (k) => constant(k, ctx)),
});

const hasPadding = (n: Node) =>
  (n.attrInts('pads') ?? []).some((p) => p !== 0) || !['', 'NOTSET', 'VALID'].includes(n.attrString('auto_pad') ?? '');

/** Resize / Upsample keep the channel axis when it is not resized. */
const resize: PropagationRule = {
  propagate(ctx) {
    const a = ctx.inShape(0);
    const b = ctx.outShape(0);
    passOnly(ctx, (axis) => !!a && !!b && a[axis] === b[axis], `${ctx.node.label} resizes a tracked axis`);
  },
  constant: (ctx) => mapConsts(ctx, (k) => k),
};

const resizeReplace: Replacer = (ctx) => {
  // `sizes` (input 3) names every output dim: rewrite the tracked ones.
  const sizes = ctx.node.input(3) ? ctx.ints(3) : undefined;
  if (!sizes || sizes.dynamic) return;
  const values = [...sizes.values];
  for (const a of ctx.changedOut(0)) if (a < values.length) values[a] = ctx.keptOut(0, a)!.length;
  ctx.setInput(3, intTensorLike(ctx.tensor(3), [values.length], values));
};

const pad: PropagationRule = {
  propagate(ctx) {
    const r = ctx.inShape(0)?.length ?? 0;
    const pads = ctx.node.input(1) ? ctx.ints(1) : ctx.node.attrInts('pads');
    const axesIn = ctx.node.input(3) ? ctx.ints(3) : undefined;
    const axes = axesIn?.map((a) => normAxis(a, r)) ?? Array.from({ length: r }, (_, i) => i);
    passOnly(
      ctx,
      (a) => {
        const k = axes.indexOf(a);
        return !!pads && (k < 0 || (pads[k] === 0 && pads[k + axes.length] === 0));
      },
      `${ctx.node.label} pads a tracked axis`,
    );
  },
  constant(ctx) {
    const mode = ctx.node.attrString('mode') ?? 'constant';
    const v = ctx.node.input(2) ? (ctx.floats(2)?.[0] ?? Number.NaN) : ctx.node.attrFloat('value', 0);
    mapConsts(ctx, (k) => (mode !== 'constant' || k === v ? k : Number.NaN));
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Per-channel normalisations

/** BatchNormalization: y = γ (x − μ) / √(σ² + ε) + β per channel (axis 1); its parameters are sliced. */
const batchNorm: PropagationRule = {
  propagate(ctx) {
    passOnly(ctx, (a) => a === 1, `${ctx.node.label} normalises per channel on axis 1 only`);
    const atoms = ctx.axes(0).get(1);
    if (atoms && ctx.isConst(1)) ctx.member({ kind: 'pass', output: 0, axis: 1, atoms, param: 1, paramAxis: 0 });
  },
  constant(ctx) {
    const ks = ctx.consts(0, 1);
    const [g, b, m, v] = [1, 2, 3, 4].map((i) => ctx.floats(i));
    if (!ks || !g || !b || !m || !v) return;
    const eps = ctx.node.attrFloat('epsilon', 1e-5);
    ctx.setConst(
      0,
      1,
      ks.map((k, c) => (g[c] === 0 ? b[c]! : (g[c]! * (k - m[c]!)) / Math.sqrt(v[c]! + eps) + b[c]!)),
    );
  },
};

/** InstanceNormalization: a channel constant over space normalises to 0, leaving β. */
const instanceNorm: PropagationRule = {
  propagate(ctx) {
    passOnly(ctx, (a) => a === 1, `${ctx.node.label} normalises over a tracked spatial axis`);
    const atoms = ctx.axes(0).get(1);
    if (atoms && ctx.isConst(1)) ctx.member({ kind: 'pass', output: 0, axis: 1, atoms, param: 1, paramAxis: 0 });
  },
  constant(ctx) {
    const ks = ctx.consts(0, 1);
    const b = ctx.floats(2);
    if (ks && b)
      ctx.setConst(
        0,
        1,
        ks.map((k, c) => (Number.isNaN(k) ? Number.NaN : b[c]!)),
      );
  },
};

/** Slice per-channel parameters (inputs `from`…) along their axis 0 by the kept channels of input 0, axis 1. */
const sliceChannelParams =
  (...inputs: number[]): Replacer =>
  (ctx) => {
    const kept = ctx.keptIn(0, 1);
    if (!kept) return;
    for (const i of inputs) {
      const t = ctx.tensor(i);
      if (t) ctx.setInput(i, sliceAxis(t, 0, kept), `0:${kept.join(',')}`);
    }
  };

/**
 * LayerNormalization over axes [axis, rank): a tracked channel axis among them is pruned with statistics over the
 * kept positions (the masked model's form, core/compress/simulate/norm-stats.ts): scale and bias are sliced with it
 * and a removed position holds 0 there. Axes before `axis` pass as they are.
 */
const layerNorm: PropagationRule = {
  propagate(ctx) {
    const r = ctx.inShape(0)?.length ?? 0;
    const from = normAxis(ctx.node.attrInt('axis', -1), r);
    const fault = normFault(ctx, [1, 2]);
    for (const [axis, atoms] of ctx.axes(0)) {
      if (axis >= from && fault) {
        ctx.block(atoms, `${ctx.node.label} normalises over a tracked axis and ${fault}`);
        continue;
      }
      ctx.setAxis(0, axis, atoms);
      if (axis < from) continue;
      const p = paramAxis(ctx, 1, axis, r, atoms.length);
      if (p !== undefined) ctx.member({ kind: 'pass', output: 0, axis, atoms, param: 1, paramAxis: p });
    }
  },
  constant(ctx) {
    // a removed position is masked to 0 in the masked model's form of the norm
    const r = ctx.inShape(0)?.length ?? 0;
    const from = normAxis(ctx.node.attrInt('axis', -1), r);
    for (const [axis, atoms] of ctx.outAxes(0)) if (axis >= from) ctx.setConst(0, axis, new Float64Array(atoms.length));
  },
};

/** Why a norm's normalised channels cannot be pruned (non-constant or non-float32 affine parameters, read statistics). */
function normFault(ctx: PropagateCtx, params: number[]): string | undefined {
  for (const i of params) {
    const v = ctx.node.input(i);
    if (!v) continue;
    if (!ctx.isConst(i)) return `its input ${i} is not a constant`;
    if (v.initializer?.dtype !== 'float32') return `its input ${i} is ${v.initializer?.dtype}, not float32`;
  }
  if (ctx.node.outputs.slice(1).some((v) => v.uses.length > 0 || v.isGraphOutput))
    return 'its Mean / InvStdDev outputs are read';
  return undefined;
}

/** The axis of parameter input `i` (broadcast to rank r from the right) that holds one slice per position of `axis`. */
function paramAxis(ctx: PropagateCtx, i: number, axis: number, r: number, n: number): number | undefined {
  const s = ctx.inShape(i);
  if (!s) return undefined;
  const a = axis - (r - s.length);
  return a >= 0 && s[a] === n ? a : undefined;
}

/** Slice a norm's parameters (inputs 1, 2) along the axes of input 0 that lose positions. */
const layerNormReplace: Replacer = (ctx) => {
  const r = ctx.inShape(0)?.length ?? 0;
  for (const i of [1, 2]) {
    let t = ctx.tensor(i);
    const s = ctx.inShape(i);
    if (!t || !s) continue;
    const keys: string[] = [];
    for (const axis of ctx.changedIn(0)) {
      const a = axis - (r - s.length);
      if (a < 0 || s[a] === 1) continue;
      const kept = ctx.keptIn(0, axis)!;
      t = sliceAxis(t, a, kept);
      keys.push(`${a}:${kept.join(',')}`);
    }
    if (keys.length) ctx.setInput(i, t, keys.join('|'));
  }
};

/**
 * GroupNormalization over [N, C, …]: channel c is position c mod (C/G) of group ⌊c·G/C⌋. Position j is one class
 * across the groups (every group keeps the same positions, so the compact norm keeps its G equal groups), pruned with
 * per-group statistics over the kept positions; spatial axes must not be tracked. Scale and bias are per channel
 * from opset 21 (sliced), per group before (unchanged).
 */
const groupNorm: PropagationRule = {
  propagate(ctx) {
    const fault = normFault(ctx, [1, 2]);
    for (const [axis, atoms] of ctx.axes(0)) {
      if (axis !== 1) {
        ctx.block(atoms, `${ctx.node.label} normalises over a tracked spatial axis`);
        continue;
      }
      const G = ctx.node.attrInt('num_groups', 1);
      if (fault || atoms.length % G !== 0) {
        ctx.block(
          atoms,
          `${ctx.node.label} normalises over groups of channels and ${fault ?? 'its groups are uneven'}`,
        );
        continue;
      }
      const s = atoms.length / G;
      for (let j = 0; j < s; j++) ctx.uniteAll(Array.from({ length: G }, (_, g) => atoms[g * s + j]!));
      ctx.setAxis(0, 1, atoms);
      if (ctx.opset >= 21) ctx.member({ kind: 'pass', output: 0, axis: 1, atoms, param: 1, paramAxis: 0 });
    }
  },
  constant(ctx) {
    const atoms = ctx.outAxes(0).get(1);
    if (atoms) ctx.setConst(0, 1, new Float64Array(atoms.length));
  },
};

const groupNormReplace: Replacer = (ctx) => {
  if (ctx.opset >= 21) sliceChannelParams(1, 2)(ctx);
};

/** Softmax family: the reduced axes (one from opset 13, all from `axis` before) must not be tracked. */
const softmax: PropagationRule = {
  propagate(ctx) {
    const r = ctx.inShape(0)?.length ?? 0;
    const axes = softmaxAxes(ctx.node, r, ctx.opset);
    passOnly(ctx, (a) => !axes.includes(a), `${ctx.node.label} normalises over a tracked axis`);
  },
  constant(ctx) {
    const s = ctx.inShape(0) ?? [];
    const n = softmaxAxes(ctx.node, s.length, ctx.opset).reduce((p, a) => p * s[a]!, 1);
    const v = ctx.node.opType === 'Softmax' ? 1 / n : ctx.node.opType === 'LogSoftmax' ? -Math.log(n) : Number.NaN;
    mapConsts(ctx, () => v);
  },
};

/** Softmax reduces one axis from opset 13; before, it flattens from `axis` (default 1) on. */
function softmaxAxes(node: Node, rank: number, opset: number): number[] {
  const axis = node.attrInt('axis');
  if (opset < 13) {
    const from = normAxis(axis ?? 1, rank);
    return Array.from({ length: rank - from }, (_, i) => from + i);
  }
  return [normAxis(axis ?? -1, rank)];
}

// ---------------------------------------------------------------------------------------------------------------
// The family tables

export const ELEMENTWISE_RULES: Record<string, PropagationRule> = {
  ...Object.fromEntries(Object.entries(UNARY).map(([op, f]) => [op, unaryRule(f)])),
  Clip: clip,
  ...Object.fromEntries(Object.keys(COMBINE).map((op) => [op, broadcast])),
  And: { propagate: broadcastPropagate },
  Or: { propagate: broadcastPropagate },
  Xor: { propagate: broadcastPropagate },
  Equal: { propagate: broadcastPropagate },
  Less: { propagate: broadcastPropagate },
  Greater: { propagate: broadcastPropagate },
  LessOrEqual: { propagate: broadcastPropagate },
  GreaterOrEqual: { propagate: broadcastPropagate },
  Mod: { propagate: broadcastPropagate },
  MaxPool: pool((k) => k),
  GlobalMaxPool: pool((k) => k),
  GlobalAveragePool: pool((k) => k),
  AveragePool: pool((k, c) =>
    c.node.attrInt('count_include_pad', 0) && hasPadding(c.node) && k !== 0 ? Number.NaN : k,
  ),
  LpPool: pool((k) => (k === 0 ? 0 : Number.NaN)),
  GlobalLpPool: pool((k) => (k === 0 ? 0 : Number.NaN)),
  Resize: resize,
  Upsample: resize,
  Pad: pad,
  BatchNormalization: batchNorm,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
  Softmax: softmax,
  LogSoftmax: softmax,
  Hardmax: softmax,
  LRN: blockingRule('normalises across channels'),
  GroupNormalization: groupNorm,
  DepthToSpace: blockingRule('moves channels into space'),
  SpaceToDepth: blockingRule('moves space into channels'),
};

export const ELEMENTWISE_REPLACERS: Record<string, Replacer> = {
  ...Object.fromEntries(Object.keys(UNARY).map((op) => [op, noChange])),
  Clip: noChange,
  ...Object.fromEntries(
    [
      ...Object.keys(COMBINE),
      'And',
      'Or',
      'Xor',
      'Equal',
      'Less',
      'Greater',
      'LessOrEqual',
      'GreaterOrEqual',
      'Mod',
    ].map((op) => [op, broadcastReplace]),
  ),
  MaxPool: noChange,
  GlobalMaxPool: noChange,
  GlobalAveragePool: noChange,
  AveragePool: noChange,
  LpPool: noChange,
  GlobalLpPool: noChange,
  Resize: resizeReplace,
  Upsample: noChange,
  Pad: noChange,
  BatchNormalization: sliceChannelParams(1, 2, 3, 4),
  InstanceNormalization: sliceChannelParams(1, 2),
  LayerNormalization: layerNormReplace,
  GroupNormalization: groupNormReplace,
  Softmax: noChange,
  LogSoftmax: noChange,
  Hardmax: noChange,
};
