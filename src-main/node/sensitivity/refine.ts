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
  ShortTermCandidate,
} from '../../../src-shared/sensitivity.ts';
import {
  allocate,
  allocationFrontier,
  AllocationError,
  costAxis,
  targetRatio,
  uniformAllocations,
  allocationAt,
  type AllocateOptions,
} from '../../core/compress/pruning/index.ts';
import { compareLatency } from '../runtime/index.ts';
import { batchShapes, loadSubset } from './point.ts';
import {
  DEFAULT_SHORT_TERM_HELD_OUT,
  DEFAULT_SHORT_TERM_STEPS,
  shortTermWhole,
  type ShortTermTrain,
} from './short-term.ts';
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
  /**
   * Steps of the short-term fine-tune that chooses among the allocations measured to meet the target (default
   * `DEFAULT_SHORT_TERM_STEPS`; 0 keeps the least predicted drop, the one-shot ranking).
   */
  shortTermSteps?: number;
  /** Allocations compared by the short-term fine-tune at most (default `DEFAULT_SHORT_TERM_CANDIDATES`). */
  candidates?: number;
  /** Held-out samples of the train split the short-term accuracy is measured on (default 1000). */
  heldOut?: number;
  /** How a candidate is fine-tuned and scored (default: prune + speed up, train, held-out top-1). */
  shortTerm?: ShortTermTrain;
  /** Called after each candidate's short-term fine-tune. */
  onCandidate?: (c: ShortTermCandidate, index: number) => void;
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

/** Default number of allocations the short-term fine-tune compares (frontier ones and the least uniform one). */
export const DEFAULT_SHORT_TERM_CANDIDATES = 6;

