/**
 * @file Budgeted sparsity allocation from a sensitivity scan: choose one scanned ratio (or none) per group so the
 * predicted cost meets a target (latency in ms or × speedup, MACs, params) with the least predicted accuracy loss —
 * a multiple-choice knapsack solved by dynamic programming over the discretized log cost. Pure: imports only types.
 *
 * Model: each group's measured cost ratio (compact ÷ dense, scanned alone) multiplies, ∏ r_g — exact for the
 * bilinear cost of two coupled layers (Conv_k's MACs ∝ kept_in · kept_out) — and accuracy drops add (NNI's
 * sensitivity assumption). The report measures the allocation afterwards, so the model's error is visible.
 */
import type {
  Allocation,
  AllocationChoice,
  AllocationTarget,
  SensitivityScan,
} from '../../../../src-shared/sensitivity.ts';
import { StudioError } from '../../ir/errors.ts';

/** No allocation meets the budget; names the closest reachable point and what it costs. */
export class AllocationError extends StudioError {
  constructor(message: string, details: Record<string, unknown>) {
    super(message, 'ALLOCATION', details);
  }
}

export interface AllocateOptions {
  target: AllocationTarget;
  /** Largest accepted accuracy drop, absolute (0.02 = 2 points). */
  maxAccuracyDrop: number;
  /** Keep channel counts at multiples of this in the written config list (default 1: as scanned). */
  roundTo?: number;
  /** Bins per unit of log cost in the DP (default 2000: ratios resolved to ~0.05 %). */
  resolution?: number;
  /**
   * Largest ratio any one group may take (NNI's `max_sparse_ratio`; default 0.8): scanned points above it are not
   * offered, so the budget is not met by gutting a layer whose one-shot accuracy had already hit the floor.
   */
  maxSparseRatio?: number;
  /**
   * Relative slack on the least predicted drop (default 0.1): among the allocations meeting the target whose summed
   * drop is within it, the one keeping the most parameters is chosen — past the point where one-shot accuracy has
   * hit the floor, predicted drops no longer separate choices, and what fine-tuning can recover grows with what is
   * kept.
   */
  nearEqualDrop?: number;
}

/** Default per-group ratio cap of {@link AllocateOptions.maxSparseRatio}. */
export const DEFAULT_MAX_SPARSE_RATIO = 1;

/** Default of {@link AllocateOptions.nearEqualDrop}. */
export const DEFAULT_NEAR_EQUAL_DROP = 0.1;

interface Option {
  ratio: number;
  drop: number;
  /** log of the cost ratio on the target's axis. */
  logCost: number;
  latencyRatio: number;
  macRatio: number;
  paramRatio: number;
}

/** The quantity a target is stated in; a size is predicted from the parameter ratio (weights dominate a file). */
export function costAxis(t: AllocationTarget): 'latency' | 'macs' | 'params' {
  return t.kind === 'latency' || t.kind === 'speedup' ? 'latency' : t.kind === 'macs' ? 'macs' : 'params';
}

/** The target as a ratio of the scan's dense baseline on its axis (0.5 for a 2× speedup). */
export function targetRatio(scan: SensitivityScan, t: AllocationTarget): number {
  const b = scan.baseline;
  switch (t.kind) {
    case 'latency':
      return t.ms / b.latencyMs;
    case 'speedup':
      return 1 / t.factor;
    case 'macs':
      return t.value / b.macs;
    case 'params':
      return t.value / b.params;
    case 'size':
      return t.bytes / b.sizeBytes;
  }
}

function describe(t: AllocationTarget): string {
  return t.kind === 'latency'
    ? `latency ≤ ${t.ms} ms`
    : t.kind === 'speedup'
      ? `${t.factor}× speedup`
      : t.kind === 'size'
        ? `size ≤ ${t.bytes} bytes`
        : `${t.kind} ≤ ${t.value}`;
}

/**
 * Least-squares fit of a non-increasing sequence (pool-adjacent-violators): a group's measured latency ratios and
 * accuracies, which can only fall as more channels go, with the timing noise of single points averaged out.
 */
export function nonIncreasing(ys: readonly number[]): number[] {
  const blocks: { sum: number; n: number }[] = [];
  for (const y of ys) {
    blocks.push({ sum: y, n: 1 });
    while (blocks.length > 1 && blocks.at(-2)!.sum / blocks.at(-2)!.n < blocks.at(-1)!.sum / blocks.at(-1)!.n) {
      const last = blocks.pop()!;
      blocks.at(-1)!.sum += last.sum;
      blocks.at(-1)!.n += last.n;
    }
  }
  return blocks.flatMap((bl) => Array<number>(bl.n).fill(bl.sum / bl.n));
}

