// @vitest-environment happy-dom
/** @file The setup stores against a fake host: the wizard draft survives a reload, presets, live config checks, start errors keep the draft; bad model files; live run events; resync after a reconnect; compare; export. */
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { nextTick } from 'vue';
import { compressorCapabilities } from '../../src-shared/compressors.ts';
import { IpcError } from '../../src-shared/ipc/errors.ts';
import { setHost } from '../host/host.ts';
import { createFakeHost, flush, type FakeHost } from '../testing/fake-host.ts';
import { useCompareStore } from './compare.ts';
import { useConnectionStore } from './connection.ts';
import { useExportStore } from './exports.ts';
import { useModelStore } from './model.ts';
import { useNotifyStore } from './notify.ts';
import { useRunsStore } from './runs.ts';
import { DRAFT_KEY, useWizardStore } from './wizard.ts';

let host: FakeHost;

function fresh(h: FakeHost = createFakeHost()): FakeHost {
  host = h;
  setHost(host);
  setActivePinia(createPinia());
  return host;
}

beforeEach(() => {
  localStorage.clear();
  fresh();
});

describe('wizard store', () => {
  it('keeps the draft in localStorage and restores it after a reload', async () => {
    const wizard = useWizardStore();
    await wizard.init();
    wizard.applyPruningPreset('aggressive');
    wizard.draft.meta.name = 'my run';
    wizard.goTo('config');
    await nextTick();
    expect(JSON.parse(localStorage.getItem(DRAFT_KEY)!).meta.name).toBe('my run');

    fresh(); // a reload: new host connection, new Pinia, same localStorage
    const again = useWizardStore();
    expect(again.draft.step).toBe('config');
    expect(again.draft.meta.name).toBe('my run');
    expect(JSON.parse(again.draft.configText.pruning)).toEqual([
      { op_types: ['Conv'], sparse_ratio: 0.7, dependency_group_id: 'auto' },
    ]);
    expect(again.draft.prune.presetId).toBe('aggressive');
  });

  it('a damaged saved draft falls back to a fresh one', () => {
    localStorage.setItem(DRAFT_KEY, '{"version": 1, "step": "nowhere", "prune": 7');
    fresh();
    expect(useWizardStore().draft.step).toBe('model');
  });

  it('reopens the model of a restored draft', async () => {
    localStorage.setItem(
      DRAFT_KEY,
      JSON.stringify({ version: 1, step: 'data', model: { path: '/models/net.onnx', name: 'net.onnx' } }),
    );
    fresh();
    const wizard = useWizardStore();
    await wizard.init();
    expect(useModelStore().opened?.path).toBe('/models/net.onnx');
    expect(host.calls).toContain('models.open');
  });

  it('checks config lists live: JSON syntax with its line, faults with JSON paths, selected targets', async () => {
    const wizard = useWizardStore();
    await useModelStore().openExample('mnist-cnn');
    wizard.setConfigText('pruning', '[\n  { "op_types": ["Conv"], }\n]');
    await wizard.checkConfig('pruning');
    expect(wizard.checks.pruning.state).toBe('invalid');
    expect(wizard.checks.pruning.faults[0]).toMatchObject({ path: '$', line: 2 });

    wizard.setConfigText('pruning', '[{ "op_types": ["Gemm"], "sparse_ratio": 1.5 }]');
    await wizard.checkConfig('pruning');
    expect(wizard.checks.pruning.faults).toEqual([{ path: '$[0].sparse_ratio', message: 'must be ≤ 1' }]);

    wizard.setConfigText('pruning', '[{ "op_types": ["Gemm"], "sparse_ratio": 0.5 }]');
    await wizard.checkConfig('pruning');
    expect(wizard.checks.pruning.state).toBe('ok');
    expect(wizard.checks.pruning.reply?.targets.map((t) => t.node)).toEqual(['fc']);
    expect(wizard.draft.prune.presetId).toBeNull();
  });

  it('builds the plan from the draft and starts the run', async () => {
    const wizard = useWizardStore();
    await wizard.init();
    await useModelStore().openExample('mnist-cnn');
    wizard.useOpenedModel();
    const plan = wizard.built.plan!;
    expect((plan.steps as { kind: string }[]).map((s) => s.kind)).toEqual(['prune', 'speedup', 'finetune', 'quantize']);
    expect(plan.model).toBe('/models/net.onnx');
    expect(await wizard.validate()).toBe(true);
    const id = await wizard.start();
    expect(id).toMatch(/^cccc/);
    expect(host.runs.get(id!)!.name).toContain('net');
  });

  it('a refused start shows the host’s issues and keeps the draft', async () => {
    const issues = [{ path: '$.steps[0].configList[0].sparse_ratio', message: 'must be ≤ 1' }];
    fresh(
      createFakeHost({
        experiments: {
          start: () => {
            throw new IpcError({
              name: 'PlanError',
              code: 'PLAN_INVALID',
              message: 'invalid experiment plan (1 fault):\n  …',
              details: { issues },
            });
          },
        },
      }),
    );
    const wizard = useWizardStore();
    await wizard.init();
    await useModelStore().openExample('mnist-cnn');
    wizard.useOpenedModel();
    const before = JSON.stringify(wizard.draft);
    expect(await wizard.start()).toBeNull();
    expect(wizard.startError).toEqual({ message: 'invalid experiment plan (1 fault):', issues });
    expect(JSON.stringify(wizard.draft)).toBe(before);
  });

  it('a fresh draft leaves off the steps this build cannot run', async () => {
    fresh(
      createFakeHost({
        experiments: {
          capabilities: () => ({
            stepKinds: ['prune'],
            knownStepKinds: ['prune', 'quantize'],
            executionProviders: [],
            ...compressorCapabilities(),
          }),
        },
      }),
    );
    const wizard = useWizardStore();
    await wizard.init();
    expect(wizard.draft.prune.enabled).toBe(true);
    expect(wizard.draft.prune.speedup).toBe(false);
    expect(wizard.draft.quantize.enabled).toBe(false);
  });
});

