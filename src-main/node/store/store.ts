/**
 * @file The experiment store: better-sqlite3 (WAL, foreign keys on) for experiments, runs, steps, metric series,
 * snapshots and reports; artifacts as files under the app data folder with their sha256 in the database. Every
 * multi-row write is one transaction; every file is written to a temporary name and renamed. Imports
 * better-sqlite3, node:* and src-shared; never jobs, host, runtime or Electron.
 */
import { prepareOutputDir } from '../io/guard.ts';
import Database, { type Database as Db } from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  metricSnapshotSchema,
  runReportSchema,
  SORTABLE_METRICS,
  type MetricSnapshot,
  type Plan,
  type RunReport,
  type RunStatus,
  type SerializedError,
  type SortableMetric,
  type StepStatus,
} from '../../../src-shared/experiment.ts';
import { copyFileAtomic, sha256Of, writeFileAtomic } from './files.ts';
import { migrate } from './schema.ts';

export interface ExperimentRecord {
  id: string;
  name: string;
  createdAt: string;
}

export interface RunRecord {
  id: string;
  experimentId: string;
  experimentName: string;
  name: string;
  status: RunStatus;
  /** The plan as validated at submission (paths absolute). */
  plan: Plan;
  planSha256: string;
  stepCount: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: SerializedError | null;
  hostPid: number | null;
  workerPid: number | null;
  /** How many times a worker was started for this run (1 + resumes). */
  attempts: number;
  notes: string;
  tags: string[];
}

/** What the store keeps of a step's result (files become artifacts). */
export interface StoredStepResult {
  metrics?: Partial<MetricSnapshot>;
  summary?: Record<string, unknown>;
  /** Who ran the step: a queue worker, or `local` for this machine's own worker processes. */
  ranBy?: { worker: string; machine: string; ep: string };
}

export interface StepRecord {
  runId: string;
  index: number;
  kind: string;
  status: StepStatus;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  result: StoredStepResult | null;
  error: SerializedError | null;
}

export type ArtifactKind = 'plan' | 'model' | 'model-data' | 'report' | 'file' | (string & {});

export interface ArtifactRecord {
  id: number;
  runId: string;
  stepIndex: number | null;
  kind: ArtifactKind;
  name: string;
  relPath: string;
  /** Absolute path of the file. */
  path: string;
  sha256: string;
  size: number;
  createdAt: string;
}

/** A file copied into the artifacts folder but not yet recorded (see `completeStep`). */
export interface StagedArtifact {
  kind: ArtifactKind;
  name: string;
  relPath: string;
  sha256: string;
  size: number;
}

export interface MetricPoint {
  stepIndex: number;
  name: string;
  x: number;
  value: number;
  /** Epoch milliseconds. */
  t: number;
}

export interface RunSummary extends RunRecord {
  report: RunReport | null;
  before: MetricSnapshot | null;
  after: MetricSnapshot | null;
}

export interface RunDetail extends RunSummary {
  steps: StepRecord[];
  artifacts: ArtifactRecord[];
}

export type RunSortKey = 'created' | 'started' | 'finished' | 'name' | 'status' | SortableMetric;

export interface RunFilter {
  status?: RunStatus | readonly RunStatus[];
  tag?: string;
  /** Case-insensitive substring of the run's id, name, notes, experiment name or plan. */
  text?: string;
  experimentId?: string;
  sort?: RunSortKey;
  order?: 'asc' | 'desc';
  limit?: number;
}

/** A named store fault: a run that does not exist, is ambiguous, or is still active. */
export class StoreError extends Error {
  constructor(
    readonly code: 'RUN_NOT_FOUND' | 'RUN_AMBIGUOUS' | 'RUN_ACTIVE' | 'RUN_STATE',
    message: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

const now = () => new Date().toISOString();
const json = (v: unknown) => (v === undefined || v === null ? null : JSON.stringify(v));
const parse = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T));
const ACTIVE: readonly RunStatus[] = ['queued', 'running'];

