/**
 * @file Observers: streaming statistics of a tensor over calibration batches that end in a clipping range
 * [min, max] per channel, from which NNI's formulas give scale and zero point. MinMax (NNI's PTQ: global running
 * min/max), moving-average MinMax (NNI's QAT tracker: EMA of batch min/max), and three histogram observers:
 * Percentile, Entropy (KL divergence, TensorRT-style) and MSE. Each `update` folds one batch in and keeps nothing
 * of it; histograms are re-binned when a batch widens the range. Pure: imports only sibling modules.
 */
import { OBSERVERS, type ObserverName } from '../../../../src-shared/compressors.ts';
import type { QuantRange } from './dtype.ts';
import { channelLayout, channelMinMax, fakeQuantValue, qparams, type QuantScheme } from './qparams.ts';

/** The observer names: src-shared's registry (its labels and descriptions live there). */
export const OBSERVER_KINDS = OBSERVERS;
export type ObserverKind = ObserverName;

/** What a range search optimises for: the integer range and scheme the tensor will be quantized with. */
export interface RangeTarget {
  range: QuantRange;
  scheme: QuantScheme;
}

/** A clipping range per channel. */
export interface TrackedRange {
  min: Float64Array;
  max: Float64Array;
}

export interface Observer {
  readonly kind: ObserverKind;
  /** Fold one batch in (`dims` row-major; per-channel observers read channels on their axis). */
  update(data: ArrayLike<number>, dims: readonly number[]): void;
  /** Batches seen. */
  readonly batches: number;
  /** The raw min / max seen so far, per channel. */
  observed(): TrackedRange;
  /** The clipping range chosen for quantizing to `target`. */
  range(target: RangeTarget): TrackedRange;
}

export interface ObserverOptions {
  kind?: ObserverKind;
  /** Channel axis of per-channel statistics; null = per tensor. */
  axis?: number | null;
  /** ema: weight of each new batch (default 0.01, NNI's QAT EMA of 0.99). */
  averagingConstant?: number;
  /** percentile: the upper percentile kept (default 99.99; the lower one is 100 − p). */
  percentile?: number;
  /** histogram observers: bins per channel (default 2048). */
  bins?: number;
  /** entropy / mse: candidate ranges tried (default 128). */
  candidates?: number;
  /**
   * entropy: largest fraction of the (non-zero) mass a window may clip (default 0.001; 1 = plain KL). KL alone
   * favours narrow windows when a tensor has point masses (a conv over constant image background gives one
   * repeated value per channel): the uniform spreading inside a quantization level that Q assumes cannot follow a
   * spike, and narrower windows have fewer bins per level. Measured on the MNIST example: plain KL clips conv1's
   * output at 27 % of its range and costs 46 points of accuracy; with the guard it costs none.
   */
  maxClipped?: number;
}

/** The implementation of every observer in src-shared's registry (a registered name without one does not compile). */
export const OBSERVER_FACTORIES = {
  minmax: (axis, _o) => new MinMaxObserver(axis),
  ema: (axis, o) => new EmaMinMaxObserver(axis, o.averagingConstant ?? 0.01),
  percentile: (axis, o) => new PercentileObserver(axis, o.percentile ?? 99.99, o.bins),
  entropy: (axis, o) => new EntropyObserver(axis, o.bins, o.candidates, o.maxClipped),
  mse: (axis, o) => new MseObserver(axis, o.bins, o.candidates),
} as const satisfies Record<ObserverName, (axis: number | null, o: ObserverOptions) => Observer>;

/** A fresh observer of the given kind. */
export function createObserver(opts: ObserverOptions = {}): Observer {
  return OBSERVER_FACTORIES[opts.kind ?? 'minmax'](opts.axis ?? null, opts);
}

/** Running global min / max (NNI's PTQ tracker). */
export class MinMaxObserver implements Observer {
  readonly kind: ObserverKind = 'minmax';
  batches = 0;
  protected min: Float64Array | null = null;
  protected max: Float64Array | null = null;

  constructor(readonly axis: number | null = null) {}

  update(data: ArrayLike<number>, dims: readonly number[]): void {
    const b = channelMinMax(data, dims, this.axis);
    if (!this.min || !this.max) {
      this.min = b.min;
      this.max = b.max;
    } else {
      checkChannels(this.min.length, b.min.length, this.axis);
      this.fold(b.min, b.max);
    }
    this.batches++;
  }

