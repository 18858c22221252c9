/**
 * @file Benchmark: the sensitivity scan of the bundled MNIST CNN (3 conv groups × 9 ratios, 1000 evaluation samples,
 * batch 64) on the local pool of 2 workers and on 2 `studio worker` processes over an embedded PostgreSQL, side by
 * side in one run: wall time of each, whether the points agree, and the queue's overhead per job — pick-up (job
 * queued or worker free → job started), on the worker outside the point (artifacts, hand-off, recording) and result
 * recorded → seen by the host — against a point's own time (goal: under 5 %). Then the database's own rate: trivial
 * jobs sent, fetched, completed and recorded by 8 loops, and the bytes a job moves (for docs/distributed.md).
 * Run alone with `node --import tsx test/bench/queue.bench.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { localPool } from '../../src-main/node/sensitivity/pool.ts';
import { sensitivityScan } from '../../src-main/node/sensitivity/scan.ts';
import { startEmbeddedPostgres } from '../../src-main/node/queue/embedded.ts';
import { openQueue } from '../../src-main/node/queue/connect.ts';
import { queueDispatcher } from '../../src-main/node/queue/dispatcher.ts';
import { queueStatus } from '../../src-main/node/queue/status.ts';
import type { QueuedPointResult } from '../../src-shared/queue.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const OPTS = {
  model: join(ROOT, 'resources', 'mnist-cnn.onnx'),
  data: join(ROOT, 'resources', 'mnist'),
  evalCount: 1000,
  batchSize: 64,
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : NaN;
};

/** Rows: local pool, queue, and the queue's own throughput on trivial jobs. */
export async function benchQueue(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'studio-qbench-'));
  const pg = await startEmbeddedPostgres({ temporary: true });
  const procs: ChildProcess[] = [];
  try {
    // local pool, 2 workers
    let t0 = performance.now();
    const local = await sensitivityScan(OPTS, { dispatcher: localPool(2) });
    const localWall = (performance.now() - t0) / 1000;
    rows.push({
      name: 'sensitivity.mnist-cnn.3x9 local pool',
      workers: 2,
      wall_s: localWall,
      point_ms_median: median(local.points.map((p) => p.ms)),
      overhead_ms_per_job: '',
      overhead_pct_of_point: '',
      same_points: true,
    });

    // the queue, 2 worker processes (started before the scan, as they would be on other machines)
    const q = await openQueue(pg.url);
    for (const name of ['bench-w1', 'bench-w2']) {
      const p = spawn(
        process.execPath,
        [
          join(ROOT, 'bin', 'studio.mjs'),
          'worker',
          '--name',
          name,
          '--providers',
          'cpu',
          '--cache-dir',
          join(tmp, name),
        ],
        { env: { ...process.env, STUDIO_QUEUE: pg.url }, stdio: 'ignore' },
      );
      procs.push(p);
    }
    while ((await queueStatus(q)).workers.length < 2) await new Promise((r) => setTimeout(r, 200));
    const seenAt = new Map<number, number>();
    let scanId = '';
    t0 = performance.now();
    const inner = queueDispatcher(pg.url, { onQueued: (i) => void (scanId = i.scan) });
    const remote = await sensitivityScan(OPTS, {
      dispatcher: {
        get workers() {
          return inner.workers;
        },
        run: (jobs, hooks = {}) =>
          inner.run(jobs, {
            ...hooks,
            onResult: (r) => {
              seenAt.set(r.index, Date.now());
              hooks.onResult?.(r);
            },
          }),
      },
    });
    const queueWall = (performance.now() - t0) / 1000;
    // timestamps of each job: queued, started (pg-boss), recorded (our result row), seen (the host's poll)
    const jobs = await q.sql<{
      idx: number;
      created: Date;
      started: Date;
      recorded: Date;
      worker: string;
      ms: number;
    }>(
      `SELECT r.idx, j.created_on AS created, j.started_on AS started, r.recorded_at AS recorded, r.worker,
              (r.result->>'ms')::float8 AS ms
         FROM studio_queue.result r JOIN pgboss.job j ON j.id = r.job_id WHERE r.scan = $1 ORDER BY j.started_on`,
      [scanId],
    );
    const points = remote.points as QueuedPointResult[];
    const lastFree = new Map<string, number>();
    const warm: { pickup: number; onWorker: number; seen: number }[] = [];
    const cold: number[] = [];
    for (const j of jobs) {
      const ready = Math.max(j.created.getTime(), lastFree.get(j.worker) ?? 0);
      const pickup = Math.max(0, j.started.getTime() - ready);
      const onWorker = Math.max(0, j.recorded.getTime() - j.started.getTime() - j.ms);
      const seen = Math.max(0, (seenAt.get(j.idx) ?? j.recorded.getTime()) - j.recorded.getTime());
      // a worker's first job also starts its point process (the local pool pays the same start inside its wall)
      if (lastFree.has(j.worker)) warm.push({ pickup, onWorker, seen });
      else cold.push(pickup + onWorker);
      lastFree.set(j.worker, j.recorded.getTime());
    }
    // what occupies a worker beyond the point itself: dispatch → start, and result → recorded in the database
    const perJob = median(warm.map((w) => w.pickup + w.onWorker));
    const pointMs = median(remote.points.map((p) => p.ms));
    rows.push({
      name: 'sensitivity.mnist-cnn.3x9 queue',
      workers: new Set(points.map((p) => p.ranBy?.worker)).size,
      wall_s: queueWall,
      point_ms_median: pointMs,
      overhead_ms_per_job: perJob,
      overhead_pct_of_point: (100 * perJob) / pointMs,
      same_points: remote.points.every(
        (p, i) => p.maskDigest === local.points[i]!.maskDigest && p.accuracy === local.points[i]!.accuracy,
      ),
    });
    rows.push({
      name: 'queue overhead parts (median ms, warm jobs)',
      workers: '',
      wall_s: '',
      point_ms_median: '',
      overhead_ms_per_job: '',
      overhead_pct_of_point: '',
      same_points: `dispatch→start ${median(warm.map((w) => w.pickup)).toFixed(1)}, on worker outside the point ${median(warm.map((w) => w.onWorker)).toFixed(1)}, recorded→host saw it ${median(warm.map((w) => w.seen)).toFixed(1)} (poll 250 ms; latency only); first job per worker ${cold.map((c) => c.toFixed(0)).join(' / ')} (point process start)`,
    });
    rows.push({
      name: 'queue wall ÷ local pool wall',
      workers: 2,
      wall_s: queueWall / localWall,
      point_ms_median: '',
      overhead_ms_per_job: '',
      overhead_pct_of_point: '',
      same_points: '',
    });
    for (const p of procs) p.kill('SIGTERM');

    // the database's own rate: trivial jobs through send → fetch → record → complete, 8 loops at once
    const name = 'studio-bench-trivial';
    await q.ensureQueue(name);
    const N = 400;
    const payload = { kind: 'noop', pad: 'x'.repeat(1500) };
    t0 = performance.now();
    for (let i = 0; i < N; i += 50)
      await q.boss.insert(Array.from({ length: Math.min(50, N - i) }, () => ({ name, data: payload })));
    const sendS = (performance.now() - t0) / 1000;
    let done = 0;
    t0 = performance.now();
    const q2 = await openQueue(pg.url, { max: 10 });
    await Promise.all(
      Array.from({ length: 8 }, async (_, loop) => {
        for (;;) {
          const [job] = await q2.boss.fetch(name, { batchSize: 1 });
          if (!job) return;
          await q2.sql(
            `INSERT INTO studio_queue.result (scan, idx, job_id, result, worker, machine, ep)
             VALUES ('bench', $1, $2, $3, $4, 'bench', 'cpu') ON CONFLICT DO NOTHING`,
            [done++, job.id, JSON.stringify(points[0]), `loop${loop}`],
          );
          await q2.boss.complete(name, job.id);
        }
      }),
    );
    const workS = (performance.now() - t0) / 1000;
    await q2.close();
    const payloadBytes = Buffer.byteLength(
      JSON.stringify(
        (await q.sql<{ data: object }>("SELECT data FROM pgboss.job WHERE data->>'scan' = $1 LIMIT 1", [scanId]))[0]!
          .data,
      ),
    );
    const resultBytes = Buffer.byteLength(JSON.stringify(points[0]));
    const artifactBytes = Number(
      (await q.sql<{ n: string }>('SELECT sum(size) AS n FROM studio_queue.artifact'))[0]!.n,
    );
    rows.push({
      name: `queue throughput: ${N} trivial jobs, 8 loops`,
      workers: 8,
      wall_s: workS,
      point_ms_median: '',
      overhead_ms_per_job: (1000 * workS) / N,
      overhead_pct_of_point: '',
      same_points: `${(N / workS).toFixed(0)} jobs/s fetched+recorded+completed; ${(N / sendS).toFixed(0)} jobs/s sent`,
    });
    rows.push({
      name: 'bytes per scan-point job',
      workers: '',
      wall_s: '',
      point_ms_median: '',
      overhead_ms_per_job: '',
      overhead_pct_of_point: '',
      same_points: `payload ${payloadBytes} B, result ${resultBytes} B; artifacts ${artifactBytes} B once per worker (cached by hash)`,
    });
    await q.close();
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await pg.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await benchQueue());
}