const SORT_SQL: Record<RunSortKey, string> = {
  created: 'r.created_at',
  started: 'r.started_at',
  finished: 'r.finished_at',
  name: 'r.name COLLATE NOCASE',
  status: 'r.status',
  ...(Object.fromEntries(SORTABLE_METRICS.map((m) => [m, `json_extract(rep.report_json, '$.${m}')`])) as Record<
    SortableMetric,
    string
  >),
};

/** Every key `listRuns` can sort by. */
export const RUN_SORT_KEYS = Object.keys(SORT_SQL) as RunSortKey[];

interface RunRow {
  id: string;
  experiment_id: string;
  experiment_name: string;
  name: string;
  status: RunStatus;
  plan_json: string;
  plan_sha256: string;
  step_count: number;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  error_json: string | null;
  host_pid: number | null;
  worker_pid: number | null;
  attempts: number;
  notes: string;
  tags: string | null;
}

const RUN_SELECT = `
  SELECT r.*, e.name AS experiment_name,
         (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM run_tags WHERE run_id = r.id ORDER BY tag)) AS tags
  FROM runs r JOIN experiments e ON e.id = r.experiment_id`;

/**
 * Opens (creating and migrating as needed) the store in an app data folder.
 *
 * @example
 * const store = openStore(studioHome());
 * const run = store.createRun({ plan });
 * store.close();
 */
export function openStore(home: string, opts: { busyTimeoutMs?: number } = {}): Store {
  return new Store(home, opts);
}

export class Store {
  readonly home: string;
  readonly db: Db;