/**
 * Search the frontier by measurement (see the file comment). Among the measured allocations that met the target, the
 * least predicted accuracy drop wins (near-equal drops keep the most parameters, as in `allocate`) unless the
 * short-term selection is on (`shortTermSteps` > 0, the default): then up to `candidates` allocations measured to meet
 * the target — the least-drop one, the next cheaper ones on the frontier, and the least uniform sparsity that meets
 * it — are each fine-tuned `shortTermSteps` steps on the train split and the best top-1 on a held-out slice wins.
 * When none met the target, the cheapest measured one is returned with `refinement.met` false.
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
  const steps = Math.max(0, Math.floor(r.shortTermSteps ?? DEFAULT_SHORT_TERM_STEPS));
  const maxCandidates = Math.max(1, Math.floor(r.candidates ?? DEFAULT_SHORT_TERM_CANDIDATES));
  if (steps > 0 && r.heldOut !== undefined && !(Number.isInteger(r.heldOut) && r.heldOut >= 1))
    throw new AllocationError(`held-out slice must be a positive whole number of samples, got ${r.heldOut}`, {
      heldOut: r.heldOut,
    });
  const measure = r.measure ?? measureWhole(scan, r.latencyRuns);
  const eps = 1e-9;
  const meets = (x: number) => x <= want + eps;
  const rounds: RefinementRound[] = [];
  let correction = 1;

  /** One measured allocation: recorded as a round, the correction updated. */
  const measureOne = async (a: Allocation, modelled: number): Promise<number> => {
    const measured = await measure(a.configList, axis);
    const round: RefinementRound = {
      sparseRatios: a.choices.map((c) => Number(c.sparseRatio.toFixed(6))),
      modelled,
      predicted: modelled * correction,
      measured,
    };
    rounds.push(round);
    r.onRound?.(round, rounds.length - 1);
    correction = measured / modelled;
    return measured;
  };

  /**
   * Jump-then-bisect over a list ordered from the least drop to the cheapest: returns what was measured, by index.
   * `fail` starts at the dense model (index 0) when the list holds it, and the target is not met by it.
   */
  const search = async (list: Allocation[], budget: number) => {
    const modelled = list.map((a) => axisRatio(scan, a, axis));
    const tried = new Map<number, { round: number; measured: number }>();
    let fail = list[0]!.configList.length === 0 && !meets(1) ? 0 : -1;
    let meet = -1;
    let probe: number | undefined = modelled.findIndex((x, k) => k > fail && meets(x * correction));
    if (probe < 0) probe = list.length - 1;
    if (probe <= fail) probe = undefined;
    for (let i = 0; i < budget && probe !== undefined; i++) {
      const measured = await measureOne(list[probe]!, modelled[probe]!);
      tried.set(probe, { round: rounds.length - 1, measured });
      if (meets(measured)) meet = meet < 0 ? probe : Math.min(meet, probe);
      else fail = Math.max(fail, probe);
      probe = undefined;
      if (meet < 0) {
        // nothing met yet: the first cheaper allocation the corrected model expects to meet, else the cheapest
        const jump = modelled.findIndex((x, k) => k > fail && meets(x * correction));
        const next = jump >= 0 ? jump : list.length - 1;
        if (next > fail && !tried.has(next)) probe = next;
      } else if (meet - fail > 1) probe = Math.floor((fail + meet) / 2);
    }
    return { tried, meet, modelled };
  };

  const frontier = allocationFrontier(scan, o);
  const f = await search(frontier, maxRounds);
  const measuredOk = [...f.tried].filter(([, t]) => meets(t.measured));
  const b = scan.baseline;
  /** The allocation returned, its target axis replaced by its whole-model measurement. */
  const result = (a: Allocation, round: number, shortTerm?: AllocationRefinement['shortTerm']): Allocation => {
    const m = rounds[round]!.measured;
    const predicted = { ...a.predicted };
    if (axis === 'latency') Object.assign(predicted, { latencyMs: b.latencyMs * m, speedup: 1 / m });
    else if (axis === 'macs') predicted.macs = b.macs * m;
    else predicted.params = b.params * m;
    return {
      ...a,
      predicted,
      refinement: { axis, rounds, chosen: round, met: meets(m), ...(shortTerm ? { shortTerm } : {}) },
    };
  };
  if (!measuredOk.length) {
    const [k, t] = [...f.tried].reduce((x, y) => (y[1].measured < x[1].measured ? y : x));
    return result(frontier[k]!, t.round);
  }
  const least = Math.min(...measuredOk.map(([k]) => summedDrop(frontier[k]!)));
  const slack = o.nearEqualDrop ?? 0.1;
  const pick = measuredOk
    .filter(([k]) => summedDrop(frontier[k]!) <= least * (1 + slack) + eps)
    .reduce((x, y) => (frontier[y[0]]!.predicted.params > frontier[x[0]]!.predicted.params + eps ? y : x))[0];
  if (steps === 0 || maxCandidates === 1) return result(frontier[pick]!, f.tried.get(pick)!.round);

  // Short-term selection. Candidates, each measured to meet the target: the pick; the least uniform sparsity that
  // meets it; NetAdapt's steps from the largest uniform sparsity that misses it (one group one scanned ratio further,
  // each); then the next cheaper frontier allocations, until `maxCandidates`.
  type Cand = { a: Allocation; round: number; source: ShortTermCandidate['source'] };
  const cands: Cand[] = [{ a: frontier[pick]!, round: f.tried.get(pick)!.round, source: 'frontier' }];
  const later: Cand[] = [];
  const uniform = uniformAllocations(scan, o);
  const ratios = [...scan.ratios].sort((x, y) => x - y);
  if (uniform.length && cands.length < maxCandidates) {
    const u = await search(uniform, maxRounds);
    if (u.meet >= 0) later.push({ a: uniform[u.meet]!, round: u.tried.get(u.meet)!.round, source: 'uniform' });
    const base = u.meet > 0 ? uniform[u.meet - 1] : undefined;
    if (base && !meets(u.tried.get(u.meet - 1)?.measured ?? Infinity)) {
      const baseRatios = base.choices.map((c) => c.ratio);
      for (let gi = 0; gi < scan.groups.length && cands.length + later.length < maxCandidates; gi++) {
        const next = ratios.find((x) => x > baseRatios[gi]! + 1e-9);
        const a = next === undefined ? null : allocationAt(scan, o, baseRatios.with(gi, next));
        if (!a) continue;
        const measured = await measureOne(a, axisRatio(scan, a, axis));
        if (meets(measured)) later.push({ a, round: rounds.length - 1, source: 'step' });
      }
    }
  }
  for (
    let k = pick + 1, extra = 0;
    k < frontier.length && cands.length + later.length < maxCandidates && extra < maxCandidates;
    k++
  ) {
    let t = f.tried.get(k);
    if (!t) {
      extra++;
      const measured = await measureOne(frontier[k]!, f.modelled[k]!);
      t = { round: rounds.length - 1, measured };
    }
    if (meets(t.measured)) cands.push({ a: frontier[k]!, round: t.round, source: 'frontier' });
  }
  const seen = new Set(cands.map((c) => c.round));
  const key = (c: Cand) => rounds[c.round]!.sparseRatios.join('/');
  const keys = new Set(cands.map(key));
  // uniform sparsity can sit on the frontier too: each allocation is fine-tuned once
  for (const c of later)
    if (!seen.has(c.round) && !keys.has(key(c))) {
      cands.push(c);
      keys.add(key(c));
    }
  let heldOutCount = r.heldOut ?? DEFAULT_SHORT_TERM_HELD_OUT;
  const train =
    r.shortTerm ??
    shortTermWhole(scan, {
      steps,
      ...(r.heldOut !== undefined ? { heldOut: r.heldOut } : {}),
      onData: (d) => (heldOutCount = d.heldOut.length),
    });
  const candidates: ShortTermCandidate[] = [];
  for (const c of cands) {
    const acc = await train(c.a.configList);
    candidates.push({
      sparseRatios: rounds[c.round]!.sparseRatios,
      source: c.source,
      measured: rounds[c.round]!.measured,
      predictedDrop: summedDrop(c.a),
      oneShot: acc.oneShot,
      shortTerm: acc.shortTerm,
    });
    r.onCandidate?.(candidates.at(-1)!, candidates.length - 1);
  }
  // the best held-out top-1 after the steps; a tie keeps the earlier (less predicted drop) candidate
  const best = candidates.reduce((x, c, i) => (c.shortTerm > candidates[x]!.shortTerm + eps ? i : x), 0);
  return result(cands[best]!.a, cands[best]!.round, {
    steps,
    heldOut: heldOutCount,
    candidates,
    chosen: best,
  });
}
