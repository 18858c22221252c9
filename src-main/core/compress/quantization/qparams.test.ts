/** @file NNI's integer ranges, scale / zero-point formulas and fake quantization, pinned to exact float32 values; ONNX storage mapping. */
import { describe, expect, it } from 'vitest';
import {
  FLOAT32_EPS,
  channelMinMax,
  fakeQuantValue,
  fakeQuantize,
  onnxStorage,
  qparams,
  quantRange,
  roundHalfEven,
  type QuantRange,
} from './index.ts';

const f = Math.fround;
const one = (lo: number, hi: number, r: QuantRange, scheme: 'affine' | 'symmetric' | null) => {
  const p = qparams([lo], [hi], r, scheme);
  return { s: p.scale[0], zp: p.zeroPoint[0] };
};

describe('quant_dtype ranges (NNI _compute_qmin_qmax)', () => {
  it('reads intN narrow and uintN full', () => {
    expect(quantRange('int8')).toEqual({ name: 'int8', signed: true, bits: 8, qmin: -127, qmax: 127 });
    expect(quantRange(null)).toMatchObject({ name: 'int8', qmin: -127, qmax: 127 });
    expect(quantRange('uint8')).toMatchObject({ qmin: 0, qmax: 255 });
    expect(quantRange('uint6')).toMatchObject({ qmin: 0, qmax: 63 });
    expect(quantRange('int4')).toMatchObject({ qmin: -7, qmax: 7 });
    expect(quantRange('int16')).toMatchObject({ qmin: -32767, qmax: 32767 });
    expect(() => quantRange('float8')).toThrow(/int\{N\}/);
  });

  it('maps onto ONNX storage: 8 bits always, constants below 8 bits in an 8-bit container, 4/16 bits from opset 21', () => {
    expect(onnxStorage(quantRange('int8'), { constant: false, opset: 17 })).toBe('int8');
    expect(onnxStorage(quantRange('uint8'), { constant: false, opset: 13 })).toBe('uint8');
    expect(onnxStorage(quantRange('int7'), { constant: true, opset: 17 })).toBe('int8');
    expect(onnxStorage(quantRange('uint6'), { constant: false, opset: 17 })).toBeNull();
    expect(onnxStorage(quantRange('uint6'), { constant: true, opset: 17 })).toBe('uint8');
    expect(onnxStorage(quantRange('int4'), { constant: false, opset: 17 })).toBeNull();
    expect(onnxStorage(quantRange('int4'), { constant: false, opset: 21 })).toBe('int4');
    expect(onnxStorage(quantRange('uint16'), { constant: false, opset: 21 })).toBe('uint16');
    expect(onnxStorage(quantRange('int12'), { constant: false, opset: 21 })).toBeNull();
  });
});

describe('scale and zero point (NNI-SEMANTICS §5.2)', () => {
  it('affine: s = (hi − lo)/(qmax − qmin), zp = qmin − round(lo/s)', () => {
    expect(one(-1, 3, quantRange('uint8'), 'affine')).toEqual({ s: f(4 / 255), zp: 64 });
    // lo / s = −63.5 rounds half to even (−64): zp = −127 + 64
    expect(one(-1, 3, quantRange('int8'), 'affine')).toEqual({ s: f(4 / 254), zp: -63 });
  });

  it('symmetric (and null): s = max|·| / ((qmax − qmin)/2), zp = (qmax + qmin + 1) // 2', () => {
    expect(one(-1, 3, quantRange('int8'), 'symmetric')).toEqual({ s: f(3 / 127), zp: 0 });
    expect(one(-1, 3, quantRange('int8'), null)).toEqual({ s: f(3 / 127), zp: 0 });
    expect(one(-5, 3, quantRange('uint8'), 'symmetric')).toEqual({ s: f(5 / 127.5), zp: 128 });
    expect(one(-1, 1, quantRange('int7'), 'symmetric')).toEqual({ s: f(1 / 63), zp: 0 });
  });

  it('widens the range to include zero and floors the scale at float32 eps', () => {
    expect(one(0.5, 2, quantRange('uint8'), 'affine')).toEqual({ s: f(2 / 255), zp: 0 });
    expect(one(-3, -1, quantRange('uint8'), 'affine')).toEqual({ s: f(3 / 255), zp: 255 });
    expect(one(0, 0, quantRange('uint8'), 'affine')).toEqual({ s: FLOAT32_EPS, zp: 0 });
    expect(one(0, 0, quantRange('int8'), 'symmetric')).toEqual({ s: FLOAT32_EPS, zp: 0 });
  });

  it('computes one pair per channel', () => {
    const p = qparams([-1, 0], [1, 4], quantRange('int8'), 'symmetric');
    expect(Array.from(p.scale)).toEqual([f(1 / 127), f(4 / 127)]);
    expect(Array.from(p.zeroPoint)).toEqual([0, 0]);
  });
});

describe('fake quantization (clamp, then round half to even)', () => {
  it('matches NNI wrapper test values (scale 0.5, zp 10, [−127, 127])', () => {
    expect(fakeQuantValue(3.3, 0.5, 10, -127, 127)).toBe(3.5);
    expect(fakeQuantValue(-100, 0.5, 10, -127, 127)).toBe(-68.5);
    expect(fakeQuantValue(1.25, 0.5, 10, -127, 127)).toBe(1); // 12.5 → 12
    expect(fakeQuantValue(200, 0.5, 10, -127, 127)).toBe(58.5);
  });

  it('rounds half to even like torch.round', () => {
    expect([-3.5, -2.5, -0.5, 0.5, 1.5, 2.5].map(roundHalfEven)).toEqual([-4, -2, -0, 0, 2, 2]);
  });

  it('fake-quantizes per channel along an axis', () => {
    // Conv weight [2, 1, 1, 2], per output channel (axis 0)
    const w = [0.1, -0.2, 4, -8];
    const { min, max } = channelMinMax(w, [2, 1, 1, 2], 0);
    expect([Array.from(min), Array.from(max)]).toEqual([
      [-0.2, -8],
      [0.1, 4],
    ]);
    const r = quantRange('int8');
    const p = qparams(min, max, r, 'symmetric');
    const fq = fakeQuantize(w, [2, 1, 1, 2], 0, p, r);
    expect(fq[1]).toBeCloseTo(-0.2, 6);
    expect(fq[3]).toBeCloseTo(-8, 5);
    expect(Math.abs(fq[0]! - 0.1)).toBeLessThanOrEqual(p.scale[0]! / 2);
  });

  it('reads MatMul B [K, N] per column on axis 1 and activations [N, C, H, W] on axis 1', () => {
    const b = channelMinMax([1, -2, 3, 4, -5, 6], [2, 3], 1);
    expect(Array.from(b.max)).toEqual([4, -2, 6]);
    const act = channelMinMax(
      Float32Array.from({ length: 2 * 3 * 2 }, (_, i) => i),
      [2, 3, 2],
      1,
    );
    expect(Array.from(act.min)).toEqual([0, 2, 4]);
    expect(Array.from(act.max)).toEqual([7, 9, 11]);
  });
});
