/**
 * Refining an allocation by measuring it whole: the correction learnt from a measurement changes the choice, the
 * returned prediction is the measurement, every round is kept; on the bundled model the MACs axis (deterministic)
 * shows the scan-only product's error and the refined prediction's exactness.
 */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ScanPointResult, SensitivityScan } from '../../../src-shared/sensitivity.ts';
import { allocate, allocationFrontier } from '../../core/compress/pruning/index.ts';
import { inProcessDispatcher } from './pool.ts';
import { refineAllocation, type CostMeasure } from './refine.ts';
import { sensitivityScan } from './scan.ts';
import { shortTermWhole } from './short-term.ts';
import { compactOf } from './verify.ts';

/** Three groups; per group (ratio, accuracy, latency ratio): `a` cheap and fast, `c` costly and slow to gain. */
function handMade(): SensitivityScan {
  const pts: [string, number, number, number][] = [
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
  return {
    format: 'studio-sensitivity',
    version: 1,
    model: { path: 'm.onnx', sha256: 'x' },
    pruner: 'l1',
    ratios: [0.5, 0.75],
    ep: 'cpu',
    eval: { data: 'd', split: 'test', count: 100, seed: 0, batchSize: 8 },
    groups: ['a', 'b', 'c'].map((id) => ({
      id,
      nodes: [`/${id}/Conv`],
      opTypes: ['Conv'],
      channels: 16,
      configList: [],
    })),
    baseline: { accuracy: 0.99, latencyMs: 10, macs: 1000, params: 100, sizeBytes: 1 },
    points,
    workers: 1,
    wallMs: 1,
  };
}

/** A stand-in for timing the whole model: the scan's product, times `factor` when two or more groups are cut. */
function jointly(scan: SensitivityScan, factor: number): CostMeasure & { calls: number } {
  const f = async (configList: readonly Record<string, unknown>[]) => {
    f.calls++;
    let product = 1;
    for (const c of configList) {
      const g = scan.groups.find((x) => x.nodes[0] === (c.op_names as string[])[0])!;
      product *= scan.points.find((p) => p.group === g.id && p.ratio === c.sparse_ratio)!.latencyRatio;
    }
    return configList.length >= 2 ? product * factor : product;
  };
  f.calls = 0;
  return f;
}

describe('refineAllocation', () => {
  it('searches the Pareto frontier by measuring: the least-drop allocation measured to meet the target wins', async () => {
    const scan = handMade();
    const measure = jointly(scan, 0.8);
    const o = { target: { kind: 'speedup', factor: 2 } as const, maxAccuracyDrop: 1 };
    // the frontier, least drop first: dense, a½, a½·b½ (0.56), a¾ (0.55), a¾·b½ (0.44), a½·b¾ (0.42), …
    expect(allocationFrontier(scan, o).map((a) => a.choices.map((c) => c.ratio).join('/'))).toEqual([
      '0/0/0',
      '0.5/0/0',
      '0.5/0.5/0',
      '0.75/0/0',
      '0.75/0.5/0',
      '0.5/0.75/0',
      '0.75/0.75/0',
      '0.75/0.75/0.5',
      '0.75/0.75/0.75',
    ]);
    // the product model alone: a 0.75 · b 0.5 = 0.44 (least drop, 0.13)
    expect(allocate(scan, o).choices.map((c) => c.ratio)).toEqual([0.75, 0.5, 0]);
    const a = await refineAllocation(scan, o, { measure, shortTermSteps: 0 });
    const r = a.refinement!;
    // the model's choice measures 0.352 (meets, 20 % under the model); bisecting towards the dense model: a½·b½
    // measures 0.448 (meets), a½ alone 0.7 (misses) — the bracket is closed after three measurements
    expect(r.rounds.map((x) => x.sparseRatios)).toEqual([
      [0.75, 0.5, 0],
      [0.5, 0.5, 0],
      [0.5, 0, 0],
    ]);
    expect(r.rounds.map((x) => x.modelled)).toEqual([0.44, 0.56, 0.7].map((x) => expect.closeTo(x, 9)));
    expect(r.rounds.map((x) => x.measured)).toEqual([0.352, 0.448, 0.7].map((x) => expect.closeTo(x, 9)));
    // each round's corrected prediction used the measured ÷ modelled ratio of the round before
    expect(r.rounds.map((x) => x.predicted)).toEqual([0.44, 0.448, 0.56].map((x) => expect.closeTo(x, 9)));
    expect(r).toMatchObject({ axis: 'latency', chosen: 1, met: true });
    expect(measure.calls).toBe(3);
    expect(a.predicted.speedup).toBeCloseTo(1 / 0.448, 9);
    expect(a.predicted.latencyMs).toBeCloseTo(4.48, 9);
    // the milder choice costs less predicted accuracy than the product model's first choice
    expect(a.predicted.accuracy).toBeCloseTo(0.99 - 0.06, 9);
    expect(a.configList).toEqual([
      { op_names: ['/a/Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' },
      { op_names: ['/b/Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' },
    ]);
  });

  it('keeps the model’s choice when everything with less drop misses the target', async () => {
    const scan = handMade();
    const measure = jointly(scan, 1.02);
    const a = await refineAllocation(
      scan,
      { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1 },
      { measure, shortTermSteps: 0 },
    );
    expect(a.refinement!.rounds.map((x) => x.sparseRatios)).toEqual([
      [0.75, 0.5, 0],
      [0.5, 0.5, 0],
      [0.75, 0, 0],
    ]);
    expect(a.refinement).toMatchObject({ chosen: 0, met: true });
    expect(a.predicted.speedup).toBeCloseTo(1 / (0.44 * 1.02), 9);
    expect(a.choices.map((c) => c.ratio)).toEqual([0.75, 0.5, 0]);
  });

  it('says when no measured allocation met the target, and returns the cheapest measured', async () => {
    const scan = handMade();
    // the whole model runs twice the product: the model's choice misses (0.88); with that correction no allocation
    // is expected to meet 2×, so the cheapest is measured (0.561), misses too, and the search ends
    const measure = jointly(scan, 2);
    const shortTerm = async (): Promise<{ oneShot: number; shortTerm: number }> => {
      throw new Error('no candidate met the target: nothing is fine-tuned');
    };
    const a = await refineAllocation(
      scan,
      { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1 },
      { measure, shortTerm },
    );
    expect(a.refinement!.rounds.map((x) => x.measured)).toEqual([0.88, 0.561].map((x) => expect.closeTo(x, 9)));
    expect(a.refinement).toMatchObject({ chosen: 1, met: false });
    expect(a.predicted.speedup).toBeCloseTo(1 / 0.561, 9);
    // bad options are refused by name before anything is measured
    await expect(
      refineAllocation(scan, { target: { kind: 'speedup', factor: 10 }, maxAccuracyDrop: 1 }, { measure, shortTerm }),
    ).rejects.toThrow(/no allocation meets 10× speedup/);
    expect(measure.calls).toBe(2);
  });

  it('a short-term fine-tune of each allocation measured to meet the target picks the best, not the least one-shot drop', async () => {
    const scan = handMade();
    const measure = jointly(scan, 0.8);
    const o = { target: { kind: 'speedup', factor: 2 } as const, maxAccuracyDrop: 1 };
    const key = (cl: readonly Record<string, unknown>[]) =>
      scan.groups.map((g) => cl.find((c) => (c.op_names as string[])[0] === g.nodes[0])?.sparse_ratio ?? 0).join('/');
    // held-out top-1 after the steps, by allocation: the least one-shot drop (a½·b½) recovers least
    const after: Record<string, number> = {
      '0.5/0.5/0': 0.8,
      '0.75/0.5/0': 0.85,
      '0.5/0.75/0': 0.93,
      '0.5/0.5/0.5': 0.9,
    };
    const trained: string[] = [];
    const shortTerm = async (cl: readonly Record<string, unknown>[]) => {
      trained.push(key(cl));
      return { oneShot: trained.length / 10, shortTerm: after[key(cl)]! };
    };
    const a = await refineAllocation(scan, o, { measure, shortTerm, shortTermSteps: 50, candidates: 4 });
    const r = a.refinement!;
    // the frontier search as before (a¾·b½, a½·b½, a½), the least uniform sparsity meeting 2× — all at ¾ (0.224),
    // then all at ½ (0.403), the least, so no NetAdapt step — then the next cheaper frontier allocations measured:
    // a¾ alone misses (0.55), a½·b¾ meets (0.336)
    expect(r.rounds.map((x) => x.sparseRatios)).toEqual([
      [0.75, 0.5, 0],
      [0.5, 0.5, 0],
      [0.5, 0, 0],
      [0.75, 0.75, 0.75],
      [0.5, 0.5, 0.5],
      [0.75, 0, 0],
      [0.5, 0.75, 0],
    ]);
    expect(measure.calls).toBe(7);
    expect(trained).toEqual(['0.5/0.5/0', '0.75/0.5/0', '0.5/0.75/0', '0.5/0.5/0.5']);
    const st = r.shortTerm!;
    expect(st).toMatchObject({ steps: 50, heldOut: 1000, chosen: 2 });
    expect(st.candidates.map((c) => [c.source, c.sparseRatios.join('/'), c.shortTerm])).toEqual([
      ['frontier', '0.5/0.5/0', 0.8],
      ['frontier', '0.75/0.5/0', 0.85],
      ['frontier', '0.5/0.75/0', 0.93],
      ['uniform', '0.5/0.5/0.5', 0.9],
    ]);
    expect(st.candidates.map((c) => c.oneShot)).toEqual([0.1, 0.2, 0.3, 0.4]);
    expect(st.candidates.map((c) => c.measured)).toEqual(
      [0.448, 0.352, 0.336, 0.4032].map((x) => expect.closeTo(x, 9)),
    );
    // ranked by the scan's one-shot drops the first would win; the short-term fine-tune returns the third
    expect(st.candidates[0]!.predictedDrop).toBeLessThan(st.candidates[2]!.predictedDrop);
    expect(a.choices.map((c) => c.ratio)).toEqual([0.5, 0.75, 0]);
    expect(r).toMatchObject({ chosen: 6, met: true });
    expect(a.predicted.speedup).toBeCloseTo(1 / 0.336, 9);
    // when uniform sparsity recovers best, it is returned (measured 0.403 of dense: its own prediction)
    after['0.5/0.5/0.5'] = 0.95;
    const u = await refineAllocation(scan, o, {
      measure: jointly(scan, 0.8),
      shortTerm,
      shortTermSteps: 50,
      candidates: 4,
    });
    expect(u.choices.map((c) => c.ratio)).toEqual([0.5, 0.5, 0.5]);
    expect(u.refinement!.shortTerm!.chosen).toBe(3);
    expect(u.predicted.speedup).toBeCloseTo(1 / 0.4032, 9);
    // with the short-term selection off, the least one-shot drop wins, nothing is trained
    trained.length = 0;
    const off = await refineAllocation(scan, o, { measure: jointly(scan, 0.8), shortTerm, shortTermSteps: 0 });
    expect(off.choices.map((c) => c.ratio)).toEqual([0.5, 0.5, 0]);
    expect(off.refinement!.shortTerm).toBeUndefined();
    expect(trained).toEqual([]);
  });

  it('NetAdapt steps: from the largest uniform sparsity that misses the target, one group one ratio further each', async () => {
    const scan = handMade();
    const measure = jointly(scan, 1.02);
    const o = { target: { kind: 'speedup', factor: 2 } as const, maxAccuracyDrop: 1 };
    const trained: string[] = [];
    const shortTerm = async (cl: readonly Record<string, unknown>[]) => {
      const key = scan.groups
        .map((g) => cl.find((c) => (c.op_names as string[])[0] === g.nodes[0])?.sparse_ratio ?? 0)
        .join('/');
      trained.push(key);
      return { oneShot: 0.1, shortTerm: key === '0.5/0.75/0.5' ? 0.9 : 0.5 };
    };
    const a = await refineAllocation(scan, o, { measure, shortTerm, shortTermSteps: 10, candidates: 5 });
    const r = a.refinement!;
    // frontier: a¾·b½ meets (0.449), a½·b½ and a¾ miss; uniform: ¾ meets (0.286), ½ misses (0.514); steps from
    // uniform ½: a, b, c each to ¾ (0.404, 0.386, 0.486: all meet)
    expect(r.rounds.map((x) => x.sparseRatios.join('/'))).toEqual([
      '0.75/0.5/0',
      '0.5/0.5/0',
      '0.75/0/0',
      '0.75/0.75/0.75',
      '0.5/0.5/0.5',
      '0.75/0.5/0.5',
      '0.5/0.75/0.5',
      '0.5/0.5/0.75',
    ]);
    expect(r.shortTerm!.candidates.map((c) => `${c.source} ${c.sparseRatios.join('/')}`)).toEqual([
      'frontier 0.75/0.5/0',
      'uniform 0.75/0.75/0.75',
      'step 0.75/0.5/0.5',
      'step 0.5/0.75/0.5',
      'step 0.5/0.5/0.75',
    ]);
    expect(trained).toHaveLength(5);
    expect(a.choices.map((c) => c.ratio)).toEqual([0.5, 0.75, 0.5]);
    expect(a.predicted.speedup).toBeCloseTo(1 / (0.7 * 0.6 * 0.9 * 1.02), 9);
    expect(r).toMatchObject({ chosen: 6, met: true });
  });

  it('on the bundled model, a MACs budget: the product of single-group ratios errs, the refined prediction is exact', async () => {
    const scan = await sensitivityScan(
      {
        model: resolve('resources/mnist-cnn.onnx'),
        data: resolve('resources/mnist'),
        ratios: [0.25, 0.5, 0.75],
        evalCount: 100,
        batchSize: 50,
        latencyRuns: 3,
      },
      { dispatcher: inProcessDispatcher() },
    );
    const target = { kind: 'macs', value: Math.round(scan.baseline.macs * 0.5) } as const;
    const a = await refineAllocation(scan, { target, maxAccuracyDrop: 1 }, { shortTermSteps: 20, heldOut: 200 });
    const r = a.refinement!;
    // the short-term selection on the real model: candidates meeting the budget, each fine-tuned 20 steps on MNIST's
    // train split and scored on 200 held-out training samples; the best is returned, and the score is reproducible
    const st = r.shortTerm!;
    expect(st).toMatchObject({ steps: 20, heldOut: 200 });
    expect(st.candidates.length).toBeGreaterThanOrEqual(2);
    expect(st.candidates.every((c) => c.measured <= 0.5 + 1e-9)).toBe(true);
    const best = Math.max(...st.candidates.map((c) => c.shortTerm));
    expect(st.candidates[st.chosen]!.shortTerm).toBe(best);
    expect(r.rounds[r.chosen]!.sparseRatios).toEqual(st.candidates[st.chosen]!.sparseRatios);
    const again = await shortTermWhole(scan, { steps: 20, heldOut: 200 })(a.configList);
    expect(again).toEqual({ oneShot: st.candidates[st.chosen]!.oneShot, shortTerm: best });
    // conv2's MACs scale with conv1's kept outputs times its own, but the model's MACs are a sum over layers: the
    // product of the groups' single-group ratios is not the ratio of an allocation cut whole
    const errors = r.rounds.map((x) => Math.abs(x.measured - x.modelled) / x.modelled);
    expect(Math.max(...errors)).toBeGreaterThan(0.01);
    expect(r.met).toBe(true);
    // the refined prediction is the compact model's own count, which meets the budget
    const { report } = await compactOf(scan, a.configList);
    // the scan's dense MACs are counted as the points' speedup counts them (same input shapes), so ratios compare
    expect(scan.baseline.macs).toBe(report.before.macs);
    expect(a.predicted.macs).toBeCloseTo(scan.baseline.macs * (report.after.macs / report.before.macs), 6);
    expect(report.after.macs).toBeLessThanOrEqual(target.value);
    expect(r.rounds[r.chosen]!.measured).toBe(report.after.macs / report.before.macs);
  }, 120_000);
});
