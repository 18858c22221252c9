/** @file Tests of the host services over an in-memory transport pair: models (open, graph, targets, bad files), experiments and runs (start, events, list, compare, tags, delete), exports. */
import { PRUNERS, QUANTIZERS } from '../../../src-shared/compressors.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryTransportPair, RpcClient, type IpcError, type StudioApi } from '../../../src-shared/ipc/index.ts';
import { loadModelFile, saveModelFile } from '../io/model-file.ts';
import { TEST_STEPS_MODULE, writeTinyModel } from '../jobs/test-steps.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { createStudioHost, type StudioHost } from './host.ts';

let dir: string;
let host: StudioHost;
let api: StudioApi;
let tiny: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'studio-host-'));
  tiny = join(dir, 'tiny.onnx');
  writeTinyModel(tiny);
  host = await createStudioHost({ home: join(dir, 'home'), shell: 'test', stepModules: [TEST_STEPS_MODULE] });
  const [a, b] = memoryTransportPair();
  host.server.connect(b, { id: 't', kind: 'memory' });
  api = new RpcClient(a).api();
});
afterAll(async () => {
  await host.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('models', () => {
  it('opens the bundled example, summarises it and gives the graph view', async () => {
    const phases: string[] = [];
    const opened = await api.models.open(
      { source: { kind: 'example', id: 'mnist-cnn' } },
      { onProgress: (p) => phases.push(p.phase) },
    );
    expect(opened.path).toBe(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
    expect(opened.info).toMatchObject({ opset: 17, opTypes: { Conv: 3, Gemm: 1 } });
    expect(opened.info.params).toBeGreaterThan(20_000);
    expect(phases).toEqual(['reading', 'tracing', 'done']);
    const graph = await api.models.graph({ modelId: opened.modelId });
    expect(graph.nodes.filter((n) => n.kind === 'input').map((n) => n.name)).toEqual(['input']);
    expect(graph.nodes.filter((n) => n.kind === 'output').map((n) => n.name)).toEqual(['logits']);
    const conv = graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.weightShape).toEqual([16, 1, 3, 3]);
    expect(conv.shape).toEqual([1, 16, 28, 28]);
    expect(graph.edges.length).toBeGreaterThanOrEqual(graph.nodes.length - 1);
    expect((await api.settings.get({})).recentFiles[0]).toBe(opened.path);
    // The default execution provider is a setting, kept in settings.json.
    expect((await api.settings.get({})).executionProvider).toBe('cpu');
    expect((await api.settings.set({ executionProvider: 'webgpu' })).executionProvider).toBe('webgpu');
    expect(JSON.parse(readFileSync(join(dir, 'home', 'settings.json'), 'utf8')).executionProvider).toBe('webgpu');
    await api.settings.set({ executionProvider: 'cpu' });
  });

  it('checks a config list against the model: targets, or faults with JSON paths', async () => {
    const { modelId } = await api.models.open({
      source: { kind: 'path', path: join(RESOURCES_DIR, 'mnist-cnn.onnx') },
    });
    const ok = await api.models.targets({
      modelId,
      mode: 'pruning',
      configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }],
    });
    expect(ok.ok).toBe(true);
    expect(new Set(ok.targets.filter((t) => t.target === 'weight').map((t) => t.opType))).toEqual(new Set(['Conv']));
    expect(ok.targets.filter((t) => t.target === 'weight')).toHaveLength(3);
    const bad = await api.models.targets({
      modelId,
      mode: 'pruning',
      configList: [{ op_types: ['Conv'], sparse_ratio: 1.5 }],
    });
    expect(bad.ok).toBe(false);
    expect(bad.issues[0]!.path).toMatch(/^\$\[0\]/);
  });

  it('refuses a file that is not ONNX with a named error and keeps nothing', async () => {
    const err = (await api.models
      .open({ source: { kind: 'bytes', name: 'notes.txt', bytes: new TextEncoder().encode('hello, not a model') } })
      .catch((e) => e)) as IpcError;
    expect(err.code).not.toBe('INTERNAL');
    expect(err.message.length).toBeGreaterThan(5);
    await expect(api.models.graph({ modelId: 'nope' })).rejects.toMatchObject({ code: 'MODEL_NOT_OPEN' });
  });

  it('a valid model without its external weight data is named for what it is, by path and as an upload', async () => {
    const folder = mkdtempSync(join(dir, 'weightless-'));
    const file = join(folder, 'net.onnx');
    saveModelFile(loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx')), file, {
      external: { location: 'net.onnx.data', threshold: 1024 },
    });
    const bytes = readFileSync(file);
    rmSync(join(folder, 'net.onnx.data'));
    const byPath = (await api.models.open({ source: { kind: 'path', path: file } }).catch((e) => e)) as IpcError;
    expect(byPath.name).toBe('MissingExternalDataError');
    expect(byPath.message).toMatch(
      /valid ONNX but its weights are in the external data file "net\.onnx\.data".*put it beside the \.onnx file/,
    );
    const upload = (await api.models
      .open({ source: { kind: 'bytes', name: 'net.onnx', bytes: new Uint8Array(bytes) } })
      .catch((e) => e)) as IpcError;
    expect(upload.name).toBe('MissingExternalDataError');
    expect(upload.message).toContain('open the model by its path');
  });

  it('saves dropped model bytes under the app data folder', async () => {
    const opened = await api.models.open({
      source: { kind: 'bytes', name: 'tiny.onnx', bytes: new Uint8Array(readFileSync(tiny)) },
    });
    expect(opened.path.startsWith(join(dir, 'home', 'models'))).toBe(true);
    expect(opened.info.params).toBe(12);
  });
});

