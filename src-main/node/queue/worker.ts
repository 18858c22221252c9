/**
 * @file `studio worker`: pull jobs from the queue on any machine and run them with the same code as the local pool.
 * Provider-aware (one queue per provider; a worker only pulls the queues of providers this machine has), N slots,
 * each a child process running scan points (src-main/node/sensitivity/worker.ts, the local pool's entry), so a
 * cancelled point or a native crash costs one child, never the worker. Every payload is validated against the job
 * kinds' schemas and every artifact against its hash before use; nothing from the queue is executed as code.
 * Heartbeats in `studio_queue.worker`; results in `studio_queue.result`, keyed so a point is recorded once.
 * May import node:* and pg-boss.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ScanPointJob, ScanPointResult, ScanSplit } from '../../../src-shared/sensitivity.ts';
import { StudioError } from '../../../src-shared/errors.ts';
import { parseQueuePayload, queueName, type RunPayload, type ScanPointPayload } from '../../../src-shared/queue.ts';
import { parseProvider, probeProviders } from '../runtime/providers.ts';
import { ArtifactCache, databaseStore, folderStore } from './artifacts.ts';
import { openQueue } from './connect.ts';
import { runOnWorker } from './run-job.ts';

/** A worker asked for a provider this machine cannot run. */
export class WorkerProviderError extends StudioError {
  constructor(name: string, reason: string) {
    super(`this machine cannot run provider "${name}": ${reason}`, 'WORKER_PROVIDER', { provider: name });
  }
}

export interface WorkerOptions {
  url: string;
  /** Providers to take jobs for (default: every one `studio providers` finds available here). */
  providers?: string[];
  /** Jobs at once (default 1). */
  concurrency?: number;
  name?: string;
  /** Local cache of artifacts by hash (default ~/.cache/compression-studio/artifacts). */
  cacheDir?: string;
  /** Shared folder the host publishes artifacts to, instead of the database. */
  artifactsDir?: string;
  /** Idle polling interval (default 500 ms). */
  pollMs?: number;
  /** Heartbeat interval (default 2 s). */
  heartbeatMs?: number;
  log?: (line: string) => void;
}

export interface RunningWorker {
  id: string;
  name: string;
  providers: string[];
  /** Resolves when the worker has stopped. */
  done: Promise<void>;
  stop(): Promise<void>;
  stats(): { done: number; failed: number; fetchedBytes: number };
}

/** Providers the worker serves: asked ones must be usable here (a session was created on them); default all usable. */
export async function workerProviders(asked?: string[]): Promise<string[]> {
  const here = await probeProviders();
  if (!asked || asked.length === 0) return here.filter((p) => p.available).map((p) => p.name);
  return asked.map((a) => {
    const name = parseProvider(a);
    const info = here.find((p) => p.name === name)!;
    if (!info.available) throw new WorkerProviderError(name, info.reason ?? 'not available');
    return name;
  });
}

const CHILD_ENTRY = fileURLToPath(new URL('../sensitivity/worker.ts', import.meta.url));

type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; result: ScanPointResult }
  | { type: 'error'; index: number; error: { name: string; message: string; code?: string } };

/** One slot: a child process that runs one point at a time, restarted after a kill or a crash. */
class Slot {
  private child?: ChildProcess;
  private ready?: Promise<ChildProcess>;
  /** The job this slot runs: a scan point (its scan), or a run (its key, and how to ask it to stop). */
  current?: { scan?: string; run?: { key: string; cancel: () => void }; id: string; queue: string };

