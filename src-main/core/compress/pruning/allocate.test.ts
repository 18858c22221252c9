/** Budgeted allocation on a hand-made scan: the knapsack's choice, width rounding, budgets and named failures. */
import { describe, expect, it } from 'vitest';
import type { ScanPointResult, SensitivityScan } from '../../../../src-shared/sensitivity.ts';
import { allocate, AllocationError, nonIncreasing, parseBudget, proportionalDrops } from './allocate.ts';

/** Three groups; `a` is cheap to prune and saves much, `c` is costly and saves little. */
function scan(): SensitivityScan {
  const pts: [string, number, number, number][] = [
    // group, ratio, accuracy, latency ratio
    ['a', 0.5, 0.97, 0.7],
    ['a', 0.75, 0.9, 0.55],
    ['b', 0.5, 0.95, 0.8],
    ['b', 0.75, 0.85, 0.6],
    ['c', 0.5, 0.8, 0.9],
    ['c', 0.75, 0.5, 0.85],
  ];
  const points = pts.map(([group, ratio, accuracy, latencyRatio], index): ScanPointResult => ({
    index,
    group,
    ratio,
    accuracy,
    latencyRatio,
    latencyMs: 10 * latencyRatio,
    denseLatencyMs: 10,
    macs: 1000 * latencyRatio,
    params: 100 * (1 - ratio / 4),
    maxRelErr: 0,
    removedChannels: 0,
    maskDigest: '',
    ep: 'cpu',
    ms: 1,
  }));
  const group = (id: string) => ({ id, nodes: [`/${id}/Conv`], opTypes: ['Conv'], channels: 16, configList: [] });
  return {
    format: 'studio-sensitivity',
    version: 1,
    model: { path: 'm.onnx', sha256: 'x' },
    pruner: 'l1',
    ratios: [0.5, 0.75],
    ep: 'cpu',
    eval: { data: 'd', split: 'test', count: 100, seed: 0, batchSize: 8 },
    groups: ['a', 'b', 'c'].map(group),
    baseline: { accuracy: 0.99, latencyMs: 10, macs: 1000, params: 100, sizeBytes: 1 },
    points,
    workers: 1,
    wallMs: 1,
  };
}

