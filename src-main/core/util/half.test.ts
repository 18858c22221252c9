/** @file Tests of number → float16 / bfloat16 bit conversion against known patterns and the IR's inverse. */
import { describe, expect, it } from 'vitest';
import { bf16ToFloat, halfToFloat } from '../ir/index.ts';
import { floatToBf16, floatToHalf } from './half.ts';

describe('floatToHalf', () => {
  it('encodes known values', () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(0.5)).toBe(0x3800);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00); // rounds up to +Inf
    expect(floatToHalf(-Infinity)).toBe(0xfc00);
    expect(floatToHalf(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(floatToHalf(2 ** -26)).toBe(0); // below half of it
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });

  it('round-trips every finite half and rounds ties to even', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h);
      if (!Number.isNaN(x) && floatToHalf(x) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
    // 1 + 2^-11 is half-way between 1 and the next half: ties go to the even mantissa (1)
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00);
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02);
  });
});

describe('floatToBf16', () => {
  it('keeps the upper half of float32 with round to nearest even', () => {
    expect(floatToBf16(1)).toBe(0x3f80);
    expect(floatToBf16(-2)).toBe(0xc000);
    expect(bf16ToFloat(floatToBf16(3.140625))).toBe(3.140625);
    expect(floatToBf16(1 + 2 ** -8)).toBe(0x3f80); // tie → even
    expect(Number.isNaN(bf16ToFloat(floatToBf16(NaN)))).toBe(true);
  });
});
