/**
 * @file NNI's scale / zero-point formulas (NNI-SEMANTICS §5.2) and the fake-quantization they define, in float32
 * arithmetic as torch does them, per tensor or per channel. Pure: imports only sibling modules.
 *
 * With the range first widened to include zero, lo = min(tracked_min, 0), hi = max(tracked_max, 0):
 *   symmetric (also when quant_scheme is null): s = max(|lo|, |hi|) / ((qmax − qmin) / 2), zp = (qmax + qmin + 1) // 2
 *   affine:                                     s = (hi − lo) / (qmax − qmin),           zp = clamp(qmin − round(lo / s), qmin, qmax)
 * s is floored at float32 eps (2^−23). Fake quantization: x̂ = (round(clamp(zp + x / s, qmin, qmax)) − zp) · s, with
 * round half to even (torch.round).
 */
import type { QuantRange } from './dtype.ts';

export type QuantScheme = 'affine' | 'symmetric';

/** float32 machine epsilon, torch.finfo(torch.float32).eps. */
export const FLOAT32_EPS = 2 ** -23;

const f = Math.fround;

/** Round half to even, as torch.round and ONNX QuantizeLinear do. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Scale and zero point, one per channel (length 1 per tensor). */
export interface QParams {
  scale: Float32Array;
  zeroPoint: Int32Array;
}

/**
 * NNI's scale and zero point for tracked ranges (one entry per channel).
 *
 * @example
 * qparams([-1], [3], quantRange('uint8'), 'affine') // scale [4/255], zeroPoint [64]
 * qparams([-1], [3], quantRange('int8'), 'symmetric') // scale [3/127], zeroPoint [0]
 */
export function qparams(
  trackedMin: ArrayLike<number>,
  trackedMax: ArrayLike<number>,
  range: QuantRange,
  scheme: QuantScheme | null | undefined,
): QParams {
  const n = trackedMin.length;
  const scale = new Float32Array(n);
  const zeroPoint = new Int32Array(n);
  const { qmin, qmax } = range;
  for (let c = 0; c < n; c++) {
    const lo = f(Math.min(trackedMin[c]!, 0));
    const hi = f(Math.max(trackedMax[c]!, 0));
    if (scheme === 'affine') {
      const s = Math.max(f(f(hi - lo) / (qmax - qmin)), FLOAT32_EPS);
      scale[c] = s;
      zeroPoint[c] = Math.min(qmax, Math.max(qmin, qmin - roundHalfEven(f(lo / s))));
    } else {
      const s = Math.max(f(Math.max(-lo, hi) / f((qmax - qmin) / 2)), FLOAT32_EPS);
      scale[c] = s;
      zeroPoint[c] = Math.floor((qmax + qmin + 1) / 2);
    }
  }
  return { scale, zeroPoint };
}

/** One element fake-quantized in NNI's order (clamp, then round). */
export function fakeQuantValue(x: number, s: number, zp: number, qmin: number, qmax: number): number {
  const q = roundHalfEven(Math.min(qmax, Math.max(qmin, f(zp + f(x / s)))));
  return f((q - zp) * s);
}

/** The integer an element quantizes to (what QuantizeLinear would store, clamped to NNI's range). */
export function quantizeValue(x: number, s: number, zp: number, qmin: number, qmax: number): number {
  return roundHalfEven(Math.min(qmax, Math.max(qmin, f(zp + f(x / s)))));
}

/**
 * Which channel each element of a tensor belongs to, as `(outer, channels, inner)`: element i is in channel
 * `floor(i / inner) % channels`. Axis null → one channel.
 */
export interface ChannelLayout {
  channels: number;
  inner: number;
}

export function channelLayout(dims: readonly number[], axis: number | null): ChannelLayout {
  if (axis === null) return { channels: 1, inner: dims.reduce((a, b) => a * b, 1) };
  let inner = 1;
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i]!;
  return { channels: dims[axis] ?? 1, inner };
}

/** Min and max per channel (non-finite elements skipped; an empty channel reads [0, 0]). */
export function channelMinMax(
  data: ArrayLike<number>,
  dims: readonly number[],
  axis: number | null,
): { min: Float64Array; max: Float64Array } {
  const { channels, inner } = channelLayout(dims, axis);
  const min = new Float64Array(channels).fill(Infinity);
  const max = new Float64Array(channels).fill(-Infinity);
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) continue;
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    if (v < min[c]!) min[c] = v;
    if (v > max[c]!) max[c] = v;
  }
  for (let c = 0; c < channels; c++) {
    if (min[c] === Infinity) min[c] = 0;
    if (max[c] === -Infinity) max[c] = 0;
  }
  return { min, max };
}

/** Fake-quantize a whole tensor with per-channel (or per-tensor) parameters. */
export function fakeQuantize(
  data: ArrayLike<number>,
  dims: readonly number[],
  axis: number | null,
  p: QParams,
  range: QuantRange,
): Float32Array {
  const { channels, inner } = channelLayout(dims, axis);
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = fakeQuantValue(data[i]!, p.scale[c]!, p.zeroPoint[c]!, range.qmin, range.qmax);
  }
  return out;
}

/** Quantize a whole tensor to its integers (NNI's range), per channel or per tensor. */
export function quantizeTensor(
  data: ArrayLike<number>,
  dims: readonly number[],
  axis: number | null,
  p: QParams,
  range: QuantRange,
): Int32Array {
  const { channels, inner } = channelLayout(dims, axis);
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    out[i] = quantizeValue(data[i]!, p.scale[c]!, p.zeroPoint[c]!, range.qmin, range.qmax);
  }
  return out;
}