  protected fold(bmin: Float64Array, bmax: Float64Array): void {
    for (let c = 0; c < bmin.length; c++) {
      this.min![c] = Math.min(this.min![c]!, bmin[c]!);
      this.max![c] = Math.max(this.max![c]!, bmax[c]!);
    }
  }

  observed(): TrackedRange {
    if (!this.min || !this.max) throw new RangeError('observer has seen no batch');
    return { min: Float64Array.from(this.min), max: Float64Array.from(this.max) };
  }

  range(_target: RangeTarget): TrackedRange {
    return this.observed();
  }
}

/** Moving average of batch min / max: m ← m + c·(batch − m), starting from the first batch. */
export class EmaMinMaxObserver extends MinMaxObserver {
  override readonly kind: ObserverKind = 'ema';

  constructor(
    axis: number | null,
    readonly averagingConstant: number,
  ) {
    super(axis);
  }

  protected override fold(bmin: Float64Array, bmax: Float64Array): void {
    const k = this.averagingConstant;
    for (let c = 0; c < bmin.length; c++) {
      this.min![c] = this.min![c]! + k * (bmin[c]! - this.min![c]!);
      this.max![c] = this.max![c]! + k * (bmax[c]! - this.max![c]!);
    }
  }
}

function checkChannels(had: number, got: number, axis: number | null): void {
  if (had !== got) throw new RangeError(`observer on axis ${axis} saw ${had} channels, now a batch with ${got}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Histograms

/**
 * A histogram of `bins` equal bins over [lo, hi], grown when a batch falls outside: the old counts are spread over
 * the new bins by overlap, so streaming keeps O(bins) memory per channel.
 */
export class Histogram {
  counts: Float64Array;
  lo = 0;
  hi = 0;
  total = 0;

  constructor(readonly bins: number) {
    this.counts = new Float64Array(bins);
  }

  get width(): number {
    return (this.hi - this.lo) / this.bins;
  }

  /** Make sure [min, max] is covered, re-binning what is already counted. */
  cover(min: number, max: number): void {
    if (this.total === 0) {
      this.lo = min;
      this.hi = max > min ? max : min + Math.max(Math.abs(min) * 1e-6, 1e-12);
      return;
    }
    if (min >= this.lo && max <= this.hi) return;
    const lo = Math.min(min, this.lo);
    const hi = Math.max(max, this.hi);
    const next = new Float64Array(this.bins);
    const ow = this.width;
    const nw = (hi - lo) / this.bins;
    for (let i = 0; i < this.bins; i++) {
      const c = this.counts[i]!;
      if (c === 0) continue;
      // old bin [a, b) spread over the new bins it overlaps, by overlap length
      const a = this.lo + i * ow;
      const b = a + ow;
      let j = Math.min(this.bins - 1, Math.floor((a - lo) / nw));
      for (; j < this.bins; j++) {
        const na = lo + j * nw;
        const nb = na + nw;
        const overlap = Math.min(b, nb) - Math.max(a, na);
        if (overlap > 0) next[j]! += (c * overlap) / ow;
        if (nb >= b) break;
      }
    }
    this.counts = next;
    this.lo = lo;
    this.hi = hi;
  }

  add(v: number): void {
    const i = Math.floor(((v - this.lo) / (this.hi - this.lo)) * this.bins);
    this.counts[i < 0 ? 0 : i >= this.bins ? this.bins - 1 : i]! += 1;
    this.total++;
  }

  /** The value below which fraction q of the mass lies (linear inside a bin). */
  quantile(q: number): number {
    const want = q * this.total;
    let acc = 0;
    for (let i = 0; i < this.bins; i++) {
      const c = this.counts[i]!;
      if (acc + c >= want && c > 0) return this.lo + (i + (want - acc) / c) * this.width;
      acc += c;
    }
    return this.hi;
  }

  center(i: number): number {
    return this.lo + (i + 0.5) * this.width;
  }
}

/**
 * Shared part of the histogram observers: one histogram per channel, fed per batch. Entropy and MSE leave exact
 * zeros out (`skipZeros`): zero is always on the grid (the range includes it, the zero point is an integer), so
 * zeros cost nothing whatever the window, while the spike they make after a Relu would otherwise dominate KL.
 */
abstract class HistogramObserver implements Observer {
  abstract readonly kind: ObserverKind;
  protected readonly skipZeros: boolean = false;
  batches = 0;
  private hists: Histogram[] | null = null;
  private seen: MinMaxObserver;

  constructor(
    readonly axis: number | null,
    readonly bins = 2048,
  ) {
    this.seen = new MinMaxObserver(axis);
  }

  update(data: ArrayLike<number>, dims: readonly number[]): void {
    const { channels, inner } = channelLayout(dims, this.axis);
    const b = channelMinMax(data, dims, this.axis);
    this.hists ??= Array.from({ length: channels }, () => new Histogram(this.bins));
    checkChannels(this.hists.length, channels, this.axis);
    this.hists.forEach((h, c) => h.cover(b.min[c]!, b.max[c]!));
    const hists = this.hists;
    const skipZeros = this.skipZeros;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!Number.isFinite(v) || (skipZeros && v === 0)) continue;
      hists[channels === 1 ? 0 : Math.floor(i / inner) % channels]!.add(v);
    }
    this.seen.update(data, dims);
    this.batches++;
  }

  observed(): TrackedRange {
    return this.seen.observed();
  }

  /** The histogram of each channel. */
  histograms(): Histogram[] {
    if (!this.hists) throw new RangeError('observer has seen no batch');
    return this.hists;
  }

  range(target: RangeTarget): TrackedRange {
    const hists = this.histograms();
    const min = new Float64Array(hists.length);
    const max = new Float64Array(hists.length);
    hists.forEach((h, c) => {
      const [a, b] = h.total === 0 ? [0, 0] : this.pick(h, target);
      min[c] = a;
      max[c] = b;
    });
    return { min, max };
  }

  protected abstract pick(h: Histogram, target: RangeTarget): [number, number];
}

/** Clip at the (100 − p)-th and p-th percentiles of the data. */
export class PercentileObserver extends HistogramObserver {
  readonly kind: ObserverKind = 'percentile';

  constructor(
    axis: number | null,
    readonly percentile: number,
    bins?: number,
  ) {
    super(axis, bins);
    if (!(percentile > 50 && percentile <= 100))
      throw new RangeError(`percentile must be in (50, 100], got ${percentile}`);
  }

  protected pick(h: Histogram): [number, number] {
    return [h.quantile(1 - this.percentile / 100), h.quantile(this.percentile / 100)];
  }
}

/**
 * The clipping window of least `cost`, searched over `count` candidates per stage. The NNI range (zero included)
 * is shrunk toward zero by t ∈ (0, 1]: symmetric schemes shrink [−m, m] (m = max(|lo|, |hi|)) as a whole; affine
 * ones shrink the upper end first, then the lower end with the best upper end fixed (so a one-sided outlier does
 * not drag the other side in).
 */
function searchWindow(
  h: Histogram,
  target: RangeTarget,
  count: number,
  cost: (a: number, b: number) => number,
): [number, number] {
  const lo = Math.min(h.lo, 0);
  const hi = Math.max(h.hi, 0);
  let best: [number, number] = [lo, hi];
  let bestCost = cost(lo, hi);
  const tryWindow = (a: number, b: number) => {
    const c = cost(a, b);
    if (c < bestCost) {
      bestCost = c;
      best = [a, b];
    }
  };
  const ts = Array.from({ length: count }, (_, k) => (k + 1) / count);
  if (target.scheme !== 'affine') {
    const m = Math.max(-lo, hi);
    for (const t of ts) tryWindow(-m * t, m * t);
    return best;
  }
  for (const t of ts) tryWindow(lo, hi * t);
  const upper = best[1];
  for (const t of ts) tryWindow(lo * t, upper);
  return best;
}

/**
 * KL divergence (TensorRT's entropy calibration, generalised to any window): for each candidate window the
 * reference P is the histogram inside it with the clipped outliers added to its edge bins; Q merges P into the
 * quantization levels of the window and spreads each level's mass evenly over its non-empty bins. The window of
 * least KL(P‖Q) wins. A window must span at least as many bins as there are levels, else Q = P trivially.
 */
export class EntropyObserver extends HistogramObserver {
  readonly kind: ObserverKind = 'entropy';
  protected override readonly skipZeros = true;

  constructor(
    axis: number | null,
    bins?: number,
    readonly count = 128,
    readonly maxClipped = 0.001,
  ) {
    super(axis, bins);
  }

  protected pick(h: Histogram, target: RangeTarget): [number, number] {
    const levels = target.range.qmax - target.range.qmin + 1;
    if (levels * 2 > h.bins) return [Math.min(h.lo, 0), Math.max(h.hi, 0)]; // too few bins to tell windows apart: keep min / max
    const cap = this.maxClipped * h.total;
    return searchWindow(h, target, this.count, (a, b) =>
      clippedMass(h, a, b) > cap ? Infinity : klOfWindow(h, a, b, levels, target.scheme),
    );
  }
}

/** Mass of `h` outside the bins a window [a, b] spans. */
export function clippedMass(h: Histogram, a: number, b: number): number {
  const i0 = Math.max(0, Math.floor((a - h.lo) / h.width));
  const i1 = Math.min(h.bins, Math.ceil((b - h.lo) / h.width));
  let m = 0;
  for (let i = 0; i < i0; i++) m += h.counts[i]!;
  for (let i = i1; i < h.bins; i++) m += h.counts[i]!;
  return m;
}

/**
 * KL(P‖Q) of clipping `h` to [a, b] and quantizing to `levels` levels; Infinity when the window is too narrow.
 * P carries the clipped mass in its edge bins, Q is built from the window's own counts (without it), so clipping
 * a lot of mass is what makes a window bad.
 */
export function klOfWindow(h: Histogram, a: number, b: number, levels: number, scheme: QuantScheme): number {
  const w = h.width;
  const i0 = Math.max(0, Math.floor((a - h.lo) / w));
  const i1 = Math.min(h.bins, Math.ceil((b - h.lo) / w));
  const n = i1 - i0;
  if (n < levels) return Infinity;
  const inside = h.counts.subarray(i0, i1);
  const p = Float64Array.from(inside);
  for (let i = 0; i < i0; i++) p[0]! += h.counts[i]!;
  for (let i = i1; i < h.bins; i++) p[n - 1]! += h.counts[i]!;
  // quantization grid: symmetric grids are centred on zero, so some levels may lie outside the data
  const m = Math.max(-a, b);
  const [ga, gb] = scheme === 'affine' ? [a, b] : [-m, m];
  const levelOf = Int32Array.from({ length: n }, (_, i) =>
    Math.min(levels - 1, Math.max(0, Math.floor(((h.center(i0 + i) - ga) / (gb - ga)) * levels))),
  );
  const mass = new Float64Array(levels);
  const nonEmpty = new Float64Array(levels);
  for (let i = 0; i < n; i++) {
    if (inside[i]! === 0) continue;
    mass[levelOf[i]!]! += inside[i]!;
    nonEmpty[levelOf[i]!]! += 1;
  }
  let pTotal = 0;
  let qTotal = 0;
  for (let i = 0; i < n; i++) {
    pTotal += p[i]!;
    if (inside[i]! > 0) qTotal += mass[levelOf[i]!]! / nonEmpty[levelOf[i]!]!;
  }
  if (pTotal === 0 || qTotal === 0) return Infinity;
  let kl = 0;
  for (let i = 0; i < n; i++) {
    const pi = p[i]! / pTotal;
    if (pi === 0) continue;
    const l = levelOf[i]!;
    // a bin holding only clipped mass has q = 0: smooth it to a tiny probability (a large, finite penalty)
    const qi = inside[i]! > 0 ? mass[l]! / nonEmpty[l]! / qTotal : 1e-10;
    kl += pi * Math.log(pi / qi);
  }
  return kl;
}

/** The window whose fake-quantization error, summed over the histogram's bin centres, is least. */
export class MseObserver extends HistogramObserver {
  readonly kind: ObserverKind = 'mse';
  protected override readonly skipZeros = true;

  constructor(
    axis: number | null,
    bins?: number,
    readonly count = 128,
  ) {
    super(axis, bins);
  }

  protected pick(h: Histogram, target: RangeTarget): [number, number] {
    return searchWindow(h, target, this.count, (a, b) => mseOfWindow(h, a, b, target));
  }
}

/** Σ count · (x − x̂)² over bin centres x when quantizing with the NNI parameters of [a, b]. */
export function mseOfWindow(h: Histogram, a: number, b: number, target: RangeTarget): number {
  const { scale, zeroPoint } = qparams([a], [b], target.range, target.scheme);
  const s = scale[0]!;
  const zp = zeroPoint[0]!;
  let err = 0;
  for (let i = 0; i < h.bins; i++) {
    const c = h.counts[i]!;
    if (c === 0) continue;
    const x = h.center(i);
    const d = x - fakeQuantValue(x, s, zp, target.range.qmin, target.range.qmax);
    err += c * d * d;
  }
  return err;
}
