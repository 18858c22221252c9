/**
 * @file The queue implementation of the scan dispatch interface: each scan point becomes a pg-boss job on its
 * provider's queue, its model and data travel as artifacts by SHA-256, and workers anywhere record results in the
 * queue's database, keyed by (scan, index) so a point delivered twice is recorded once. A scan is named by its content
 * (or by a caller's key), so a host restarted mid-scan re-attaches to the same jobs and results. Expired jobs are
 * retried (at most `retryLimit` times); cancel marks the scan and cancels its jobs, which stops running points.
 * May import node:* and pg-boss.
 */
import { createHash } from 'node:crypto';
import type { ScanPointJob, ScanPointResult } from '../../../src-shared/sensitivity.ts';
import {
  queueName,
  type ArtifactRef,
  type QueuedPointResult,
  type RanBy,
  type ScanPointPayload,
} from '../../../src-shared/queue.ts';
import { CancelledError } from '../jobs/cancel.ts';
import { ScanPointError, type DispatchHooks, type ScanDispatcher } from '../sensitivity/pool.ts';
import { databaseStore, folderStore, publish, publishFiles, type ArtifactStore } from './artifacts.ts';
import type { Queue } from './connect.ts';

export interface QueueDispatchOptions {
  /** Shared folder for artifacts instead of the database. */
  artifactsDir?: string;
  /** A running point not finished after this long is expired and retried (default 600 s). */
  expireSeconds?: number;
  /** Retries after a failure or an expiry (default 2). */
  retryLimit?: number;
  /** Names the scan (a run id); default: a digest of the jobs' content. The same key re-attaches. */
  key?: string;
  /** How often results are collected (default 250 ms). */
  pollMs?: number;
  /** Called once the jobs are queued (tests kill workers or the host from here). */
  onQueued?: (info: { scan: string; queue: string; jobIds: string[] }) => void;
  log?: (line: string) => void;
}

/** A UUID derived from a text: the same point of the same scan always has the same job id. */
export function stableUuid(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16]!, 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Publish a scan's model and data once, then describe every point by content. */
async function payloadsOf(store: ArtifactStore, jobs: readonly ScanPointJob[], key?: string) {
  const models = new Map<string, ArtifactRef>();
  const datas = new Map<string, { ref: ArtifactRef; split: ScanPointPayload['split'] }>();
  const points: Omit<ScanPointPayload, 'scan'>[] = [];
  for (const j of jobs) {
    let model = models.get(j.model.path);
    if (!model) models.set(j.model.path, (model = await publish(store, j.model.path)));
    if (model.files[0]!.sha256 !== j.model.sha256)
      throw new ScanPointError(j.index, {
        name: 'SensitivityError',
        message: `model file ${j.model.path} changed since the scan began`,
      });
    const dataKey = JSON.stringify(j.eval.data);
    let data = datas.get(dataKey);
    if (!data) {
      const d = j.eval.data;
      if (typeof d === 'string') data = { ref: await publish(store, d), split: 'dataset' };
      else {
        const ref = await publishFiles(store, d.paths, 'split');
        data = { ref, split: { ...d, paths: ref.files.map((f) => f.rel) } };
      }
      datas.set(dataKey, data);
    }
    points.push({
      kind: 'scan-point',
      index: j.index,
      model,
      data: data.ref,
      split: data.split,
      group: j.group as ScanPointPayload['group'],
      ratio: j.ratio,
      pruner: j.pruner,
      seed: j.seed,
      eval: { split: j.eval.split, count: j.eval.count, seed: j.eval.seed, batchSize: j.eval.batchSize },
      ep: j.ep,
      ...(j.shapes ? { shapes: j.shapes } : {}),
      latencyRuns: j.latencyRuns,
    });
  }
  const scan = createHash('sha256')
    .update(key ?? JSON.stringify(points))
    .digest('hex')
    .slice(0, 32);
  return points.map((p) => ({ ...p, scan }) as ScanPointPayload);
}

interface ResultRow {
  seq: string;
  idx: number;
  result: ScanPointResult;
  worker: string;
  machine: string;
  ep: string;
}

/**
 * Scan points as pg-boss jobs. Results come back in job order, each with `ranBy` (worker, machine, provider).
 * @example const scan = await sensitivityScan(opts, { dispatcher: queueDispatcher('postgres://…') });
 * @throws QueueUnreachableError (host named, password never), ScanPointError (a point failed after its retries),
 *   CancelledError on abort
 */
export function queueDispatcher(url: string, opts: QueueDispatchOptions = {}): ScanDispatcher {
  const seen = new Set<string>();
  return {
    /** The workers that ran this dispatcher's points (known once results arrive). */
    get workers() {
      return seen.size;
    },
    async run(jobs, hooks: DispatchHooks = {}) {
      if (jobs.length === 0) return [];
      const outer = hooks.onResult;
      const onResult = (r: QueuedPointResult) => {
        if (r.ranBy) seen.add(`${r.ranBy.machine}/${r.ranBy.worker}`);
        outer?.(r);
      };
      hooks = { ...hooks, onResult };
      if (hooks.signal?.aborted) throw new CancelledError(String(hooks.signal.reason ?? 'cancelled'));
      // pg-boss loads only when a queue is used: local runs never pay for it
      const { openQueue } = await import('./connect.ts');
      const q = await openQueue(url, { onError: (m) => opts.log?.(`queue: ${m}`) });
      try {
        return await runOnQueue(q, jobs, hooks, opts);
      } finally {
        await q.close();
      }
    },
  };
}

