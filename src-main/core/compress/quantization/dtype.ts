/**
 * @file Quantized integer types: NNI's `quant_dtype` strings (`int8`, `uint6`, …) read as integer ranges, and how
 * each maps onto the integer types ONNX and ONNX Runtime can store and run. Pure: imports only the IR's types.
 *
 * NNI's ranges (`_compute_qmin_qmax`, NNI-SEMANTICS §1.3) against ONNX's saturating ranges:
 *
 * | quant_dtype | NNI [qmin, qmax] | ONNX storage | ONNX saturates at | what we do |
 * |---|---|---|---|---|
 * | int8 | [−127, 127] (narrow) | int8 | [−128, 127] | QDQ. Identical inside the calibrated range; below it ONNX can reach −128 where NNI stops at −127 (one step, only for values under the tracked minimum). Weights never reach it (their range is their own min/max). |
 * | uint8 | [0, 255] | uint8 | [0, 255] | QDQ, exact. Symmetric uint8 has zero point 128 (NNI's `(qmax + qmin + 1) // 2`). |
 * | intN, N < 8 (e.g. int7 = reduce range) | [−(2^(N−1)−1), 2^(N−1)−1] | int8 container | [−128, 127] | weights / bias (constants, quantized here): exact in int8. Activations: Round/Clip/Mul simulation (QuantizeLinear would not clamp at N bits). |
 * | uintN, N < 8 (e.g. uint6) | [0, 2^N − 1] | uint8 container | [0, 255] | as intN < 8. |
 * | int4 / uint4 | [−7, 7] / [0, 15] | int4 / uint4 (opset ≥ 21) | [−8, 7] / [0, 15] | QDQ in int4 / uint4 when the model's opset is ≥ 21, else as N < 8. |
 * | int16 / uint16 | [−32767, 32767] / [0, 65535] | int16 / uint16 (opset ≥ 21) | [−32768, 32767] / [0, 65535] | QDQ when opset ≥ 21, else Round/Clip/Mul simulation. |
 * | other N > 8 | NNI's formula | none | — | Round/Clip/Mul simulation (activations), fake-quantized float constants (weights), with a diagnostic; never exported as integers. |
 * | bias of a quantized Conv / Gemm / MatMul | (config) | int32 | — | scale = input scale × weight scale, zero point 0, as ORT's integer kernels expect (replaces the bias's own setting; see plan.ts). |
 *
 * Rounding: NNI rounds `clamp(zp + x/s)` with torch.round (half to even); ONNX QuantizeLinear rounds `x/s` half to
 * even and adds zp. With integer qmin/qmax and zp both give the same integers.
 */

/** An integer quantization range parsed from NNI's `quant_dtype`. */
export interface QuantRange {
  /** The dtype as NNI names it (`int8`, `uint6`). */
  name: string;
  signed: boolean;
  bits: number;
  qmin: number;
  qmax: number;
}

/** ONNX integer element types a quantized tensor can be stored in. */
export type QuantStorage = 'int8' | 'uint8' | 'int4' | 'uint4' | 'int16' | 'uint16' | 'int32';

const DTYPE = /^(u?)int(\d+)$/;

/**
 * NNI's integer range of a `quant_dtype` (null / undefined mean int8): `intN` → [−(2^(N−1)−1), 2^(N−1)−1]
 * (narrow: int8 is [−127, 127]), `uintN` → [0, 2^N − 1].
 *
 * @example quantRange('int8') // { name: 'int8', signed: true, bits: 8, qmin: -127, qmax: 127 }
 * @example quantRange('uint6') // { …, qmin: 0, qmax: 63 }
 */
export function quantRange(quantDtype: string | null | undefined): QuantRange {
  const name = quantDtype ?? 'int8';
  const m = DTYPE.exec(name);
  if (!m) throw new TypeError(`quant_dtype '${name}' is not int{N} or uint{N}`);
  const signed = m[1] === '';
  const bits = Number(m[2]);
  if (!(bits >= 1 && bits <= 32)) throw new TypeError(`quant_dtype '${name}': N must be in 1..32`);
  return signed
    ? { name, signed, bits, qmin: -(2 ** (bits - 1) - 1), qmax: 2 ** (bits - 1) - 1 }
    : { name, signed, bits, qmin: 0, qmax: 2 ** bits - 1 };
}

/** The same signedness with fewer bits (reduce range: int8 weights as int7). */
export function narrowed(r: QuantRange, bits: number): QuantRange {
  return quantRange(`${r.signed ? '' : 'u'}int${Math.min(bits, r.bits)}`);
}

/**
 * Where a quantized tensor can live in ONNX, or null when only simulation can express it (see the file table).
 * `constant`: the values are quantized here (weights, bias), so any range that fits the container is exact;
 * otherwise QuantizeLinear does the clamping at run time and must clamp at exactly the NNI range.
 *
 * @example onnxStorage(quantRange('int7'), { constant: true, opset: 17 }) // 'int8'
 * @example onnxStorage(quantRange('uint6'), { constant: false, opset: 17 }) // null
 */
export function onnxStorage(r: QuantRange, where: { constant: boolean; opset: number }): QuantStorage | null {
  const { signed, bits } = r;
  if (bits === 8) return signed ? 'int8' : 'uint8';
  // signed 4 / 16 bits saturate one step lower than NNI's narrow range, exactly as int8 does (file table)
  if (where.opset >= 21 && bits === 4) return signed ? 'int4' : 'uint4';
  if (where.opset >= 21 && bits === 16) return signed ? 'int16' : 'uint16';
  if (where.constant && bits < 8) return signed ? 'int8' : 'uint8';
  if (where.constant && where.opset >= 21 && bits < 16) return signed ? 'int16' : 'uint16';
  return null;
}
