/**
 * Sweeps and whole runs as queue jobs, end to end on an embedded PostgreSQL started here: a sweep of 4 points over
 * a plan (sparsity × pruner) on the local pool and across two `studio worker` processes gives the same points (same
 * seed → same metrics), each recorded once in the host's store, tagged with the sweep, and each step says who ran it
 * ("local", or the worker's name and machine); cancel reaches a run on a worker; a worker killed mid-run fails the
 * run with the worker named (never half-recorded as done) and resume finishes it; a host closed mid-sweep and a new
 * one started re-attaches to the runs out as queue jobs, and the sweep finishes with each step recorded once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePlan, type Plan } from '../../src-shared/experiment.ts';
import { expandSweep } from '../../src-shared/sweep.ts';
import { Runner } from '../../src-main/node/jobs/runner.ts';
import { runSweep } from '../../src-main/node/jobs/sweep.ts';
import { runDispatch } from '../../src-main/node/queue/choose.ts';
import { startEmbeddedPostgres, type EmbeddedServer } from '../../src-main/node/queue/embedded.ts';
import { openQueue, type Queue } from '../../src-main/node/queue/connect.ts';
import { queueStatus } from '../../src-main/node/queue/status.ts';
import { openStore, type Store } from '../../src-main/node/store/index.ts';
import { STEP_MODULES } from '../../src-main/node/steps/index.ts';
import { createStudioHost, type StudioHost } from '../../src-main/node/host/host.ts';
import { memoryTransportPair, RpcClient, type StudioApi } from '../../src-shared/ipc/index.ts';

const STUDIO = resolve('bin/studio.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'studio-sweep-'));
const IDX = ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'].map((f) => resolve('resources/mnist', f));

const plan: Plan = parsePlan({
  name: 'sweep test',
  model: resolve('resources/mnist-cnn.onnx'),
  dataset: { evaluation: { kind: 'idx', paths: IDX, limit: 300 } },
  evaluator: { metric: 'top1', batchSize: 150 },
  seed: 3,
  steps: [
    { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
    { kind: 'speedup' },
  ],
});
const GRID = { '$.steps[0].configList[0].sparse_ratio': [0.25, 0.5], '$.steps[0].pruner': ['l1', 'fpgm'] };

let pg: EmbeddedServer;
let q: Queue;
let store: Store;
const workers: { name: string; proc: ChildProcess; log: string[] }[] = [];

function startWorkerProcess(name: string) {
  const proc = spawn(
    process.execPath,
    [STUDIO, 'worker', '--name', name, '--providers', 'cpu', '--cache-dir', join(tmp, name)],
    { env: { ...process.env, STUDIO_QUEUE: pg.url }, stdio: ['ignore', 'pipe', 'pipe'] },
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

const runner = (queued: boolean, concurrency: number) =>
  new Runner({
    store,
    stepModules: STEP_MODULES,
    concurrency,
    spawner: runDispatch(queued ? { queue: pg.url } : { env: {} }).spawner,
  });

/** What a point measured: the same seed gives the same numbers wherever it ran. */
const measured = (runId: string) => {
  const r = store.getRun(runId)!;
  const after = store.getSnapshot(runId, 'after')!;
  const steps = store.getSteps(runId);
  return {
    name: r.plan.name,
    accuracy: after.accuracy,
    params: after.params,
    macs: after.macs,
    sparsity: steps[0]!.result?.summary?.sparsity ?? null,
  };
};

beforeAll(async () => {
  pg = await startEmbeddedPostgres({ temporary: true });
  q = await openQueue(pg.url);
  store = openStore(join(tmp, 'home'));
  for (const n of ['w1', 'w2']) startWorkerProcess(n);
  await until('two workers heartbeating', async () => (await queueStatus(q)).workers.length === 2, 200_000);
}, 240_000);

