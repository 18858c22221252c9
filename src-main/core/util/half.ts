/**
 * @file Number → 16-bit float bit patterns (IEEE half and bfloat16), round to nearest even. The inverse
 * conversions are `halfToFloat` / `bf16ToFloat` in the IR's tensor.ts. Pure: imports nothing.
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of `x` (round to nearest even; overflow → ±Inf; NaN kept). */
export function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // underflows to ±0
    mant |= 0x800000; // implicit leading 1
    const shift = 14 - e;
    return sign | roundShift(mant, shift);
  }
  // normal: keep 10 mantissa bits; a carry out of the mantissa correctly bumps the exponent
  return (sign | (e << 10)) + roundShift(mant, 13);
}

/** bfloat16 bits of `x` (the upper half of its float32 bits, round to nearest even; NaN kept quiet). */
export function floatToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) | 0x40) & 0xffff;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** `v >> shift`, rounded to nearest even. */
function roundShift(v: number, shift: number): number {
  const q = v >>> shift;
  const rem = v & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  return rem > half || (rem === half && q & 1) ? q + 1 : q;
}