describe('model store', () => {
  it('explains a file that is not a model and keeps the model already open', async () => {
    const model = useModelStore();
    await model.openExample('mnist-cnn');
    const file = {
      name: 'notes.txt',
      size: 12,
      arrayBuffer: async () => new TextEncoder().encode('hello world!').buffer as ArrayBuffer,
    };
    expect(await model.openFile(file)).toBeNull();
    expect(model.error?.title).toBe('notes.txt is not an ONNX model');
    expect(model.error?.message).toContain('invalid protobuf wire type');
    expect(model.opened?.modelId).toBe('m1');
    expect(model.graph?.nodes).toHaveLength(3);
  });

  it('a model without its weight data is not called "not an ONNX model"', async () => {
    fresh(
      createFakeHost({
        models: {
          open: () => {
            throw new IpcError({
              name: 'MissingExternalDataError',
              code: 'MODEL_FORMAT',
              message:
                "the model is valid ONNX but its weights are in the external data file 'net.onnx.data', which is not in the model's folder: put it beside the .onnx file (tensor 'w')",
            });
          },
        },
      }),
    );
    const model = useModelStore();
    expect(await model.openPath('/models/net.onnx')).toBeNull();
    expect(model.error?.title).toBe('net.onnx is missing its weight data');
    expect(model.error?.message).toContain('put it beside the .onnx file');
    expect(model.error?.message).not.toContain('Export the model to ONNX');
  });

  it('refuses an empty file before uploading it', async () => {
    const model = useModelStore();
    expect(
      await model.openFile({ name: 'empty.onnx', size: 0, arrayBuffer: async () => new ArrayBuffer(0) }),
    ).toBeNull();
    expect(model.error?.code).toBe('EMPTY');
    expect(host.calls).not.toContain('models.open');
  });
});

