/**
 * @file Quantization parameters of each target (scale, zero point, tracked range, axis or blocks) and NNI's
 * calibration-config shape they are reported in: `{node: {target: {scale, zero_point, quant_dtype, quant_scheme,
 * quant_bits, tracked_min, tracked_max}}}` (NNI-SEMANTICS §5.1), per-channel values as arrays. Weights are observed
 * directly (their exact min / max, as NNI's PTQ does); activations come from an observer. Pure: imports only the IR
 * helpers of pruning granularity and sibling modules.
 */
import type { Model } from '../../ir/index.ts';
import { blockIds, blockView, inversePerm, permute } from '../pruning/granularity.ts';
import { inputQuantizer, type QuantTarget } from './plan.ts';
import type { TrackedRange } from './observers.ts';
import { channelLayout, channelMinMax, qparams, roundHalfEven, type QParams } from './qparams.ts';

/** Parameters of one target. */
export interface TargetParams extends QParams {
  /** Per-axis channel axis (ONNX layout), null per tensor or per block. */
  axis: number | null;
  /** Block granularity: the block of every element, row-major in the ONNX layout. */
  blockOf?: Int32Array;
  trackedMin: Float64Array;
  trackedMax: Float64Array;
}

/** Parameters by `paramKey(node, target)`. */
export type ParamTable = Map<string, TargetParams>;

export const paramKey = (node: string, target: string): string => `${node}\u0000${target}`;

/** One target in NNI's calibration config. */
export interface CalibrationEntry {
  scale: number | number[];
  zero_point: number | number[];
  quant_dtype: string;
  quant_scheme: string;
  quant_bits: number;
  tracked_min: number | number[];
  tracked_max: number | number[];
  /** ONNX axis of per-channel parameters. */
  axis?: number;
  /** Weights quantized with fewer bits than `quant_dtype` says (reduce range). */
  reduce_range?: boolean;
}

/** NNI's calibration config: node → target → entry. */
export type CalibrationConfig = Record<string, Record<string, CalibrationEntry>>;

/** Parameters of a weight-like constant from its own min / max (per tensor, per axis or per block). */
export function constantParams(t: QuantTarget, data: Float32Array, dims: readonly number[]): TargetParams {
  const g = t.granularity;
  if (g.kind === 'blocks') {
    const canonDims = g.perm.map((p) => dims[p]!);
    const view = blockView(canonDims, g.kernel);
    const canonIds = blockIds(view);
    const ids = permute(Float32Array.from(canonIds), canonDims, inversePerm(g.perm));
    const blocks = view.blockDims.reduce((a, b) => a * b, 1);
    const min = new Float64Array(blocks).fill(Infinity);
    const max = new Float64Array(blocks).fill(-Infinity);
    const blockOf = Int32Array.from(ids);
    for (let i = 0; i < data.length; i++) {
      const b = blockOf[i]!;
      if (data[i]! < min[b]!) min[b] = data[i]!;
      if (data[i]! > max[b]!) max[b] = data[i]!;
    }
    return { ...qparams(min, max, t.range, t.scheme), axis: null, blockOf, trackedMin: min, trackedMax: max };
  }
  const axis = g.kind === 'axis' ? g.axis : null;
  const { min, max } = channelMinMax(data, dims, axis);
  return { ...qparams(min, max, t.range, t.scheme), axis, trackedMin: min, trackedMax: max };
}

/** Parameters of an activation from its observer's clipping range. */
export function activationParams(t: QuantTarget, tracked: TrackedRange): TargetParams {
  const axis = t.granularity.kind === 'axis' ? t.granularity.axis : null;
  return {
    ...qparams(tracked.min, tracked.max, t.range, t.scheme),
    axis,
    trackedMin: tracked.min,
    trackedMax: tracked.max,
  };
}

/**
 * ORT's int32 bias: scale = input scale × weight scale (per channel when the weight is), zero point 0; the tracked
 * range is that of the bias itself.
 */
export function int32BiasParams(inputScale: number, weight: TargetParams, bias: Float32Array): TargetParams {
  const n = weight.scale.length;
  const scale = Float32Array.from(weight.scale, (s) => Math.fround(inputScale * s));
  const { min, max } = channelMinMax(bias, [bias.length], n === 1 ? null : 0);
  return { scale, zeroPoint: new Int32Array(n), axis: n === 1 ? null : 0, trackedMin: min, trackedMax: max };
}

/** Integers of an int32 bias (round half to even, saturated). */
export function quantizeInt32(data: Float32Array, p: TargetParams): Int32Array {
  const { channels, inner } = channelLayout([data.length], p.axis);
  return Int32Array.from(data, (x, i) => {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    return Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, roundHalfEven(x / p.scale[c]!)));
  });
}

const one = (a: ArrayLike<number>): number | number[] => (a.length === 1 ? a[0]! : Array.from(a));

/**
 * The plan's parameters as NNI's calibration config.
 *
 * @example toCalibrationConfig(targets, params)['/conv1/Conv'].weight // { scale: [0.012, …], zero_point: [0, …], quant_dtype: 'int8', … }
 */
export function toCalibrationConfig(targets: readonly QuantTarget[], params: ParamTable): CalibrationConfig {
  const out: CalibrationConfig = {};
  for (const t of targets) {
    const p = params.get(paramKey(t.node, t.target));
    if (!p) continue;
    const entry: CalibrationEntry = {
      scale: one(p.scale),
      zero_point: one(p.zeroPoint),
      quant_dtype: t.int32Bias ? 'int32' : t.requested.name,
      quant_scheme: t.scheme,
      quant_bits: t.range.bits,
      tracked_min: one(p.trackedMin),
      tracked_max: one(p.trackedMax),
    };
    if (p.axis !== null && p.scale.length > 1) entry.axis = p.axis;
    if (t.range.bits !== t.requested.bits && !t.int32Bias) entry.reduce_range = true;
    (out[t.node] ??= {})[t.target] = entry;
  }
  return out;
}

/**
 * Fill the parameters that follow from others: shared ones (MaxPool & co. take their input's) and int32 biases
 * (input scale × weight scale). Run after weights and activations have theirs.
 */
export function deriveParams(model: Model, targets: readonly QuantTarget[], params: ParamTable): void {
  // shares may chain (MaxPool → MaxPool): repeat until every share found its source
  for (let changed = true; changed;) {
    changed = false;
    for (const t of targets) {
      if (!t.shareWith || params.has(paramKey(t.node, t.target))) continue;
      const p = params.get(paramKey(t.shareWith.node, t.shareWith.target));
      if (p) {
        params.set(paramKey(t.node, t.target), p);
        changed = true;
      }
    }
  }
  for (const t of targets) {
    if (!t.int32Bias) continue;
    const input = inputQuantizer(model, targets, t.node);
    const inP = input && params.get(paramKey(input.node, input.target));
    const wP = params.get(paramKey(t.node, 'weight'));
    const bias = model.graph.node(t.node)?.input(t.index)?.initializer;
    if (!inP || !wP || !bias)
      throw new RangeError(`int32 bias of "${t.node}" needs its input and weight parameters first`);
    params.set(paramKey(t.node, t.target), int32BiasParams(inP.scale[0]!, wP, bias.toFloat32()));
  }
}
