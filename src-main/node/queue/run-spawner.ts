/**
 * @file The queue implementation of the runner's worker seam (`WorkerSpawner`): a whole run — a sweep point, or the
 * history's "run again" — becomes one pg-boss job of kind `run`. The plan's files and the input model travel as
 * artifacts by SHA-256; a `studio worker` anywhere runs the plan with the same worker entry as a local run and relays
 * its messages through `studio_queue.run_message`, which this handle replays to the runner's Job as if a local
 * process had sent them (step outputs are fetched by hash and checked before the Job copies them into the store).
 * Cancel marks the run's job (the worker passes it on to the run, which stops cooperatively); a worker that stops
 * heartbeating, or a job that fails on the queue, ends the run as failed with the reason: it is never retried
 * half-done, and `resume` continues it from its last checkpoint. May import node:* and pg-boss (on demand).
 */
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mapPlanPaths, planInputs, type Plan } from '../../../src-shared/experiment.ts';
import {
  queueName,
  redactQueueUrl,
  RUN_ARTIFACT_PREFIX,
  type ArtifactRef,
  type RunPayload,
} from '../../../src-shared/queue.ts';
import type { HostMessage, StartMessage } from '../jobs/protocol.ts';
import type { WorkerExit, WorkerHandle, WorkerSpawner } from '../jobs/spawn.ts';
import type { Runner } from '../jobs/runner.ts';
import { ArtifactCache, databaseStore, folderStore, publish, type ArtifactStore } from './artifacts.ts';
import type { Queue } from './connect.ts';
import { stableUuid } from './dispatcher.ts';

export interface QueueRunOptions {
  /** Shared folder for artifacts instead of the database. */
  artifactsDir?: string;
  /** How often messages are collected (default 250 ms). */
  pollMs?: number;
  /** A worker silent this long is taken for dead and its run fails (default 30 s). */
  deadAfterMs?: number;
  /** Called once the run's job is queued (tests kill workers from here). */
  onQueued?: (info: { runId: string; key: string; jobId: string; queue: string }) => void;
  log?: (line: string) => void;
}

/** The job of one dispatch of a run: keyed by run id and attempt, so sending it again is a no-op. */
export function runJobKey(runId: string, attempt: number): string {
  return createHash('sha256').update(`run:${runId}:${attempt}`).digest('hex').slice(0, 32);
}

/**
 * Publish a plan's files and input model; the plan comes back with each path replaced by `artifact:<i>`.
 * @example const { plan, artifacts, inputModel } = await runPayloadParts(store, start.plan, start.inputModel);
 */
export async function runPayloadParts(store: ArtifactStore, plan: Plan, inputModel: string) {
  const artifacts: ArtifactRef[] = [];
  const index = new Map<string, number>();
  const add = async (file: string) => {
    let i = index.get(file);
    if (i === undefined) {
      i = artifacts.push(await publish(store, file)) - 1;
      index.set(file, i);
    }
    return i;
  };
  for (const { file } of planInputs(plan)) await add(file);
  const input = await add(inputModel);
  const mapped = mapPlanPaths(plan, (f) => `${RUN_ARTIFACT_PREFIX}${index.get(f)!}`);
  return { plan: mapped as unknown as Record<string, unknown>, artifacts, inputModel: input };
}

/**
 * Runs as pg-boss jobs: give it to a `Runner` (`new Runner({ store, spawner: queueRunSpawner(url), concurrency: n })`)
 * and every run it starts goes to a queue worker on the provider queue of the plan's execution provider.
 * @example const runner = new Runner({ store, spawner: queueRunSpawner(process.env.STUDIO_QUEUE!), concurrency: 8 });
 */
export function queueRunSpawner(url: string, opts: QueueRunOptions = {}): WorkerSpawner {
  let shared: Promise<Queue> | undefined;
  let users = 0;
  const acquire = async () => {
    if (!shared) {
      const { openQueue } = await import('./connect.ts');
      shared ??= openQueue(url, { onError: (m) => opts.log?.(`queue: ${m}`) });
      shared.catch(() => (shared = undefined));
    }
    const q = await shared; // an unreachable queue throws here, and nothing is held
    users++;
    return q;
  };
  const release = async () => {
    if (--users > 0 || !shared) return;
    const q = shared;
    shared = undefined;
    await (await q).close();
  };
  return { spawn: () => queueHandle(url, opts, acquire, release) };
}

