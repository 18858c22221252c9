/**
 * @file The distillation losses as graph nodes (emitted on the tape, so the backward pass differentiates them like
 * any other op): NNI's per-target `apply_method` table (`mse`, `kl` with T = 2), the minimum over a target's links,
 * and Adaptive1d's projection of a narrower student value to the teacher's width. Pure: imports the IR and the
 * autodiff's emitter.
 */
import type { Value } from '../../ir/index.ts';
import { attr, type Emitter } from '../../autodiff/index.ts';

/** NNI's distillation apply methods. */
export const DISTILL_METHODS = ['mse', 'kl'] as const;
export type DistillMethod = (typeof DISTILL_METHODS)[number];

/** NNI fixes the temperature of its `kl` method at 2. */
export const KL_TEMPERATURE = 2;

// ℓ = mean (s − t)² over every element (torch's F.mse_loss, reduction 'mean'), as ReduceSumSquare / n: its
// gradient is one product over the value's size, 2(s − t)·dℓ/n (Mul then ReduceMean costs five passes)
export function mseLoss(e: Emitter, s: Value, t: Value): Value {
  const n = e.shape(s).reduce((a, b) => a * b, 1);
  return e.scale(e.reduce('ReduceSumSquare', e.sub(s, t), [], false), 1 / n);
}

// ℓ = T²/N · Σ p_t·(log p_t − log p_s), p = softmax(·/T) over the last axis, N = the first dim
// (torch's F.kl_div(log_softmax(s/T), softmax(t/T), reduction='batchmean') · T²)
export function klLoss(e: Emitter, s: Value, t: Value, temperature = KL_TEMPERATURE): Value {
  const shape = e.shape(s);
  const axis = { axis: attr.int(shape.length - 1) };
  const lps = e.unary('LogSoftmax', e.scale(s, 1 / temperature), axis);
  const lpt = e.unary('LogSoftmax', e.scale(t, 1 / temperature), axis);
  const kl = e.reduceSum(e.mul(e.unary('Exp', lpt), e.sub(lpt, lps)), [], false);
  return e.scale(kl, (temperature * temperature) / (shape[0] ?? 1));
}

/** The per-target loss of an apply method. */
export const DISTILL_LOSSES: { readonly [M in DistillMethod]: (e: Emitter, s: Value, t: Value) => Value } = {
  mse: mseLoss,
  kl: (e, s, t) => klLoss(e, s, t, KL_TEMPERATURE),
};

// min_j x_j of scalars = −max_j(−x_j) (ReduceMax has a gradient rule; the gradient goes to the smallest)
export function minOf(e: Emitter, xs: readonly Value[]): Value {
  if (xs.length === 1) return xs[0]!;
  const stacked = e.concat(
    xs.map((x) => e.reshape(x, [1])),
    0,
  );
  return e.neg(e.reduce('ReduceMax', e.neg(stacked), [0], false));
}

/** How Adaptive1d maps a student value to the teacher's width. */
export type ProjectionKind = 'conv1x1' | 'linear';

/** The projection a value of this rank needs: a 1×1 convolution over NCHW (rank 4), a linear map on the last axis otherwise. */
export function projectionKind(rank: number): ProjectionKind {
  return rank === 4 ? 'conv1x1' : 'linear';
}

/** The widths a projection maps between: the channel axis of NCHW values, the last axis otherwise. */
export function projectedWidth(shape: readonly number[]): number {
  return projectionKind(shape.length) === 'conv1x1' ? shape[1]! : shape[shape.length - 1]!;
}

/** Shapes of the projection's weight and bias, mapping width `from` to `to`. */
export function projectionShapes(kind: ProjectionKind, from: number, to: number): { weight: number[]; bias: number[] } {
  return kind === 'conv1x1' ? { weight: [to, from, 1, 1], bias: [to] } : { weight: [from, to], bias: [to] };
}

// conv1x1: y = Conv(s, W[to, from, 1, 1]) + b (per output channel); linear: y = s·W[from, to] + b on the last axis
export function project(e: Emitter, s: Value, weight: Value, bias: Value): Value {
  const shape = e.shape(s);
  if (projectionKind(shape.length) === 'conv1x1') {
    const to = e.shape(weight)[0]!;
    const out = [shape[0]!, to, shape[2]!, shape[3]!];
    return e.op('Conv', [s, weight, bias], { kernel_shape: attr.ints([1, 1]) }, out);
  }
  return e.add(e.matmul(s, weight), bias);
}