describe('allocate', () => {
  it('meets a 2× speedup with the least predicted accuracy drop', () => {
    const a = allocate(scan(), { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 0.5 });
    // 0.7 · 0.8 · 0.9 = 0.504 misses 0.5; the cheapest meeting it: a 0.75 (0.55) · b 0.5 (0.8) · dense c = 0.44, drop 0.09+0.04
    expect(a.choices.map((c) => c.ratio)).toEqual([0.75, 0.5, 0]);
    expect(a.predicted.speedup).toBeCloseTo(1 / 0.44, 6);
    expect(a.predicted.accuracy).toBeCloseTo(0.99 - 0.13, 6);
    expect(a.configList).toEqual([
      { op_names: ['/a/Conv'], sparse_ratio: 0.75, dependency_group_id: 'auto' },
      { op_names: ['/b/Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' },
    ]);
  });

  it('rounds kept widths to a multiple and takes latency, MACs and params budgets', () => {
    const a = allocate(scan(), { target: { kind: 'latency', ms: 7 }, maxAccuracyDrop: 0.1, roundTo: 8 });
    expect(a.choices[0]).toMatchObject({ ratio: 0.5, keptChannels: 8, sparseRatio: 0.5 });
    const r = allocate(scan(), { target: { kind: 'speedup', factor: 1.5 }, maxAccuracyDrop: 0.5, roundTo: 3 });
    for (const c of r.choices.filter((x) => x.ratio > 0)) expect(c.keptChannels % 3).toBe(0);
    expect(
      allocate(scan(), { target: { kind: 'macs', value: 800 }, maxAccuracyDrop: 0.1 }).predicted.macs,
    ).toBeLessThanOrEqual(800);
    expect(
      allocate(scan(), { target: { kind: 'params', value: 90 }, maxAccuracyDrop: 0.1 }).predicted.params,
    ).toBeLessThanOrEqual(90);
  });

  it('names the closest reachable point when the budget cannot be met', () => {
    expect(() => allocate(scan(), { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 0.05 })).toThrow(
      /meeting it costs 13\.00 accuracy points \(the limit is 5\.00\)/,
    );
    expect(() => allocate(scan(), { target: { kind: 'speedup', factor: 10 }, maxAccuracyDrop: 1 })).toThrow(
      /no choice of the scanned ratios up to the per-group cap 1 \(maxSparseRatio\) reaches it: the closest is cost ratio 0\.281/,
    );
    expect(() => allocate(scan(), { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 2 })).toThrow(
      AllocationError,
    );
  });

  it("smooths each group's measured curve to fall with the ratio, so one noisy timing does not steer the choice", () => {
    expect(nonIncreasing([1, 3, 2, 0.5])).toEqual([2, 2, 2, 0.5]);
    expect(nonIncreasing([0.9, 0.8, 0.7])).toEqual([0.9, 0.8, 0.7]);
    // b's 0.75 point timed slower than its 0.5 point (a load spike): both get their mean, 0.9
    const s = scan();
    s.points[3]!.latencyRatio = 1.0;
    s.points[0]!.accuracy = 0.5; // a now costly
    s.points[1]!.accuracy = 0.4;
    const a = allocate(s, { target: { kind: 'speedup', factor: 1.1 }, maxAccuracyDrop: 0.5 });
    expect(a.choices.map((c) => c.ratio)).toEqual([0, 0.5, 0]);
    expect(a.predicted.speedup).toBeCloseTo(1 / 0.9, 6);
  });

  it('meets a size budget on the parameter axis (a file’s bytes follow its parameters)', () => {
    const s = { ...scan(), baseline: { ...scan().baseline, sizeBytes: 400 } };
    // params ratios: 0.875 at ratio 0.5, 0.8125 at 0.75; 360 bytes of 400 = 0.9 → one group at 0.5, the one losing least (a)
    const a = allocate(s, { target: { kind: 'size', bytes: 360 }, maxAccuracyDrop: 0.5 });
    expect(a.choices.map((c) => c.ratio)).toEqual([0.5, 0, 0]);
    expect(a.predicted.params).toBeCloseTo(87.5, 6);
    expect(() => allocate(s, { target: { kind: 'size', bytes: 100 }, maxAccuracyDrop: 0.5 })).toThrow(
      /size ≤ 100 bytes/,
    );
  });

  it('does not let saturated one-shot drops pile the budget onto few layers at the largest ratio', () => {
    // three layers each at the accuracy floor from 50 % on (one-shot drop 0.79 at 0.5 and at 0.9)
    const s = scan();
    s.ratios = [0.5, 0.9];
    s.groups = ['x', 'y', 'z'].map((id) => ({ ...s.groups[0]!, id, nodes: [`/${id}/Conv`] }));
    s.points = s.groups.flatMap((g, gi) =>
      [
        [0.5, 0.78],
        [0.9, 0.7],
      ].map(([ratio, latencyRatio], k) => ({
        ...s.points[0]!,
        index: gi * 2 + k,
        group: g.id,
        ratio: ratio!,
        accuracy: 0.2,
        latencyRatio: latencyRatio!,
      })),
    );
    expect(proportionalDrops([0.5, 0.9], [0.79, 0.79])).toEqual([0.79, 0.79 * (0.9 / 0.5)]);
    expect(proportionalDrops([0.1, 0.2, 0.5], [0.1, 0.1, 0.9])).toEqual([0.1, 0.2, 0.9]);
    // summed raw drops would take two layers at 0.9 (0.49, −1.58) over all three at 0.5 (0.475, −2.37); a 90 % cut
    // now costs 1.8× a 50 % one, so the budget is spread
    const a = allocate(s, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1, nearEqualDrop: 0 });
    expect(a.choices.map((c) => c.ratio)).toEqual([0.5, 0.5, 0.5]);
    expect(a.predicted.speedup).toBeCloseTo(1 / 0.78 ** 3, 6);
    // a per-group cap of 0.8 never offers the 0.9 points: 2.1× is the most reachable
    expect(
      allocate(s, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1, maxSparseRatio: 0.8 }).choices.map(
        (c) => c.ratio,
      ),
    ).toEqual([0.5, 0.5, 0.5]);
    expect(() =>
      allocate(s, { target: { kind: 'speedup', factor: 2.5 }, maxAccuracyDrop: 1, maxSparseRatio: 0.8 }),
    ).toThrow(/cap 0\.8 \(maxSparseRatio\).*2\.11×/);
    expect(
      allocate(s, { target: { kind: 'speedup', factor: 2.5 }, maxAccuracyDrop: 1 }).predicted.speedup,
    ).toBeGreaterThan(2.5);
    for (const bad of [0, 1.5, Number.NaN])
      expect(() =>
        allocate(s, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1, maxSparseRatio: bad }),
      ).toThrow(/maximum sparse ratio must lie in \(0, 1\]/);
  });

  it('among near-equal predicted drops, keeps the most parameters', () => {
    const s = scan();
    s.points[3]!.params = 95; // b at 0.75 removes few parameters
    // least drop: a 0.75 · b 0.5 (−0.13, params 0.8125 · 0.875); a 0.5 · b 0.75 costs −0.16 and keeps 0.875 · 0.95
    const least = allocate(s, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1, nearEqualDrop: 0 });
    expect(least.choices.map((c) => c.ratio)).toEqual([0.75, 0.5, 0]);
    const kept = allocate(s, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1, nearEqualDrop: 0.25 });
    expect(kept.choices.map((c) => c.ratio)).toEqual([0.5, 0.75, 0]);
    expect(kept.predicted.params).toBeCloseTo(100 * 0.875 * 0.95, 6);
    // the default slack (10 %) does not reach −0.16 from −0.13
    expect(
      allocate(s, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1 }).choices.map((c) => c.ratio),
    ).toEqual([0.75, 0.5, 0]);
    expect(() =>
      allocate(s, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1, nearEqualDrop: -1 }),
    ).toThrow(/near-equal drop slack must be ≥ 0/);
  });

  it('parses budgets and refuses what is none', () => {
    expect(parseBudget('2x')).toEqual({ kind: 'speedup', factor: 2 });
    expect(parseBudget('1.5×')).toEqual({ kind: 'speedup', factor: 1.5 });
    expect(parseBudget('3.5ms')).toEqual({ kind: 'latency', ms: 3.5 });
    expect(parseBudget('macs=20M')).toEqual({ kind: 'macs', value: 20e6 });
    expect(parseBudget('params=10k')).toEqual({ kind: 'params', value: 1e4 });
    expect(parseBudget('size=200k')).toEqual({ kind: 'size', bytes: 2e5 });
    for (const bad of ['fast', '0.5x', '1x', '0ms', 'macs=', 'size=', 'size=0', 'size=big'])
      expect(() => parseBudget(bad)).toThrow(AllocationError);
  });
});