  private spawn(): Promise<ChildProcess> {
    const c = fork(CHILD_ENTRY, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    c.stderr?.resume();
    this.child = c;
    return new Promise((resolveReady, reject) => {
      c.once('message', (m: ChildMessage) => (m.type === 'ready' ? resolveReady(c) : reject(new Error('bad child'))));
      c.once('exit', (code, signal) => reject(new Error(`point process exited (${signal ?? `code ${code}`})`)));
    });
  }

  /** Start the point process now, so the first job does not wait for it (the local pool starts its own likewise). */
  warm(): void {
    if (this.ready) return;
    this.ready = this.spawn();
    this.ready.catch(() => (this.ready = undefined));
  }

  /** Run one point; rejects with the point's error, or when the child dies. */
  async run(job: ScanPointJob): Promise<ScanPointResult> {
    if (!this.ready || !this.child?.connected) this.ready = this.spawn();
    const c = await this.ready;
    return new Promise((resolveRun, reject) => {
      const onMessage = (m: ChildMessage) => {
        if (m.type === 'result') done(() => resolveRun(m.result));
        else if (m.type === 'error')
          done(() => reject(Object.assign(new Error(m.error.message), { name: m.error.name, code: m.error.code })));
      };
      const onExit = (code: number | null, signal: string | null) => {
        this.ready = undefined;
        done(() => reject(new Error(`point process exited (${signal ?? `code ${code}`}) mid-job`)));
      };
      const done = (f: () => void) => {
        c.off('message', onMessage);
        c.off('exit', onExit);
        f();
      };
      c.on('message', onMessage);
      c.on('exit', onExit);
      c.send({ type: 'job', job });
    });
  }

  kill() {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
    this.ready = undefined;
  }
}

/** The local form of a validated payload: artifacts laid out in the cache, paths rewritten to them. */
async function localJob(p: ScanPointPayload, cache: ArtifactCache): Promise<ScanPointJob> {
  const modelPath = await cache.materialize(p.model);
  const dataPath = await cache.materialize(p.data);
  const data: string | ScanSplit =
    p.split === 'dataset' ? dataPath : { ...p.split, paths: p.split.paths.map((rel) => join(dataPath, rel)) };
  return {
    index: p.index,
    model: { path: modelPath, sha256: p.model.files[0]!.sha256 },
    group: p.group,
    ratio: p.ratio,
    pruner: p.pruner,
    seed: p.seed,
    eval: { data, ...p.eval },
    ep: p.ep,
    ...(p.shapes ? { shapes: p.shapes } : {}),
    latencyRuns: p.latencyRuns,
  };
}

const errorOutput = (e: unknown) => {
  const err = e as { name?: string; message?: string; code?: string };
  return { name: err?.name ?? 'Error', message: err?.message ?? String(e), code: err?.code };
};

/**
 * Start a worker. It runs until `stop()` (or the process ends); a killed worker's jobs expire and are retried
 * elsewhere by pg-boss.
 * @example const w = await startWorker({ url: process.env.STUDIO_QUEUE!, concurrency: 2 }); await w.done;
 * @throws QueueUnreachableError, WorkerProviderError
 */
export async function startWorker(o: WorkerOptions): Promise<RunningWorker> {
  const providers = await workerProviders(o.providers);
  const concurrency = Math.max(1, Math.floor(o.concurrency ?? 1));
  const name = o.name ?? `${hostname()}-${process.pid}`;
  const log = o.log ?? (() => undefined);
  const q = await openQueue(o.url, { max: concurrency + 2, onError: (m) => log(`queue: ${m}`) });
  const queues = providers.flatMap((ep) => [queueName('scan-point', ep), queueName('run', ep)]);
  for (const n of queues) await q.ensureQueue(n);
  const store = o.artifactsDir ? folderStore(o.artifactsDir) : databaseStore(q);
  const cache = new ArtifactCache(o.cacheDir ?? join(homedir(), '.cache', 'compression-studio', 'artifacts'), store);
  const id = randomUUID();
  const machine = hostname();
  await q.sql(
    'INSERT INTO studio_queue.worker (id, name, machine, providers, concurrency) VALUES ($1, $2, $3, $4, $5)',
    [id, name, machine, providers, concurrency],
  );
  log(
    `worker ${name} on ${machine}: providers ${providers.join(', ')}, ${concurrency} slot(s), queue ${q.target.redacted}`,
  );
  const slots = Array.from({ length: concurrency }, () => new Slot());
  for (const s of slots) s.warm();
  const counts = { done: 0, failed: 0 };
  let stopping = false;

  const heartbeat = async () => {
    const running = slots.filter((s) => s.current).length;
    await q
      .sql('UPDATE studio_queue.worker SET heartbeat = now(), running = $2, done = $3, failed = $4 WHERE id = $1', [
        id,
        running,
        counts.done,
        counts.failed,
      ])
      .catch((e: unknown) => log(`heartbeat failed: ${(e as Error).message}`));
    // cancel reaches running points: a scan marked cancelled kills the slots running its points
    const scans = [...new Set(slots.flatMap((s) => (s.current?.scan ? [s.current.scan] : [])))];
    if (scans.length) {
      const cancelled = await q
        .sql<{ scan: string }>('SELECT scan FROM studio_queue.scan WHERE cancelled AND scan = ANY($1)', [scans])
        .catch(() => []);
      for (const s of slots) if (s.current && cancelled.some((c) => c.scan === s.current!.scan)) s.kill();
    }
    // a run asked to stop is passed the cancel, and stops cooperatively (recording that it was cancelled)
    const runs = slots.flatMap((s) => (s.current?.run ? [s.current.run] : []));
    if (runs.length) {
      const cancelled = await q
        .sql<{ key: string }>('SELECT key FROM studio_queue.run_job WHERE cancelled AND key = ANY($1)', [
          runs.map((r) => r.key),
        ])
        .catch(() => []);
      for (const r of runs) if (cancelled.some((c) => c.key === r.key)) r.cancel();
    }
    await q.boss.expire().catch(() => undefined);
  };
  const beat = setInterval(() => void heartbeat(), o.heartbeatMs ?? 2000);

  const fetchOne = async () => {
    for (const n of queues) {
      const [job] = await q.boss.fetch<unknown>(n, { batchSize: 1 });
      if (job) return { queue: n, job };
    }
    return undefined;
  };

  const runSlot = async (slot: Slot) => {
    while (!stopping) {
      let got: Awaited<ReturnType<typeof fetchOne>>;
      try {
        got = await fetchOne();
      } catch (e) {
        if (stopping) break;
        log(`fetch failed: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 2000));
        continue;
      }
      if (!got) {
        await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
        continue;
      }
      await runJob(slot, got.queue, got.job.id, got.job.data);
    }
  };

  const runJob = async (slot: Slot, queue: string, jobId: string, data: unknown) => {
    let parsed: ScanPointPayload | RunPayload;
    try {
      parsed = parseQueuePayload(data);
    } catch (e) {
      counts.failed++;
      log(`job ${jobId} refused: ${(e as Error).message}`);
      return q.boss.fail(queue, jobId, errorOutput(e)).catch(() => undefined);
    }
    if (parsed.kind === 'run') return runWhole(slot, queue, jobId, parsed);
    const payload = parsed;
    slot.current = { scan: payload.scan, id: jobId, queue };
    const t0 = Date.now();
    log(`point ${payload.index} of scan ${payload.scan.slice(0, 8)} started (job ${jobId})`);
    try {
      const job = await localJob(payload, cache);
      const result = await slot.run(job);
      const ep = result.ep;
      const inserted = await q.sql(
        `INSERT INTO studio_queue.result (scan, idx, job_id, result, worker, machine, ep)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (scan, idx) DO NOTHING RETURNING seq`,
        [payload.scan, payload.index, jobId, JSON.stringify(result), name, machine, ep],
      );
      await q.boss.complete(queue, jobId, { recorded: inserted.length > 0 }).catch(() => undefined);
      counts.done++;
      log(
        `point ${payload.index} of scan ${payload.scan.slice(0, 8)} done in ${Date.now() - t0} ms${inserted.length ? '' : ' (already recorded)'}`,
      );
    } catch (e) {
      counts.failed++;
      const cancelled = (
        await q.sql<{ c: boolean }>('SELECT cancelled AS c FROM studio_queue.scan WHERE scan = $1', [payload.scan])
      )[0]?.c;
      log(`point ${payload.index} ${cancelled ? 'cancelled' : `failed: ${(e as Error).message}`}`);
      if (!cancelled) await q.boss.fail(queue, jobId, errorOutput(e)).catch(() => undefined);
    } finally {
      slot.current = undefined;
    }
  };

  /** A whole run: the same worker entry as a local run, its messages relayed to the host through the database. */
  const runWhole = async (slot: Slot, queue: string, jobId: string, payload: RunPayload) => {
    const t0 = Date.now();
    log(`run ${payload.runId} (attempt ${payload.attempt}) started (job ${jobId})`);
    const ok = await runOnWorker(payload, {
      q,
      cache,
      store,
      worker: { id, name, machine },
      onStart: (cancel) => (slot.current = { run: { key: payload.key, cancel }, id: jobId, queue }),
      log,
    }).finally(() => (slot.current = undefined));
    if (ok.status === 'failed-to-start' || ok.status === 'crashed') {
      counts.failed++;
      await q.boss.fail(queue, jobId, ok.error).catch(() => undefined);
    } else {
      counts.done++;
      await q.boss.complete(queue, jobId, { status: ok.status }).catch(() => undefined);
    }
    log(`run ${payload.runId} ${ok.status} in ${Date.now() - t0} ms`);
  };

  await heartbeat();
  const loops = Promise.all(slots.map((s) => runSlot(s)));
  const done = loops.then(async () => {
    clearInterval(beat);
    for (const s of slots) s.kill();
    await q
      .sql('UPDATE studio_queue.worker SET stopped = true, running = 0 WHERE id = $1', [id])
      .catch(() => undefined);
    await q.close();
  });
  return {
    id,
    name,
    providers,
    done,
    async stop() {
      stopping = true;
      // a point running now is abandoned: its job expires and another worker takes it
      for (const s of slots) s.kill();
      await done;
    },
    stats: () => ({ ...counts, fetchedBytes: cache.fetchedBytes }),
  };
}
