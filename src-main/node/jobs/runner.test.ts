/** @file Tests of the runner with real worker processes and the test step kinds: progress, cancel, crash, resume, queue. */
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  parsePlan,
  PlanError,
  registerStepKind,
  type Plan,
  type ProgressEvent,
} from '../../../src-shared/experiment.ts';
import { Model, Tensor } from '../../core/ir/index.ts';
import { loadModelFile, saveModelFile } from '../io/model-file.ts';
import { openStore, pidAlive, sha256Of, type Store } from '../store/index.ts';
import { exportRun } from './export.ts';
import { decodeHostMessage, decodeWorkerMessage, ProtocolError, PROTOCOL_VERSION } from './protocol.ts';
import { Runner, type RunnerOptions } from './runner.ts';
import { utilityProcessSpawner, type UtilityProcessLike, type WorkerSpawner } from './spawn.ts';
import { TEST_STEPS_MODULE, writeTinyModel } from './test-steps.ts';

let home: string;
let store: Store;
let model: string;

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'studio-runner-'));
  mkdirSync(join(home, 'in'));
  model = join(home, 'in', 'net.onnx');
  writeTinyModel(model);
  store = openStore(join(home, 'studio'));
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

const runner = (opts: Partial<RunnerOptions> = {}) => new Runner({ store, stepModules: [TEST_STEPS_MODULE], ...opts });
const plan = (steps: object[], extra: object = {}): Plan => parsePlan({ model, steps, ...extra });
const logLines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []);

async function until(cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('running a plan', () => {
  it('runs the steps in a worker, checkpoints each one and writes a report', async () => {
    const log = join(home, 'exec.log');
    const job = runner().submit(
      plan(
        [
          { kind: 'count', n: 3, logFile: log },
          { kind: 'sleep', ms: 50 },
          { kind: 'count', n: 4, logFile: log },
        ],
        { name: 'happy' },
      ),
    );
    const steps: string[] = [];
    job.on('step', (s) => steps.push(`${s.index}:${s.status}`));
    const logs: string[] = [];
    job.on('log', (e) => logs.push(e.message));
    const outcome = await job.done;
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe('succeeded');
    expect(steps).toEqual(['0:running', '0:done', '1:running', '1:done', '2:running', '2:done']);
    expect(logs).toEqual(['counted to 3', 'counted to 4']);
    const report = outcome.report!;
    expect(report).toMatchObject({
      planName: 'happy',
      status: 'succeeded',
      before: { params: 12, opset: 17 },
      after: { params: 12 },
      factors: { params: 1 },
    });
    expect(report.steps.map((s) => [s.kind, s.status, s.summary])).toEqual([
      ['count', 'done', { counted: 3 }],
      ['sleep', 'done', { sleptMs: expect.any(Number) }],
      ['count', 'done', { counted: 4 }],
    ]);
    const models = store.listArtifacts(job.runId).filter((a) => a.kind === 'model');
    expect(models.map((a) => a.stepIndex)).toEqual([0, 2]);
    for (const a of models) expect(sha256Of(readFileSync(a.path))).toBe(a.sha256);
    expect(report.modelSha256).toBe(models[1]!.sha256);
    expect(report.steps[1]!.modelSha256).toBeNull();
    expect(store.getRun(job.runId)).toMatchObject({ status: 'succeeded', attempts: 1, workerPid: null });
    expect(store.metricSeries([job.runId], ['loss']).get(job.runId)!.get('loss')).toHaveLength(7);
    expect(readFileSync(join(store.runDir(job.runId), 'run.log'), 'utf8')).toContain('info counted to 3');
    expect(existsSync(store.workDir(job.runId))).toBe(false);
    expect(logLines(log)).toHaveLength(2);
    expect(store.integrityCheck()).toEqual(['ok']);
  });

  it('reports progress at least twice a second, with heartbeats while a step is silent', async () => {
    const job = runner().submit(
      plan([
        { kind: 'sleep', ms: 1500, chatty: false },
        { kind: 'sleep', ms: 300 },
      ]),
    );
    const events: (ProgressEvent & { at: number })[] = [];
    job.on('progress', (e) => events.push({ ...e, at: Date.now() }));
    expect((await job.done).status).toBe('succeeded');
    const silent = events.filter((e) => e.stepIndex === 0);
    // gaps by the worker's own clock (what it promises), not by arrival here, which a busy 2-core test machine
    // can delay by a scheduling slice (CI once saw an 815 ms arrival gap); the 1.5 s silent step would show a
    // gap of 1.5 s if heartbeats were missing
    const gaps = silent
      .slice(1)
      .map((e, i) => e.t - silent[i]!.t)
      .sort((a, b) => a - b);
    expect(gaps[Math.floor(gaps.length / 2)]).toBeLessThanOrEqual(300);
    expect(gaps.at(-1)).toBeLessThan(1000);
    expect(silent.at(-1)!.t - silent[0]!.t).toBeGreaterThanOrEqual(1400);
    expect(silent.filter((e) => e.heartbeat).length).toBeGreaterThanOrEqual(3);
    expect(events.some((e) => e.etaMs !== null && e.etaMs > 0)).toBe(true);
    const overall = events.map((e) => e.overall);
    expect(overall).toEqual([...overall].sort((a, b) => a - b));
    expect(events.at(-1)).toMatchObject({ kind: 'measure', overall: 1 });
  });
});

describe('a model over the inline limit (protobuf 2 GB; lowered for the worker by STUDIO_INLINE_DATA_LIMIT)', () => {
  it('checkpoints its external data beside it, the next step reads it, and the export carries it', async () => {
    // a Gemm with a 2 KB weight: over a 256-byte limit, and over saveModelFile's 1 KB threshold for external tensors
    const m = new Model();
    const x = m.graph.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['batch', 32] });
    const w = m.graph.addInitializer(
      'w',
      Tensor.float32(
        [16, 32],
        Array.from({ length: 512 }, (_, i) => i / 97),
      ),
    );
    const gemm = m.graph.addNode({ opType: 'Gemm', name: 'fc', inputs: [x, w], outputs: ['y'] });
    gemm.attributes.set('transB', { type: 'int', value: 1 });
    m.graph.addOutput(gemm.outputs[0]!);
    saveModelFile(m, model);
    const r = runner({ env: { STUDIO_INLINE_DATA_LIMIT: '256' } });
    const job = r.submit(
      plan([
        { kind: 'count', n: 1 },
        { kind: 'count', n: 1 },
      ]),
    );
    expect((await job.done).status).toBe('succeeded');
    const latest = store.latestModel(job.runId)!;
    expect(latest.data.map((a) => a.name)).toEqual(['model.onnx.data']);
    expect(dirname(latest.data[0]!.path)).toBe(dirname(latest.model.path));
    const back = loadModelFile(latest.model.path);
    expect(back.metadata.get('count_step_1')).toBe('1');
    expect([...back.graph.initializers[0]!.initializer!.toFloat32()]).toEqual([...w.initializer!.toFloat32()]);
    const out = join(home, 'export');
    await exportRun(store, job.runId, out);
    expect(existsSync(join(out, 'model.onnx.data'))).toBe(true);
    expect([...loadModelFile(join(out, 'model.onnx')).graph.initializers[0]!.initializer!.toFloat32()]).toEqual([
      ...w.initializer!.toFloat32(),
    ]);
  });
});

