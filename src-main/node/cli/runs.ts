/**
 * @file Command-line pieces the `studio` CLI wires in: `runCommand` (progress bar on a TTY, JSON lines with
 * --json), `runsCommand` (list / show / compare / export / delete) and `resumeCommand`. Each returns an exit
 * code and writes only to the streams it is given. Imports the runner, the store and src-shared; never
 * commander or Electron.
 */
import { errorLine } from '../../../src-shared/errors.ts';
import { formatBytes, formatCount, formatFactor, formatPercent } from '../../../src-shared/format.ts';
import { table as columns } from './format.ts';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  PlanError,
  RUN_STATUSES,
  type LogEvent,
  type MetricSnapshot,
  type ProgressEvent,
  type RunStatus,
} from '../../../src-shared/experiment.ts';
import {
  openStore,
  RUN_SORT_KEYS,
  StoreError,
  studioHome,
  type RunSortKey,
  type RunSummary,
  type Store,
} from '../store/index.ts';
import { exportRun, ExportError, type ExportIo } from '../jobs/export.ts';
import { loadPlanFile } from '../jobs/plan-file.ts';
import { Runner, type Job, type JobOutcome, type RunnerOptions } from '../jobs/runner.ts';

export const EXIT = { ok: 0, failed: 1, usage: 2, cancelled: 130 } as const;

