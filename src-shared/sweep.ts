/**
 * @file Sweeps over a plan's parameters (issue 22): a sweep spec is a plan plus a grid of JSON path → values; its
 * points are the grid's cartesian product, each a whole plan validated against the plan schema, so a path the plan
 * lacks or a value its schema refuses is a named error with the path. Pure TypeScript: imports zod and siblings only.
 */
import { z } from 'zod';
import { StudioError } from './errors.ts';
import { planPath, safeParsePlan, type Plan } from './experiment.ts';

/** The most points one sweep may have (a grid of 3 parameters × 10 values is 1,000). */
export const MAX_SWEEP_POINTS = 1000;

/** A sweep that cannot be made: names the grid path (and the plan's own path where the schema refused a value). */
export class SweepError extends StudioError {
  constructor(message: string, path: string) {
    super(message, 'SWEEP_INVALID', { path });
    this.name = 'SweepError';
  }
}

const gridValue = z.union([z.string(), z.number(), z.boolean(), z.null(), z.record(z.string(), z.unknown())]);

/** A sweep file: the plan (a path relative to the sweep file, or the plan itself) and the grid. */
export const sweepFileSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  plan: z.union([z.string().min(1), z.record(z.string(), z.unknown())]),
  grid: z.record(z.string().min(1), z.array(gridValue).min(1).max(MAX_SWEEP_POINTS)),
});
export type SweepFile = z.infer<typeof sweepFileSchema>;

/** The grid: each JSON path into the plan with the values it takes, in order. */
export type SweepGrid = Readonly<Record<string, readonly unknown[]>>;

/** One point of a sweep: its parameters (grid path → value) and the whole plan it runs. */
export interface SweepPoint {
  index: number;
  params: Record<string, unknown>;
  plan: Plan;
  /** Short label: `sparse_ratio=0.5, pruner=l1-norm`. */
  label: string;
}

type Segment = string | number;

/**
 * Parse a JSON path (`$.steps[0].configList[0].sparse_ratio`, `steps[1]["pruner"]`; the `$` is optional).
 * @throws SweepError naming the path
 */
export function parseJsonPath(path: string): Segment[] {
  const out: Segment[] = [];
  let rest = path.trim().replace(/^\$/, '');
  if (rest === '') throw new SweepError(`grid path "${path}" names the whole plan, not one of its values`, path);
  if (!/^[.[]/.test(rest)) rest = `.${rest}`;
  const token = /^(?:\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\])/;
  while (rest.length > 0) {
    const m = token.exec(rest);
    if (!m)
      throw new SweepError(`grid path "${path}" is not a JSON path (at "${rest}"), e.g. $.steps[0].sparsity`, path);
    out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : (JSON.parse(m[3]!) as string)));
    rest = rest.slice(m[0].length);
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A copy of `root` with the value at `segments` replaced; the parent must exist in the plan. */
function setAt(
  root: unknown,
  segments: readonly Segment[],
  value: unknown,
  gridPath: string,
  done: Segment[] = [],
): unknown {
  const [head, ...tail] = segments;
  const at = planPath(done);
  if (typeof head === 'number') {
    if (!Array.isArray(root) || head >= root.length)
      throw new SweepError(`grid path ${gridPath}: the plan has no ${planPath([...done, head])}`, gridPath);
    const copy = [...root];
    copy[head] = tail.length ? setAt(root[head], tail, value, gridPath, [...done, head]) : value;
    return copy;
  }
  if (!isObject(root))
    throw new SweepError(`grid path ${gridPath}: the plan has no object at ${at} to hold "${head}"`, gridPath);
  if (tail.length && !Object.hasOwn(root, head!))
    throw new SweepError(`grid path ${gridPath}: the plan has no ${planPath([...done, head!])}`, gridPath);
  return { ...root, [head!]: tail.length ? setAt(root[head!], tail, value, gridPath, [...done, head!]) : value };
}

/** `sparse_ratio` for `$.steps[0].configList[0].sparse_ratio`; the whole path where two parameters end alike. */
function paramLabels(paths: readonly string[]): string[] {
  const tails = paths.map((p) => {
    const s = parseJsonPath(p);
    const last = s[s.length - 1]!;
    return typeof last === 'number' ? planPath(s.slice(-2)).replace(/^\$\.?/, '') : last;
  });
  return tails.map((t, i) => (tails.indexOf(t) === tails.lastIndexOf(t) ? t : paths[i]!));
}

const shown = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