describe('experiments and runs', () => {
  const until = async (cond: () => boolean) => {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > 60_000) throw new Error('timeout');
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('validates plans with JSON paths, including step kinds without an executor', async () => {
    const bad = await api.experiments.validate({
      plan: { model: tiny, steps: [{ kind: 'prun' }, { kind: 'orphan' }] },
    });
    expect(bad.ok).toBe(false);
    expect(bad.issues.map((i) => i.path)).toEqual(['$.steps[0].kind']);
    const noExec = await api.experiments.validate({ plan: { model: tiny, steps: [{ kind: 'orphan' }] } });
    expect(noExec.issues).toEqual([{ path: '$.steps[0].kind', message: expect.stringContaining('no executor') }]);
    // a compressor with no implementation, an option nothing reads: refused at validation, never run and failed
    const unimplemented = await api.experiments.validate({
      plan: {
        model: tiny,
        steps: [
          { kind: 'prune', pruner: 'nonesuch', configList: [] },
          { kind: 'speedup', trainingBatches: 2 },
        ],
      },
    });
    expect(unimplemented.issues).toEqual([
      { path: '$.steps[0].pruner', message: `unknown pruner "nonesuch" (available: ${PRUNERS.join(', ')})` },
      { path: '$.steps[1].trainingBatches', message: 'unknown option "trainingBatches"' },
    ]);
    const caps = await api.experiments.capabilities({});
    expect(caps.pruners.map((p) => p.name)).toEqual(PRUNERS);
    expect(caps.quantizers.map((q) => q.name)).toEqual(QUANTIZERS);
    expect(caps.quantizers[0]).toEqual({
      name: 'ptq',
      label: expect.any(String),
      needsData: 'calibration',
      needsTraining: false,
    });
    expect(caps.pruners.filter((p) => p.needsData === 'train').map((p) => p.name)).toEqual([
      'slim',
      'taylor',
      'movement',
      'linear',
      'agp',
    ]);
    await expect(
      api.experiments.start({ plan: { model: join(dir, 'missing.onnx'), steps: [] } }),
    ).rejects.toMatchObject({ name: 'PlanError', code: 'PLAN_INVALID', details: { issues: [{ path: '$.model' }] } });
  });

  it('refuses a fused compress step whose pruning or quantization block selects no target, at the block’s path', async () => {
    const mnist = (p: string) => join(RESOURCES_DIR, 'mnist', p);
    const plan = {
      model: join(RESOURCES_DIR, 'mnist-cnn.onnx'),
      dataset: {
        train: { kind: 'idx', paths: [mnist('train-images-idx3-ubyte.gz'), mnist('train-labels-idx1-ubyte.gz')] },
      },
      steps: [
        {
          kind: 'compress',
          pruning: { pruner: 'taylor', configList: [{ op_names: ['/conv9/Conv'], sparse_ratio: 0.5 }] },
          quantization: { quantizer: 'qat', configList: [{ op_types: ['LSTM'] }] },
          training: { epochs: 1, lr: 0.001 },
        },
      ],
    };
    const reply = await api.experiments.validate({ plan });
    const byPath = new Map(reply.issues.map((i) => [i.path, i.message]));
    expect(reply.ok).toBe(false);
    expect(byPath.get('$.steps[0].pruning.configList')).toContain('selects no pruning target');
    expect(byPath.get('$.steps[0].pruning.configList')).toContain('/conv1/Conv (Conv)');
    expect(byPath.get('$.steps[0].quantization.configList')).toContain('selects no quantization target');
  });

  it('refuses a pruning or quantization step whose config list selects no target, naming what it could select', async () => {
    const model = join(RESOURCES_DIR, 'mnist-cnn.onnx');
    const mnist = (p: string) => join(RESOURCES_DIR, 'mnist', p);
    const dataset = {
      calibration: { kind: 'idx', paths: [mnist('train-images-idx3-ubyte.gz'), mnist('train-labels-idx1-ubyte.gz')] },
    };
    const plan = {
      model,
      dataset,
      steps: [
        { kind: 'prune', pruner: 'l1', configList: [{ op_names: ['/conv9/Conv'], sparse_ratio: 0.5 }] },
        { kind: 'quantize', configList: [{ op_types: ['LSTM'] }] },
      ],
    };
    const reply = await api.experiments.validate({ plan });
    const byPath = new Map(reply.issues.map((i) => [i.path, i.message]));
    expect(reply.ok).toBe(false);
    expect(byPath.get('$.steps[0].configList')).toContain('selects no pruning target');
    for (const n of ['/conv1/Conv (Conv)', '/conv2/Conv (Conv)', '/conv3/Conv (Conv)', '/fc/Gemm (Gemm)'])
      expect(byPath.get('$.steps[0].configList')).toContain(n);
    expect(byPath.get('$.steps[1].configList')).toContain('selects no quantization target');
    await expect(api.experiments.start({ plan })).rejects.toMatchObject({
      name: 'PlanError',
      details: { issues: expect.arrayContaining([expect.objectContaining({ path: '$.steps[0].configList' })]) },
    });
    // The wizard's live check says the same before the user gets that far.
    const { modelId } = await api.models.open({ source: { kind: 'path', path: model } });
    const check = await api.models.targets({
      modelId,
      mode: 'pruning',
      configList: [{ op_names: ['/conv9/Conv'], sparse_ratio: 0.5 }],
    });
    expect(check.ok).toBe(false);
    expect(check.issues[0]!.message).toContain('/conv1/Conv');
  });

  it('starts runs, streams events, lists, compares, tags, exports and deletes them', async () => {
    const statuses: string[] = [];
    const reports: string[] = [];
    let progress = 0;
    const offs = [
      api.runs.on('status', (e) => statuses.push(`${e.runId}:${e.status}`)),
      api.runs.on('progress', () => progress++),
      api.runs.on('report', (e) => reports.push(`${e.runId}:${e.report.status}`)),
    ];
    const { runId: a } = await api.experiments.start({
      plan: { model: tiny, steps: [{ kind: 'count', n: 4 }] },
      name: 'first',
      tags: ['t1'],
    });
    const { runId: b } = await api.experiments.start({
      plan: {
        model: tiny,
        steps: [
          { kind: 'count', n: 2 },
          { kind: 'sleep', ms: 30 },
        ],
      },
      name: 'second',
    });
    await until(() => statuses.includes(`${a}:succeeded`) && statuses.includes(`${b}:succeeded`));
    offs.forEach((off) => off());
    expect(progress).toBeGreaterThan(2);
    expect(reports.sort()).toEqual([`${a}:succeeded`, `${b}:succeeded`].sort());

    const list = await api.runs.list({ sort: 'created', order: 'asc' });
    expect(list.map((r) => r.name)).toEqual(['first', 'second']);
    expect((await api.runs.list({ text: 'second' })).map((r) => r.id)).toEqual([b]);
    await expect(api.runs.list({ sort: 'nonsense' })).rejects.toMatchObject({ code: 'BAD_REQUEST' });

    const detail = await api.runs.get({ runId: a });
    expect(detail.steps.map((s) => s.status)).toEqual(['done']);
    expect(detail.report?.status).toBe('succeeded');
    const series = await api.runs.metrics({ runIds: [a] });
    expect(series[a]!.loss!.length).toBe(4);

    const cmp = await api.runs.compare({ runIds: [a, b] });
    expect(cmp.runs.map((r) => r.id)).toEqual([a, b]);
    expect(cmp.layers[a]).toEqual([{ node: 'fc', opType: 'Gemm', before: 3, after: 3 }]);

    const updated = await api.runs.update({ runId: b, tags: ['keep', 'int8'], notes: 'looks good' });
    // Latencies again now, side by side with the original: a figure or the reason there is none, per run.
    const again = await api.runs.remeasure({ runIds: [a, b] });
    expect(again.results.map((r) => r.runId)).toEqual([a, b]);
    for (const r of again.results) {
      if (r.error === null)
        expect([r.p50! > 0, r.baselineP50! > 0, r.speedup! > 0, r.ep]).toEqual([true, true, true, 'cpu']);
      else expect(r.error).toMatch(/kept no model|gone/);
    }
    expect(again.results.some((r) => r.error === null)).toBe(true);
    expect((await api.runs.update({ runId: b, name: 'renamed' })).name).toBe('renamed');
    expect((await api.runs.get({ runId: b })).name).toBe('renamed');
    await expect(api.runs.update({ runId: b, name: '   ' })).rejects.toMatchObject({
      details: { issues: [{ path: '$.name' }] },
    });
    expect(updated.tags).toEqual(['int8', 'keep']);
    expect(updated.notes).toBe('looks good');

    const out = join(dir, 'export-a');
    const exported = await api.exports.run({ runId: a, dir: out });
    expect(exported.files.map((f) => f.name).sort()).toEqual([
      'experiment.json',
      'model.onnx',
      'plan.json',
      'report.json',
    ]);
    await expect(api.exports.run({ runId: a, dir: out })).rejects.toMatchObject({
      name: 'ExportError',
      code: 'EXPORT_EXISTS',
    });

    expect((await api.runs.log({ runId: a })).lines.some((l) => l.includes('counted to 4'))).toBe(true);
    await api.runs.delete({ runId: a });
    await expect(api.runs.get({ runId: a })).rejects.toMatchObject({ code: 'RUN_NOT_FOUND' });
  });

  it('cancels a running run and resumes it', async () => {
    const statuses: string[] = [];
    const off = api.runs.on('status', (e) => statuses.push(e.status));
    const stopFile = join(dir, 'stop-sleeping');
    const { runId } = await api.experiments.start({
      plan: { model: tiny, steps: [{ kind: 'sleep', ms: 20_000, stopFile }] },
    });
    await until(() => statuses.includes('running'));
    const active = await api.runs.active({});
    expect(active.map((r) => r.runId)).toContain(runId);
    await new Promise((r) => setTimeout(r, 300));
    expect(await api.experiments.cancel({ runId })).toEqual({ cancelled: true });
    await until(() => statuses.includes('cancelled'));
    expect((await api.runs.get({ runId })).status).toBe('cancelled');
    writeFileSync(stopFile, '');
    await api.experiments.resume({ runId });
    await until(() => statuses.at(-1) === 'succeeded');
    off();
    expect((await api.runs.get({ runId })).attempts).toBe(2);
  });
});