/**
 * Accuracy drops made to grow at least in proportion to the ratio: d'(r) = max(d(r), max over r' < r of d'(r')·r/r').
 * One-shot drops saturate (a layer at chance by 50 % reads the same at 90 %), and saturated drops that add would
 * make a 90 % ratio as cheap as 50 %, piling the budget onto few layers; with this a higher ratio never costs less
 * per unit of ratio than a lower one did.
 */
export function proportionalDrops(ratios: readonly number[], drops: readonly number[]): number[] {
  let slope = 0;
  return drops.map((d, i) => {
    const r = ratios[i]!;
    const out = Math.max(d, slope * r);
    if (r > 0) slope = Math.max(slope, out / r);
    return out;
  });
}

/**
 * Options per group: dense (ratio 0) plus each scanned point up to `maxRatio`, latency and accuracy smoothed to fall
 * with the ratio, drops made to grow at least in proportion to it.
 */
function optionsOf(scan: SensitivityScan, t: AllocationTarget, maxRatio: number): Option[][] {
  const b = scan.baseline;
  return scan.groups.map((g) => {
    const opts: Option[] = [{ ratio: 0, drop: 0, logCost: 0, latencyRatio: 1, macRatio: 1, paramRatio: 1 }];
    const points = scan.points.filter((q) => q.group === g.id).sort((x, y) => x.ratio - y.ratio);
    const lat = nonIncreasing(points.map((p) => p.latencyRatio));
    const acc = nonIncreasing(points.map((p) => p.accuracy));
    const drops = proportionalDrops(
      points.map((p) => p.ratio),
      acc.map((a) => Math.max(0, b.accuracy - a)),
    );
    for (const [i, p] of points.entries()) {
      if (p.ratio > maxRatio + 1e-9) continue;
      const latencyRatio = lat[i]!;
      const macRatio = b.macs ? p.macs / b.macs : 1;
      const paramRatio = b.params ? p.params / b.params : 1;
      // a file's size follows its parameter count (weights dominate it): the size axis is the parameter ratio
      const axis = { latency: latencyRatio, macs: macRatio, params: paramRatio }[costAxis(t)];
      opts.push({
        ratio: p.ratio,
        drop: drops[i]!,
        logCost: Math.log(Math.max(axis, 1e-9)),
        latencyRatio,
        macRatio,
        paramRatio,
      });
    }
    return opts;
  });
}

interface State {
  drop: number;
  logCost: number;
  picks: number[];
}

/** Pareto states after all groups: for each cost bin the least drop, and how it was reached. */
function solve(options: Option[][], resolution: number): State[] {
  let states = new Map<number, State>([[0, { drop: 0, logCost: 0, picks: [] }]]);
  for (const opts of options) {
    const next = new Map<number, State>();
    for (const s of states.values()) {
      opts.forEach((o, i) => {
        const logCost = s.logCost + o.logCost;
        const bin = Math.round(logCost * resolution);
        const drop = s.drop + o.drop;
        const have = next.get(bin);
        if (!have || drop < have.drop || (drop === have.drop && logCost < have.logCost))
          next.set(bin, { drop, logCost, picks: [...s.picks, i] });
      });
    }
    states = next;
  }
  return [...states.values()];
}

/** Checked options, each group's choices and the DP's states. */
function prepare(scan: SensitivityScan, o: AllocateOptions) {
  if (!(o.maxAccuracyDrop >= 0 && o.maxAccuracyDrop <= 1))
    throw new AllocationError(`maximum accuracy drop must lie in [0, 1], got ${o.maxAccuracyDrop}`, {
      maxAccuracyDrop: o.maxAccuracyDrop,
    });
  const want = targetRatio(scan, o.target);
  if (!(want > 0) || !Number.isFinite(want))
    throw new AllocationError(`target ${describe(o.target)} is not a positive budget`, { target: o.target });
  const maxRatio = o.maxSparseRatio ?? DEFAULT_MAX_SPARSE_RATIO;
  if (!(o.nearEqualDrop === undefined || o.nearEqualDrop >= 0))
    throw new AllocationError(`near-equal drop slack must be ≥ 0, got ${o.nearEqualDrop}`, {
      nearEqualDrop: o.nearEqualDrop,
    });
  if (!(maxRatio > 0 && maxRatio <= 1))
    throw new AllocationError(`maximum sparse ratio must lie in (0, 1], got ${o.maxSparseRatio}`, {
      maxSparseRatio: o.maxSparseRatio,
    });
  const options = optionsOf(scan, o.target, maxRatio);
  const states = solve(options, o.resolution ?? 2000);
  return { want, maxRatio, options, states };
}

