/**
 * @file Parameters of runs side by side: each plan flattened to `path → value` (steps by index and kind, config
 * lists as compact JSON), and the rows where the runs differ. Pure functions.
 */

export interface ParamRow {
  path: string;
  values: string[];
  differs: boolean;
}

const IGNORED = new Set(['version']);

const isObject = (v: unknown): v is object => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Flattens a plan: objects by key, arrays of objects (steps, config-list entries) by index, arrays of plain values
 * (op types, paths) as compact JSON.
 *
 * @example flattenPlan({ steps: [{ kind: 'prune', configList: [{ sparse_ratio: 0.5 }] }] })
 * // { 'steps[0].kind': 'prune', 'steps[0].configList[0].sparse_ratio': '0.5' }
 */
export function flattenPlan(value: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every(isObject)) value.forEach((v, i) => flattenPlan(v, `${prefix}[${i}]`, out));
    else out[prefix] = JSON.stringify(value);
    return out;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (!prefix && IGNORED.has(k)) continue;
      flattenPlan(v, prefix ? `${prefix}.${k}` : k, out);
    }
    return out;
  }
  if (prefix) out[prefix] = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return out;
}

/**
 * The parameter table of several plans, rows in first-seen order; `differs` when any two values differ (a
 * missing value counts as different from a present one).
 */
export function paramRows(plans: readonly unknown[]): ParamRow[] {
  const flats = plans.map((p) => flattenPlan(p));
  const paths: string[] = [];
  const seen = new Set<string>();
  for (const f of flats) {
    for (const k of Object.keys(f)) {
      if (seen.has(k)) continue;
      seen.add(k);
      paths.push(k);
    }
  }
  return paths.map((path) => {
    const values = flats.map((f) => f[path] ?? '—');
    return { path, values, differs: new Set(values).size > 1 };
  });
}
