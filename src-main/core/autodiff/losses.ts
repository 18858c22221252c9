/**
 * @file Losses as graphs: one table keyed by loss type, each emitting taped ONNX nodes (so the backward pass
 * differentiates them like any other op) that reduce to a scalar. Pure: imports the IR and autodiff kit.
 */
import { Tensor, type DataType, type Value } from '../ir/index.ts';
import { attr, type Emitter } from './emitter.ts';
import { TrainingSpecError } from './errors.ts';

/** Cross-entropy over class logits [N, K] (or [N, K, …]) against int64 labels [N] (or [N, …]). */
export interface CrossEntropyLoss {
  type: 'cross_entropy';
  /** Model output holding the logits (default: the first output). */
  output?: string;
  /** torch's label_smoothing ε: targets (1−ε)·onehot + ε/K. */
  labelSmoothing?: number;
}
/** Mean squared error against a float target input shaped like the output. */
export interface MseLoss {
  type: 'mse';
  output?: string;
}
/** Distillation KL(softmax(t/T) ‖ softmax(s/T))·T², batch-mean, against teacher logits fed as an input. */
export interface KlDivLoss {
  type: 'kl_div';
  output?: string;
  temperature?: number;
}
/** Any loss written as graph nodes. */
export interface CustomLoss {
  type: 'custom';
  build: (c: LossContext) => Value;
}

export type LossSpec = CrossEntropyLoss | MseLoss | KlDivLoss | CustomLoss;

/** What loss builders and loss-term hooks see: the forward values, the parameters, and a way to add inputs. */
export interface LossContext {
  readonly e: Emitter;
  /** A forward value by its name in the original model (after training rewrites). */
  value(name: string): Value;
  /** A model output by name, or the first one. */
  output(name?: string): Value;
  /** Add a per-batch input (labels, targets, teacher outputs); its data comes with each batch. */
  addInput(name: string, shape: number[], dtype: DataType): Value;
  /** Record a named scalar the step also outputs (e.g. number of correct predictions). */
  report(name: string, v: Value): void;
}

/** mean over everything of `v`, as a scalar. */
function meanAll(e: Emitter, v: Value): Value {
  return e.reduce('ReduceMean', v, [], false);
}

/** One-hot float targets [N, K, …] from int64 labels [N, …], with optional label smoothing. */
function smoothedTargets(e: Emitter, labels: Value, k: number, rank: number, dtype: DataType, eps: number): Value {
  const range = e.constant(
    Tensor.int64(
      [k],
      Array.from({ length: k }, (_, i) => i),
    ),
    'classes',
  );
  const classShape = Array.from({ length: rank }, (_, i) => (i === 1 ? k : 1));
  const onehot = e.cast(e.compare('Equal', e.unsqueeze(labels, [1]), e.reshape(range, classShape)), dtype);
  if (!eps) return onehot;
  return e.add(e.scale(onehot, 1 - eps), e.scalar(eps / k, dtype));
}

/** The batch size and class count of logits, checked against label expectations. */
function logitsInfo(e: Emitter, z: Value): { n: number; k: number; shape: number[] } {
  const shape = e.shape(z);
  if (shape.length < 2)
    throw new TrainingSpecError(`cross-entropy needs logits of rank ≥ 2 (got [${shape}])`, { output: z.name });
  return { n: shape[0]!, k: shape[1]!, shape };
}

export const LOSSES: {
  readonly [K in LossSpec['type']]: (spec: Extract<LossSpec, { type: K }>, c: LossContext) => Value;
} = {
  // L = −(1/M) Σ_i Σ_k q_ik · log softmax(z)_ik over the M = N·(spatial) positions; q one-hot or smoothed
  cross_entropy: (spec, c) => {
    const { e } = c;
    const z = c.output(spec.output);
    const { k, shape } = logitsInfo(e, z);
    const labelShape = [shape[0]!, ...shape.slice(2)];
    const labels = c.addInput('labels', labelShape, 'int64');
    const lsm = e.unary('LogSoftmax', z, { axis: attr.int(1) });
    const q = smoothedTargets(e, labels, k, shape.length, e.dtype(z), spec.labelSmoothing ?? 0);
    const perPosition = e.reduceSum(e.mul(q, lsm), [1], false);
    const hit = e.cast(
      e.compare(
        'Equal',
        e.op('ArgMax', [z], { axis: attr.int(1), keepdims: attr.int(0) }, labelShape, 'int64'),
        labels,
      ),
      e.dtype(z),
    );
    c.report('correct', e.reduceSum(hit, [], false));
    return e.neg(meanAll(e, perPosition));
  },
  // L = mean (y − t)²
  mse: (spec, c) => {
    const { e } = c;
    const y = c.output(spec.output);
    const t = c.addInput('target', e.shape(y), e.dtype(y));
    const d = e.sub(y, t);
    return meanAll(e, e.mul(d, d));
  },
  // L = T²/N · Σ p_t·(log p_t − log p_s), p = softmax(·/T) over axis 1 (torch's KLDiv 'batchmean' × T²)
  kl_div: (spec, c) => {
    const { e } = c;
    const s = c.output(spec.output);
    const T = spec.temperature ?? 2;
    const shape = e.shape(s);
    const teacher = c.addInput('teacher_logits', shape, e.dtype(s));
    const axis = { axis: attr.int(1) };
    const lps = e.unary('LogSoftmax', e.scale(s, 1 / T), axis);
    const lpt = e.unary('LogSoftmax', e.scale(teacher, 1 / T), axis);
    const pt = e.unary('Exp', lpt);
    const kl = e.reduceSum(e.mul(pt, e.sub(lpt, lps)), [], false);
    return e.scale(kl, (T * T) / shape[0]!);
  },
  custom: (spec, c) => spec.build(c),
};

/** Emit the loss a spec describes. */
export function emitLoss(spec: LossSpec, c: LossContext): Value {
  const build = LOSSES[spec.type] as (s: LossSpec, c: LossContext) => Value;
  return build(spec, c);
}
