/** @file Tests of the CLI pieces: run (JSON lines, TTY bar), bad plans, runs list/show/compare/export/delete, and resume after the host was killed. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, pidAlive } from '../store/index.ts';
import { EXIT, lineRenderer, progressLine, resumeCommand, runCommand, runsCommand, type RunsOptions } from './runs.ts';
import { Runner } from '../jobs/runner.ts';
import { TEST_STEPS_MODULE, writeTinyModel } from '../jobs/test-steps.ts';

/** A writable that keeps what it is given. */
function capture(isTTY = false) {
  const chunks: string[] = [];
  return {
    isTTY,
    columns: 100,
    write: (t: string) => chunks.push(t),
    get text() {
      return chunks.join('');
    },
  };
}

let root: string;
let home: string;
const runIds: string[] = [];
const outputs: { json: string; ttyErr: string; ttyOut: string; codes: number[] } = {
  json: '',
  ttyErr: '',
  ttyOut: '',
  codes: [],
};

function writePlan(name: string, plan: object): string {
  const file = join(root, 'plans', name);
  writeFileSync(file, JSON.stringify(plan));
  return file;
}

const opts = (extra: Partial<RunsOptions> = {}) => ({
  home,
  stepModules: [TEST_STEPS_MODULE],
  handleSignals: false,
  ...extra,
});

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'studio-cli-'));
  home = join(root, 'home');
  mkdirSync(join(root, 'plans'));
  mkdirSync(join(root, 'models'));
  writeTinyModel(join(root, 'models', 'net.onnx'));
  // Relative paths resolve against the plan file's folder.
  const a = writePlan('a.json', {
    name: 'alpha',
    tags: ['cnn'],
    model: '../models/net.onnx',
    steps: [{ kind: 'count', n: 3 }],
  });
  const b = writePlan('b.json', {
    name: 'beta',
    model: '../models/net.onnx',
    steps: [
      { kind: 'sleep', ms: 400 },
      { kind: 'count', n: 2 },
    ],
  });
  const json = capture();
  outputs.codes.push(await runCommand(a, opts({ json: true, stdout: json, stderr: capture() })));
  outputs.json = json.text;
  const ttyOut = capture();
  const ttyErr = capture(true);
  outputs.codes.push(await runCommand(b, opts({ stdout: ttyOut, stderr: ttyErr })));
  outputs.ttyErr = ttyErr.text;
  outputs.ttyOut = ttyOut.text;
  const s = openStore(home);
  runIds.push(...s.listRuns({ sort: 'created', order: 'asc' }).map((r) => r.id));
  s.close();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('runCommand', () => {
  it('prints JSON lines with --json', () => {
    expect(outputs.codes).toEqual([EXIT.ok, EXIT.ok]);
    const lines = outputs.json
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ type: 'started', runId: runIds[0] });
    expect(lines.some((l) => l.type === 'progress' && l.kind === 'count' && l.runId === runIds[0])).toBe(true);
    expect(lines.filter((l) => l.type === 'step').map((l) => l.status)).toEqual(['running', 'done']);
    expect(lines.at(-1)).toMatchObject({ type: 'result', status: 'succeeded', report: { before: { params: 12 } } });
  });

  it('draws a progress bar on a TTY and prints the metrics', () => {
    expect(outputs.ttyErr).toContain('\r\u001b[2K[');
    expect(outputs.ttyErr).toMatch(/step 1\/2 sleep/);
    expect(outputs.ttyErr).toContain(`run ${runIds[1]} succeeded`);
    expect(outputs.ttyOut).toMatch(/params\s+12 → 12/);
    const line = progressLine(
      {
        stepIndex: 1,
        stepCount: 4,
        kind: 'prune',
        fraction: 0.6,
        overall: 0.45,
        etaMs: 65_000,
        loss: 0.3123,
        heartbeat: false,
        t: 0,
      },
      80,
    );
    expect(line).toMatch(/^\[#+-+\]  45% step 2\/4 prune 60% loss 0\.312 eta 1m05s$/);
  });

  it('prints one progress line per tenth of the run where stderr is no terminal (a CI log)', () => {
    const err = capture();
    const r = lineRenderer(err);
    const at = (overall: number) =>
      r.progress({
        stepIndex: 0,
        stepCount: 1,
        kind: 'compress',
        fraction: overall,
        overall,
        etaMs: null,
        heartbeat: false,
        t: 0,
      });
    for (let i = 0; i <= 100; i++) at(i / 100);
    const lines = err.text.trim().split('\n');
    expect(lines).toHaveLength(10);
    expect(lines[0]).toMatch(/^\[#+-+\]  10% step 1\/1 compress 10%$/);
    expect(lines.at(-1)).toMatch(/ 100% step 1\/1 compress 100%$/);
  });

  it('rejects a plan that does not validate or names a missing file, with JSON paths', async () => {
    const err = capture();
    expect(
      await runCommand(
        writePlan('bad.json', { model: '../models/net.onnx', steps: [{ kind: 'prun' }] }),
        opts({ stderr: err }),
      ),
    ).toBe(EXIT.usage);
    expect(err.text).toContain('$.steps[0].kind: unknown step kind "prun" (did you mean "prune"?)');
    const out = capture();
    expect(
      await runCommand(writePlan('missing.json', { model: 'gone.onnx', steps: [] }), opts({ json: true, stdout: out })),
    ).toBe(EXIT.usage);
    expect(JSON.parse(out.text)).toMatchObject({
      type: 'error',
      error: {
        code: 'PLAN_INVALID',
        details: { issues: [{ path: '$.model', message: expect.stringContaining('file not found') }] },
      },
    });
    const err2 = capture();
    expect(await runCommand(join(root, 'plans', 'nope.json'), opts({ stderr: err2 }))).toBe(EXIT.usage);
    expect(err2.text).toMatch(/plan file ".*nope.json" does not exist/);
  });

  it('`studio compress` refuses a plan without a compress step, naming its steps', async () => {
    const err = capture();
    const plan = writePlan('no-compress.json', { model: '../models/net.onnx', steps: [{ kind: 'count', n: 1 }] });
    expect(await runCommand(plan, opts({ stderr: err, requireStep: 'compress' }))).toBe(EXIT.usage);
    expect(err.text).toContain('no-compress.json has no "compress" step (its steps: count); add one');
  });
});

describe('runsCommand', () => {
  it('lists runs with filters and sorting', async () => {
    const out = capture();
    expect(await runsCommand('list', [], opts({ stdout: out }))).toBe(EXIT.ok);
    expect(out.text).toMatch(/^id\s+status\s+name/);
    expect(out.text).toContain(runIds[0]);
    const json = capture();
    await runsCommand('list', [], opts({ json: true, tag: 'cnn', stdout: json }));
    expect(JSON.parse(json.text).map((r: { name: string }) => r.name)).toEqual(['alpha']);
    const sorted = capture();
    await runsCommand(
      'list',
      [],
      opts({ json: true, sort: 'name', order: 'desc', status: 'succeeded', stdout: sorted }),
    );
    expect(JSON.parse(sorted.text).map((r: { name: string }) => r.name)).toEqual(['beta', 'alpha']);
    const err = capture();
    expect(await runsCommand('list', [], opts({ sort: 'colour', stderr: err }))).toBe(EXIT.usage);
    expect(err.text).toContain('cannot sort by "colour"');
  });

  it('shows one run and compares several', async () => {
    const out = capture();
    expect(await runsCommand('show', [runIds[1]!.slice(0, 6)], opts({ stdout: out }))).toBe(EXIT.ok);
    expect(out.text).toContain(`run ${runIds[1]}  beta`);
    expect(out.text).toMatch(/2\s+count\s+done/);
    expect(out.text).toContain('step-1/model.onnx');
    const cmp = capture();
    expect(await runsCommand('compare', runIds, opts({ stdout: cmp }))).toBe(EXIT.ok);
    expect(cmp.text).toMatch(/steps\s+count\s+sleep → count/);
    const cmpJson = capture();
    await runsCommand('compare', runIds, opts({ json: true, stdout: cmpJson }));
    const doc = JSON.parse(cmpJson.text);
    expect(doc.runs.map((r: { id: string }) => r.id)).toEqual(runIds);
    expect(doc.series[runIds[0]!].loss).toHaveLength(3);
    const err = capture();
    expect(await runsCommand('compare', [runIds[0]!], opts({ stderr: err }))).toBe(EXIT.usage);
    expect(await runsCommand('show', ['ffffffffffff'], opts({ stderr: err }))).toBe(EXIT.failed);
    expect(err.text).toContain('no run "ffffffffffff"');
    expect(await runsCommand('frobnicate', [], opts({ stderr: err }))).toBe(EXIT.usage);
  });

  it('exports a run and deletes one', async () => {
    const out = capture();
    const dir = join(root, 'export-a');
    expect(await runsCommand('export', [runIds[0]!, dir], opts({ stdout: out }))).toBe(EXIT.ok);
    expect(readdirSync(dir).sort()).toEqual(['experiment.json', 'model.onnx', 'plan.json', 'report.json']);
    const err = capture();
    expect(await runsCommand('export', [runIds[0]!, `${root}/x/../y`], opts({ stderr: err }))).toBe(EXIT.failed);
    expect(err.text).toContain('contains ".."');
    const del = capture();
    expect(await runsCommand('delete', [runIds[1]!], opts({ stdout: del }))).toBe(EXIT.ok);
    const s = openStore(home);
    expect(s.getRun(runIds[1]!)).toBeNull();
    expect(s.integrityCheck()).toEqual(['ok']);
    s.close();
  });
});

describe('an app killed mid-run', () => {
  it('marks the run interrupted on the next start and resume finishes it without redoing finished steps', async () => {
    const log = join(root, 'exec.log');
    const stop = join(root, 'stop');
    const planFile = writePlan('long.json', {
      name: 'long',
      model: '../models/net.onnx',
      steps: [
        { kind: 'count', n: 2, logFile: log },
        { kind: 'sleep', ms: 120_000, stopFile: stop },
        { kind: 'count', n: 2, logFile: log },
      ],
    });
    const cli = fileURLToPath(new URL('./runs.ts', import.meta.url));
    const script = `import { runCommand } from ${JSON.stringify(cli)};
      process.exitCode = await runCommand(${JSON.stringify(planFile)}, { json: true, home: ${JSON.stringify(home)}, stepModules: [${JSON.stringify(TEST_STEPS_MODULE)}] });`;
    const host = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    host.stdout.on('data', (d) => (stdout += d));
    let hostGone = false;
    const hostExit = new Promise((res) => host.on('exit', (code) => res(((hostGone = true), code))));
    const store = openStore(home);
    try {
      const runId = await (async () => {
        const t0 = Date.now();
        for (;;) {
          const m = /"type":"started","runId":"([0-9a-f]+)"/.exec(stdout);
          if (m && store.getSteps(m[1]!)[1]?.status === 'running') return m[1]!;
          if (hostGone || Date.now() - t0 > 60_000) throw new Error(`the host never reached step 2:\n${stdout}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const workerPid = store.getRun(runId)!.workerPid!;
      expect(pidAlive(workerPid)).toBe(true);
      host.kill('SIGKILL');
      await hostExit;
      const t0 = Date.now();
      while (pidAlive(workerPid) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
      expect(pidAlive(workerPid)).toBe(false);
      expect(store.getRun(runId)!.status).toBe('running');

      // The next start of the app recovers it.
      expect(new Runner({ store }).active()).toEqual([]);
      expect(store.getRun(runId)).toMatchObject({
        status: 'interrupted',
        error: { code: 'RUN_INTERRUPTED', message: expect.stringContaining('exited while the run was running') },
      });
      expect(store.getSteps(runId).map((s) => s.status)).toEqual(['done', 'interrupted', 'pending']);
      expect(store.integrityCheck()).toEqual(['ok']);

      writeFileSync(stop, '');
      const out = capture();
      expect(await resumeCommand(runId.slice(0, 8), opts({ json: true, stdout: out }))).toBe(EXIT.ok);
      expect(JSON.parse(out.text.trim().split('\n').at(-1)!)).toMatchObject({ type: 'result', status: 'succeeded' });
      expect(readFileSync(log, 'utf8').trim().split('\n')).toEqual([`${runId} 0`, `${runId} 2`]);
      expect(store.getRun(runId)).toMatchObject({ status: 'succeeded', attempts: 2 });
      expect(existsSync(store.workDir(runId))).toBe(false);
      const err = capture();
      expect(await resumeCommand(runId, opts({ stderr: err }))).toBe(EXIT.failed);
      expect(err.text).toContain('already succeeded');
    } finally {
      store.close();
    }
  });
});