async function runOnQueue(
  q: Queue,
  jobs: readonly ScanPointJob[],
  hooks: DispatchHooks,
  opts: QueueDispatchOptions,
): Promise<QueuedPointResult[]> {
  const store = opts.artifactsDir ? folderStore(opts.artifactsDir) : databaseStore(q);
  const payloads = await payloadsOf(store, jobs, opts.key);
  const scan = payloads[0]!.scan;
  const ids = payloads.map((p) => stableUuid(`${p.scan}:${p.index}`));
  const names = [...new Set(payloads.map((p) => queueName('scan-point', p.ep)))];
  for (const n of names) await q.ensureQueue(n);
  await q.sql(
    'INSERT INTO studio_queue.scan (scan, total) VALUES ($1, $2) ON CONFLICT (scan) DO UPDATE SET cancelled = false',
    [scan, payloads.length],
  );
  const recorded = new Set(
    (await q.sql<{ idx: number }>('SELECT idx FROM studio_queue.result WHERE scan = $1', [scan])).map((r) => r.idx),
  );
  let sent = 0;
  for (const [i, p] of payloads.entries()) {
    if (recorded.has(p.index)) continue;
    const id = await q.boss.send(queueName('scan-point', p.ep), p, {
      id: ids[i],
      retryLimit: opts.retryLimit ?? 2,
      retryDelay: 0,
      expireInSeconds: opts.expireSeconds ?? 600,
    });
    if (id) sent++;
  }
  // a job left failed or cancelled by an earlier host (not re-sent above: its id exists) is given another go
  const stale = await q.sql<{ id: string; name: string }>(
    "SELECT id, name FROM pgboss.job WHERE id = ANY($1::uuid[]) AND state IN ('failed', 'cancelled')",
    [ids],
  );
  for (const s of stale) await q.boss.resume(s.name, s.id).catch(() => undefined);
  for (const s of stale) await q.boss.retry(s.name, s.id).catch(() => undefined);
  opts.log?.(
    `scan ${scan.slice(0, 8)}: ${payloads.length} points on ${names.join(', ')} at ${q.target.redacted} (${recorded.size} already recorded, ${sent} queued now)`,
  );
  opts.onQueued?.({ scan, queue: names.join(','), jobIds: ids });
  return collect(q, scan, payloads, ids, hooks, opts.pollMs ?? 250);
}

async function collect(
  q: Queue,
  scan: string,
  payloads: ScanPointPayload[],
  ids: string[],
  hooks: DispatchHooks,
  pollMs: number,
): Promise<QueuedPointResult[]> {
  const results: QueuedPointResult[] = new Array(payloads.length);
  const byIndex = new Map(payloads.map((p, i) => [p.index, i]));
  let got = 0;
  let seq = '0';
  let lastExpire = 0;
  for (;;) {
    if (hooks.signal?.aborted) {
      await cancelScan(q, scan, payloads, ids);
      throw new CancelledError(String(hooks.signal.reason ?? 'cancelled'));
    }
    const rows = await q.sql<ResultRow>(
      'SELECT seq, idx, result, worker, machine, ep FROM studio_queue.result WHERE scan = $1 AND seq > $2 ORDER BY seq',
      [scan, seq],
    );
    for (const r of rows) {
      seq = r.seq;
      const at = byIndex.get(r.idx);
      if (at === undefined || results[at]) continue;
      const ranBy: RanBy = { worker: r.worker, machine: r.machine, ep: r.ep };
      results[at] = { ...r.result, index: r.idx, ranBy };
      got++;
      hooks.onResult?.(results[at]);
    }
    if (got === payloads.length) return results;
    // a point whose retries are spent fails the scan with the worker's reason
    const failed = await q.sql<{ id: string; output: { name?: string; message?: string; code?: string } | null }>(
      "SELECT id, output FROM pgboss.job WHERE id = ANY($1::uuid[]) AND state = 'failed'",
      [ids],
    );
    for (const f of failed) {
      const at = ids.indexOf(f.id);
      if (results[at]) continue;
      await cancelScan(q, scan, payloads, ids);
      throw new ScanPointError(payloads[at]!.index, {
        name: f.output?.name ?? 'Error',
        message: f.output?.message ?? 'failed on a worker (no reason recorded)',
        code: f.output?.code,
      });
    }
    if (Date.now() - lastExpire > 2000) {
      // expiry is pg-boss maintenance's job; the host runs it while it waits, so a killed worker's job comes back
      lastExpire = Date.now();
      await q.boss.expire().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** Mark the scan cancelled (running workers stop its points) and cancel its jobs still queued or running. */
async function cancelScan(q: Queue, scan: string, payloads: ScanPointPayload[], ids: string[]) {
  await q.sql('UPDATE studio_queue.scan SET cancelled = true WHERE scan = $1', [scan]).catch(() => undefined);
  const names = [...new Set(payloads.map((p) => queueName('scan-point', p.ep)))];
  for (const n of names) await q.boss.cancel(n, ids).catch(() => undefined);
}
