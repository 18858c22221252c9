/** @file Tests of the seeded PRNG: determinism, ranges, independent forks, normal moments. */
import { describe, expect, it } from 'vitest';
import { Rng, hashString } from './random.ts';

describe('Rng', () => {
  it('gives the same sequence for the same seed and a different one for another', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    const c = new Rng(8);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(sa);
    expect(new Set(sa).size).toBe(8);
  });

  it('accepts string seeds and seed 0', () => {
    expect(new Rng('abc').next()).toBe(new Rng(hashString('abc')).next());
    const z = new Rng(0);
    expect(z.nextUint32() | z.nextUint32()).not.toBe(0);
  });

  it('draws uniforms in [0, 1) and integers in [lo, hi) covering the range', () => {
    const r = new Rng(1);
    const seen = new Set<number>();
    let bad = 0;
    for (let i = 0; i < 5000; i++) {
      const u = r.next();
      const k = r.int(-3, 4);
      if (!(u >= 0 && u < 1) || !Number.isInteger(k)) bad++;
      seen.add(k);
    }
    expect(bad).toBe(0);
    expect([...seen].sort((x, y) => x - y)).toEqual([-3, -2, -1, 0, 1, 2, 3]);
  });

  it('forks streams that depend on the seed and label only', () => {
    const r = new Rng(3);
    const f1 = r.fork('x').next();
    r.next();
    expect(r.fork('x').next()).toBe(f1);
    expect(r.fork('y').next()).not.toBe(f1);
    expect(new Rng(4).fork('x').next()).not.toBe(f1);
  });

  it('draws normals with mean 0 and standard deviation 1 (Box–Muller)', () => {
    const r = new Rng(11);
    const n = 20000;
    const xs = Array.from({ length: n }, () => r.normal());
    const mean = xs.reduce((s, v) => s + v, 0) / n;
    const std = Math.sqrt(xs.reduce((s, v) => s + (v - mean) ** 2, 0) / n);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(std - 1)).toBeLessThan(0.03);
    expect(xs.filter((v) => Math.abs(v) > 1.96).length / n).toBeCloseTo(0.05, 1);
    expect(new Rng(2).normal(10, 0)).toBe(10);
  });
});