describe('runs store', () => {
  it('follows a run through its events', async () => {
    const runs = useRunsStore();
    await runs.load('aaaa01');
    host.runs.set('aaaa01', { ...host.runs.get('aaaa01')!, status: 'running' });
    host.server.emit('runs', 'status', { runId: 'aaaa01', status: 'running', error: null });
    const event = {
      stepIndex: 0,
      stepCount: 1,
      kind: 'prune',
      fraction: 0.5,
      overall: 0.25,
      etaMs: 1000,
      loss: 0.7,
      heartbeat: false,
      t: Date.now(),
    };
    host.server.emit('runs', 'progress', { runId: 'aaaa01', event });
    host.server.emit('runs', 'log', {
      runId: 'aaaa01',
      event: { level: 'warn', message: 'careful', stepIndex: 0, t: Date.parse('2025-01-01T10:20:30Z') },
    });
    host.server.emit('runs', 'step', { runId: 'aaaa01', index: 0, kind: 'prune', status: 'running' });
    await flush();
    const live = runs.live.aaaa01!;
    expect(live.status).toBe('running');
    expect(live.progress?.overall).toBe(0.25);
    expect(live.loss).toEqual([{ x: 0, value: 0.7, stepIndex: 0 }]);
    // A training step's loss is drawn at its step, not at its rank among the points (one per ~10 steps).
    host.server.emit('runs', 'progress', { runId: 'aaaa01', event: { ...event, loss: 0.6, step: 40, t: Date.now() } });
    await flush();
    expect(live.loss.at(-1)).toEqual({ x: 40, value: 0.6, stepIndex: 0 });
    expect(live.logs.at(-1)).toBe('10:20:30 warn: careful');
    expect(live.steps[0]).toBe('running');

    host.calls.length = 0;
    host.runs.set('aaaa01', { ...host.runs.get('aaaa01')!, status: 'succeeded' });
    host.server.emit('runs', 'status', { runId: 'aaaa01', status: 'succeeded', error: null });
    await flush(5);
    expect(live.status).toBe('succeeded');
    expect(host.calls).toContain('runs.get aaaa01');
    // The run is on screen: no "finished" notice over its report. One not on screen gets one.
    expect(useNotifyStore().notices.filter((n) => n.kind === 'success')).toEqual([]);
    host.server.emit('runs', 'status', { runId: 'bbbb02', status: 'succeeded', error: null });
    await flush();
    expect(useNotifyStore().notices.map((n) => n.title)).toContain('Run bbbb02 finished');
  });

  it('resyncs the list and the runs on screen after a reconnect', async () => {
    const runs = useRunsStore();
    useConnectionStore();
    await runs.refreshList();
    await runs.load('bbbb02');
    host.runs.set('bbbb02', { ...host.runs.get('bbbb02')!, tags: ['changed-offline'] });
    host.calls.length = 0;
    host.reconnect();
    await flush(10);
    expect(host.calls).toEqual(expect.arrayContaining(['runs.list', 'runs.get bbbb02']));
    expect(runs.list.find((r) => r.id === 'bbbb02')?.tags).toEqual(['changed-offline']);
    expect(useConnectionStore().resyncs).toBe(1);
  });

  it('searches, updates tags and notes, and deletes', async () => {
    const runs = useRunsStore();
    runs.filter.text = 'sec';
    await runs.refreshList();
    expect(runs.list.map((r) => r.id)).toEqual(['bbbb02']);
    await runs.updateMeta('bbbb02', { tags: ['keep'], notes: 'good' });
    expect(runs.list[0]).toMatchObject({ tags: ['keep'], notes: 'good' });
    expect(await runs.remove('bbbb02')).toBe(true);
    expect(runs.list).toEqual([]);
  });

  it('a run that cannot be loaded says why', async () => {
    const runs = useRunsStore();
    expect(await runs.load('dead00')).toBeNull();
    expect(runs.detailErrors.dead00).toContain('no run');
  });
});

describe('compare and export stores', () => {
  it('compare needs two runs', async () => {
    const cmp = useCompareStore();
    await cmp.load(['aaaa01']);
    expect(cmp.error).toContain('at least two');
    await cmp.load(['aaaa01', 'bbbb02']);
    expect(cmp.data?.runs.map((r) => r.name)).toEqual(['first', 'second']);
    expect(cmp.onlyDifferences).toBe(true);
    await cmp.remeasure();
    expect(host.calls).toContain('runs.remeasure');
    expect(cmp.remeasured?.results.map((r) => r.runId)).toEqual(['aaaa01', 'bbbb02']);
    await cmp.load(['aaaa01', 'bbbb02']); // another comparison forgets the old measurement
    expect(cmp.remeasured).toBeNull();
  });

  it('a new selection does not show the previous comparison while it loads; reloading the same one keeps it', async () => {
    const cmp = useCompareStore();
    await cmp.load(['aaaa01', 'bbbb02']);
    const again = cmp.load(['aaaa01', 'bbbb02']);
    expect(cmp.data?.runs.map((r) => r.id)).toEqual(['aaaa01', 'bbbb02']);
    await again;
    const other = cmp.load(['bbbb02', 'aaaa01']);
    expect(cmp.data).toBeNull();
    await other;
    expect(cmp.data?.runs.map((r) => r.id)).toEqual(['bbbb02', 'aaaa01']);
  });

  it('export suggests a folder and reports a refusal', async () => {
    fresh(
      createFakeHost({
        exports: {
          run: () => {
            throw new IpcError({ name: 'ExportError', code: 'EXPORT_EXISTS', message: '/x/model.onnx already exists' });
          },
        },
      }),
    );
    const ex = useExportStore();
    await ex.prepare('aaaa01');
    expect(ex.dir).toBe('/tmp/exports/aaaa01');
    expect(await ex.run('aaaa01')).toBe(false);
    expect(ex.error).toEqual({ message: '/x/model.onnx already exists', code: 'EXPORT_EXISTS' });
  });

  it('a folder typed before the suggestion arrives is kept', async () => {
    fresh(
      createFakeHost({
        exports: {
          suggestDir: async () => (await new Promise((r) => setTimeout(r, 30)), { dir: '/tmp/exports/late' }),
        },
      }),
    );
    const ex = useExportStore();
    const pending = ex.prepare('aaaa01');
    ex.dir = '/home/me/out';
    await pending;
    expect(ex.dir).toBe('/home/me/out');
  });
});
