/** @file Tests of run export: contents and hashes, path confinement (.., symbolic links), and a full disk mid-export. */
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { emptySnapshot, parsePlan } from '../../../src-shared/experiment.ts';
import { openStore, sha256Of, type Store } from '../store/index.ts';
import { diskIo, exportRun, ExportError, type ExportIo } from './export.ts';
import { buildReport } from './runner.ts';
import { writeTinyModel } from './test-steps.ts';

let home: string;
let store: Store;
let runId: string;

/** A succeeded run made through the store API (no worker): one step that wrote a model plus external data. */
async function succeededRun(): Promise<string> {
  const input = join(home, 'net.onnx');
  writeTinyModel(input);
  const run = store.createRun({
    plan: parsePlan({ name: 'exp', model: input, steps: [{ kind: 'speedup' }] }),
    tags: ['x'],
  });
  store.markRunStarted(run.id);
  store.recordSnapshot(run.id, 'before', { ...emptySnapshot(), params: 12, sizeBytes: 200, opset: 17 });
  store.startStep(run.id, 0);
  const out = join(home, 'out');
  mkdirSync(out);
  writeTinyModel(join(out, 'model.onnx'));
  writeFileSync(join(out, 'model.onnx.data'), 'external weights');
  const staged = [
    await store.stageArtifact(run.id, 0, join(out, 'model.onnx'), { kind: 'model', name: 'model.onnx' }),
    await store.stageArtifact(run.id, 0, join(out, 'model.onnx.data'), { kind: 'model-data', name: 'model.onnx.data' }),
  ];
  store.completeStep(run.id, 0, { durationMs: 3, result: { summary: { removed: 2 } }, artifacts: staged });
  store.recordSnapshot(run.id, 'after', { ...emptySnapshot(), params: 6, sizeBytes: 100, opset: 17 });
  store.finishRun(run.id, 'succeeded', { report: buildReport(store, run.id, 'succeeded') });
  return run.id;
}

beforeEach(async () => {
  home = mkdtempSync(join(tmpdir(), 'studio-export-'));
  store = openStore(join(home, 'studio'));
  runId = await succeededRun();
});
afterEach(() => {
  store.close();
  rmSync(home, { recursive: true, force: true });
});

describe('exportRun', () => {
  it('writes the model, its data, the plan, the report and an experiment record with hashes and versions', async () => {
    const dir = join(home, 'exports', 'a');
    const res = await exportRun(store, runId, dir);
    expect(res.files.map((f) => f.name)).toEqual([
      'model.onnx',
      'model.onnx.data',
      'plan.json',
      'report.json',
      'experiment.json',
    ]);
    expect(readdirSync(dir).sort()).toEqual([
      'experiment.json',
      'model.onnx',
      'model.onnx.data',
      'plan.json',
      'report.json',
    ]);
    const record = JSON.parse(readFileSync(join(dir, 'experiment.json'), 'utf8'));
    expect(record).toMatchObject({
      format: 'compression-studio/experiment-record',
      run: { id: runId, status: 'succeeded', tags: ['x'] },
      versions: { app: '0.1.0', 'onnxruntime-node': '1.30.0', opset: 17 },
      plan: { name: 'exp', steps: [{ kind: 'speedup' }] },
      metrics: { before: { params: 12 }, after: { params: 6 }, factors: { params: 2 } },
    });
    for (const name of ['model.onnx', 'model.onnx.data', 'plan.json', 'report.json'])
      expect(record.hashes[name]).toBe(sha256Of(readFileSync(join(dir, name))));
    expect(record.hashes['model.onnx']).toBe(store.latestModel(runId)!.model.sha256);
    expect(JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')).runId).toBe(runId);
  });

  it('refuses "..", a symbolic-link folder, links inside the folder, and existing files unless overwriting', async () => {
    await expect(exportRun(store, runId, `${home}/x/../y`)).rejects.toMatchObject({ code: 'EXPORT_PATH' });
    await expect(exportRun(store, runId, '../escape')).rejects.toThrow(/contains "\.\."/);

    const outside = join(home, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(home, 'link-dir'));
    await expect(exportRun(store, runId, join(home, 'link-dir'))).rejects.toThrow(/symbolic link/);

    const dir = join(home, 'planted');
    mkdirSync(dir);
    symlinkSync(join(outside, 'stolen.json'), join(dir, 'report.json'));
    await expect(exportRun(store, runId, dir)).rejects.toMatchObject({ code: 'EXPORT_PATH' });
    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(dir)).toEqual(['report.json']);

    const again = join(home, 'again');
    await exportRun(store, runId, again);
    await expect(exportRun(store, runId, again)).rejects.toMatchObject({ code: 'EXPORT_EXISTS' });
    await expect(exportRun(store, runId, again, { overwrite: true })).resolves.toMatchObject({ dir: again });
  });

  it('leaves nothing behind when the disk fills up mid-export', async () => {
    const dir = join(home, 'full');
    mkdirSync(dir);
    writeFileSync(join(dir, 'unrelated.txt'), 'keep me');
    let written = 0;
    const fullDisk: ExportIo = {
      async writeFile(path, chunks) {
        // Writes real bytes, then runs out of space on the third file.
        if (++written === 3) {
          writeFileSync(path, 'partial');
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        }
        await diskIo.writeFile(path, chunks);
      },
    };
    const err = await exportRun(store, runId, dir, { io: fullDisk }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExportError);
    expect(err).toMatchObject({
      code: 'EXPORT_DISK_FULL',
      message: expect.stringMatching(/disk is full while writing plan\.json; nothing was written/),
    });
    expect(readdirSync(dir)).toEqual(['unrelated.txt']);
  });

  it('refuses a damaged artifact and an unfinished run, writing nothing', async () => {
    writeFileSync(store.latestModel(runId)!.model.path, 'tampered');
    const dir = join(home, 'bad');
    await expect(exportRun(store, runId, dir)).rejects.toMatchObject({ code: 'EXPORT_CORRUPT' });
    expect(readdirSync(dir)).toEqual([]);
    const queued = store.createRun({ plan: parsePlan({ model: join(home, 'net.onnx'), steps: [] }) });
    await expect(exportRun(store, queued.id, join(home, 'q'))).rejects.toMatchObject({ code: 'EXPORT_STATE' });
    expect(existsSync(join(home, 'q'))).toBe(false);
  });
});
