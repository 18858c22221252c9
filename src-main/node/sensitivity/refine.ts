/**
 * @file Refine an allocation by measuring it whole. The scan-only model multiplies single-group cost ratios, which
 * misjudges groups cut together: a layer's input channels shrink with its producer's output, fixed per-op costs do not
 * shrink, and a provider's layout penalties for odd widths (ORT's NCHWc reorders and unfused ops) are paid once by the
 * allocation but once per group by the product. So: allocate with the model, prune + speed up that allocation and
 * measure its cost on the target's axis (latency timed alternately with the dense model; MACs and parameters counted),
 * learn the correction measured ÷ modelled, allocate again with it, and stop when a choice's corrected prediction
 * agrees with its measurement and meets the target. The allocation returned carries every round, so the scan-only
 * prediction, the corrected one and the measurement stay visible side by side.
 */
import type {
  Allocation,
  AllocationRefinement,
  RefinementRound,
  SensitivityScan,
} from '../../../src-shared/sensitivity.ts';
import {
  allocate,
  AllocationError,
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
  /** Allocations measured at most (default 4). */
  rounds?: number;
  /**
   * Relative agreement between a choice's corrected prediction and its measurement that ends the refinement, once
   * the measurement also meets the target (default 0.05).
   */
  tolerance?: number;
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
 * Allocate, then measure and correct (see the file comment). Among the measured allocations that met the target, the
 * one with the least predicted accuracy drop is returned (near-equal drops keep the most parameters, as in
 * `allocate`); when none met it, the cheapest measured one, with `refinement.met` false. Its prediction on the
 * target's axis is its own whole-model measurement; `refinement.rounds` keeps the scan-only and corrected predictions.
 * @example const a = await refineAllocation(scan, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1 });
 * @throws AllocationError when the scan-only model cannot meet the target at all (as `allocate`)
 */
export async function refineAllocation(
  scan: SensitivityScan,
  o: AllocateOptions,
  r: RefineOptions = {},
): Promise<Allocation> {
  const axis = costAxis(o.target);
  const want = targetRatio(scan, o.target);
  const maxRounds = Math.max(1, Math.floor(r.rounds ?? 4));
  const tolerance = r.tolerance ?? 0.05;
  const measure = r.measure ?? measureWhole(scan, r.latencyRuns);
  const eps = 1e-9;
  let correction = o.costCorrection ?? 1;
  let a = allocate(scan, { ...o, costCorrection: correction });
  const tried: { a: Allocation; round: RefinementRound; key: string }[] = [];
  for (let i = 0; i < maxRounds; i++) {
    const key = JSON.stringify(a.configList);
    if (tried.some((t) => t.key === key)) break;
    const predicted = axisRatio(scan, a, axis);
    const measured = await measure(a.configList, axis);
    const round: RefinementRound = {
      sparseRatios: a.choices.map((c) => Number(c.sparseRatio.toFixed(6))),
      modelled: predicted / correction,
      predicted,
      measured,
    };
    tried.push({ a, round, key });
    r.onRound?.(round, i);
    if (measured <= want + eps && Math.abs(measured - predicted) <= tolerance * predicted) break;
    correction = measured / round.modelled;
    try {
      a = allocate(scan, { ...o, costCorrection: correction });
    } catch (e) {
      // with the correction learnt, the model sees no allocation meeting the target: keep what was measured
      if (e instanceof AllocationError) break;
      throw e;
    }
  }
  const meeting = tried.filter((t) => t.round.measured <= want + eps);
  let pick: (typeof tried)[number];
  if (meeting.length) {
    const least = Math.min(...meeting.map((t) => summedDrop(t.a)));
    const slack = o.nearEqualDrop ?? 0.1;
    pick = meeting
      .filter((t) => summedDrop(t.a) <= least * (1 + slack) + eps)
      .reduce((x, y) => (y.a.predicted.params > x.a.predicted.params + eps ? y : x));
  } else pick = tried.reduce((x, y) => (y.round.measured < x.round.measured ? y : x));
  const m = pick.round.measured;
  const b = scan.baseline;
  const predicted = { ...pick.a.predicted };
  if (axis === 'latency') Object.assign(predicted, { latencyMs: b.latencyMs * m, speedup: 1 / m });
  else if (axis === 'macs') predicted.macs = b.macs * m;
  else predicted.params = b.params * m;
  return {
    ...pick.a,
    predicted,
    refinement: { axis, rounds: tried.map((t) => t.round), chosen: tried.indexOf(pick), met: meeting.includes(pick) },
  };
}