afterAll(async () => {
  for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
  await q?.close();
  await pg?.stop();
  store?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a sweep on the local pool and on two queue workers', () => {
  it('gives the same points, each recorded once and tagged, with who ran each step', async () => {
    const points = expandSweep(plan, GRID);
    expect(points).toHaveLength(4);
    const progress: number[] = [];
    const local = await runSweep(points, runner(false, 2), { onProgress: (p) => progress.push(p.overall) });
    const remote = await runSweep(points, runner(true, 4));
    for (const o of [...local.outcomes, ...remote.outcomes])
      expect({ point: o.label, status: o.status, error: o.error }).toEqual({
        point: o.label,
        status: 'succeeded',
        error: null,
      });
    expect(progress.at(-1)).toBe(1);
    expect(progress.every((v, i) => i === 0 || v >= progress[i - 1]! - 1e-9)).toBe(true);

    expect(remote.outcomes.map((o) => measured(o.runId))).toEqual(local.outcomes.map((o) => measured(o.runId)));
    // the four points really differ: the grid reached the plans
    expect(new Set(local.outcomes.map((o) => measured(o.runId).params)).size).toBe(2);

    for (const s of [local, remote]) {
      const tagged = store.listRuns({ tag: `sweep:${s.sweepId}` });
      expect(tagged.map((r) => r.id).sort()).toEqual(s.outcomes.map((o) => o.runId).sort());
      expect(store.getRun(s.outcomes[3]!.runId)!.tags).toEqual(
        expect.arrayContaining([`sweep:${s.sweepId}`, 'sweep-param:sparse_ratio=0.5', 'sweep-param:pruner=fpgm']),
      );
    }
    for (const o of local.outcomes)
      for (const st of o.report!.steps) expect(st.ranBy).toEqual({ worker: 'local', machine: hostname(), ep: 'cpu' });
    const ran = remote.outcomes.flatMap((o) => o.report!.steps.map((st) => st.ranBy!.worker));
    expect(new Set(ran).size).toBeGreaterThanOrEqual(1);
    for (const w of ran) expect(['w1', 'w2']).toContain(w);
    // each point ran once on the queue: one run job, one terminal message
    const terminal = await q.sql<{ n: string }>(
      "SELECT count(*) AS n FROM studio_queue.run_message WHERE msg->>'type' IN ('done', 'failed', 'cancelled')",
    );
    expect(Number(terminal[0]!.n)).toBe(4);
    expect(
      Number((await q.sql<{ n: string }>("SELECT count(*) AS n FROM pgboss.job WHERE name = 'studio-run-cpu'"))[0]!.n),
    ).toBe(4);
  }, 300_000);
});

