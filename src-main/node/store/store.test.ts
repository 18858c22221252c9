/** @file Tests of the experiment store: migrations, runs and steps, artifacts, queries, recovery, concurrent writers. */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  computeFactors,
  emptySnapshot,
  parsePlan,
  type MetricSnapshot,
  type RunReport,
} from '../../../src-shared/experiment.ts';
import {
  LATEST_VERSION,
  migrate,
  openStore,
  schemaVersion,
  SchemaVersionError,
  sha256Of,
  Store,
  StoreError,
  studioHome,
  writeFileAtomic,
} from './index.ts';

let home: string;
let store: Store;
const plan = (name = 'p', steps: object[] = [{ kind: 'speedup' }, { kind: 'speedup', roundTo: 8 }]) =>
  parsePlan({ name, model: '/m/net.onnx', steps });

beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'studio-store-'));
  store = openStore(home);
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

function report(runId: string, after: Partial<MetricSnapshot>): RunReport {
  const before = { ...emptySnapshot(), accuracy: 0.9, params: 1000, sizeBytes: 4000 };
  const a = { ...emptySnapshot(), ...after };
  return {
    runId,
    planName: null,
    status: 'succeeded',
    before,
    after: a,
    factors: computeFactors(before, a),
    steps: [],
    startedAt: null,
    finishedAt: null,
    modelSha256: null,
  };
}

