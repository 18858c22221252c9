/**
 * @file What the Workers panel and `studio queue status` show: connected workers (providers, slots, jobs running /
 * done / failed, last heartbeat by the database's clock) and job totals over the studio queues. The URL is shown
 * redacted. May import node:*.
 */
import type { QueueStatus, WorkerStatus } from '../../../src-shared/queue.ts';
import type { Queue } from './connect.ts';

/** Workers silent longer than this are listed as gone (not connected). */
export const SILENT_AFTER_S = 30;

interface WorkerRow {
  name: string;
  machine: string;
  providers: string[];
  concurrency: number;
  running: number;
  done: number;
  failed: number;
  heartbeat: Date;
  silent: number;
}

/**
 * Workers heard from in the last `SILENT_AFTER_S` seconds (and not stopped), and jobs by state.
 * @example const s = await queueStatus(q); s.workers.map((w) => w.name)
 */
export async function queueStatus(q: Queue): Promise<QueueStatus> {
  const rows = await q.sql<WorkerRow>(
    `SELECT name, machine, providers, concurrency, running, done, failed, heartbeat,
            EXTRACT(EPOCH FROM now() - heartbeat)::float8 AS silent
       FROM studio_queue.worker WHERE NOT stopped AND heartbeat > now() - make_interval(secs => $1)
       ORDER BY name`,
    [SILENT_AFTER_S],
  );
  const workers: WorkerStatus[] = rows.map((r) => ({
    name: r.name,
    machine: r.machine,
    providers: r.providers,
    concurrency: r.concurrency,
    running: r.running,
    done: r.done,
    failed: r.failed,
    lastHeartbeat: new Date(r.heartbeat).toISOString(),
    silentSeconds: Math.round(r.silent * 10) / 10,
  }));
  const states = await q.sql<{ state: string; n: string }>(
    "SELECT state::text AS state, count(*) AS n FROM pgboss.job WHERE name LIKE 'studio-%' GROUP BY state",
  );
  const n = (...s: string[]) => states.filter((r) => s.includes(r.state)).reduce((a, r) => a + Number(r.n), 0);
  return {
    queue: q.target.redacted,
    workers,
    jobs: { queued: n('created', 'retry'), running: n('active'), done: n('completed'), failed: n('failed') },
  };
}