  constructor(home: string, opts: { busyTimeoutMs?: number } = {}) {
    // The home comes from $STUDIO_HOME or a flag: checked (no pseudo-filesystem, ~ expanded) before anything is created.
    this.home = prepareOutputDir(home, { what: 'experiment store folder' });
    mkdirSync(join(this.home, 'artifacts'), { recursive: true });
    this.db = new Database(join(this.home, 'studio.db'));
    try {
      this.db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      migrate(this.db);
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** `PRAGMA integrity_check` and `foreign_key_check`: `['ok']` when the database is sound. */
  integrityCheck(): string[] {
    const rows = this.db.pragma('integrity_check') as { integrity_check: string }[];
    const fk = this.db.pragma('foreign_key_check') as { table: string; rowid: number; parent: string }[];
    return [
      ...rows.map((r) => r.integrity_check),
      ...fk.map((f) => `foreign key: ${f.table} row ${f.rowid} → ${f.parent}`),
    ];
  }

  /** Folder of a run's artifacts. */
  runDir(runId: string): string {
    return join(this.home, 'artifacts', runId);
  }

  /** Scratch folder for a run's worker (checkpoint dirs are made under it). */
  workDir(runId: string): string {
    return join(this.home, 'work', runId);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Experiments

  /** The experiment of that name, created if missing. */
  ensureExperiment(name: string): ExperimentRecord {
    const found = this.db.prepare('SELECT id, name, created_at FROM experiments WHERE name = ?').get(name) as
      { id: string; name: string; created_at: string } | undefined;
    if (found) return { id: found.id, name: found.name, createdAt: found.created_at };
    const rec = { id: newId(), name, createdAt: now() };
    this.db
      .prepare('INSERT INTO experiments (id, name, created_at) VALUES (?, ?, ?)')
      .run(rec.id, rec.name, rec.createdAt);
    return rec;
  }

  listExperiments(): ExperimentRecord[] {
    const rows = this.db.prepare('SELECT id, name, created_at FROM experiments ORDER BY created_at').all() as {
      id: string;
      name: string;
      created_at: string;
    }[];
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Runs

  /**
   * Records a new queued run: its plan (row and `plan.json` artifact), one pending row per step, tags and notes.
   * The plan file is written first; if the transaction fails it is removed again.
   */
  createRun(input: {
    plan: Plan;
    experiment?: string;
    name?: string;
    tags?: readonly string[];
    notes?: string;
    hostPid?: number;
  }): RunRecord {
    const id = newId();
    const planJson = JSON.stringify(input.plan, null, 2);
    const planSha = sha256Of(planJson);
    const dir = this.runDir(id);
    mkdirSync(dir, { recursive: true });
    writeFileAtomic(join(dir, 'plan.json'), planJson);
    const createdAt = now();
    try {
      this.tx(() => {
        const exp = this.ensureExperiment(input.experiment ?? input.plan.name ?? 'default');
        this.db
          .prepare(
            `INSERT INTO runs (id, experiment_id, name, status, plan_json, plan_sha256, step_count, created_at, notes, host_pid)
             VALUES (?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            id,
            exp.id,
            input.name ?? input.plan.name ?? `run ${id}`,
            planJson,
            planSha,
            input.plan.steps.length,
            createdAt,
            input.notes ?? '',
            input.hostPid ?? process.pid,
          );
        const step = this.db.prepare("INSERT INTO steps (run_id, idx, kind, status) VALUES (?, ?, ?, 'pending')");
        input.plan.steps.forEach((s, i) => step.run(id, i, s.kind));
        this.insertArtifact(id, null, {
          kind: 'plan',
          name: 'plan.json',
          relPath: `${id}/plan.json`,
          sha256: planSha,
          size: Buffer.byteLength(planJson),
        });
        this.writeTags(id, [...(input.tags ?? []), ...(input.plan.tags ?? [])]);
      });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    return this.getRun(id)!;
  }

  getRun(id: string): RunRecord | null {
    const row = this.db.prepare(`${RUN_SELECT} WHERE r.id = ?`).get(id) as RunRow | undefined;
    return row ? toRun(row) : null;
  }

  /** The run with this id, or the only run whose id starts with it. */
  resolveRunId(idOrPrefix: string): string {
    if (this.getRun(idOrPrefix)) return idOrPrefix;
    const like = `${idOrPrefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = this.db.prepare("SELECT id FROM runs WHERE id LIKE ? ESCAPE '\\' LIMIT 2").all(like) as {
      id: string;
    }[];
    if (rows.length === 0 || idOrPrefix.length === 0) throw new StoreError('RUN_NOT_FOUND', `no run "${idOrPrefix}"`);
    if (rows.length > 1)
      throw new StoreError('RUN_AMBIGUOUS', `run id prefix "${idOrPrefix}" matches several runs; give more of it`);
    return rows[0]!.id;
  }

  /** Marks a run as running in this host process (a new attempt). */
  markRunStarted(runId: string, hostPid = process.pid): void {
    this.db
      .prepare(
        `UPDATE runs SET status = 'running', started_at = COALESCE(started_at, ?), finished_at = NULL, error_json = NULL,
         host_pid = ?, worker_pid = NULL, attempts = attempts + 1 WHERE id = ?`,
      )
      .run(now(), hostPid, runId);
  }

  setWorkerPid(runId: string, pid: number | null): void {
    this.db.prepare('UPDATE runs SET worker_pid = ? WHERE id = ?').run(pid, runId);
  }

  /**
   * Ends a run: its status, error and finish time, any step still running takes `stepStatus` (with the error),
   * and a report when given (file, artifact and row). One transaction.
   */
  finishRun(
    runId: string,
    status: Exclude<RunStatus, 'queued' | 'running'>,
    opts: { error?: SerializedError; report?: RunReport; stepStatus?: StepStatus } = {},
  ): void {
    let staged: StagedArtifact | null = null;
    if (opts.report) {
      const text = JSON.stringify(runReportSchema.parse(opts.report), null, 2);
      writeFileAtomic(join(this.runDir(runId), 'report.json'), text);
      staged = {
        kind: 'report',
        name: 'report.json',
        relPath: `${runId}/report.json`,
        sha256: sha256Of(text),
        size: Buffer.byteLength(text),
      };
    }
    const stepStatus = opts.stepStatus ?? (status === 'succeeded' ? 'done' : status === 'failed' ? 'failed' : status);
    this.tx(() => {
      const t = now();
      this.db
        .prepare('UPDATE runs SET status = ?, finished_at = ?, error_json = ?, worker_pid = NULL WHERE id = ?')
        .run(status, t, json(opts.error), runId);
      this.db
        .prepare("UPDATE steps SET status = ?, finished_at = ?, error_json = ? WHERE run_id = ? AND status = 'running'")
        .run(stepStatus, t, json(opts.error), runId);
      if (opts.report && staged) {
        this.db
          .prepare('INSERT OR REPLACE INTO reports (run_id, report_json, created_at) VALUES (?, ?, ?)')
          .run(runId, JSON.stringify(opts.report), t);
        this.db.prepare("DELETE FROM artifacts WHERE run_id = ? AND kind = 'report'").run(runId);
        this.insertArtifact(runId, null, staged);
      }
    });
  }

  /**
   * Prepares a stopped run to continue: status queued, unfinished steps pending, old after-snapshot and report
   * dropped. Returns the index of the first unfinished step (= step count when all are done).
   */
  prepareResume(runId: string, hostPid = process.pid): number {
    const run = this.requireRun(runId);
    if (ACTIVE.includes(run.status))
      throw new StoreError('RUN_ACTIVE', `run ${runId} is ${run.status}; it cannot be resumed`);
    if (run.status === 'succeeded')
      throw new StoreError('RUN_STATE', `run ${runId} already succeeded; nothing to resume`);
    return this.tx(() => {
      this.db
        .prepare(
          "UPDATE runs SET status = 'queued', finished_at = NULL, error_json = NULL, worker_pid = NULL, host_pid = ? WHERE id = ?",
        )
        .run(hostPid, runId);
      this.db
        .prepare(
          "UPDATE steps SET status = 'pending', started_at = NULL, finished_at = NULL, error_json = NULL WHERE run_id = ? AND status != 'done'",
        )
        .run(runId);
      this.db.prepare("DELETE FROM snapshots WHERE run_id = ? AND phase = 'after'").run(runId);
      this.db.prepare('DELETE FROM reports WHERE run_id = ?').run(runId);
      return this.firstUnfinishedStep(runId);
    });
  }

  /** Index of the first step not done (step count when all are). */
  firstUnfinishedStep(runId: string): number {
    const row = this.db.prepare("SELECT MIN(idx) AS i FROM steps WHERE run_id = ? AND status != 'done'").get(runId) as {
      i: number | null;
    };
    return row.i ?? this.requireRun(runId).stepCount;
  }

  /**
   * Marks runs left `running` or `queued` by a host that is gone as `interrupted` (with the reason), and their
   * running steps too. Runs owned by another live host, or listed in `active` (this host's own), are left alone.
   * Returns the ids marked.
   */
  recoverInterrupted(
    opts: {
      isAlive?: (pid: number, sinceMs?: number) => boolean;
      selfPid?: number;
      active?: Iterable<string>;
      by?: string;
    } = {},
  ): string[] {
    const isAlive = opts.isAlive ?? pidAlive;
    const now = new Date().toISOString();
    const active = new Set(opts.active ?? []);
    const self = opts.selfPid ?? process.pid;
    const rows = this.db
      .prepare(
        "SELECT id, status, host_pid, worker_pid, created_at, started_at FROM runs WHERE status IN ('running', 'queued')",
      )
      .all() as {
      id: string;
      status: RunStatus;
      host_pid: number | null;
      worker_pid: number | null;
      created_at: string;
      started_at: string | null;
    }[];
    const marked: string[] = [];
    this.tx(() => {
      for (const r of rows) {
        if (active.has(r.id)) continue;
        // A pid that is alive but started after the run did is a new process that reused the number.
        const since = Date.parse(r.started_at ?? r.created_at);
        if (r.host_pid !== null && r.host_pid !== self && isAlive(r.host_pid, since)) continue;
        const worker =
          r.worker_pid !== null && isAlive(r.worker_pid, since) ? `worker ${r.worker_pid} orphaned` : 'worker gone';
        const error: SerializedError = {
          name: 'InterruptedError',
          code: 'RUN_INTERRUPTED',
          message: `the app exited while the run was ${r.status} (host ${r.host_pid ?? 'unknown'} gone, ${worker}; found at ${now}${opts.by ? ` by ${opts.by}` : ''}); resume it to continue`,
          details: { hostPid: r.host_pid, workerPid: r.worker_pid, detectedAt: now, detectedBy: opts.by ?? null },
        };
        this.finishRun(r.id, 'interrupted', { error, stepStatus: 'interrupted' });
        marked.push(r.id);
      }
    });
    return marked;
  }

  setName(runId: string, name: string): void {
    this.requireRun(runId);
    this.db.prepare('UPDATE runs SET name = ? WHERE id = ?').run(name, runId);
  }

  setNotes(runId: string, notes: string): void {
    this.requireRun(runId);
    this.db.prepare('UPDATE runs SET notes = ? WHERE id = ?').run(notes, runId);
  }

  setTags(runId: string, tags: readonly string[]): void {
    this.requireRun(runId);
    this.tx(() => {
      this.db.prepare('DELETE FROM run_tags WHERE run_id = ?').run(runId);
      this.writeTags(runId, tags);
    });
  }

  /** Deletes a run, its rows (one transaction) and then its files. Refuses an active run unless `force`. */
  deleteRun(runId: string, opts: { force?: boolean } = {}): void {
    const run = this.requireRun(runId);
    if (ACTIVE.includes(run.status) && !opts.force)
      throw new StoreError('RUN_ACTIVE', `run ${runId} is ${run.status}; cancel it before deleting`);
    this.tx(() => {
      this.db.prepare('DELETE FROM runs WHERE id = ?').run(runId);
      const left = this.db.prepare('SELECT COUNT(*) AS n FROM runs WHERE experiment_id = ?').get(run.experimentId) as {
        n: number;
      };
      if (left.n === 0) this.db.prepare('DELETE FROM experiments WHERE id = ?').run(run.experimentId);
    });
    // Rows first: a crash here leaves orphan files (harmless), never rows pointing at missing files.
    rmSync(this.runDir(runId), { recursive: true, force: true });
    rmSync(this.workDir(runId), { recursive: true, force: true });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Steps, snapshots, metrics

  getSteps(runId: string): StepRecord[] {
    const rows = this.db.prepare('SELECT * FROM steps WHERE run_id = ? ORDER BY idx').all(runId) as {
      run_id: string;
      idx: number;
      kind: string;
      status: StepStatus;
      started_at: string | null;
      finished_at: string | null;
      duration_ms: number | null;
      result_json: string | null;
      error_json: string | null;
    }[];
    return rows.map((r) => ({
      runId: r.run_id,
      index: r.idx,
      kind: r.kind,
      status: r.status,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
      durationMs: r.duration_ms,
      result: parse<StoredStepResult>(r.result_json),
      error: parse<SerializedError>(r.error_json),
    }));
  }

  startStep(runId: string, index: number): void {
    this.db
      .prepare(
        "UPDATE steps SET status = 'running', started_at = ?, finished_at = NULL, error_json = NULL WHERE run_id = ? AND idx = ?",
      )
      .run(now(), runId, index);
  }

  /**
   * Copies a file a step produced into the run's artifacts folder (temporary name, then rename), hashing it.
   * The copy is recorded only by `completeStep`, so a crash in between leaves the step unfinished.
   */
  async stageArtifact(
    runId: string,
    stepIndex: number,
    src: string,
    meta: { kind: ArtifactKind; name: string },
  ): Promise<StagedArtifact> {
    assertPlainName(meta.name);
    const relPath = `${runId}/step-${stepIndex}/${meta.name}`;
    const { sha256, size } = await copyFileAtomic(src, join(this.home, 'artifacts', relPath));
    return { kind: meta.kind, name: meta.name, relPath, sha256, size };
  }

  /** Marks a step done with its result and artifacts (replacing those of an earlier attempt). One transaction. */
  completeStep(
    runId: string,
    index: number,
    done: { durationMs: number; result: StoredStepResult; artifacts: readonly StagedArtifact[] },
  ): void {
    this.tx(() => {
      this.db.prepare('DELETE FROM artifacts WHERE run_id = ? AND step_idx = ?').run(runId, index);
      for (const a of done.artifacts) this.insertArtifact(runId, index, a);
      this.db
        .prepare(
          "UPDATE steps SET status = 'done', finished_at = ?, duration_ms = ?, result_json = ?, error_json = NULL WHERE run_id = ? AND idx = ?",
        )
        .run(now(), done.durationMs, json(done.result), runId, index);
    });
  }

  recordSnapshot(runId: string, phase: 'before' | 'after', snapshot: MetricSnapshot): void {
    this.db
      .prepare('INSERT OR REPLACE INTO snapshots (run_id, phase, snapshot_json) VALUES (?, ?, ?)')
      .run(runId, phase, JSON.stringify(metricSnapshotSchema.parse(snapshot)));
  }

  getSnapshot(runId: string, phase: 'before' | 'after'): MetricSnapshot | null {
    const row = this.db
      .prepare('SELECT snapshot_json FROM snapshots WHERE run_id = ? AND phase = ?')
      .get(runId, phase) as { snapshot_json: string } | undefined;
    return row ? (JSON.parse(row.snapshot_json) as MetricSnapshot) : null;
  }

  /** Deletes a run's metric points of the steps `which` picks (a re-attached run replays them). */
  dropMetrics(runId: string, which: (stepIndex: number) => boolean): void {
    const steps = this.getSteps(runId)
      .map((s) => s.index)
      .filter(which);
    const del = this.db.prepare('DELETE FROM metrics WHERE run_id = ? AND step_idx = ?');
    this.tx(() => {
      for (const i of steps) del.run(runId, i);
    });
  }

  /** Appends metric points in one transaction. */
  appendMetrics(runId: string, points: readonly MetricPoint[]): void {
    if (points.length === 0) return;
    const insert = this.db.prepare(
      'INSERT INTO metrics (run_id, step_idx, name, x, value, t) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.tx(() => {
      for (const p of points) insert.run(runId, p.stepIndex, p.name, p.x, p.value, Math.round(p.t));
    });
  }

  /**
   * Metric series of several runs: run id → metric name → points in x order.
   *
   * @example store.metricSeries(['a1', 'b2'], ['loss']).get('a1')?.get('loss') // [{ x: 0, value: 2.3, … }, …]
   */
  metricSeries(runIds: readonly string[], names?: readonly string[]): Map<string, Map<string, MetricPoint[]>> {
    const out = new Map<string, Map<string, MetricPoint[]>>(runIds.map((id) => [id, new Map()]));
    if (runIds.length === 0) return out;
    const nameClause = names && names.length > 0 ? ` AND name IN (${names.map(() => '?').join(',')})` : '';
    const rows = this.db
      .prepare(
        `SELECT run_id, step_idx, name, x, value, t FROM metrics WHERE run_id IN (${runIds.map(() => '?').join(',')})${nameClause} ORDER BY run_id, name, step_idx, x, id`,
      )
      .all(...runIds, ...(names ?? [])) as {
      run_id: string;
      step_idx: number;
      name: string;
      x: number;
      value: number;
      t: number;
    }[];
    for (const r of rows) {
      const byName = out.get(r.run_id)!;
      if (!byName.has(r.name)) byName.set(r.name, []);
      byName.get(r.name)!.push({ stepIndex: r.step_idx, name: r.name, x: r.x, value: r.value, t: r.t });
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Artifacts, reports, queries

  listArtifacts(runId: string): ArtifactRecord[] {
    const rows = this.db
      .prepare('SELECT * FROM artifacts WHERE run_id = ? ORDER BY step_idx NULLS FIRST, id')
      .all(runId) as {
      id: number;
      run_id: string;
      step_idx: number | null;
      kind: string;
      name: string;
      rel_path: string;
      sha256: string;
      size: number;
      created_at: string;
    }[];
    return rows.map((r) => ({
      id: r.id,
      runId: r.run_id,
      stepIndex: r.step_idx,
      kind: r.kind,
      name: r.name,
      relPath: r.rel_path,
      path: join(this.home, 'artifacts', r.rel_path),
      sha256: r.sha256,
      size: r.size,
      createdAt: r.created_at,
    }));
  }

  /**
   * The model a run has reached before step `beforeStep` (default: all steps): the model artifact of the latest
   * done step that changed the model, with its companion data files; null when no step changed it yet.
   */
  latestModel(
    runId: string,
    beforeStep = Number.POSITIVE_INFINITY,
  ): { model: ArtifactRecord; data: ArtifactRecord[] } | null {
    const done = new Set(
      this.getSteps(runId)
        .filter((s) => s.status === 'done')
        .map((s) => s.index),
    );
    const arts = this.listArtifacts(runId).filter(
      (a) => a.stepIndex !== null && a.stepIndex < beforeStep && done.has(a.stepIndex),
    );
    const model = arts.filter((a) => a.kind === 'model').at(-1);
    if (!model) return null;
    return { model, data: arts.filter((a) => a.kind === 'model-data' && a.stepIndex === model.stepIndex) };
  }

  getReport(runId: string): RunReport | null {
    const row = this.db.prepare('SELECT report_json FROM reports WHERE run_id = ?').get(runId) as
      { report_json: string } | undefined;
    return row ? (JSON.parse(row.report_json) as RunReport) : null;
  }

  getRunDetail(runId: string): RunDetail | null {
    const run = this.getRun(runId);
    if (!run) return null;
    return { ...this.summarize(run), steps: this.getSteps(runId), artifacts: this.listArtifacts(runId) };
  }

  /**
   * Runs with their plan and final metrics for the comparison view: filter by status / tag / text / experiment,
   * sort by date, name, status or any report metric (nulls last).
   *
   * @example store.listRuns({ status: 'succeeded', tag: 'resnet', sort: 'after.accuracy', order: 'desc' })
   */
  listRuns(filter: RunFilter = {}): RunSummary[] {
    const where: string[] = [];
    const args: unknown[] = [];
    const statuses =
      filter.status === undefined ? [] : typeof filter.status === 'string' ? [filter.status] : [...filter.status];
    if (statuses.length > 0) {
      where.push(`r.status IN (${statuses.map(() => '?').join(',')})`);
      args.push(...statuses);
    }
    if (filter.tag) {
      where.push('EXISTS (SELECT 1 FROM run_tags t WHERE t.run_id = r.id AND t.tag = ?)');
      args.push(filter.tag);
    }
    if (filter.experimentId) {
      where.push('r.experiment_id = ?');
      args.push(filter.experimentId);
    }
    if (filter.text) {
      const like = `%${filter.text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      where.push(
        `(${['r.id', 'r.name', 'r.notes', 'e.name', 'r.plan_json'].map((c) => `${c} LIKE ? ESCAPE '\\'`).join(' OR ')})`,
      );
      args.push(like, like, like, like, like);
    }
    const sortKey = filter.sort ?? 'created';
    const sortSql = SORT_SQL[sortKey];
    if (!sortSql) throw new RangeError(`cannot sort runs by "${String(sortKey)}"`);
    const order = filter.order ?? (filter.sort === undefined ? 'desc' : 'asc');
    const sql = `
      SELECT q.* FROM (${RUN_SELECT} LEFT JOIN reports rep ON rep.run_id = r.id
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY ${sortSql} ${order === 'desc' ? 'DESC' : 'ASC'} NULLS LAST, r.created_at DESC, r.rowid DESC
        ${filter.limit ? `LIMIT ${Math.max(1, Math.floor(filter.limit))}` : ''}) q`;
    const rows = this.db.prepare(sql).all(...args) as RunRow[];
    return rows.map((row) => this.summarize(toRun(row)));
  }

  // ------------------------------------------------------------------------------------------------------------

  private summarize(run: RunRecord): RunSummary {
    const report = this.getReport(run.id);
    return {
      ...run,
      report,
      before: report?.before ?? this.getSnapshot(run.id, 'before'),
      after: report?.after ?? this.getSnapshot(run.id, 'after'),
    };
  }

  private requireRun(runId: string): RunRecord {
    const run = this.getRun(runId);
    if (!run) throw new StoreError('RUN_NOT_FOUND', `no run "${runId}"`);
    return run;
  }

  private insertArtifact(runId: string, stepIndex: number | null, a: StagedArtifact): void {
    this.db
      .prepare(
        'INSERT OR REPLACE INTO artifacts (run_id, step_idx, kind, name, rel_path, sha256, size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(runId, stepIndex, a.kind, a.name, a.relPath, a.sha256, a.size, now());
  }

  private writeTags(runId: string, tags: readonly string[]): void {
    const insert = this.db.prepare('INSERT OR IGNORE INTO run_tags (run_id, tag) VALUES (?, ?)');
    for (const tag of new Set(tags.map((t) => t.trim()).filter((t) => t.length > 0))) insert.run(runId, tag);
  }

  /** Runs `fn` in an IMMEDIATE transaction (nested calls join the outer one). */
  private tx<T>(fn: () => T): T {
    if (this.db.inTransaction) return fn();
    return this.db.transaction(fn).immediate();
  }
}

function toRun(row: RunRow): RunRecord {
  return {
    id: row.id,
    experimentId: row.experiment_id,
    experimentName: row.experiment_name,
    name: row.name,
    status: row.status,
    plan: JSON.parse(row.plan_json) as Plan,
    planSha256: row.plan_sha256,
    stepCount: row.step_count,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: parse<SerializedError>(row.error_json),
    hostPid: row.host_pid,
    workerPid: row.worker_pid,
    attempts: row.attempts,
    notes: row.notes,
    tags: row.tags ? row.tags.split('\u001f') : [],
  };
}

/** A short random id (48 bits, hex). */
export function newId(): string {
  return randomBytes(6).toString('hex');
}

/** True when a process with this pid exists (signal 0 probes without signalling). */
/**
 * Whether process `pid` exists and (when `sinceMs` is given and the system says when processes started, as Linux's
 * /proc does) started no later than `sinceMs`: a process that started after the run did only reuses its number.
 */
export function pidAlive(pid: number, sinceMs?: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (sinceMs === undefined || !Number.isFinite(sinceMs)) return true;
  const started = processStartMs(pid);
  return started === null || started <= sinceMs + 2000;
}

let bootMs: number | null | undefined;

/** When process `pid` started (ms since the epoch), from /proc on Linux; null where unknown. */
function processStartMs(pid: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    if (bootMs === undefined) {
      const btime = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
      bootMs = btime ? Number(btime[1]) * 1000 : null;
    }
    if (bootMs === null) return null;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses) start at field 3; starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[22 - 3]);
    return Number.isFinite(ticks) ? bootMs + (ticks / 100) * 1000 : null;
  } catch {
    return null;
  }
}

function assertPlainName(name: string): void {
  if (name.length === 0 || name === '.' || name === '..' || /[/\\\0]/.test(name))
    throw new RangeError(`artifact name "${name}" must be a plain file name`);
}
