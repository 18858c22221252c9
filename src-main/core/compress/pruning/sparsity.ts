/**
 * @file Mask generation from metrics, NNI's fixed rule order (NNI-SEMANTICS §3.2), in block space:
 * 1. threshold (`metric >= sparse_threshold` keeps; re-done by ratio when the result leaves [min, max]);
 * 2. dependency groups (all members: one mask from the averaged metric, `internal_metric_block` rows);
 * 3. global groups (the rest: one budget over the group, each block weighted by its element count);
 * 4. plain ratio (the rest: `sparse_ratio` clamped to [min, max]);
 * 5. align (the rest; done by the pruner, which holds the expanded source masks).
 * Every rule's mask is ANDed into the target's running mask. Ratios are exact: k = floor(n·ratio) blocks, ties
 * broken by lower index first. Pure: imports only sibling modules and shared config types.
 */
import type { PruningSetting } from '../../../../src-shared/config/index.ts';
import type { Metric } from './metrics.ts';
import { kthSmallest } from './select.ts';

/** One target as the rules see it. */
export interface RuleTarget {
  setting: PruningSetting;
  /** Block-space metric; present on every target a rule 1–4 touches. */
  metric: Metric | null;
  /** Elements of the target (for the global budget). */
  numel: number;
  /** Running block-space mask (1 keep, 0 prune); null until a rule sets it. */
  mask: Uint8Array | null;
}

const minOf = (s: PruningSetting) => s.min_sparse_ratio || 0;
const maxOf = (s: PruningSetting) => s.max_sparse_ratio || 1;

/** AND `mask` into the target's running mask. */
export function andInto(t: RuleTarget, mask: Uint8Array): void {
  if (!t.mask) {
    t.mask = mask;
    return;
  }
  for (let i = 0; i < mask.length; i++) t.mask[i] = t.mask[i]! & mask[i]!;
}

/** The metric with NaN read as +∞ (never pruned before a number). */
function ranked(metric: Metric, start: number, len: number): Float64Array {
  const out = new Float64Array(len);
  for (let i = 0; i < len; i++) {
    const v = metric[start + i]!;
    out[i] = Number.isNaN(v) ? Infinity : v;
  }
  return out;
}

/** Zero the `k` smallest of metric[start, start+len) in `out`, lower index first among equal values. */
export function maskSmallest(metric: Metric, start: number, len: number, k: number, out: Uint8Array): void {
  if (k <= 0) return;
  if (k >= len) {
    out.fill(0, start, start + len);
    return;
  }
  const values = ranked(metric, start, len);
  const cut = kthSmallest(values.slice(), k - 1);
  let left = k;
  for (let i = 0; i < len; i++) {
    if (values[i]! < cut) {
      out[start + i] = 0;
      left--;
    }
  }
  for (let i = 0; i < len && left > 0; i++) {
    if (values[i] === cut) {
      out[start + i] = 0;
      left--;
    }
  }
}

/**
 * NNI's `_ratio_mask`: viewing the metric as `rows` equal rows, zero floor(len/rows · ratio) smallest per row.
 *
 * @example ratioMask(Float64Array.from({ length: 16 }, (_, i) => i), 0.75) // 12 zeros, then 4 ones
 */
export function ratioMask(metric: Metric, ratio: number, rows = 1): Uint8Array {
  const out = new Uint8Array(metric.length).fill(1);
  if (ratio <= 0) return out;
  if (ratio >= 1) return out.fill(0);
  const len = Math.floor(metric.length / rows);
  const k = Math.floor(len * ratio);
  for (let r = 0; r < rows; r++) maskSmallest(metric, r * len, len, k, out);
  return out;
}

/** Rule 1: keep `metric >= threshold`; redo by ratio at the violated bound when the result leaves [min, max]. */
export function thresholdRule(t: RuleTarget): void {
  const metric = t.metric!;
  const thr = t.setting.sparse_threshold!;
  const mask = new Uint8Array(metric.length);
  let zeros = 0;
  for (let i = 0; i < metric.length; i++) {
    mask[i] = metric[i]! >= thr ? 1 : 0;
    zeros += 1 - mask[i]!;
  }
  const ratio = metric.length ? zeros / metric.length : 0;
  if (ratio < minOf(t.setting)) andInto(t, ratioMask(metric, minOf(t.setting)));
  else if (ratio > maxOf(t.setting)) andInto(t, ratioMask(metric, maxOf(t.setting)));
  else andInto(t, mask);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number) => (a / gcd(a, b)) * b;

/** The ratio a group's members agree on (validated at setup), or undefined. */
export function groupRatio(members: readonly RuleTarget[]): number | undefined {
  return members.find((m) => m.setting.sparse_ratio != null)?.setting.sparse_ratio ?? undefined;
}