/**
 * Per-group sparsities meeting `target` with the least predicted accuracy drop, as an NNI config list.
 * @example const a = allocate(scan, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 0.01 });
 * @throws AllocationError when no choice meets the target within the accuracy drop (names the closest points)
 */
export function allocate(scan: SensitivityScan, o: AllocateOptions): Allocation {
  const { want, maxRatio, options, states } = prepare(scan, o);
  const eps = 1e-9;
  const meeting = states
    .filter((s) => s.logCost <= Math.log(want) + eps)
    .sort((a, b) => a.drop - b.drop || a.logCost - b.logCost);
  const best = meeting[0];
  const pct = (x: number) => `${(x * 100).toFixed(2)}`;
  // summed drops may pass the dense accuracy; the accuracy itself cannot fall below 0
  if (!best || Math.min(best.drop, scan.baseline.accuracy) > o.maxAccuracyDrop + eps) {
    const fastest = [...states].sort((a, b) => a.logCost - b.logCost || a.drop - b.drop)[0]!;
    const within = states.filter((s) => s.drop <= o.maxAccuracyDrop + eps).sort((a, b) => a.logCost - b.logCost)[0]!;
    const closest = best
      ? `meeting it costs ${pct(best.drop)} accuracy points (the limit is ${pct(o.maxAccuracyDrop)}); within the limit the best reachable is ${(1 / Math.exp(within.logCost)).toFixed(2)}× (cost ratio ${Math.exp(within.logCost).toFixed(3)}) at −${pct(within.drop)} points`
      : `no choice of the scanned ratios up to the per-group cap ${maxRatio} (maxSparseRatio) reaches it: the closest is cost ratio ${Math.exp(fastest.logCost).toFixed(3)} (${(1 / Math.exp(fastest.logCost)).toFixed(2)}×) at −${pct(fastest.drop)} accuracy points`;
    throw new AllocationError(
      `no allocation meets ${describe(o.target)} (cost ratio ${want.toFixed(3)}) within a ${pct(o.maxAccuracyDrop)}-point accuracy drop: ${closest}`,
      {
        target: o.target,
        closest: best
          ? { costRatio: Math.exp(best.logCost), accuracyDrop: best.drop }
          : { costRatio: Math.exp(fastest.logCost), accuracyDrop: fastest.drop },
        withinDrop: { costRatio: Math.exp(within.logCost), accuracyDrop: within.drop },
      },
    );
  }
  const slack = o.nearEqualDrop ?? DEFAULT_NEAR_EQUAL_DROP;
  const keptParams = (st: State) => st.picks.reduce((acc, k, gi) => acc + Math.log(options[gi]![k]!.paramRatio), 0);
  const chosen = meeting
    .filter((st) => st.drop <= best.drop * (1 + slack) + eps)
    .reduce((a, c) => (keptParams(c) > keptParams(a) + eps ? c : a), best);
  return build(scan, o, options, chosen);
}

/**
 * The allocations no other beats on both predicted cost and predicted drop (the knapsack's Pareto frontier), within
 * the accuracy drop and the per-group cap, from the least drop (dense) to the cheapest — what a refinement searches
 * when the product of single-group ratios misjudges allocations cut whole.
 */
export function allocationFrontier(scan: SensitivityScan, o: AllocateOptions): Allocation[] {
  const { options, states } = prepare(scan, o);
  const eps = 1e-9;
  const within = states
    .filter((st) => Math.min(st.drop, scan.baseline.accuracy) <= o.maxAccuracyDrop + eps)
    .sort((a, b) => a.logCost - b.logCost || a.drop - b.drop);
  const frontier: State[] = [];
  for (const st of within) if (frontier.length === 0 || st.drop < frontier.at(-1)!.drop - eps) frontier.push(st);
  return frontier.reverse().map((st) => build(scan, o, options, st));
}

/**
 * Uniform sparsity as allocations: every group at the same scanned ratio (up to the per-group cap and within the
 * accuracy drop), least ratio first — the baseline a short-term fine-tune compares the frontier's candidates with,
 * since the knapsack's one-shot drops can rank it out of the frontier although a fine-tune recovers it best.
 */
export function uniformAllocations(scan: SensitivityScan, o: AllocateOptions): Allocation[] {
  return [...scan.ratios]
    .sort((a, b) => a - b)
    .map((r) =>
      allocationAt(
        scan,
        o,
        scan.groups.map(() => r),
      ),
    )
    .filter((a): a is Allocation => a !== null);
}

