/**
 * @file `studio sweep <plan | sweep file> --grid <json path>=<v1>,<v2>,…`: every point of the grid is a whole run,
 * recorded in the store like `studio run` and tagged with the sweep id and its parameters; on the local pool, or as
 * queue jobs when a queue is configured (`--queue`, `$STUDIO_QUEUE`). One progress line and ETA for the sweep, then a
 * table of the points. Returns an exit code and writes only to the streams it is given. Never imports commander.
 */
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { errorLine } from '../../../src-shared/errors.ts';
import { parsePlan, PlanError, type Plan } from '../../../src-shared/experiment.ts';
import { formatBytes, formatDuration, formatPercent } from '../../../src-shared/format.ts';
import { expandSweep, parseGridArgs, sweepFileSchema, SweepError, type SweepPoint } from '../../../src-shared/sweep.ts';
import { QueueUrlError } from '../../../src-shared/queue.ts';
import { PathError, READ_LIMITS, readTextInput } from '../io/guard.ts';
import { loadPlanFile, resolvePlanPaths, assertPlanInputs } from '../jobs/plan-file.ts';
import { Runner } from '../jobs/runner.ts';
import { runSweep, type SweepOutcome, type SweepProgress } from '../jobs/sweep.ts';
import { runDispatch } from '../queue/choose.ts';
import { defaultWorkers } from '../sensitivity/pool.ts';
import { openStore, studioHome } from '../store/index.ts';
import { EXIT } from './runs.ts';
import { table } from './format.ts';

interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface SweepCommandOptions {
  /** `--grid path=v1,v2` arguments (added to a sweep file's grid). */
  grid?: string[];
  /** Runs at once on the local pool (default: cores − 1); ignored with a queue, where every point is queued. */
  workers?: number;
  queue?: string;
  artifactsDir?: string;
  /** Print the points and exit without running them. */
  dryRun?: boolean;
  json?: boolean;
  home?: string;
  stepModules?: string[];
  stdout?: Out;
  stderr?: Out;
  env?: NodeJS.ProcessEnv;
  /** Cancel the sweep on SIGINT / SIGTERM (default true). */
  handleSignals?: boolean;
}