/**
 * Expand a grid over a plan into its points: the cartesian product of the values, the first path varying slowest.
 * Every point's plan is validated; the first fault is a SweepError naming the grid path, the value and the plan's
 * own complaint.
 * @example expandSweep(plan, { '$.steps[0].sparsity': [0.3, 0.5], '$.steps[0].pruner': ['l1-norm', 'l2-norm'] }) // 4 points
 * @throws SweepError
 */
export function expandSweep(plan: Plan, grid: SweepGrid): SweepPoint[] {
  const paths = Object.keys(grid);
  if (paths.length === 0)
    throw new SweepError('the sweep has no grid: name at least one JSON path and its values', '$');
  const segments = paths.map((p) => parseJsonPath(p));
  let total = 1;
  for (const p of paths) {
    const values = grid[p]!;
    if (!Array.isArray(values) || values.length === 0)
      throw new SweepError(`grid path ${p}: give at least one value`, p);
    total *= values.length;
  }
  if (total > MAX_SWEEP_POINTS)
    throw new SweepError(`the grid has ${total} points, more than ${MAX_SWEEP_POINTS}: sweep fewer values`, '$');
  const labels = paramLabels(paths);
  const points: SweepPoint[] = [];
  for (let index = 0; index < total; index++) {
    let rest = index;
    const params: Record<string, unknown> = {};
    const picks = paths.map((_, k) => {
      const below = paths.slice(k + 1).reduce((n, q) => n * grid[q]!.length, 1);
      const v = grid[paths[k]!]![Math.floor(rest / below)];
      rest %= below;
      return v;
    });
    let raw: unknown = plan;
    paths.forEach((p, k) => {
      params[p] = picks[k];
      raw = setAt(raw, segments[k]!, picks[k], p);
    });
    const label = paths.map((_, k) => `${labels[k]}=${shown(picks[k])}`).join(', ');
    const parsed = safeParsePlan({ ...(raw as object), name: `${plan.name ?? 'sweep'} [${label}]` });
    if (!parsed.ok) {
      const issue = parsed.issues[0]!;
      const culprit = paths.find((p) => issue.path.startsWith(planPath(parseJsonPath(p)))) ?? paths[0]!;
      throw new SweepError(
        `grid path ${culprit} = ${shown(params[culprit])}: the plan refuses it at ${issue.path}: ${issue.message}`,
        culprit,
      );
    }
    points.push({ index, params, plan: parsed.plan, label });
  }
  return points;
}

/**
 * Read `--grid path=v1,v2,…` arguments: each value is JSON where it parses (numbers, booleans, quoted strings,
 * objects), else a plain string.
 * @example parseGridArgs(['$.steps[0].sparsity=0.3,0.5']) // { '$.steps[0].sparsity': [0.3, 0.5] }
 * @throws SweepError naming the argument
 */
export function parseGridArgs(args: readonly string[]): Record<string, unknown[]> {
  const grid: Record<string, unknown[]> = {};
  for (const a of args) {
    const eq = a.indexOf('=');
    if (eq <= 0) throw new SweepError(`--grid "${a}": expected <json path>=<value>,<value>,…`, a);
    const path = a.slice(0, eq).trim();
    const text = a.slice(eq + 1);
    const values = text.trim().startsWith('[') ? parseList(text, a) : text.split(',').map((t) => scalar(t.trim()));
    if (values.length === 0 || (values.length === 1 && values[0] === ''))
      throw new SweepError(`--grid "${a}": give at least one value`, path);
    grid[path] = [...(grid[path] ?? []), ...values];
  }
  return grid;
}

function parseList(text: string, arg: string): unknown[] {
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v)) return v;
  } catch {
    /* falls through to the named error */
  }
  throw new SweepError(`--grid "${arg}": a value list starting with "[" must be a JSON array`, arg);
}

function scalar(t: string): unknown {
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return t;
  }
}

/** The tags a sweep point's run carries: the sweep's id, and one per parameter (`sweep-param:sparse_ratio=0.5`). */
export function sweepTags(sweepId: string, point: SweepPoint): string[] {
  return [`sweep:${sweepId}`, ...point.label.split(', ').map((l) => `sweep-param:${l}`)];
}

/** The sweep a run belongs to, from its tags (null for a run outside any sweep). */
export function sweepOf(tags: readonly string[]): string | null {
  const t = tags.find((x) => x.startsWith('sweep:'));
  return t ? t.slice('sweep:'.length) : null;
}