/** A run a host started as a queue job that has not ended there: its job is still queued, running or just done. */
export interface RunOut {
  runId: string;
  key: string;
  jobId: string;
  queue: string;
}

/**
 * The runs among `running` (id and attempt, as the store holds them) that are out as queue jobs still alive on the
 * queue (created, retrying, active, or completed with their messages to replay). A run whose job is gone, failed or
 * cancelled is not listed: it stays interrupted.
 */
export async function runsOut(q: Queue, running: readonly { id: string; attempts: number }[]): Promise<RunOut[]> {
  const out: RunOut[] = [];
  for (const r of running) {
    const key = runJobKey(r.id, r.attempts);
    const jobId = stableUuid(`run:${key}`);
    const [row] = await q.sql<{ name: string; state: string; cancelled: boolean }>(
      `SELECT j.name, j.state, rj.cancelled FROM studio_queue.run_job rj JOIN pgboss.job j ON j.id = $2
       WHERE rj.key = $1 AND rj.run_id = $3`,
      [key, jobId, r.id],
    );
    if (row && !row.cancelled && ['created', 'retry', 'active', 'completed'].includes(row.state))
      out.push({ runId: r.id, key, jobId, queue: row.name });
  }
  return out;
}

/**
 * A host starting with a queue configured: find its runs left `running` that are out as queue jobs still alive,
 * and follow each again in `runner` (it records what the store lacks, each step once, and ends the run as its job
 * does). Returns the ids re-attached; the caller then marks the rest interrupted (`runner.recoverInterrupted()`).
 * An unreachable queue re-attaches nothing (the runs are marked interrupted as before).
 */
