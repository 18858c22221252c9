/**
 * @file Quantization carried across speedup (NNI's pqd_fuse: after `ModelSpeedup`, the scales and zero points are
 * sliced with the speedup's channel masks and loaded into a bare quantizer to re-simulate). A fused run trained
 * fake quantization on the masked model; speedup then removes channels. The parameters each target trained with
 * are kept as they were — per-channel ones sliced to the channels that survive, per-tensor ones unchanged, int32
 * biases and shared ones derived again on the compact model (its biases absorbed the removed channels' constants) —
 * so the compact model is re-simulated and exported as QDQ without a second calibration.
 * Pure: imports the IR, quantization's parameter tables and speedup's kept channels.
 */
import { StudioError, type Model } from '../../ir/index.ts';
import {
  constantParams,
  deriveParams,
  paramKey,
  type ParamTable,
  type TargetParams,
} from '../quantization/calibration.ts';
import type { QuantTarget } from '../quantization/plan.ts';
import type { KeptChannels } from '../speedup/index.ts';

/** Parameters that cannot follow the channels speedup removed (block granularity along a pruned axis). */
export class QuantCarryError extends StudioError {
  constructor(node: string, target: string, message: string) {
    super(`${target} of "${node}": ${message}`, 'QUANT_CARRY', { node, target });
    this.name = 'QuantCarryError';
  }
}

export interface CarriedQuantization {
  /** The targets on the compact model (those whose node speedup kept). */
  targets: QuantTarget[];
  params: ParamTable;
  /** Per-channel targets whose parameters were sliced: `node.target` → channels before → after. */
  sliced: Record<string, { before: number; after: number }>;
}

function pick<T extends Float32Array | Float64Array | Int32Array>(a: T, idx: readonly number[]): T {
  const Ctor = a.constructor as new (xs: number[]) => T;
  return new Ctor(idx.map((i) => a[i]!));
}

function sliceParams(p: TargetParams, idx: readonly number[]): TargetParams {
  const one = (a: Float32Array | Float64Array | Int32Array) => a.length === 1;
  return {
    ...p,
    scale: one(p.scale) ? p.scale : pick(p.scale, idx),
    zeroPoint: one(p.zeroPoint) ? p.zeroPoint : pick(p.zeroPoint, idx),
    trackedMin: one(p.trackedMin) ? p.trackedMin : pick(p.trackedMin, idx),
    trackedMax: one(p.trackedMax) ? p.trackedMax : pick(p.trackedMax, idx),
  };
}

/**
 * The quantization a fused run trained on `before` (targets and parameters), carried to `compact`, the model
 * speedup made from it, whose surviving channels are `kept`.
 *
 * @example
 * const { model: compact, kept } = await new ModelSpeedup(q.trained, masks).speedupModel();
 * const c = carryQuantization(q, q.trained, compact, kept);
 * const { model: qdq } = buildQuantized(compact, c.targets, c.params, { mode: 'export' });
 * @throws QuantCarryError for block-granularity parameters along an axis that lost channels
 */
export function carryQuantization(
  trained: { targets: readonly QuantTarget[]; params: ParamTable },
  before: Model,
  compact: Model,
  kept: KeptChannels,
): CarriedQuantization {
  const params: ParamTable = new Map();
  const sliced: CarriedQuantization['sliced'] = {};
  const targets = trained.targets.filter((t) => compact.graph.node(t.node));
  for (const t of targets) {
    if (t.int32Bias || t.shareWith) continue; // derived below, from the compact model
    const key = paramKey(t.node, t.target);
    const p = trained.params.get(key);
    if (!p) continue;
    const valueName = t.role === 'activation' ? t.value : before.graph.node(t.node)?.input(t.index)?.name;
    const byAxis = valueName ? kept.get(valueName) : undefined;
    if (p.blockOf) {
      if (byAxis && byAxis.size > 0)
        throw new QuantCarryError(
          t.node,
          t.target,
          'block-granularity parameters cannot follow the channels speedup removed (use default, out_channel or in_channel granularity)',
        );
      params.set(key, p);
      continue;
    }
    const idx = p.axis === null ? undefined : byAxis?.get(p.axis);
    if (!idx || p.scale.length === 1) {
      params.set(key, p);
      continue;
    }
    if (p.scale.length <= Math.max(...idx))
      throw new QuantCarryError(
        t.node,
        t.target,
        `has ${p.scale.length} per-channel parameters but speedup kept channel ${Math.max(...idx)}`,
      );
    params.set(key, sliceParams(p, idx));
    sliced[`${t.node}.${t.target}`] = { before: p.scale.length, after: idx.length };
  }
  deriveParams(compact, targets, params);
  return { targets, params, sliced };
}

/**
 * The parameters of a quantization planned on `folded` — the trained model with its BatchNormalization folded after
 * training — from what training tracked: weights by QAT's own rule (their min / max, here of the folded weights),
 * each activation from the parameters trained for the same value (a fused head's `_output_` reads the value its
 * activation's consumers read, which training observed), int32 biases and shared parameters derived.
 *
 * @example
 * const targets = new QATQuantizer(folded, configList, undefined, { fuse: 'auto' }).targets;
 * const params = refoldedParams(q, folded, targets);
 * @throws QuantCarryError naming an activation no trained target observed
 */
export function refoldedParams(
  trained: { targets: readonly QuantTarget[]; params: ParamTable },
  folded: Model,
  targets: readonly QuantTarget[],
): ParamTable {
  const byValue = new Map<string, TargetParams>();
  for (const t of trained.targets) {
    const p = trained.params.get(paramKey(t.node, t.target));
    if (t.role === 'activation' && p && !byValue.has(t.value)) byValue.set(t.value, p);
  }
  const params: ParamTable = new Map();
  for (const t of targets) {
    if (t.int32Bias || t.shareWith) continue;
    const key = paramKey(t.node, t.target);
    if (t.role === 'activation') {
      const p = byValue.get(t.value);
      if (!p)
        throw new QuantCarryError(
          t.node,
          t.target,
          `its value "${t.value}" was not observed while training (folding BatchNormalization at the end needs every quantized value to be a target during training)`,
        );
      params.set(key, p);
      continue;
    }
    const w = folded.graph.node(t.node)?.input(t.index)?.initializer;
    if (!w) throw new QuantCarryError(t.node, t.target, 'has no initializer in the folded model');
    params.set(key, constantParams(t, w.toFloat32(), w.dims));
  }
  deriveParams(folded, targets, params);
  return params;
}
