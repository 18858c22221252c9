/**
 * @file Refine an allocation by measuring it whole. The scan-only model multiplies single-group cost ratios, which
 * misjudges groups cut together: a layer's input channels shrink with its producer's output, fixed per-op costs do not
 * shrink, and a provider's layout penalties for odd widths (ORT's NCHWc reorders and unfused ops) are paid once by the
 * allocation but once per group by the product — and the error differs from one region of the choices to another (on
 * the bundled model the product is close for mild cuts and up to 27 % pessimistic for deep ones), so no single correction
 * factor fixes it. So the refinement searches the knapsack's Pareto frontier (allocations ordered from the least
 * predicted accuracy drop to the cheapest) by measuring: it starts at the model's choice, jumps with the measured ÷
 * modelled correction until one allocation meets the target and one (or the dense model) misses it, then bisects
 * between them. It returns the least-drop allocation measured to meet the target; its prediction on the target's axis
 * is that whole-model measurement, and every round (scan-only model, corrected model, measurement) is kept.
 */
import type {
  Allocation,
  AllocationRefinement,
  RefinementRound,
  SensitivityScan,
} from '../../../src-shared/sensitivity.ts';
import {
  allocate,
  allocationFrontier,
  costAxis,
  targetRatio,
  type AllocateOptions,
} from '../../core/compress/pruning/index.ts';
import { compareLatency } from '../runtime/index.ts';
import { batchShapes, loadSubset } from './point.ts';
import { compactOf } from './verify.ts';

type Axis = AllocationRefinement['axis'];

/** Cost of a config list as a ratio of the dense model on one axis (what a refinement round measures). */
export type CostMeasure = (configList: readonly Record<string, unknown>[], axis: Axis) => Promise<number>;

export interface RefineOptions {
  /** Allocations measured at most (default 6). */
  rounds?: number;
  /** Side-by-side latency rounds per measurement (default 200; at most ~20 s of timing per measurement). */
  latencyRuns?: number;
  /** How a config list's cost is measured (default: prune + speed up the scan's model, then count or time it). */
  measure?: CostMeasure;
  /** Called after each measured round. */
  onRound?: (round: RefinementRound, index: number) => void;
}

/**
 * The default measurement: prune + speed up the scan's model with the config list (speedup verifies compact =
 * masked), then count MACs or parameters, or time it alternately with the dense model at the scan's batch on the
 * scan's provider (one intra-op thread, as the scan's points were timed) and take the median per-round ratio.
 */
export function measureWhole(scan: SensitivityScan, latencyRuns = 200): CostMeasure {
  let sample: Promise<number[]> | null = null;
  return async (configList, axis) => {
    if (configList.length === 0) return 1;
    const { model, compact, report } = await compactOf(scan, configList);
    if (axis === 'macs') return report.after.macs / report.before.macs;
    if (axis === 'params') return report.after.params / report.before.params;
    sample ??= loadSubset(scan.eval).then((s) => s.sampleShape);
    const lat = await compareLatency(model, compact, {
      threads: 1,
      warmup: 5,
      runs: latencyRuns,
      maxMs: 20_000,
      ep: scan.ep,
      seed: scan.eval.seed,
      shapes: batchShapes(model, scan.eval.batchSize, await sample),
    });
    return lat.roundRatio;
  };
}

/** The allocation's predicted cost ratio on an axis. */
function axisRatio(scan: SensitivityScan, a: Allocation, axis: Axis): number {
  const b = scan.baseline;
  return axis === 'latency'
    ? 1 / a.predicted.speedup
    : axis === 'macs'
      ? a.predicted.macs / b.macs
      : a.predicted.params / b.params;
}

const summedDrop = (a: Allocation) => a.choices.reduce((s, c) => s + c.accuracyDrop, 0);

/**
 * Search the frontier by measurement (see the file comment). Among the measured allocations that met the target, the
 * least predicted accuracy drop wins (near-equal drops keep the most parameters, as in `allocate`); when none met it,
 * the cheapest measured one is returned with `refinement.met` false.
 * @example const a = await refineAllocation(scan, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1 });
 * @throws AllocationError when the scan-only model meets the target nowhere (as `allocate`)
 */
export async function refineAllocation(
  scan: SensitivityScan,
  o: AllocateOptions,
  r: RefineOptions = {},
): Promise<Allocation> {
  allocate(scan, o); // the model's own refusals (unreachable budget, bad options) come first, named
  const axis = costAxis(o.target);
  const want = targetRatio(scan, o.target);
  const maxRounds = Math.max(1, Math.floor(r.rounds ?? 6));
  const measure = r.measure ?? measureWhole(scan, r.latencyRuns);
  const eps = 1e-9;
  const frontier = allocationFrontier(scan, o);
  const modelled = frontier.map((a) => axisRatio(scan, a, axis));
  const meets = (x: number) => x <= want + eps;
  const tried = new Map<number, RefinementRound>();
  // indices: `fail` measured (or known: the dense model costs 1) to miss the target, `meet` measured to meet it
  let fail = frontier[0]!.configList.length === 0 && !meets(1) ? 0 : -1;
  let meet = -1;
  let correction = 1;
  let probe: number | undefined = modelled.findIndex((x) => meets(x));
  if (probe < 0) probe = frontier.length - 1;
  for (let i = 0; i < maxRounds && probe !== undefined; i++) {
    const a = frontier[probe]!;
    const measured = await measure(a.configList, axis);
    const round: RefinementRound = {
      sparseRatios: a.choices.map((c) => Number(c.sparseRatio.toFixed(6))),
      modelled: modelled[probe]!,
      predicted: modelled[probe]! * correction,
      measured,
    };
    tried.set(probe, round);
    r.onRound?.(round, i);
    if (meets(measured)) meet = meet < 0 ? probe : Math.min(meet, probe);
    else fail = Math.max(fail, probe);
    correction = measured / modelled[probe]!;
    probe = undefined;
    if (meet < 0) {
      // nothing met yet: the first cheaper allocation the corrected model expects to meet, else the cheapest
      const jump = modelled.findIndex((x, k) => k > fail && meets(x * correction));
      const next = jump >= 0 ? jump : frontier.length - 1;
      if (next > fail && !tried.has(next)) probe = next;
    } else if (meet - fail > 1) probe = Math.floor((fail + meet) / 2);
  }
  const measuredOk = [...tried].filter(([, t]) => meets(t.measured));
  let pick: number;
  if (measuredOk.length) {
    const least = Math.min(...measuredOk.map(([k]) => summedDrop(frontier[k]!)));
    const slack = o.nearEqualDrop ?? 0.1;
    pick = measuredOk
      .filter(([k]) => summedDrop(frontier[k]!) <= least * (1 + slack) + eps)
      .reduce((x, y) => (frontier[y[0]]!.predicted.params > frontier[x[0]]!.predicted.params + eps ? y : x))[0];
  } else pick = [...tried].reduce((x, y) => (y[1].measured < x[1].measured ? y : x))[0];
  const m = tried.get(pick)!.measured;
  const b = scan.baseline;
  const predicted = { ...frontier[pick]!.predicted };
  if (axis === 'latency') Object.assign(predicted, { latencyMs: b.latencyMs * m, speedup: 1 / m });
  else if (axis === 'macs') predicted.macs = b.macs * m;
  else predicted.params = b.params * m;
  const order = [...tried.keys()];
  return {
    ...frontier[pick]!,
    predicted,
    refinement: {
      axis,
      rounds: [...tried.values()],
      chosen: order.indexOf(pick),
      met: measuredOk.some(([k]) => k === pick),
    },
  };
}