/** Read a plan file, or a sweep file `{ plan, grid, name? }` whose plan is a path (relative to it) or inline. */
export function loadSweepInput(file: string): { plan: Plan; grid: Record<string, unknown[]>; name?: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readTextInput(file, { what: 'plan or sweep file', maxBytes: READ_LIMITS.json }));
  } catch (e) {
    if (e instanceof PathError) throw new SweepError(e.message, '$');
    throw new SweepError(`${file} is not valid JSON (${(e as Error).message})`, '$');
  }
  if (!raw || typeof raw !== 'object' || !('grid' in raw)) return { plan: loadPlanFile(file), grid: {} };
  const parsed = sweepFileSchema.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0]!;
    const at = `$${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;
    throw new SweepError(`sweep file ${file} ${at}: ${i.message}`, at);
  }
  const s = parsed.data;
  const plan =
    typeof s.plan === 'string'
      ? loadPlanFile(resolve(dirname(resolve(file)), s.plan))
      : resolvePlanPaths(parsePlan(s.plan), dirname(resolve(file)));
  if (typeof s.plan !== 'string') assertPlanInputs(plan);
  return { plan: s.name ? { ...plan, name: s.name } : plan, grid: s.grid, ...(s.name ? { name: s.name } : {}) };
}

/**
 * Run a sweep to its end. Exit 0 when every point succeeded, 1 when one failed, 2 for a bad sweep, 130 cancelled.
 * @example process.exitCode = await sweepCommand('plan.json', { grid: ['$.steps[0].configList[0].sparse_ratio=0.3,0.5'] });
 */
export async function sweepCommand(file: string, o: SweepCommandOptions = {}): Promise<number> {
  const out = o.stdout ?? process.stdout;
  const err = o.stderr ?? process.stderr;
  let points: SweepPoint[];
  let dispatch: ReturnType<typeof runDispatch>;
  try {
    for (const m of o.stepModules ?? []) await import(pathToFileURL(resolve(m)).href);
    const input = loadSweepInput(file);
    const grid = { ...input.grid };
    for (const [k, v] of Object.entries(parseGridArgs(o.grid ?? []))) grid[k] = [...(grid[k] ?? []), ...v];
    points = expandSweep(input.plan, grid);
    dispatch = runDispatch({ queue: o.queue, env: o.env, runOptions: { artifactsDir: o.artifactsDir } });
  } catch (e) {
    if (e instanceof SweepError || e instanceof PlanError || e instanceof QueueUrlError) {
      if (o.json)
        out.write(`${JSON.stringify({ type: 'error', error: { name: e.name, code: e.code, message: e.message } })}\n`);
      else err.write(`${errorLine(e)}\n`);
      return EXIT.usage;
    }
    throw e;
  }
  if (o.dryRun) {
    out.write(
      o.json
        ? `${JSON.stringify({ type: 'points', points: points.map(({ plan: _, ...p }) => p) })}\n`
        : `${points.map((p) => `${p.index + 1}. ${p.label}`).join('\n')}\n`,
    );
    return EXIT.ok;
  }
  const store = openStore(o.home ?? studioHome());
  const controller = new AbortController();
  const onSignal = () => controller.abort('interrupted from the terminal');
  if (o.handleSignals !== false) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  try {
    const concurrency = dispatch.queue ? points.length : Math.max(1, o.workers ?? defaultWorkers());
    const runner = new Runner({ store, spawner: dispatch.spawner, concurrency, stepModules: o.stepModules });
    if (!o.json)
      err.write(
        `sweep: ${points.length} point(s), ${dispatch.queue ? `as jobs on ${dispatch.queue}` : `${concurrency} at a time on this machine`}\n`,
      );
    let line = '';
    const result = await runSweep(points, runner, {
      signal: controller.signal,
      onSubmitted: (ids) => {
        if (o.json) out.write(`${JSON.stringify({ type: 'started', runIds: ids })}\n`);
      },
      onProgress: (p) => {
        if (o.json) return void out.write(`${JSON.stringify({ type: 'progress', ...p, points: undefined })}\n`);
        const next = sweepLine(p);
        if (err.isTTY) return void err.write(`\r\u001b[2K${next}`);
        else {
          // without a terminal: a line per point finished and per tenth of the sweep
          const mark = `${p.succeeded + p.failed}:${Math.floor(p.overall * 10)}`;
          if (mark !== line) err.write(`${next}\n`);
          line = mark;
        }
      },
    });
    if (err.isTTY && !o.json) err.write('\r\u001b[2K');
    return finish(result, o, out, err);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    store.close();
  }
}

/** `[####----]  40% sweep 2/5 done, 1 running, eta 1m10s` */
export function sweepLine(p: SweepProgress, width = 24): string {
  const filled = Math.round(p.overall * width);
  const eta = p.etaMs === null ? '' : ` eta ${formatDuration(p.etaMs)}`;
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(p.overall * 100)).padStart(3)}% sweep ${p.succeeded + p.failed}/${p.total} done${p.failed ? ` (${p.failed} failed)` : ''}, ${p.running} running${eta}`;
}

function finish(r: SweepOutcome, o: SweepCommandOptions, out: Out, err: Out): number {
  if (o.json) out.write(`${JSON.stringify({ type: 'result', sweepId: r.sweepId, points: r.outcomes })}\n`);
  else {
    out.write(
      `${table([
        ['point', 'run', 'status', 'accuracy', 'size', 'latency p50'],
        ...r.outcomes.map((x) => [
          x.label,
          x.runId.slice(0, 8),
          x.status,
          formatPercent(x.report?.after.accuracy),
          formatBytes(x.report?.after.sizeBytes),
          x.report?.after.latencyMs ? `${x.report.after.latencyMs.p50.toFixed(3)} ms` : '–',
        ]),
      ])}\n`,
    );
    err.write(`sweep ${r.sweepId}: compare its runs with \`studio runs list --tag sweep:${r.sweepId}\`\n`);
    for (const x of r.outcomes)
      if (x.error && x.status !== 'succeeded') err.write(`  ${x.label}: ${errorLine(x.error)}\n`);
  }
  if (r.outcomes.some((x) => x.status === 'cancelled')) return EXIT.cancelled;
  return r.outcomes.every((x) => x.status === 'succeeded') ? EXIT.ok : EXIT.failed;
}