describe('schema migrations', () => {
  it('migrates an empty database to the latest version', () => {
    expect(schemaVersion(store.db)).toBe(LATEST_VERSION);
    const rows = store.db.prepare('SELECT version FROM schema_version ORDER BY version').all();
    expect(rows).toEqual([{ version: 1 }, { version: 2 }]);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(store.integrityCheck()).toEqual(['ok']);
  });

  it('migrates a v1 database with data to v2, keeping the data', () => {
    const old = mkdtempSync(join(tmpdir(), 'studio-v1-'));
    try {
      const db = new Database(join(old, 'studio.db'));
      expect(migrate(db, 1)).toEqual({ from: 0, to: 1 });
      db.prepare("INSERT INTO experiments VALUES ('e1', 'legacy', '2025-01-01T00:00:00Z')").run();
      db.prepare(
        "INSERT INTO runs (id, experiment_id, name, status, plan_json, plan_sha256, step_count, created_at) VALUES ('r1', 'e1', 'old run', 'succeeded', ?, 'x', 0, '2025-01-01T00:00:00Z')",
      ).run(JSON.stringify(plan('legacy', [])));
      expect(() => db.prepare('SELECT notes FROM runs').all()).toThrow(/no such column/);
      db.close();

      const s = openStore(old);
      try {
        expect(schemaVersion(s.db)).toBe(2);
        const run = s.getRun('r1')!;
        expect(run).toMatchObject({
          name: 'old run',
          status: 'succeeded',
          notes: '',
          tags: [],
          experimentName: 'legacy',
        });
        s.setTags('r1', ['baseline', 'resnet']);
        s.setNotes('r1', 'from v1');
        expect(s.getRun('r1')).toMatchObject({ notes: 'from v1', tags: ['baseline', 'resnet'] });
        expect(s.listRuns({ tag: 'baseline' }).map((r) => r.id)).toEqual(['r1']);
        expect(s.integrityCheck()).toEqual(['ok']);
      } finally {
        s.close();
      }
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });

  it('refuses a database from a newer app', () => {
    store.db.prepare("INSERT INTO schema_version VALUES (99, 'future', 'x')").run();
    store.close();
    expect(() => openStore(home)).toThrow(SchemaVersionError);
    rmSync(home, { recursive: true, force: true });
    home = mkdtempSync(join(tmpdir(), 'studio-store-'));
    store = openStore(home);
  });
});

describe('runs, steps and artifacts', () => {
  it('creates a queued run with its plan file, steps and tags', () => {
    const run = store.createRun({ plan: plan('exp A'), tags: ['t1', 't1', ' t2 '], notes: 'first' });
    expect(run).toMatchObject({
      status: 'queued',
      experimentName: 'exp A',
      stepCount: 2,
      tags: ['t1', 't2'],
      notes: 'first',
      attempts: 0,
    });
    expect(store.getSteps(run.id).map((s) => [s.index, s.kind, s.status])).toEqual([
      [0, 'speedup', 'pending'],
      [1, 'speedup', 'pending'],
    ]);
    const [planArt] = store.listArtifacts(run.id);
    expect(planArt).toMatchObject({ kind: 'plan', stepIndex: null });
    expect(sha256Of(readFileSync(planArt!.path))).toBe(planArt!.sha256);
    expect(store.resolveRunId(run.id.slice(0, 5))).toBe(run.id);
    expect(() => store.resolveRunId('zzzz')).toThrow(StoreError);
  });

  it('stages artifacts, completes steps atomically and finds the latest model', async () => {
    const run = store.createRun({ plan: plan() });
    store.markRunStarted(run.id);
    store.startStep(run.id, 0);
    const src = join(home, 'out.onnx');
    writeFileSync(src, 'model-bytes-0');
    const staged = await store.stageArtifact(run.id, 0, src, { kind: 'model', name: 'model.onnx' });
    expect(staged.sha256).toBe(sha256Of('model-bytes-0'));
    expect(store.latestModel(run.id)).toBeNull();
    store.completeStep(run.id, 0, { durationMs: 12, result: { summary: { sparsity: 0.5 } }, artifacts: [staged] });
    expect(store.latestModel(run.id)!.model).toMatchObject({ stepIndex: 0, sha256: staged.sha256, size: 13 });
    expect(store.latestModel(run.id, 0)).toBeNull();
    expect(store.firstUnfinishedStep(run.id)).toBe(1);
    expect(store.getSteps(run.id)[0]).toMatchObject({
      status: 'done',
      durationMs: 12,
      result: { summary: { sparsity: 0.5 } },
    });
    // A re-run of the step replaces its artifacts.
    writeFileSync(src, 'model-bytes-0b');
    const again = await store.stageArtifact(run.id, 0, src, { kind: 'model', name: 'model.onnx' });
    store.completeStep(run.id, 0, { durationMs: 5, result: {}, artifacts: [again] });
    expect(store.listArtifacts(run.id).filter((a) => a.kind === 'model')).toHaveLength(1);
    expect(readFileSync(store.latestModel(run.id)!.model.path, 'utf8')).toBe('model-bytes-0b');
    await expect(store.stageArtifact(run.id, 0, src, { kind: 'model', name: '../evil' })).rejects.toThrow(
      /plain file name/,
    );
  });

  it('finishes a run with a report and prepares a resume', () => {
    const run = store.createRun({ plan: plan() });
    store.markRunStarted(run.id);
    store.startStep(run.id, 0);
    store.completeStep(run.id, 0, { durationMs: 1, result: {}, artifacts: [] });
    store.startStep(run.id, 1);
    store.finishRun(run.id, 'failed', { error: { name: 'Error', code: 'WORKER_CRASHED', message: 'boom' } });
    expect(store.getRun(run.id)).toMatchObject({ status: 'failed', error: { code: 'WORKER_CRASHED' } });
    expect(store.getSteps(run.id).map((s) => s.status)).toEqual(['done', 'failed']);
    expect(store.prepareResume(run.id)).toBe(1);
    expect(store.getSteps(run.id).map((s) => s.status)).toEqual(['done', 'pending']);
    expect(() => store.prepareResume(run.id)).toThrow(/queued/);
    store.markRunStarted(run.id);
    store.finishRun(run.id, 'succeeded', { report: report(run.id, { accuracy: 0.8, params: 500, sizeBytes: 2000 }) });
    expect(store.getRun(run.id)).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(store.getReport(run.id)!.factors.params).toBe(2);
    expect(existsSync(join(store.runDir(run.id), 'report.json'))).toBe(true);
    expect(() => store.prepareResume(run.id)).toThrow(/already succeeded/);
  });

  it('deletes a run with its rows and files, refusing an active one', async () => {
    const keep = store.createRun({ plan: plan('same') });
    const run = store.createRun({ plan: plan('same') });
    expect(() => store.deleteRun(run.id)).toThrow(/cancel it/);
    store.appendMetrics(run.id, [{ stepIndex: 0, name: 'loss', x: 0, value: 1, t: Date.now() }]);
    const src = join(home, 'm');
    writeFileSync(src, 'x');
    store.completeStep(run.id, 0, {
      durationMs: 1,
      result: {},
      artifacts: [await store.stageArtifact(run.id, 0, src, { kind: 'model', name: 'm.onnx' })],
    });
    store.finishRun(run.id, 'cancelled');
    store.deleteRun(run.id);
    expect(store.getRun(run.id)).toBeNull();
    expect(existsSync(store.runDir(run.id))).toBe(false);
    for (const table of ['steps', 'metrics', 'artifacts', 'run_tags', 'snapshots']) {
      expect(store.db.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE run_id = ?`).get(run.id)).toEqual({ n: 0 });
    }
    expect(store.getRun(keep.id)).not.toBeNull();
    expect(store.integrityCheck()).toEqual(['ok']);
  });
});

describe('comparison queries', () => {
  it('filters by status, tag and text and sorts by any metric or date', () => {
    const a = store.createRun({ plan: plan('resnet'), name: 'resnet l1', tags: ['cnn'] });
    const b = store.createRun({ plan: plan('resnet'), name: 'resnet fpgm', tags: ['cnn', 'best'] });
    const c = store.createRun({ plan: plan('bert'), name: 'bert 50%_x' });
    store.finishRun(a.id, 'succeeded', { report: report(a.id, { accuracy: 0.7, params: 100 }) });
    store.finishRun(b.id, 'succeeded', { report: report(b.id, { accuracy: 0.8, params: 400 }) });
    store.finishRun(c.id, 'failed');
    expect(store.listRuns({ status: 'succeeded', sort: 'after.accuracy', order: 'desc' }).map((r) => r.id)).toEqual([
      b.id,
      a.id,
    ]);
    expect(store.listRuns({ sort: 'factors.params', order: 'desc' }).map((r) => r.id)).toEqual([a.id, b.id, c.id]);
    expect(store.listRuns({ tag: 'best' }).map((r) => r.id)).toEqual([b.id]);
    expect(store.listRuns({ text: 'FPGM' }).map((r) => r.id)).toEqual([b.id]);
    expect(store.listRuns({ text: '50%_' }).map((r) => r.id)).toEqual([c.id]);
    expect(store.listRuns({ text: '%' }).map((r) => r.id)).toEqual([c.id]);
    expect(store.listRuns({ status: ['failed', 'succeeded'] })).toHaveLength(3);
    expect(store.listRuns()[0]!.id).toBe(c.id);
    expect(store.listRuns({ sort: 'created', order: 'asc', limit: 1 }).map((r) => r.id)).toEqual([a.id]);
    const [top] = store.listRuns({ sort: 'after.accuracy', order: 'desc', limit: 1 });
    expect(top).toMatchObject({
      plan: { name: 'resnet' },
      after: { accuracy: 0.8 },
      report: { factors: { params: 2.5 } },
    });
    expect(() => store.listRuns({ sort: 'drop table' as never })).toThrow(RangeError);
  });

  it('returns metric series of several runs', () => {
    const a = store.createRun({ plan: plan() });
    const b = store.createRun({ plan: plan() });
    const t = Date.now();
    store.appendMetrics(a.id, [
      { stepIndex: 0, name: 'loss', x: 1, value: 0.5, t },
      { stepIndex: 0, name: 'loss', x: 0, value: 0.9, t },
      { stepIndex: 0, name: 'top1', x: 0, value: 0.7, t },
    ]);
    store.appendMetrics(b.id, [{ stepIndex: 1, name: 'loss', x: 0, value: 2, t }]);
    const series = store.metricSeries([a.id, b.id], ['loss']);
    expect(
      series
        .get(a.id)!
        .get('loss')!
        .map((p) => p.value),
    ).toEqual([0.9, 0.5]);
    expect(series.get(a.id)!.has('top1')).toBe(false);
    expect(series.get(b.id)!.get('loss')).toHaveLength(1);
    expect(store.metricSeries([a.id]).get(a.id)!.size).toBe(2);
  });
});

describe('recovery and concurrency', () => {
  it('marks runs of a dead host interrupted, keeps finished steps, leaves live hosts alone', () => {
    const dead = store.createRun({ plan: plan() });
    const live = store.createRun({ plan: plan() });
    const mine = store.createRun({ plan: plan() });
    store.markRunStarted(dead.id, 999_999_1);
    store.startStep(dead.id, 0);
    store.completeStep(dead.id, 0, { durationMs: 1, result: {}, artifacts: [] });
    store.startStep(dead.id, 1);
    store.setWorkerPid(dead.id, 999_999_2);
    store.markRunStarted(live.id, 4242);
    const marked = store.recoverInterrupted({ isAlive: (pid) => pid === 4242, active: [mine.id] });
    expect(marked).toEqual([dead.id]);
    expect(store.getRun(dead.id)).toMatchObject({
      status: 'interrupted',
      workerPid: null,
      error: { code: 'RUN_INTERRUPTED' },
    });
    expect(store.getSteps(dead.id).map((s) => s.status)).toEqual(['done', 'interrupted']);
    expect(store.getRun(live.id)!.status).toBe('running');
    expect(store.getRun(mine.id)!.status).toBe('queued');
    expect(store.prepareResume(dead.id)).toBe(1);
    expect(store.integrityCheck()).toEqual(['ok']);
  });

  it('stays consistent with two processes writing at once', async () => {
    const run = store.createRun({ plan: plan() });
    const storeModule = fileURLToPath(new URL('./index.ts', import.meta.url));
    const script = `
      import { openStore } from ${JSON.stringify(storeModule)};
      const s = openStore(${JSON.stringify(home)});
      for (let i = 0; i < 200; i++) s.appendMetrics(${JSON.stringify(run.id)}, [{ stepIndex: 1, name: 'child', x: i, value: i, t: Date.now() }, { stepIndex: 1, name: 'child', x: i + 0.5, value: i, t: Date.now() }]);
      s.close();`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((res) => child.on('exit', res));
    for (let i = 0; i < 200; i++) {
      store.appendMetrics(run.id, [{ stepIndex: 0, name: 'parent', x: i, value: i, t: Date.now() }]);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    expect(await exited, stderr).toBe(0);
    const series = store.metricSeries([run.id]).get(run.id)!;
    expect(series.get('parent')).toHaveLength(200);
    expect(series.get('child')).toHaveLength(400);
    expect(store.integrityCheck()).toEqual(['ok']);
  });
});

describe('files', () => {
  it('writes atomically and leaves no temporary file on failure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'studio-files-'));
    try {
      writeFileAtomic(join(dir, 'a.json'), '{"a":1}');
      expect(readFileSync(join(dir, 'a.json'), 'utf8')).toBe('{"a":1}');
      expect(() => writeFileAtomic(join(dir, 'missing', 'b.json'), 'x')).toThrow(/ENOENT/);
      expect(readdirSync(dir)).toEqual(['a.json']);
      expect(studioHome({ STUDIO_HOME: '/x/y' })).toBe('/x/y');
      expect(studioHome({})).toMatch(/\.compression-studio$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