/** Rows a dependency group's fused metric is split into: lcm(1, internal_metric_block of each member). */
export function dependencyRows(members: readonly RuleTarget[]): number {
  return members.reduce((acc, m) => lcm(acc, m.setting.internal_metric_block ?? 1), 1);
}

/**
 * Rule 2: every member gets the mask of the averaged metric. Members have equal metric lengths, or lengths that are
 * whole multiples k of the shortest one (checked at setup): such a member is read as k consecutive parts aligned
 * with the group — e.g. the q, k and v heads of one fused in-projection against the output projection's heads — its
 * parts averaged into the fused metric and the group mask repeated over them.
 */
export function dependencyRule(members: readonly RuleTarget[]): void {
  const n = Math.min(...members.map((m) => m.metric!.length));
  const fused = new Float64Array(n);
  for (const m of members) {
    const k = m.metric!.length / n;
    for (let j = 0; j < k; j++) for (let i = 0; i < n; i++) fused[i] += m.metric![j * n + i]! / k;
  }
  for (let i = 0; i < n; i++) fused[i] = fused[i]! / members.length;
  const mask = ratioMask(fused, groupRatio(members)!, dependencyRows(members));
  for (const m of members) {
    const out = new Uint8Array(m.metric!.length);
    for (let j = 0; j < out.length; j += n) out.set(mask, j);
    andInto(m, out);
  }
}

/**
 * Rule 3: one budget S = floor(Σ numel · ratio) elements over the group. Below the members' summed minimums every
 * member takes its min ratio; above their summed maximums, its max ratio. Otherwise blocks are taken in ascending
 * metric order (ties: member order, then index), each costing its element count, until the next one no longer
 * fits; a member that reached its max ratio is passed over, and one left below its min ratio is raised to it.
 *
 * Differences from NNI, deliberate: an unset max_sparse_ratio means 1 (NNI's code reads 0 on the "above the
 * maximums" path, so a group ratio of 1.0 masked nothing), and min / max hold per member (NNI checks them only for
 * the group as a whole).
 */
export function globalRule(members: readonly RuleTarget[]): void {
  const ratio = groupRatio(members)!;
  const total = members.reduce((a, m) => a + m.numel, 0);
  const budget = Math.floor(total * ratio);
  const low = members.reduce((a, m) => a + Math.floor(m.numel * minOf(m.setting)), 0);
  const high = members.reduce((a, m) => a + Math.floor(m.numel * maxOf(m.setting)), 0);
  if (budget <= low) return members.forEach((m) => andInto(m, ratioMask(m.metric!, minOf(m.setting))));
  if (budget >= high) return members.forEach((m) => andInto(m, ratioMask(m.metric!, maxOf(m.setting))));
  const counts = globalCounts(members, budget);
  members.forEach((m, t) => {
    const mask = new Uint8Array(m.metric!.length).fill(1);
    maskSmallest(m.metric!, 0, mask.length, counts[t]!, mask);
    andInto(m, mask);
  });
}

/** How many blocks of each member the global budget takes (see globalRule). */
function globalCounts(members: readonly RuleTarget[], budget: number): number[] {
  const sorted = members.map((m) => ranked(m.metric!, 0, m.metric!.length).sort());
  const grain = members.map((m) => m.numel / m.metric!.length);
  const cap = members.map((m) => Math.floor(m.metric!.length * maxOf(m.setting)));
  const counts = members.map(() => 0);
  const heap = new MinHeap((a, b) => sorted[a]![counts[a]!]! - sorted[b]![counts[b]!]! || a - b);
  members.forEach((m, t) => m.metric!.length > 0 && heap.push(t));
  let used = 0;
  while (heap.size > 0) {
    const t = heap.pop();
    if (counts[t]! >= cap[t]!) continue;
    if (used + grain[t]! > budget) break;
    used += grain[t]!;
    counts[t]!++;
    if (counts[t]! < sorted[t]!.length) heap.push(t);
  }
  return counts.map((c, t) => Math.max(c, Math.floor(members[t]!.metric!.length * minOf(members[t]!.setting))));
}

/** Rule 4: `sparse_ratio` clamped to [min, max]. */
export function ratioRule(t: RuleTarget): void {
  const r = Math.min(maxOf(t.setting), Math.max(minOf(t.setting), t.setting.sparse_ratio!));
  andInto(t, ratioMask(t.metric!, r));
}

/** A binary min-heap of small integers under a comparator that may read mutable state (re-pushed after change). */
class MinHeap {
  private readonly items: number[] = [];
  constructor(private readonly cmp: (a: number, b: number) => number) {}

  get size(): number {
    return this.items.length;
  }

  push(x: number): void {
    const a = this.items;
    a.push(x);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (this.cmp(a[i]!, a[p]!) >= 0) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): number {
    const a = this.items;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.cmp(a[l]!, a[m]!) < 0) m = l;
        if (r < a.length && this.cmp(a[r]!, a[m]!) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