describe('the app with a queue configured: sweeps, run again, cancel and a worker killed mid-run', () => {
  let host: StudioHost;
  let api: StudioApi;
  const statusOf = async (runId: string) => (await api.runs.get({ runId })).status;
  const settle = (runId: string, ms = 120_000) =>
    until(`run ${runId} to end`, async () => !['queued', 'running'].includes(await statusOf(runId)), ms);

  const home = join(tmp, 'app');
  const startHost = async () => {
    host = await createStudioHost({
      home,
      shell: 'test',
      stepModules: STEP_MODULES,
      queueRuns: { deadAfterMs: 6000 },
    });
    const [a, b] = memoryTransportPair();
    host.server.connect(b, { id: 't', kind: 'memory' });
    api = new RpcClient(a).api();
  };
  const training: Plan = parsePlan({
    ...plan,
    name: 'long',
    dataset: { train: { kind: 'idx', paths: IDX, limit: 3000 }, evaluation: { kind: 'idx', paths: IDX, limit: 300 } },
    steps: [
      { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
      { kind: 'finetune', epochs: 8, lr: 0.01, batchSize: 32 },
      { kind: 'speedup' },
    ],
  });
  let resumed = '';

  beforeAll(async () => {
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'settings.json'), JSON.stringify({ queue: pg.url }));
    await startHost();
  });
  afterAll(async () => host?.close());

  it('sweeps a run of the history as queue jobs, each point a tagged run with its worker on every step', async () => {
    const { runId } = await api.experiments.start({ plan });
    await settle(runId);
    const { sweepId, runIds } = await api.experiments.sweep({
      runId,
      grid: { '$.steps[0].configList[0].sparse_ratio': [0.25, 0.75] },
    });
    expect(runIds).toHaveLength(2);
    for (const id of runIds) await settle(id);
    const listed = await api.runs.list({ tag: `sweep:${sweepId}` });
    expect(listed.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    for (const r of listed) {
      expect(r.name).toMatch(/^sweep test \[sparse_ratio=0\.(25|75)\]$/);
      expect(r.ranOn).toHaveLength(1);
      expect(r.ranOn![0]).toMatch(/^w[12]@.+ \(cpu\)$/);
      const d = await api.runs.get({ runId: r.id });
      for (const s of d.steps) expect(['w1', 'w2']).toContain(s.result?.ranBy?.worker);
    }
    await expect(api.experiments.sweep({ runId, grid: { '$.steps[5].pruner': ['l1'] } })).rejects.toMatchObject({
      name: 'SweepError',
      message: expect.stringContaining('the plan has no $.steps[5]'),
    });
  }, 300_000);

  it('cancel from the app reaches a run on a worker; a worker killed mid-run fails it by name, and run again finishes it', async () => {
    const onWorker = async (runId: string) => {
      let worker = '';
      await until(`run ${runId} fine-tuning on a worker`, async () => {
        const d = await api.runs.get({ runId });
        worker = d.steps[0]?.result?.ranBy?.worker ?? '';
        return d.steps[1]?.status === 'running' && worker !== '';
      });
      return worker;
    };

    const a = (await api.experiments.start({ plan: training })).runId;
    await onWorker(a);
    const t0 = Date.now();
    expect(await api.experiments.cancel({ runId: a })).toEqual({ cancelled: true });
    await settle(a, 30_000);
    expect(await statusOf(a)).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await api.runs.get({ runId: a })).steps.map((s) => s.status)).toEqual(['done', 'cancelled', 'pending']);

    const b = (await api.experiments.start({ plan: training })).runId;
    const running = await onWorker(b);
    const victim = workers.find((w) => w.name === running)!;
    victim.proc.kill('SIGKILL');
    await settle(b, 60_000);
    const failed = await api.runs.get({ runId: b });
    expect(failed.status).toBe('failed');
    expect(failed.error?.message).toMatch(new RegExp(`queue worker ${victim.name}@\\S+ went silent`));
    expect(failed.steps.map((s) => s.status)).toEqual(['done', 'failed', 'pending']);

    // the store says failed a moment before the runner lets go of the job: "run again" as soon as it may
    await until('run again to be accepted', () =>
      api.experiments.resume({ runId: b }).then(
        () => true,
        (e: Error) => (/already queued or running/.test(e.message) ? false : Promise.reject(e)),
      ),
    );
    await settle(b, 180_000);
    const done = await api.runs.get({ runId: b });
    expect(done.status).toBe('succeeded');
    const survivor = victim.name === 'w1' ? 'w2' : 'w1';
    expect(done.steps.map((s) => s.result?.ranBy?.worker)).toEqual([victim.name, survivor, survivor]);
    resumed = b;
  }, 400_000);

  it('a host restarted mid-sweep re-attaches to the runs out as queue jobs and the sweep finishes, each step recorded once', async () => {
    expect(resumed).not.toBe('');
    const { sweepId, runIds } = await api.experiments.sweep({
      runId: resumed,
      grid: { '$.steps[0].configList[0].sparse_ratio': [0.25, 0.75], '$.steps[1].epochs': [3] },
    });
    expect(runIds).toHaveLength(2);
    // a point is fine-tuning on the one worker left (the other waits on the queue, or ran first): the host goes away
    let mid = '';
    await until('a point fine-tuning on a worker', async () => {
      for (const id of runIds) if ((await api.runs.get({ runId: id })).steps[1]?.status === 'running') mid = id;
      return mid !== '';
    });
    const before = (await api.runs.get({ runId: mid })).steps[0]!;
    expect(before.status).toBe('done');
    await host.close();
    const store2 = openStore(home);
    const out = runIds.filter((id) => store2.getRun(id)!.status === 'running');
    expect(out).toContain(mid);
    store2.close();

    await startHost();
    expect(
      host.runner
        .active()
        .map((j) => j.runId)
        .sort(),
    ).toEqual(out.sort());
    for (const id of runIds) await settle(id, 240_000);
    const listed = await api.runs.list({ tag: `sweep:${sweepId}` });
    expect(listed.map((r) => r.status)).toEqual(['succeeded', 'succeeded']);
    for (const id of runIds) {
      const d = await api.runs.get({ runId: id });
      expect(d.steps.map((s) => s.status)).toEqual(['done', 'done', 'done']);
      for (const s of d.steps) expect(['w1', 'w2']).toContain(s.result?.ranBy?.worker);
      // each step recorded once: the step done before the restart is not recorded again, each metric point once,
      // one terminal message on the queue
      if (id === mid) expect(d.steps[0]!.finishedAt).toBe(before.finishedAt);
      const loss = (host.store.metricSeries([id], ['loss']).get(id)?.get('loss') ?? []).map(
        (p) => `${p.stepIndex}:${p.x}`,
      );
      expect(loss.length).toBeGreaterThan(0);
      expect(new Set(loss).size).toBe(loss.length);
      const terminal = await q.sql<{ n: string }>(
        "SELECT count(*) AS n FROM studio_queue.run_job j JOIN studio_queue.run_message m ON m.key = j.key WHERE j.run_id = $1 AND m.msg->>'type' IN ('done', 'failed', 'cancelled')",
        [id],
      );
      expect(Number(terminal[0]!.n)).toBe(1);
    }
  }, 400_000);
});