/**
 * The allocation taking the given scanned ratio per group (0 = dense), or null when a ratio is not offered (not
 * scanned, above the per-group cap) or the predicted drop passes the maximum.
 */
export function allocationAt(scan: SensitivityScan, o: AllocateOptions, ratios: readonly number[]): Allocation | null {
  const { options } = prepare(scan, o);
  const eps = 1e-9;
  const picks = options.map((opts, gi) => opts.findIndex((x) => Math.abs(x.ratio - (ratios[gi] ?? -1)) < eps));
  if (picks.some((k) => k < 0)) return null;
  const drop = picks.reduce((acc, k, gi) => acc + options[gi]![k]!.drop, 0);
  if (Math.min(drop, scan.baseline.accuracy) > o.maxAccuracyDrop + eps) return null;
  const logCost = picks.reduce((acc, k, gi) => acc + options[gi]![k]!.logCost, 0);
  return build(scan, o, options, { drop, logCost, picks });
}

function build(scan: SensitivityScan, o: AllocateOptions, options: Option[][], s: State): Allocation {
  const b = scan.baseline;
  const roundTo = Math.max(1, Math.floor(o.roundTo ?? 1));
  let lat = 1;
  let mac = 1;
  let par = 1;
  const choices: AllocationChoice[] = [];
  const configList: Record<string, unknown>[] = [];
  scan.groups.forEach((g, gi) => {
    const opt = options[gi]![s.picks[gi]!]!;
    lat *= opt.latencyRatio;
    mac *= opt.macRatio;
    par *= opt.paramRatio;
    const kept =
      opt.ratio === 0
        ? g.channels
        : Math.min(g.channels, Math.max(roundTo, Math.round((g.channels * (1 - opt.ratio)) / roundTo) * roundTo));
    const sparseRatio = 1 - kept / g.channels;
    choices.push({
      group: g.id,
      nodes: g.nodes,
      ratio: opt.ratio,
      sparseRatio,
      keptChannels: kept,
      accuracyDrop: opt.drop,
      latencySavedMs: b.latencyMs * (1 - opt.latencyRatio),
    });
    if (sparseRatio > 0)
      configList.push({
        op_names: [...g.nodes],
        sparse_ratio: Number(sparseRatio.toFixed(6)),
        dependency_group_id: 'auto',
      });
  });
  return {
    target: o.target,
    maxAccuracyDrop: o.maxAccuracyDrop,
    choices,
    predicted: {
      latencyMs: b.latencyMs * lat,
      accuracy: Math.max(0, b.accuracy - s.drop),
      macs: b.macs * mac,
      params: b.params * par,
      speedup: 1 / lat,
    },
    configList,
  };
}

/**
 * Parse a budget: `2x` (speedup), `3.5ms` (latency), `macs=20M`, `params=10k`, `size=200k` (bytes).
 * @throws AllocationError naming the text when it is none of these
 */
export function parseBudget(text: string): AllocationTarget {
  const t = text.trim().toLowerCase();
  const num = (s: string) => {
    const m = /^(\d+(?:\.\d+)?)([kmg]?)$/.exec(s);
    return m ? Number(m[1]) * ({ '': 1, k: 1e3, m: 1e6, g: 1e9 } as Record<string, number>)[m[2]!]! : NaN;
  };
  let r: AllocationTarget | null = null;
  let m: RegExpExecArray | null;
  if ((m = /^(\d+(?:\.\d+)?)\s*[x×]$/.exec(t))) r = { kind: 'speedup', factor: Number(m[1]) };
  else if ((m = /^(\d+(?:\.\d+)?)\s*ms$/.exec(t))) r = { kind: 'latency', ms: Number(m[1]) };
  else if ((m = /^(macs|params)\s*=\s*(\S+)$/.exec(t))) r = { kind: m[1] as 'macs' | 'params', value: num(m[2]!) };
  else if ((m = /^size\s*=\s*(\S+?)b?$/.exec(t))) r = { kind: 'size', bytes: num(m[1]!) };
  const v =
    r && (r.kind === 'speedup' ? r.factor : r.kind === 'latency' ? r.ms : r.kind === 'size' ? r.bytes : r.value);
  if (!r || !(v! > 0) || (r.kind === 'speedup' && r.factor <= 1)) {
    throw new AllocationError(
      `budget "${text}" is not one of: <factor>x (speedup > 1), <ms>ms (latency), macs=<n>[k|M|G], params=<n>[k|M|G], size=<bytes>[k|M|G]`,
      { budget: text },
    );
  }
  return r;
}
