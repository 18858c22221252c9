/**
 * @file The run view's training curves from metric series (stored) and progress parts (live): the loss terms
 * (`loss.<term>`), the sparsity of every pruning target (`sparsity.<node>.<target>`, 0..1) and the quantization range
 * of every quantized target (`qrange.<node>.<target>.min` / `.max`) as a fused `compress` step reports them at each
 * progress update. Pure functions over plain points; no Vue, no host.
 */
import type { Curve } from './charts.ts';

/** A point of a series as the runs store keeps it (stored series add `t`). */
export interface SeriesPoint {
  x: number;
  value: number;
  stepIndex: number;
}

/** series name → its points (all steps of one run). */
export type SeriesByName = Record<string, readonly SeriesPoint[]>;

export const SPARSITY_PREFIX = 'sparsity.';
export const QRANGE_PREFIX = 'qrange.';
export const LOSS_PREFIX = 'loss.';

/** How a loss term is named on its curve (`loss.task` → "task loss"; others by their term). */
export function lossTermLabel(name: string): string {
  const term = name.slice(LOSS_PREFIX.length);
  if (term === 'task') return 'task loss';
  if (term === 'distill') return 'distillation loss';
  return `${term} loss`;
}

/** The step indices any series of a prefix has points for, in order. */
export function stepsWith(series: SeriesByName, prefix: string): number[] {
  const steps = new Set<number>();
  for (const [name, points] of Object.entries(series))
    if (name.startsWith(prefix)) for (const p of points) steps.add(p.stepIndex);
  return [...steps].sort((a, b) => a - b);
}

const ofStep = (points: readonly SeriesPoint[], stepIndex: number) =>
  points.filter((p) => p.stepIndex === stepIndex).map((p) => ({ x: p.x, value: p.value }));

/**
 * Sparsity of one step's pruning targets as percent curves: the mean over the weight targets first, then each weight
 * target (at most `limit`; biases follow their weights and are left out).
 *
 * @example sparsityCurves({ 'sparsity.c1.weight': [{ x: 10, value: 0.5, stepIndex: 0 }] }, 0)
 * // [{ name: 'mean', points: [{ x: 10, value: 50 }] }, { name: 'c1.weight', points: [{ x: 10, value: 50 }] }]
 */
export function sparsityCurves(series: SeriesByName, stepIndex: number, limit = 8): Curve[] {
  const targets = Object.keys(series)
    .filter((n) => n.startsWith(SPARSITY_PREFIX) && !n.endsWith('.bias'))
    .map((n) => ({ name: n.slice(SPARSITY_PREFIX.length), points: ofStep(series[n]!, stepIndex) }))
    .filter((c) => c.points.length > 0)
    .map((c) => ({ ...c, points: c.points.map((p) => ({ x: p.x, value: 100 * p.value })) }));
  if (targets.length === 0) return [];
  const byX = new Map<number, number[]>();
  for (const c of targets) for (const p of c.points) (byX.get(p.x) ?? byX.set(p.x, []).get(p.x)!).push(p.value);
  const mean = [...byX]
    .sort(([a], [b]) => a - b)
    .map(([x, vs]) => ({ x, value: vs.reduce((s, v) => s + v, 0) / vs.length }));
  return [{ name: 'mean', points: mean }, ...targets.slice(0, limit)];
}

/** The targets with a quantization range in one step, in the order they first reported. */
export function rangeTargets(series: SeriesByName, stepIndex: number): string[] {
  const out: string[] = [];
  for (const [name, points] of Object.entries(series)) {
    if (!name.startsWith(QRANGE_PREFIX) || !name.endsWith('.min')) continue;
    if (!points.some((p) => p.stepIndex === stepIndex)) continue;
    out.push(name.slice(QRANGE_PREFIX.length, -'.min'.length));
  }
  return out;
}

/**
 * The quantization range of the chosen targets in one step: for each, a "min" and a "max" curve (the float range
 * its scale and zero point represent).
 *
 * @example rangeCurves(series, 0, ['/conv1/Conv._input_0']) // [{ name: '/conv1/Conv._input_0 max', … }, { … min … }]
 */
export function rangeCurves(series: SeriesByName, stepIndex: number, targets: readonly string[]): Curve[] {
  return targets.flatMap((t) =>
    (['max', 'min'] as const).flatMap((end) => {
      const points = ofStep(series[`${QRANGE_PREFIX}${t}.${end}`] ?? [], stepIndex);
      return points.length ? [{ name: `${t} ${end}`, points }] : [];
    }),
  );
}