interface Out {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface CliOptions {
  /** Machine-readable output: JSON lines for `run` / `resume`, one JSON document for `runs`. */
  json?: boolean;
  /** App data folder (default `$STUDIO_HOME` or `~/.compression-studio`). */
  home?: string;
  stdout?: Out;
  stderr?: Out;
  /**
   * Modules workers import to register steps. `run` imports them here too, before validating the plan, so the
   * step kinds they register (`registerStepKind`) are known to the host.
   */
  stepModules?: string[];
  /** Extra runner options (spawner, grace, heartbeat). */
  runner?: Partial<Omit<RunnerOptions, 'store'>>;
  /** Cancel the job on SIGINT / SIGTERM (default true). */
  handleSignals?: boolean;
  /** `run` only: refuse a plan without a step of this kind (`studio compress` asks for a `compress` step). */
  requireStep?: string;
}

export interface RunsOptions extends CliOptions {
  status?: string;
  tag?: string;
  text?: string;
  sort?: string;
  order?: 'asc' | 'desc';
  limit?: number;
  /** `export`: replace files already in the folder. */
  overwrite?: boolean;
  /** `export`: the write primitive (tests inject a failing one). */
  exportIo?: ExportIo;
}

const streams = (opts: CliOptions) => ({ out: opts.stdout ?? process.stdout, err: opts.stderr ?? process.stderr });

/**
 * Runs a plan file to completion in a worker, showing progress. Exit code 0 when it succeeded, 1 when it failed,
 * 2 for a bad plan, 130 when cancelled.
 *
 * @example process.exitCode = await runCommand('plan.json', { json: true });
 */
export async function runCommand(planPath: string, opts: CliOptions = {}): Promise<number> {
  const { err } = streams(opts);
  return withStore(opts, async (store) => {
    let plan;
    try {
      for (const m of opts.stepModules ?? []) await import(moduleUrl(m));
      plan = loadPlanFile(planPath);
      const kind = opts.requireStep;
      if (kind && !plan.steps.some((s) => s.kind === kind))
        throw new UsageError(
          `${planPath} has no "${kind}" step (its steps: ${plan.steps.map((s) => s.kind).join(', ') || 'none'}); add one, e.g. { "kind": "${kind}", … }, or run the plan with \`studio run\``,
        );
    } catch (e) {
      return reportError(e, opts);
    }
    const runner = makeRunner(store, opts);
    let job: Job;
    try {
      job = runner.submit(plan);
    } catch (e) {
      return reportError(e, opts);
    }
    if (!opts.json) err.write(`run ${job.runId}: ${plan.steps.length} step(s) from ${planPath}\n`);
    return follow(job, store, opts);
  });
}

/** Continues an interrupted, failed or cancelled run at its first unfinished step. */
export async function resumeCommand(id: string, opts: CliOptions = {}): Promise<number> {
  const { err } = streams(opts);
  return withStore(opts, async (store) => {
    const runner = makeRunner(store, opts);
    let job: Job;
    try {
      job = runner.resume(id);
    } catch (e) {
      return reportError(e, opts);
    }
    if (!opts.json)
      err.write(
        `resuming run ${job.runId} at step ${store.firstUnfinishedStep(job.runId) + 1}/${store.getRun(job.runId)!.stepCount}\n`,
      );
    return follow(job, store, opts);
  });
}

/**
 * `runs list | show <id> | compare <id> <id>… | export <id> <dir> | delete <id>`.
 *
 * @example await runsCommand('compare', ['a1b2', 'c3d4'], { json: true });
 */
export async function runsCommand(action: string, args: readonly string[], opts: RunsOptions = {}): Promise<number> {
  const { out } = streams(opts);
  return withStore(opts, async (store) => {
    try {
      // A host killed without cleaning up leaves runs "running": say what they are before listing them.
      if (action === 'list' || action === 'show' || action === 'compare')
        store.recoverInterrupted({ by: `studio runs ${action}` });
      switch (action) {
        case 'list':
          return listRuns(store, opts);
        case 'show':
          return showRun(store, need(args, 1, 'runs show <id>')[0]!, opts);
        case 'compare':
          return compareRuns(store, need(args, 2, 'runs compare <id> <id>…'), opts);
        case 'export': {
          const [id, dir] = need(args, 2, 'runs export <id> <dir>');
          const res = await exportRun(store, store.resolveRunId(id!), dir!, {
            overwrite: opts.overwrite,
            io: opts.exportIo,
          });
          if (opts.json) out.write(`${JSON.stringify(res)}\n`);
          else
            out.write(
              `exported run ${id} to ${res.dir}\n${res.files.map((f) => `  ${f.name}  ${formatBytes(f.size)}  sha256 ${f.sha256.slice(0, 16)}…`).join('\n')}\n`,
            );
          return EXIT.ok;
        }
        case 'delete': {
          const runId = store.resolveRunId(need(args, 1, 'runs delete <id>')[0]!);
          store.deleteRun(runId);
          out.write(opts.json ? `${JSON.stringify({ deleted: runId })}\n` : `deleted run ${runId}\n`);
          return EXIT.ok;
        }
        default:
          throw new UsageError(`unknown action "${action}" (list, show, compare, export, delete)`);
      }
    } catch (e) {
      return reportError(e, opts);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------------

class UsageError extends Error {
  readonly code = 'USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

function need(args: readonly string[], n: number, usage: string): readonly string[] {
  if (args.length < n) throw new UsageError(`usage: studio ${usage}`);
  return args;
}

async function withStore(opts: CliOptions, fn: (store: Store) => Promise<number>): Promise<number> {
  let store: Store;
  try {
    store = openStore(opts.home ?? studioHome());
  } catch (e) {
    return reportError(e, opts);
  }
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

function moduleUrl(spec: string): string {
  return /^(file|data|node):/.test(spec) ? spec : pathToFileURL(resolve(spec)).href;
}

function makeRunner(store: Store, opts: CliOptions): Runner {
  return new Runner({
    ...opts.runner,
    store,
    stepModules: [...(opts.runner?.stepModules ?? []), ...(opts.stepModules ?? [])],
  });
}

function reportError(e: unknown, opts: CliOptions): number {
  const { out, err } = streams(opts);
  const error = e as Error & { code?: string; details?: unknown; issues?: unknown };
  const code = e instanceof PlanError || e instanceof UsageError ? EXIT.usage : EXIT.failed;
  if (opts.json)
    out.write(
      `${JSON.stringify({ type: 'error', error: { name: error.name, code: error.code ?? 'ERROR', message: error.message, details: error.details ?? null } })}\n`,
    );
  else if (e instanceof PlanError || e instanceof UsageError || e instanceof StoreError || e instanceof ExportError)
    err.write(`${errorLine(error)}\n`);
  // Not an expected error: main() prints it as one line (the stack only with --debug) and exits 2.
  else throw e;
  return code;
}

/** Follows a job to its end, rendering events, and returns its exit code. */
async function follow(job: Job, store: Store, opts: CliOptions): Promise<number> {
  const { out, err } = streams(opts);
  const render = opts.json ? jsonRenderer(out, job.runId) : err.isTTY ? barRenderer(err) : lineRenderer(err);
  job.on('progress', render.progress);
  job.on('log', render.log);
  job.on('step', (s) => render.step?.(s.index, s.kind, s.status));
  const onSignal = () => job.cancel('interrupted from the terminal');
  if (opts.handleSignals !== false) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let outcome: JobOutcome;
  try {
    outcome = await job.done;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  render.end();
  if (opts.json) out.write(`${JSON.stringify({ type: 'result', ...outcome })}\n`);
  else {
    err.write(`run ${outcome.runId} ${outcome.status}${outcome.error ? `: ${errorLine(outcome.error)}` : ''}\n`);
    if (outcome.report)
      out.write(
        `${snapshotTable([store.getRun(outcome.runId)!.name], [outcome.report.before], [outcome.report.after])}\n`,
      );
    if (outcome.status !== 'succeeded' && outcome.status !== 'cancelled')
      err.write(`resume it with: studio resume ${outcome.runId}\n`);
  }
  return outcome.status === 'succeeded' ? EXIT.ok : outcome.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
}

export interface Renderer {
  progress(e: ProgressEvent): void;
  log(e: LogEvent): void;
  step?(index: number, kind: string, status: string): void;
  end(): void;
}

/** JSON lines: `started`, then `progress` / `log` / `step`, then `result` (each carries the run id). */
function jsonRenderer(out: Out, runId: string): Renderer {
  out.write(`${JSON.stringify({ type: 'started', runId, t: Date.now() })}\n`);
  return {
    progress: (e) => out.write(`${JSON.stringify({ type: 'progress', runId, ...e })}\n`),
    log: (e) => out.write(`${JSON.stringify({ type: 'log', runId, ...e })}\n`),
    step: (index, kind, status) =>
      out.write(`${JSON.stringify({ type: 'step', runId, index, kind, status, t: Date.now() })}\n`),
    end: () => undefined,
  };
}

/** Plain lines (no TTY, e.g. a CI log): the step changes, the logs, and one progress line per tenth of the run. */
export function lineRenderer(err: Out): Renderer {
  let shown = 0;
  return {
    progress(e) {
      const tenth = Math.floor(e.overall * 10);
      if (tenth <= shown) return;
      shown = tenth;
      err.write(`${progressLine(e, 100)}\n`);
    },
    log: (e) => err.write(`  ${e.level === 'info' ? '' : `${e.level}: `}${e.message}\n`),
    step: (index, kind, status) => err.write(`step ${index + 1} ${kind}: ${status}\n`),
    end: () => undefined,
  };
}

/** A one-line progress bar redrawn in place (at most 10 times a second). */
function barRenderer(err: Out): Renderer {
  let lastDraw = 0;
  let line = '';
  const clear = () => err.write('\r\u001b[2K');
  return {
    progress(e) {
      const now = Date.now();
      if (now - lastDraw < 100 && e.fraction < 1) return;
      lastDraw = now;
      line = progressLine(e, Math.min(100, (err.columns ?? 80) - 1));
      clear();
      err.write(line);
    },
    log(e) {
      clear();
      err.write(`${e.level === 'info' ? '' : `${e.level}: `}${e.message}\n${line}`);
    },
    end() {
      clear();
    },
  };
}

/**
 * One progress line: bar, percent, step, loss / metric and ETA.
 *
 * @example progressLine(e, 80) // '[######------]  45% step 2/4 prune 60% loss 0.312 eta 1m05s'
 */
export function progressLine(e: ProgressEvent, width = 80): string {
  const step =
    e.stepIndex < 0
      ? 'measuring before'
      : e.stepIndex >= e.stepCount
        ? 'measuring after'
        : `step ${e.stepIndex + 1}/${e.stepCount} ${e.kind} ${Math.round(e.fraction * 100)}%`;
  const extra = [
    e.loss !== undefined ? `loss ${e.loss.toPrecision(3)}` : '',
    e.metric !== undefined ? `metric ${e.metric.toPrecision(3)}` : '',
    e.etaMs !== null ? `eta ${compactDuration(e.etaMs)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
  const text = ` ${String(Math.round(e.overall * 100)).padStart(3)}% ${step}${extra ? ` ${extra}` : ''}`;
  const barWidth = Math.max(10, Math.min(30, width - text.length - 2));
  const filled = Math.round(e.overall * barWidth);
  return `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]${text}`.slice(0, width);
}

function listRuns(store: Store, opts: RunsOptions): number {
  const { out } = streams(opts);
  const status = opts.status?.split(',').map((s) => s.trim()) as RunStatus[] | undefined;
  for (const s of status ?? [])
    if (!RUN_STATUSES.includes(s)) throw new UsageError(`unknown status "${s}" (${RUN_STATUSES.join(', ')})`);
  if (opts.sort && !RUN_SORT_KEYS.includes(opts.sort as RunSortKey))
    throw new UsageError(`cannot sort by "${opts.sort}" (${RUN_SORT_KEYS.join(', ')})`);
  const runs = store.listRuns({
    status,
    tag: opts.tag,
    text: opts.text,
    sort: opts.sort as RunSortKey | undefined,
    order: opts.order,
    limit: opts.limit,
  });
  if (opts.json) {
    out.write(`${JSON.stringify(runs.map(summaryJson))}\n`);
    return EXIT.ok;
  }
  const rows = runs.map((r) => [
    r.id,
    r.status,
    r.name,
    r.createdAt.replace('T', ' ').slice(0, 16),
    formatPercent(r.after?.accuracy),
    formatFactor(r.report?.factors.params),
    formatFactor(r.report?.factors.sizeBytes),
    formatFactor(r.report?.factors.latency),
    r.tags.join(','),
  ]);
  out.write(
    `${table(['id', 'status', 'name', 'created', 'accuracy', 'params ×', 'size ×', 'speed ×', 'tags'], rows)}\n`,
  );
  return EXIT.ok;
}

function showRun(store: Store, idOrPrefix: string, opts: RunsOptions): number {
  const { out } = streams(opts);
  const detail = store.getRunDetail(store.resolveRunId(idOrPrefix))!;
  if (opts.json) {
    out.write(`${JSON.stringify(detail)}\n`);
    return EXIT.ok;
  }
  const lines = [
    `run ${detail.id}  ${detail.name}  (experiment ${detail.experimentName})`,
    `status ${detail.status}${detail.error ? ` — ${detail.error.message}` : ''}`,
    `created ${detail.createdAt}${detail.startedAt ? `, started ${detail.startedAt}` : ''}${detail.finishedAt ? `, finished ${detail.finishedAt}` : ''}; attempts ${detail.attempts}`,
    `model ${detail.plan.model}`,
  ];
  if (detail.tags.length) lines.push(`tags ${detail.tags.join(', ')}`);
  if (detail.notes) lines.push(`notes ${detail.notes}`);
  lines.push(
    '',
    table(
      ['#', 'kind', 'status', 'time', 'summary'],
      detail.steps.map((s) => [
        String(s.index + 1),
        s.kind,
        s.status,
        s.durationMs === null ? '' : compactDuration(s.durationMs),
        s.error?.message ?? (s.result?.summary ? JSON.stringify(s.result.summary) : ''),
      ]),
    ),
  );
  if (detail.before || detail.after) lines.push('', snapshotTable(['value'], [detail.before], [detail.after]));
  lines.push(
    '',
    table(
      ['artifact', 'step', 'size', 'sha256'],
      detail.artifacts.map((a) => [
        a.relPath,
        a.stepIndex === null ? '' : String(a.stepIndex + 1),
        formatBytes(a.size),
        `${a.sha256.slice(0, 16)}…`,
      ]),
    ),
  );
  out.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

function compareRuns(store: Store, ids: readonly string[], opts: RunsOptions): number {
  const { out } = streams(opts);
  const runs = ids.map((id) => store.getRunDetail(store.resolveRunId(id))!);
  if (opts.json) {
    const series = store.metricSeries(runs.map((r) => r.id));
    out.write(
      `${JSON.stringify({ runs: runs.map(summaryJson), series: Object.fromEntries([...series].map(([id, m]) => [id, Object.fromEntries(m)])) })}\n`,
    );
    return EXIT.ok;
  }
  const steps = runs.map((r) => r.plan.steps.map((s) => s.kind).join(' → ') || '(none)');
  out.write(
    `${table(
      ['', ...runs.map((r) => r.id)],
      [
        ['name', ...runs.map((r) => r.name)],
        ['status', ...runs.map((r) => r.status)],
        ['steps', ...steps],
      ],
    )}\n\n`,
  );
  out.write(
    `${snapshotTable(
      runs.map((r) => r.id),
      runs.map((r) => r.before),
      runs.map((r) => r.after),
    )}\n`,
  );
  return EXIT.ok;
}

function summaryJson(r: RunSummary) {
  return {
    id: r.id,
    name: r.name,
    experiment: r.experimentName,
    status: r.status,
    createdAt: r.createdAt,
    finishedAt: r.finishedAt,
    tags: r.tags,
    notes: r.notes,
    plan: r.plan,
    before: r.before,
    after: r.after,
    factors: r.report?.factors ?? null,
    error: r.error,
  };
}

/** Metrics as rows, one before → after column per run. */
function snapshotTable(
  names: readonly string[],
  before: readonly (MetricSnapshot | null)[],
  after: readonly (MetricSnapshot | null)[],
): string {
  const rows: [string, (s: MetricSnapshot) => string][] = [
    ['accuracy', (s) => formatPercent(s.accuracy)],
    ['loss', (s) => (s.loss === null ? '–' : s.loss.toPrecision(4))],
    ['params', (s) => formatCount(s.params)],
    ['MACs', (s) => (s.macs === null ? '–' : formatCount(s.macs))],
    ['size', (s) => formatBytes(s.sizeBytes)],
    ['latency p50 batch 1', (s) => (s.latencyMs ? `${s.latencyMs.p50.toFixed(3)} ms` : '–')],
    [
      `latency p50 batch ${evalBatchOf([...before, ...after]) ?? 'N'}`,
      (s) => (s.latencyAtEvalBatch ? `${s.latencyAtEvalBatch.p50.toFixed(2)} ms` : '–'),
    ],
  ];
  const cell = (b: MetricSnapshot | null, a: MetricSnapshot | null, f: (s: MetricSnapshot) => string) =>
    `${b ? f(b) : '–'} → ${a ? f(a) : '–'}`;
  return table(
    ['metric', ...names],
    rows.map(([label, f]) => [label, ...names.map((_, i) => cell(before[i] ?? null, after[i] ?? null, f))]),
  );
}

/** The evaluation batch size the snapshots were timed at (the first one that says). */
function evalBatchOf(snaps: readonly (MetricSnapshot | null)[]): number | undefined {
  return snaps.find((s) => s?.latencyAtEvalBatch)?.latencyAtEvalBatch?.batch;
}

/** Columns under a header row and its dashes. */
function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return columns([head, ...rows], { rule: true });
}

/** A duration as the progress bar and step table print it, without spaces ('1m05s'; src-shared's is '1 m 05 s'). */
function compactDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60
    ? `${m}m${String(s % 60).padStart(2, '0')}s`
    : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
