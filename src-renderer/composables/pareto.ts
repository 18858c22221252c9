/**
 * @file Pareto fronts for the comparison view: which runs no other run beats on every objective at once
 * (higher accuracy, lower latency, smaller size). Pure functions.
 */

export interface Objective<T> {
  value: (item: T) => number | null | undefined;
  /** 'max' = higher is better. */
  goal: 'max' | 'min';
}

/** True when `a` is at least as good as `b` everywhere and strictly better somewhere. */
function dominates<T>(a: T, b: T, objectives: readonly Objective<T>[]): boolean {
  let strictly = false;
  for (const o of objectives) {
    const x = o.value(a)!;
    const y = o.value(b)!;
    const better = o.goal === 'max' ? x > y : x < y;
    const worse = o.goal === 'max' ? x < y : x > y;
    if (worse) return false;
    if (better) strictly = true;
  }
  return strictly;
}

/**
 * Marks each item as on the Pareto front or not. Items missing an objective are never on it (and never beat
 * anyone).
 *
 * @example paretoFlags(runs, [{ value: (r) => r.acc, goal: 'max' }, { value: (r) => r.ms, goal: 'min' }]) // [true, false, true]
 */
export function paretoFlags<T>(items: readonly T[], objectives: readonly Objective<T>[]): boolean[] {
  const complete = items.map((it) => objectives.every((o) => Number.isFinite(o.value(it) ?? Number.NaN)));
  return items.map(
    (a, i) => complete[i]! && !items.some((b, j) => j !== i && complete[j]! && dominates(b, a, objectives)),
  );
}
