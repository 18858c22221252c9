/** @file Tests of the latency benchmark: statistics, pinned settings, CPU record, side-by-side comparison. */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../core/ir/index.ts';
import { benchmark, compareLatency, latencyStats, percentile } from './bench.ts';
import { identity, matmul, smallCnn } from './testing/models.ts';

describe('latencyStats', () => {
  it('interpolates percentiles between order statistics', () => {
    const s = latencyStats([5, 1, 4, 2, 3]);
    expect(s).toMatchObject({ p50: 3, min: 1, max: 5, mean: 3, runs: 5 });
    expect(s.p90).toBeCloseTo(4.6);
    expect(s.p99).toBeCloseTo(4.96);
    expect(s.std).toBeCloseTo(Math.sqrt(2.5));
    expect(s.samples).toEqual([5, 1, 4, 2, 3]); // run order kept
    expect(percentile([7], 0.9)).toBe(7);
    expect(latencyStats([2]).std).toBe(0);
  });
});

describe('benchmark', () => {
  it('returns ordered percentiles over the timed runs, with threads, provider and CPU recorded', async () => {
    const r = await benchmark(smallCnn(), { warmup: 2, runs: 15, dimSizes: { N: 2 } });
    expect(r.samples).toHaveLength(15);
    expect(r.samples.every((ms) => ms > 0)).toBe(true);
    expect(r.min).toBeLessThanOrEqual(r.p50);
    expect(r.p50).toBeLessThanOrEqual(r.p90);
    expect(r.p90).toBeLessThanOrEqual(r.p99);
    expect(r.p99).toBeLessThanOrEqual(r.max);
    expect(r.mean).toBeGreaterThanOrEqual(r.min);
    expect(r.mean).toBeLessThanOrEqual(r.max);
    expect(r).toMatchObject({ ep: 'cpu', threads: 1, warmup: 2, spinning: false, optimization: 'all' });
    expect(r.cpu.logicalCores).toBeGreaterThan(0);
    expect(r.createMs).toBeGreaterThan(0);
  });

  it('uses given inputs and stops early at maxMs', async () => {
    const r = await benchmark(identity('float32', [2]), {
      inputs: { x: Tensor.float32([2], [1, 2]) },
      warmup: 0,
      runs: 1000,
      maxMs: 0,
    });
    expect(r.runs).toBe(3);
  });

  it('records the CPU fallback of an unavailable provider', async () => {
    const r = await benchmark(identity('float32', [2]), { ep: 'cuda', warmup: 0, runs: 2 });
    if (r.ep === 'cpu') expect(r.fallback?.reason).toMatch(/^cuda requested but/);
  });
});

describe('compareLatency', () => {
  it('runs both models round by round and finds the much heavier one slower', async () => {
    // sixteen chained 256³ matrix products (537 MFLOP) against a copy of the same size: even a core doing
    // 100 GFLOP/s single-threaded needs ~5 ms for B, against about 0.4 ms for A here (CI once saw 1.3× with one product)
    const c = await compareLatency(identity('float32', [256, 256]), matmul(256, 16), { warmup: 2, runs: 12 });
    expect(c.rounds).toBe(12);
    expect(c.a.samples).toHaveLength(12);
    expect(c.b.samples).toHaveLength(12);
    expect(c.ratio).toBeCloseTo(c.b.p50 / c.a.p50);
    expect(c.ratio).toBeGreaterThan(2);
    expect(c.roundRatio).toBeGreaterThan(2);
    expect(c).toMatchObject({ ep: 'cpu', threads: 1 });
  });

  it('feeds B its own inputs when they differ from A', async () => {
    const c = await compareLatency(identity('float32', [4]), identity('int64', [3]), {
      warmup: 0,
      runs: 3,
      inputsB: { x: Tensor.int64([3], [1, 2, 3]) },
    });
    expect(c.rounds).toBe(3);
  });
});
