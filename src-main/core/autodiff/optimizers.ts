/**
 * @file Optimizers as graphs (torch.optim semantics): one table keyed by optimizer type; each declares its
 * state slots and emits the update of one parameter from its gradient, its state and the step's scalars
 * (learning rate, 1-based step number). Also global gradient clipping by norm. Pure: imports the IR.
 */
import type { Value } from '../ir/index.ts';
import type { Emitter } from './emitter.ts';

export interface SgdSpec {
  type: 'sgd';
  lr?: number;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}
export interface AdamSpec {
  type: 'adam' | 'adamw';
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** L2 added to the gradient for 'adam'; decoupled decay for 'adamw' (torch default 0.01 there). */
  weightDecay?: number;
}
export type OptimizerSpec = SgdSpec | AdamSpec;

/** Default learning rates (torch's for Adam; a common one for SGD). */
export const DEFAULT_LR: Record<OptimizerSpec['type'], number> = { sgd: 0.01, adam: 1e-3, adamw: 1e-3 };

/** Scalars shared by every parameter of a group in one step. */
export interface StepScalars {
  lr: Value;
  /** The 1-based step number t as a float scalar. */
  step: Value;
}

export interface OptimizerImpl {
  /** State slots kept per parameter (each shaped like it, zero at start). */
  slots: readonly string[];
  /** Emit p' and the new slot values from p, its gradient and its slots. */
  update(
    e: Emitter,
    p: Value,
    g: Value,
    state: Record<string, Value>,
    s: StepScalars,
  ): { p: Value; state: Record<string, Value> };
}

// torch.optim.SGD (dampening 0): g' = g + λp;  v' = μv + g';  step = nesterov ? g' + μv' : v';  p' = p − lr·step
function sgd(spec: SgdSpec): OptimizerImpl {
  const mu = spec.momentum ?? 0;
  const wd = spec.weightDecay ?? 0;
  return {
    slots: mu ? ['momentum'] : [],
    update(e, p, g, state, s): { p: Value; state: Record<string, Value> } {
      const g1 = wd ? e.add(g, e.scale(p, wd)) : g;
      if (!mu) return { p: e.sub(p, e.mul(s.lr, g1)), state: {} };
      const v = e.add(e.scale(state.momentum!, mu), g1);
      const step = spec.nesterov ? e.add(g1, e.scale(v, mu)) : v;
      return { p: e.sub(p, e.mul(s.lr, step)), state: { momentum: v } };
    },
  };
}

// torch.optim.Adam / AdamW:  (AdamW first p ← p·(1 − lr·λ); Adam adds λp to g instead)
//   m' = β₁m + (1−β₁)g;  v' = β₂v + (1−β₂)g²;  p' = p − (lr/(1−β₁ᵗ)) · m' / (√v'/√(1−β₂ᵗ) + ε)
function adam(spec: AdamSpec): OptimizerImpl {
  const b1 = spec.beta1 ?? 0.9;
  const b2 = spec.beta2 ?? 0.999;
  const eps = spec.eps ?? 1e-8;
  const decoupled = spec.type === 'adamw';
  const wd = spec.weightDecay ?? (decoupled ? 0.01 : 0);
  // the bias corrections depend only on the step, lr and dtype: made once per group and dtype, shared by its parameters
  const corrections = new Map<StepScalars, Map<string, { sqrtBc2: Value; stepSize: Value }>>();
  return {
    slots: ['exp_avg', 'exp_avg_sq'],
    update(e, p, g, state, s) {
      const one = e.scalarLike(1, p);
      const p0 = decoupled && wd ? e.mul(p, e.sub(one, e.scale(s.lr, wd))) : p;
      const g1 = !decoupled && wd ? e.add(g, e.scale(p, wd)) : g;
      const m = e.add(e.scale(state.exp_avg!, b1), e.scale(g1, 1 - b1));
      const v = e.add(e.scale(state.exp_avg_sq!, b2), e.scale(e.mul(g1, g1), 1 - b2));
      const byType = corrections.get(s) ?? corrections.set(s, new Map()).get(s)!;
      const dt = e.dtype(p);
      let c = byType.get(dt);
      if (!c) {
        const bc1 = e.sub(one, e.pow(e.scalarLike(b1, p), s.step));
        const bc2 = e.sub(one, e.pow(e.scalarLike(b2, p), s.step));
        c = { sqrtBc2: e.unary('Sqrt', bc2), stepSize: e.div(s.lr, bc1) };
        byType.set(dt, c);
      }
      const denom = e.add(e.div(e.unary('Sqrt', v), c.sqrtBc2), e.scalarLike(eps, p));
      const stepSize = c.stepSize;
      return { p: e.sub(p0, e.mul(stepSize, e.div(m, denom))), state: { exp_avg: m, exp_avg_sq: v } };
    },
  };
}

export const OPTIMIZERS: {
  readonly [K in OptimizerSpec['type']]: (spec: Extract<OptimizerSpec, { type: K }>) => OptimizerImpl;
} = {
  sgd,
  adam,
  adamw: adam,
};

/** The optimizer a spec describes. */
export function optimizerFor(spec: OptimizerSpec): OptimizerImpl {
  return (OPTIMIZERS[spec.type] as (s: OptimizerSpec) => OptimizerImpl)(spec);
}

/**
 * Clip gradients by their global L2 norm (torch.nn.utils.clip_grad_norm_):
 * coef = min(1, max/(‖g‖ + 1e-6)), every gradient scaled by coef. Returns the clipped gradients and the norm.
 */
export function clipByGlobalNorm(e: Emitter, grads: Value[], maxNorm: number): { grads: Value[]; norm: Value } {
  const squares = grads.map((g) => e.reduce('ReduceSumSquare', g, [], false));
  const norm = e.unary('Sqrt', e.sum(squares));
  const like = grads[0]!;
  const coef = e.op(
    'Min',
    [e.div(e.scalarLike(maxNorm, like), e.add(norm, e.scalarLike(1e-6, like))), e.scalarLike(1, like)],
    {},
    [],
  );
  return { grads: grads.map((g) => e.mul(g, coef)), norm };
}