export async function reattachQueueRuns(url: string, runner: Runner, opts: QueueRunOptions = {}): Promise<string[]> {
  const { store } = runner;
  const running = store
    .listRuns({ status: 'running' })
    .map((r) => store.getRun(r.id)!)
    .filter((r) => r.hostPid === null || r.hostPid === process.pid || !pidAlive(r.hostPid));
  if (running.length === 0) return [];
  const { openQueue } = await import('./connect.ts');
  let q: Queue;
  try {
    q = await openQueue(url, { onError: (m) => opts.log?.(`queue: ${m}`) });
  } catch (e) {
    opts.log?.(`runs out as queue jobs cannot be re-attached: ${(e as Error).message}`);
    return [];
  }
  try {
    const out = await runsOut(
      q,
      running.map((r) => ({ id: r.id, attempts: r.attempts })),
    );
    for (const o of out) {
      const workDir = join(store.workDir(o.runId), `attempt-${store.getRun(o.runId)!.attempts}`);
      runner.attach(o.runId, attachRun(url, o, workDir, opts), workDir);
      opts.log?.(`run ${o.runId}: re-attached to its queue job ${o.jobId}`);
    }
    return out.map((o) => o.runId);
  } finally {
    await q.close();
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Re-attach to a run out as a queue job (a restarted host): the handle replays the run's messages from its start
 * (the runner's Job skips the steps the store already holds) and follows it to its end, as `spawn` would have.
 * @example for (const o of await runsOut(q, running)) runner.attach(o.runId, attachRun(url, o, workDir), workDir);
 */
export function attachRun(url: string, out: RunOut, workDir: string, opts: QueueRunOptions = {}): WorkerHandle {
  let shared: Promise<Queue> | undefined;
  const acquire = async () => {
    const { openQueue } = await import('./connect.ts');
    shared = openQueue(url, { onError: (m) => opts.log?.(`queue: ${m}`) });
    return shared;
  };
  const release = async () => {
    if (shared) await (await shared).close();
    shared = undefined;
  };
  return queueHandle(url, opts, acquire, release, { key: out.key, id: out.jobId, name: out.queue, workDir });
}

type Listener<T> = (v: T) => void;

function queueHandle(
  url: string,
  opts: QueueRunOptions,
  acquire: () => Promise<Queue>,
  release: () => Promise<void>,
  attached?: { key: string; id: string; name: string; workDir: string },
): WorkerHandle {
  const onMessage: Listener<unknown>[] = [];
  const onOutput: Listener<string>[] = [];
  const onExit: Listener<WorkerExit>[] = [];
  let exited: WorkerExit | null = null;
  let q: Queue | undefined;
  let job: { key: string; id: string; name: string } | undefined;
  let cancelled = false;
  let detached = false;

  const exit = (e: WorkerExit) => {
    if (exited) return;
    exited = e;
    for (const l of onExit) l(e);
    if (q) void release();
  };
  const output = (text: string) => {
    for (const l of onOutput) l(`${text}\n`);
  };
  const markCancelled = async () => {
    cancelled = true;
    if (!q || !job) return;
    await q.sql('UPDATE studio_queue.run_job SET cancelled = true WHERE key = $1', [job.key]).catch(() => undefined);
  };

  const start = async (m: StartMessage) => {
    q = await acquire();
    const store = opts.artifactsDir ? folderStore(opts.artifactsDir) : databaseStore(q);
    const plan = m.plan as Plan;
    const parts = await runPayloadParts(store, plan, m.inputModel);
    const key = runJobKey(m.runId, m.attempt);
    const ep = plan.executionProvider ?? 'cpu';
    const payload: RunPayload = {
      kind: 'run',
      key,
      runId: m.runId,
      attempt: m.attempt,
      ...parts,
      inputSha256: m.inputSha256,
      startStep: m.startStep,
      measureBefore: m.measureBefore,
      heartbeatMs: m.heartbeatMs,
      ep,
    };
    const name = queueName('run', ep);
    await q.ensureQueue(name);
    await q.sql('INSERT INTO studio_queue.run_job (key, run_id) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      key,
      m.runId,
    ]);
    const id = stableUuid(`run:${key}`);
    // never retried half-done: a dead worker fails the run, and resume continues from its last checkpoint
    await q.boss.send(name, payload, { id, retryLimit: 0, expireInSeconds: 23 * 3600 }); // under pg-boss's 24 h cap; liveness is the heartbeat
    job = { key, id, name };
    if (cancelled) await markCancelled();
    output(`run ${m.runId} queued as job ${id} on ${name} at ${q.target.redacted}`);
    opts.log?.(`run ${m.runId}: job ${id} on ${name}`);
    opts.onQueued?.({ runId: m.runId, key, jobId: id, queue: name });
    await follow(q, job, m.workDir);
  };

  /** Replay the worker's messages in order; watch the job's state and the worker's heartbeat. */
  const follow = async (queue: Queue, j: { key: string; id: string; name: string }, workDir: string) => {
    const cache = new ArtifactCache(
      join(workDir, 'queue-cache'),
      opts.artifactsDir ? folderStore(opts.artifactsDir) : databaseStore(queue),
    );
    let seq = '0';
    let lastCheck = 0;
    let workerId: string | undefined;
    for (;;) {
      const rows = await queue.sql<{ seq: string; worker_id: string; msg: Record<string, unknown> }>(
        'SELECT seq, worker_id, msg FROM studio_queue.run_message WHERE key = $1 AND seq > $2 ORDER BY seq',
        [j.key, seq],
      );
      for (const r of rows) {
        seq = r.seq;
        workerId ??= r.worker_id;
        if (r.worker_id !== workerId) continue; // a second delivery is never followed (runs are not retried)
        const msg = r.msg.type === 'step-done' ? await fetchOutputs(r.msg, cache, workDir) : r.msg;
        for (const l of onMessage) l(msg);
        if (msg.type === 'done' || msg.type === 'failed' || msg.type === 'cancelled')
          return exit({ code: 0, signal: null });
      }
      if (exited) return;
      if (detached) return void release();
      if (Date.now() - lastCheck > 2000) {
        lastCheck = Date.now();
        const why = await deadReason(queue, j, workerId, opts.deadAfterMs ?? 30_000);
        if (why) {
          output(why);
          return exit(cancelled ? { code: null, signal: 'SIGKILL' } : { code: 1, signal: null });
        }
      }
      await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
    }
  };

  void Promise.resolve().then(() => {
    for (const l of onMessage) l({ v: 1, type: 'ready', pid: 0 });
    if (attached)
      void (async () => {
        q = await acquire();
        job = { key: attached.key, id: attached.id, name: attached.name };
        output(`re-attached to run job ${attached.id} on ${attached.name} at ${q.target.redacted}`);
        await follow(q, job, attached.workDir);
      })().catch((e: unknown) => {
        output(`could not re-attach to the run's queue job at ${redactQueueUrl(url)}: ${(e as Error).message}`);
        exit({ code: null, signal: null, error: e as Error });
      });
  });

  return {
    pid: undefined,
    send(message: HostMessage) {
      if (exited) return false;
      if (message.type === 'start')
        start(message).catch((e: unknown) => {
          output(`the queue at ${redactQueueUrl(url)} could not take the run: ${(e as Error).message}`);
          exit({ code: null, signal: null, error: e as Error });
        });
      else void markCancelled();
      return true;
    },
    onMessage: (l) => void onMessage.push(l),
    onOutput: (l) => void onOutput.push(l),
    onExit(l) {
      if (exited) l(exited);
      else onExit.push(l);
    },
    detach() {
      // the job goes on on its worker; a host started later re-attaches to it
      detached = true;
      if (!q) exited ??= { code: null, signal: null };
    },
    kill() {
      // the run stops on its worker within a heartbeat; a job still queued is cancelled outright
      void markCancelled().then(async () => {
        if (q && job) await q.boss.cancel(job.name, job.id).catch(() => undefined);
        exit({ code: null, signal: 'SIGKILL' });
      });
    },
  };
}

/** Why a followed run can no longer finish: its job failed or was cancelled on the queue, or its worker went silent. */
async function deadReason(
  q: Queue,
  j: { id: string; name: string },
  workerId: string | undefined,
  deadAfterMs: number,
): Promise<string | null> {
  const [state] = await q.sql<{ state: string; output: { message?: string } | null }>(
    'SELECT state, output FROM pgboss.job WHERE id = $1',
    [j.id],
  );
  if (state && (state.state === 'failed' || state.state === 'cancelled'))
    return `the run's queue job ${state.state}${state.output?.message ? `: ${state.output.message}` : ''}`;
  if (!workerId) return null;
  const [w] = await q.sql<{ name: string; machine: string; silent: number; stopped: boolean }>(
    'SELECT name, machine, EXTRACT(EPOCH FROM now() - heartbeat)::float AS silent, stopped FROM studio_queue.worker WHERE id = $1',
    [workerId],
  );
  if (!w) return null;
  if (w.silent * 1000 > deadAfterMs || w.stopped) {
    await q.boss.fail(j.name, j.id, { name: 'WorkerLostError', message: 'worker went silent' }).catch(() => undefined);
    return `queue worker ${w.name}@${w.machine} ${w.stopped ? 'stopped' : `went silent ${Math.round(w.silent)} s ago`} while running this run (kill -9, a crash, or a lost network); resume the run to continue from its last checkpoint`;
  }
  return null;
}

/** Fetch a step's output files by hash into the run's work folder (verified), so the Job copies them as usual. */
async function fetchOutputs(
  msg: Record<string, unknown>,
  cache: ArtifactCache,
  workDir: string,
): Promise<Record<string, unknown>> {
  const files = (msg.files as { kind: string; name: string; path: string; sha256: string; size: number }[]) ?? [];
  const local = [];
  for (const f of files) {
    const path = await cache.materialize({
      kind: 'file',
      name: f.name,
      files: [{ rel: f.name, sha256: f.sha256, size: f.size }],
    });
    const dest = join(workDir, 'from-queue', `step-${String(msg.index)}`, f.name);
    mkdirSync(join(dest, '..'), { recursive: true });
    copyFileSync(path, dest);
    local.push({ ...f, path: dest });
  }
  return { ...msg, files: local };
}
