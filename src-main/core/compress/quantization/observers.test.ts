/** @file Observers on known distributions: streaming min/max and EMA, percentile of a uniform, KL and MSE clipping sanity, histogram re-binning. */
import { describe, expect, it } from 'vitest';
import { Rng } from '../../util/random.ts';
import { Histogram, createObserver, quantRange, type Observer } from './index.ts';

const uint8 = { range: quantRange('uint8'), scheme: 'affine' as const };
const int8 = { range: quantRange('int8'), scheme: 'symmetric' as const };

function feed(o: Observer, batches: Float32Array[]): Observer {
  for (const b of batches) o.update(b, [b.length]);
  return o;
}

function draws(n: number, seed: number, f: (r: Rng) => number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => f(r));
}

describe('min/max observers', () => {
  it('MinMax tracks the global range over batches, per channel on its axis', () => {
    const o = feed(createObserver({ kind: 'minmax' }), [Float32Array.of(1, -2), Float32Array.of(5, 0)]);
    expect(o.range(uint8)).toEqual({ min: Float64Array.of(-2), max: Float64Array.of(5) });
    const pc = createObserver({ kind: 'minmax', axis: 1 });
    pc.update(Float32Array.of(1, 2, 3, 4), [2, 2]);
    pc.update(Float32Array.of(-1, 9, 0, 0), [2, 2]);
    expect(pc.observed()).toEqual({ min: Float64Array.of(-1, 0), max: Float64Array.of(3, 9) });
    expect(() => pc.update(Float32Array.of(1, 2, 3), [1, 3])).toThrow(/channels/);
  });

  it('EMA moves from the first batch by the averaging constant', () => {
    const o = feed(createObserver({ kind: 'ema', averagingConstant: 0.5 }), [
      Float32Array.of(0, 4),
      Float32Array.of(-2, 8),
    ]);
    expect(o.range(uint8)).toEqual({ min: Float64Array.of(-1), max: Float64Array.of(6) });
  });

  it('skips non-finite values', () => {
    const o = feed(createObserver(), [Float32Array.of(1, NaN, Infinity, -3)]);
    expect(o.observed()).toEqual({ min: Float64Array.of(-3), max: Float64Array.of(1) });
  });
});

describe('histogram observers', () => {
  it('re-bins without losing counts when a batch widens the range', () => {
    const h = new Histogram(64);
    h.cover(0, 1);
    for (let i = 0; i < 100; i++) h.add(i / 100);
    h.cover(-3, 5);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 9);
    expect(h.quantile(0.5)).toBeGreaterThan(0.4);
    expect(h.quantile(0.5)).toBeLessThan(0.6);
  });

  it('Percentile of a uniform lands on the expected quantiles, streamed over batches', () => {
    const o = createObserver({ kind: 'percentile', percentile: 99 });
    for (let s = 0; s < 5; s++)
      o.update(
        draws(20_000, s, (r) => r.uniform(-1, 1) * (1 + s * 0.05)),
        [20_000],
      );
    // the union is a mixture of uniforms on widening ranges; check against the empirical quantile of the same draws
    const all = Float32Array.from(
      [0, 1, 2, 3, 4].flatMap((s) => Array.from(draws(20_000, s, (r) => r.uniform(-1, 1) * (1 + s * 0.05)))),
    ).sort();
    const { min, max } = o.range(uint8);
    expect(max[0]).toBeCloseTo(all[Math.floor(0.99 * all.length)]!, 2);
    expect(min[0]).toBeCloseTo(all[Math.floor(0.01 * all.length)]!, 2);
    const u = feed(createObserver({ kind: 'percentile', percentile: 90 }), [draws(50_000, 9, (r) => r.uniform(0, 10))]);
    expect(u.range(uint8).max[0]).toBeCloseTo(9, 1);
    expect(u.range(uint8).min[0]).toBeCloseTo(1, 1);
  });

  it('Entropy clips the tail of a Gaussian with outliers and keeps a uniform nearly whole', () => {
    const gauss = draws(100_000, 1, (r) => r.normal());
    gauss[0] = 40; // one far outlier
    const e = feed(createObserver({ kind: 'entropy' }), [gauss]).range(int8);
    expect(e.max[0]).toBeLessThan(20);
    expect(e.max[0]).toBeGreaterThan(2.5);
    // affine: the one-sided outlier is clipped without dragging the lower end in
    const a = feed(createObserver({ kind: 'entropy' }), [gauss]).range(uint8);
    expect(a.max[0]).toBeLessThan(10);
    expect(a.min[0]).toBeLessThan(-3);
    const flat = feed(createObserver({ kind: 'entropy' }), [draws(100_000, 2, (r) => r.uniform(0, 1))]).range(uint8);
    expect(flat.max[0]).toBeGreaterThan(0.9);
  });

  it('MSE clips a Gaussian at 4 bits (ACIQ: about 2.5 σ) but not a uniform at 8', () => {
    const gauss = draws(50_000, 3, (r) => r.normal());
    const m = feed(createObserver({ kind: 'mse' }), [gauss]).range({ range: quantRange('int4'), scheme: 'symmetric' });
    expect(m.max[0]).toBeGreaterThan(2);
    expect(m.max[0]).toBeLessThan(3.2);
    const flat = feed(createObserver({ kind: 'mse' }), [draws(50_000, 4, (r) => r.uniform(0, 1))]).range(uint8);
    expect(flat.max[0]).toBeGreaterThan(0.95);
  });

  it('keeps one histogram per channel', () => {
    const o = createObserver({ kind: 'percentile', percentile: 100, axis: 0 });
    o.update(Float32Array.of(1, 2, 3, 10, 20, 30), [2, 3]);
    const r = o.range(uint8);
    expect(r.max[0]).toBeCloseTo(3, 6);
    expect(r.max[1]).toBeCloseTo(30, 6);
  });
});