describe('cancellation, crashes and resume', () => {
  it('cancels within a second, keeps finished steps, and resumes at the first unfinished one', async () => {
    const log = join(home, 'exec.log');
    const stop = join(home, 'stop');
    const r = runner();
    const job = r.submit(
      plan([
        { kind: 'count', n: 2, logFile: log },
        { kind: 'sleep', ms: 60_000, stopFile: stop },
        { kind: 'count', n: 2, logFile: log },
      ]),
    );
    await until(() => store.getSteps(job.runId)[1]!.status === 'running');
    const t0 = Date.now();
    job.cancel('user pressed stop');
    const outcome = await job.done;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(outcome).toMatchObject({ status: 'cancelled', error: { code: 'CANCELLED', message: 'user pressed stop' } });
    expect(store.getSteps(job.runId).map((s) => s.status)).toEqual(['done', 'cancelled', 'pending']);
    expect(store.integrityCheck()).toEqual(['ok']);

    writeFileSync(stop, '');
    const resumed = r.resume(job.runId.slice(0, 6));
    expect((await resumed.done).status).toBe('succeeded');
    expect(logLines(log)).toEqual([`${job.runId} 0`, `${job.runId} 2`]);
    expect(store.getRun(job.runId)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('kills a step that ignores cancellation after the grace period', async () => {
    const job = runner({ cancelGraceMs: 300 }).submit(plan([{ kind: 'sleep', ms: 30_000, ignoreCancel: true }]));
    await until(() => store.getSteps(job.runId)[0]!.status === 'running');
    await new Promise((r) => setTimeout(r, 100));
    const pid = job.workerPid!;
    const t0 = Date.now();
    job.cancel();
    const outcome = await job.done;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(outcome.status).toBe('cancelled');
    expect(pidAlive(pid)).toBe(false);
    expect(store.getSteps(job.runId)[0]!.status).toBe('cancelled');
  });

  it('marks the run failed when the worker is killed (kill -9), and resume continues it', async () => {
    const log = join(home, 'exec.log');
    const stop = join(home, 'stop');
    const r = runner();
    const job = r.submit(
      plan([
        { kind: 'count', n: 2, logFile: log },
        { kind: 'sleep', ms: 60_000, stopFile: stop },
        { kind: 'count', n: 2, logFile: log },
      ]),
    );
    await until(() => store.getSteps(job.runId)[1]!.status === 'running');
    process.kill(job.workerPid!, 'SIGKILL');
    const outcome = await job.done;
    expect(outcome.status).toBe('failed');
    expect(outcome.error).toMatchObject({ code: 'WORKER_CRASHED', message: expect.stringContaining('SIGKILL') });
    expect(store.getRun(job.runId)).toMatchObject({ status: 'failed', error: { code: 'WORKER_CRASHED' } });
    expect(store.getSteps(job.runId).map((s) => s.status)).toEqual(['done', 'failed', 'pending']);
    const step0 = store.latestModel(job.runId)!.model;
    expect(sha256Of(readFileSync(step0.path))).toBe(step0.sha256);
    expect(store.integrityCheck()).toEqual(['ok']);

    writeFileSync(stop, '');
    const outcome2 = await r.resume(job.runId).done;
    expect(outcome2.status).toBe('succeeded');
    expect(logLines(log)).toEqual([`${job.runId} 0`, `${job.runId} 2`]);
    expect(outcome2.report!.steps.map((s) => s.status)).toEqual(['done', 'done', 'done']);
  });

  it('records a failing step with its error and keeps the steps before it', async () => {
    const outcome = await runner().submit(
      plan([
        { kind: 'count', n: 1 },
        { kind: 'fail', message: 'no good' },
      ]),
    ).done;
    expect(outcome).toMatchObject({ status: 'failed', error: { code: 'TEST_FAIL', message: 'no good' } });
    const steps = store.getSteps(outcome.runId);
    expect(steps.map((s) => s.status)).toEqual(['done', 'failed']);
    expect(steps[1]!.error).toMatchObject({ code: 'TEST_FAIL' });
  });

  it('fails a run whose step kind has no executor, or is unknown, in the worker', async () => {
    const r = runner();
    const orphan = await r.submit(plan([{ kind: 'count' }, { kind: 'orphan' }])).done;
    expect(orphan).toMatchObject({
      status: 'failed',
      error: { code: 'NO_STEP_EXECUTOR', message: expect.stringContaining('"orphan" ($.steps[1])') },
    });
    expect(store.getSteps(orphan.runId).map((s) => s.status)).toEqual(['pending', 'pending']);
    registerStepKind('ghost', z.strictObject({ kind: z.literal('ghost') }));
    const ghost = await r.submit(plan([{ kind: 'ghost' }])).done;
    expect(ghost).toMatchObject({
      status: 'failed',
      error: { code: 'PLAN_INVALID', message: expect.stringContaining('$.steps[0].kind: unknown step kind "ghost"') },
    });
  });

  it('rejects missing model or data files before recording anything, and fails a resume whose input vanished', async () => {
    const r = runner();
    expect(() => r.submit(parsePlan({ model: join(home, 'nope.onnx'), steps: [] }))).toThrow(PlanError);
    try {
      r.submit(
        parsePlan({ model, dataset: { train: { kind: 'idx', paths: [model, join(home, 'labels.idx')] } }, steps: [] }),
      );
    } catch (e) {
      expect((e as PlanError).issues).toEqual([
        { path: '$.dataset.train.paths[1]', message: `file not found: ${join(home, 'labels.idx')}` },
      ]);
    }
    expect(store.listRuns()).toEqual([]);

    const failed = await r.submit(plan([{ kind: 'fail' }])).done;
    unlinkSync(model);
    const again = await r.resume(failed.runId).done;
    expect(again).toMatchObject({
      status: 'failed',
      error: { code: 'PLAN_INVALID', message: expect.stringContaining('$.model: file not found') },
    });
    expect(store.integrityCheck()).toEqual(['ok']);
  });
});

describe('the queue', () => {
  it('runs one job at a time by default and two at once when allowed, both writing the store', async () => {
    const one = runner();
    const a = one.submit(plan([{ kind: 'sleep', ms: 200 }]));
    const b = one.submit(plan([{ kind: 'sleep', ms: 200 }]));
    await until(() => a.status === 'running');
    expect(b.status).toBe('queued');
    expect(store.getRun(b.runId)!.status).toBe('queued');
    await Promise.all([a.done, b.done]);

    const two = runner({ concurrency: 2 });
    const spans = new Map<string, [number, number]>();
    const jobs = [0, 1].map(() =>
      two.submit(
        plan([
          { kind: 'count', n: 30, delayMs: 20 },
          { kind: 'count', n: 10, delayMs: 5 },
        ]),
      ),
    );
    for (const j of jobs) {
      j.on('step', (s) => {
        if (s.index === 0 && s.status === 'running') spans.set(j.runId, [Date.now(), 0]);
        if (s.index === 1 && s.status === 'done') spans.get(j.runId)![1] = Date.now();
      });
    }
    const outcomes = await Promise.all(jobs.map((j) => j.done));
    expect(outcomes.map((o) => o.status)).toEqual(['succeeded', 'succeeded']);
    const [s1, s2] = jobs.map((j) => spans.get(j.runId)!);
    expect(s1![0] < s2![1] && s2![0] < s1![1]).toBe(true);
    for (const j of jobs) expect(store.metricSeries([j.runId], ['loss']).get(j.runId)!.get('loss')).toHaveLength(40);
    await two.onIdle();
    expect(store.integrityCheck()).toEqual(['ok']);
  });

  it('cancels a queued job without starting it', async () => {
    const r = runner();
    const a = r.submit(plan([{ kind: 'sleep', ms: 100 }]));
    const b = r.submit(plan([{ kind: 'sleep', ms: 100 }]));
    b.cancel();
    expect((await b.done).status).toBe('cancelled');
    expect(store.getRun(b.runId)!.attempts).toBe(0);
    expect((await a.done).status).toBe('succeeded');
  });
});

describe('worker protocol', () => {
  it('validates messages on both sides', () => {
    expect(() => decodeWorkerMessage({ v: 2, type: 'ready', pid: 1 })).toThrow(/protocol version 2/);
    expect(() => decodeWorkerMessage({ v: 1, type: 'explode' })).toThrow(ProtocolError);
    expect(() => decodeWorkerMessage({ v: 1, type: 'progress', event: { fraction: 2 } })).toThrow(ProtocolError);
    expect(decodeHostMessage({ v: PROTOCOL_VERSION, type: 'cancel', reason: 'x' })).toEqual({
      v: 1,
      type: 'cancel',
      reason: 'x',
    });
  });

  /** An in-process stand-in for Electron's UtilityProcess that answers `start` with the given messages. */
  function fakeUtility(reply: (start: unknown) => unknown[]): WorkerSpawner {
    return utilityProcessSpawner(() => {
      const ee = new EventEmitter();
      const child: UtilityProcessLike = {
        pid: 424242,
        stdout: null,
        stderr: null,
        postMessage(m) {
          if ((m as { type: string }).type !== 'start') return;
          setTimeout(() => {
            for (const msg of reply(m)) ee.emit('message', msg);
            ee.emit('exit', 0);
          }, 5);
        },
        kill: () => true,
        on: (event: string, l: (...a: any[]) => void) => ee.on(event, l),
      };
      return child;
    });
  }

  it('runs through a utilityProcess-style spawner', async () => {
    const snap = { metric: null, accuracy: null, loss: null, params: 5, macs: null, sizeBytes: 10, latencyMs: null };
    const spawner = fakeUtility(() => [
      { v: 1, type: 'ready', pid: 424242 },
      { v: 1, type: 'snapshot', phase: 'before', snapshot: snap },
      { v: 1, type: 'snapshot', phase: 'after', snapshot: { ...snap, params: 1 } },
      { v: 1, type: 'done' },
    ]);
    const outcome = await runner({ spawner }).submit(plan([])).done;
    expect(outcome).toMatchObject({ status: 'succeeded', report: { factors: { params: 5 } } });
  });

  it('fails a run whose worker breaks the protocol', async () => {
    const spawner = fakeUtility(() => [
      { v: 1, type: 'ready', pid: 1 },
      { v: 7, type: 'done' },
    ]);
    const outcome = await runner({ spawner }).submit(plan([])).done;
    expect(outcome).toMatchObject({
      status: 'failed',
      error: { code: 'PROTOCOL', message: expect.stringContaining('version 7') },
    });
  });
});
