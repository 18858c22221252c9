// @vitest-environment happy-dom
/** @file Components mounted against the fake host: the config editor's form writes JSON and shows faults with paths; the drop zone reports dropped files; the history view lists, edits and deletes with confirmation; the wizard's model step explains a bad file; the report figures word their factors. */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { setHost } from '../host/host.ts';
import { createFakeHost, type FakeHost } from '../testing/fake-host.ts';
import HistoryView from '../views/HistoryView.vue';
import RunView from '../views/RunView.vue';
import CompareView from '../views/CompareView.vue';
import WizardDataStep from '../views/wizard/WizardDataStep.vue';
import { FAKE_MODEL, fakeRun } from '../testing/fake-host.ts';
import { useModelStore } from '../stores/model.ts';
import { useWizardStore } from '../stores/wizard.ts';
import WizardModelStep from '../views/wizard/WizardModelStep.vue';
import ConfigEditor from './ConfigEditor.vue';
import DropZone from './DropZone.vue';
import ReportFigures from './ReportFigures.vue';
import { compressorCapabilities } from '../../src-shared/compressors.ts';
import { computeFactors, emptySnapshot } from '../../src-shared/experiment.ts';

let host: FakeHost;
beforeEach(() => {
  localStorage.clear();
  host = createFakeHost();
  setHost(host);
  setActivePinia(createPinia());
  // happy-dom has no <dialog> modal support
  HTMLDialogElement.prototype.showModal ??= function (this: HTMLDialogElement) {
    this.setAttribute('open', '');
  };
  HTMLDialogElement.prototype.close ??= function (this: HTMLDialogElement) {
    this.removeAttribute('open');
  };
});

describe('ConfigEditor', () => {
  it('edits an entry through the form and writes the JSON back', async () => {
    const w = mount(ConfigEditor, {
      props: {
        mode: 'pruning',
        text: '[{"op_types": ["Conv"], "sparse_ratio": 0.5}]',
        check: {
          state: 'ok',
          faults: [],
          reply: {
            ok: true,
            issues: [],
            diagnostics: [],
            targets: [
              {
                node: 'c1',
                opType: 'Conv',
                target: 'weight',
                kind: 'parameter',
                configIndex: 0,
                path: '$[0]',
                setting: {},
              },
            ],
          },
        },
      },
    });
    expect(w.text()).toContain('Valid · selects 1 target on 1 node');
    const ratio = w.find('#pruning-0-sparse_ratio');
    await ratio.setValue('0.3');
    await ratio.trigger('change');
    expect(JSON.parse(w.emitted('update:text')!.at(-1)![0] as string)).toEqual([
      { op_types: ['Conv'], sparse_ratio: 0.3 },
    ]);
    await w.find('#pruning-0-op_types').setValue('Conv, Gemm');
    await w.find('#pruning-0-op_types').trigger('change');
    expect(JSON.parse(w.emitted('update:text')!.at(-1)![0] as string)[0].op_types).toEqual(['Conv', 'Gemm']);
  });

  it('checks a number as it is typed, not only when the field is left', async () => {
    const w = mount(ConfigEditor, {
      props: {
        mode: 'pruning',
        text: '[{"op_types": ["Conv"], "sparse_ratio": 0.5}]',
        check: { state: 'idle', faults: [], reply: null },
      },
    });
    const ratio = w.find('#pruning-0-sparse_ratio');
    (ratio.element as HTMLInputElement).value = '1.';
    await ratio.trigger('input'); // half typed: nothing written yet
    expect(w.emitted('update:text')).toBeUndefined();
    (ratio.element as HTMLInputElement).value = '1.5';
    await ratio.trigger('input'); // no blur: the JSON (and so the live check) has it now
    expect(JSON.parse(w.emitted('update:text')!.at(-1)![0] as string)).toEqual([
      { op_types: ['Conv'], sparse_ratio: 1.5 },
    ]);
  });

  it('shows every fault with its JSON path and line', () => {
    const w = mount(ConfigEditor, {
      props: {
        mode: 'pruning',
        text: '[{',
        check: {
          state: 'invalid',
          faults: [{ path: '$', message: 'not valid JSON: Expected property name (line 1, column 3)', line: 1 }],
          reply: null,
        },
      },
    });
    expect(w.text()).toContain('The JSON does not parse');
    expect(w.find('[data-testid="config-faults"]').text()).toContain('(line 1, column 3)');
  });
});

describe('DropZone', () => {
  it('reports a dropped file and a typed path', async () => {
    const w = mount(DropZone, { props: { loading: false, phase: '', nativeDialogs: false } });
    const file = new File(['x'], 'net.onnx');
    const drop = new Event('drop', { bubbles: true, cancelable: true }) as Event & { dataTransfer: unknown };
    drop.dataTransfer = { files: [file] };
    w.find('[data-testid="dropzone"]').element.dispatchEvent(drop);
    expect((w.emitted('file')![0]![0] as File).name).toBe('net.onnx');
    await w.find('input[type="text"]').setValue('/models/a.onnx');
    await w.find('form').trigger('submit');
    expect(w.emitted('path')![0]).toEqual(['/models/a.onnx']);
  });
});

describe('WizardModelStep', () => {
  it('with a model open, another one can be opened by typing its path', async () => {
    const paths: string[] = [];
    host = createFakeHost({
      models: {
        open: ({ source }) => (
          paths.push(source.kind === 'path' ? source.path : source.kind),
          { ...FAKE_MODEL, path: source.kind === 'path' ? source.path : FAKE_MODEL.path }
        ),
      },
    });
    setHost(host);
    setActivePinia(createPinia());
    const model = useModelStore();
    await model.openExample('mnist-cnn');
    const w = mount(WizardModelStep, { global: { stubs: { GraphCanvas: true } } });
    await flushPromises();
    const form = w.find('[data-testid="reopen-path"]');
    expect(form.exists()).toBe(true);
    await form.find('input').setValue('/home/me/other.onnx');
    await form.trigger('submit');
    await flushPromises();
    expect(paths).toEqual(['example', '/home/me/other.onnx']);
    expect(model.opened?.path).toBe('/home/me/other.onnx');
    expect(useWizardStore().draft.model?.path).toBe('/home/me/other.onnx');
    w.unmount();
  });

  it('explains a file that is not a model, right below the drop zone', async () => {
    const w = mount(WizardModelStep);
    const input = w.find('[data-testid="file-input"]').element as HTMLInputElement;
    Object.defineProperty(input, 'files', { value: [new File(['hello'], 'notes.txt')] });
    await w.find('[data-testid="file-input"]').trigger('change');
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    await flushPromises();
    expect(w.find('[data-testid="open-error"]').text()).toContain('notes.txt is not an ONNX model');
  });
});

describe('HistoryView', () => {
  it('lists runs, edits tags and deletes after a confirmation', async () => {
    const w = mount(HistoryView, { attachTo: document.body });
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    await flushPromises();
    expect(w.findAll('[data-testid^="run-row-"]')).toHaveLength(2);
    const row = w.find('[data-testid="run-row-aaaa01"]');
    await row
      .findAll('button')
      .find((b) => b.text() === 'Edit')!
      .trigger('click');
    await w.find('#tags-aaaa01').setValue('a, b');
    await w.find('#name-aaaa01').setValue('renamed run');
    await w.find('form.editor').trigger('submit');
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    expect(host.runs.get('aaaa01')!.tags).toEqual(['a', 'b']);
    expect(host.runs.get('aaaa01')!.name).toBe('renamed run');
    await row
      .findAll('button')
      .find((b) => b.text() === 'Delete')!
      .trigger('click');
    expect(host.runs.has('aaaa01')).toBe(true); // nothing happens before the confirmation
    const dialog = w.find('dialog');
    expect(dialog.attributes('open')).toBeDefined();
    await dialog
      .findAll('button')
      .find((b) => b.text() === 'Delete')!
      .trigger('click');
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    expect(host.runs.has('aaaa01')).toBe(false);
    w.unmount();
  });
});

describe('ReportFigures', () => {
  it('shows the side-by-side latency baseline as "before" and a factor below 1 the other way round', () => {
    const before = { ...emptySnapshot(), params: 100, sizeBytes: 1000, latencyMs: { p50: 0.09 } };
    const after = {
      ...emptySnapshot(),
      params: 50,
      sizeBytes: 2000,
      latencyMs: { p50: 0.11, baselineP50: 0.088, speedup: 0.8 },
    };
    const w = mount(ReportFigures, { props: { before, after, factors: computeFactors(before, after) } });
    const text = w.text();
    expect(text).toContain('from 0.088 ms');
    expect(text).toContain('1.25× slower');
    expect(text).toContain('2.00× larger');
    expect(text).toContain('2.00× smaller');
    // a run recorded before the evaluation-batch timing: that figure is left out
    expect(w.find('[data-testid="figure-latency-eval"]').exists()).toBe(false);
  });

  it('shows latency at batch 1 and at the evaluation batch size, each with its own factor', () => {
    const before = {
      ...emptySnapshot(),
      params: 100,
      sizeBytes: 1000,
      latencyMs: { p50: 0.03 },
      latencyAtEvalBatch: { p50: 12, batch: 500 },
    };
    const after = {
      ...emptySnapshot(),
      params: 40,
      sizeBytes: 400,
      latencyMs: { p50: 0.04, baselineP50: 0.03, speedup: 0.75 },
      latencyAtEvalBatch: { p50: 6, baselineP50: 11, speedup: 11 / 6, batch: 500 },
    };
    const w = mount(ReportFigures, { props: { before, after, factors: computeFactors(before, after) } });
    const one = w.find('[data-testid="figure-latency"]').text();
    const atEval = w.find('[data-testid="figure-latency-eval"]').text();
    expect(one).toContain('batch 1');
    expect(one).toContain('1.33× slower');
    expect(atEval).toContain('batch 500');
    expect(atEval).toContain('from 11');
    expect(atEval).toContain('1.83× faster');
  });
});

describe('execution provider', () => {
  it('the run view shows a provider fallback the measurement recorded', async () => {
    const provider = {
      requested: 'webgpu',
      used: 'cpu',
      fallback: 'webgpu requested but no GPU adapter was found: No supported adapters; ran on cpu',
    };
    host.runs.set(
      'cccc03',
      fakeRun('cccc03', {
        name: 'on gpu',
        before: { ...emptySnapshot(), provider },
        after: { ...emptySnapshot(), provider },
      }),
    );
    location.hash = '#/runs/cccc03';
    const w = mount(RunView, { attachTo: document.body, global: { stubs: { EChart: true } } });
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    await flushPromises();
    const alert = w.find('[data-testid="ep-fallback"]');
    expect(alert.exists()).toBe(true);
    expect(alert.text()).toContain('Measured on CPU, not webgpu');
    expect(alert.text()).toContain('no GPU adapter was found');
    w.unmount();
  });

  it('the run view draws a fused step’s loss terms, sparsity and quantization ranges live, as they train', async () => {
    host.runs.set(
      'eeee05',
      fakeRun('eeee05', {
        status: 'running',
        plan: { model: '/m.onnx', steps: [{ kind: 'compress' }] } as unknown as ReturnType<typeof fakeRun>['plan'],
      }),
    );
    location.hash = '#/runs/eeee05';
    const w = mount(RunView, { attachTo: document.body, global: { stubs: { EChart: true } } });
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    expect(w.find('[data-testid="sparsity-live"]').exists()).toBe(false);
    for (const step of [10, 20, 30]) {
      const event = {
        stepIndex: 0,
        stepCount: 1,
        kind: 'compress',
        fraction: step / 30,
        overall: step / 60,
        etaMs: null,
        loss: 1 / step,
        step,
        parts: {
          'loss.task': 0.5 / step,
          'loss.distill': 0.4 / step,
          'sparsity./c1/Conv.weight': step >= 20 ? 0.25 : 0,
          'sparsity./c2/Conv.weight': step >= 30 ? 0.5 : 0,
          'qrange./c1/Conv._input_0.min': -1,
          'qrange./c1/Conv._input_0.max': 2 + step / 10,
          'qrange./c2/Conv.weight.min': -0.3,
          'qrange./c2/Conv.weight.max': 0.3,
        },
        heartbeat: false,
        t: Date.now(),
      };
      host.server.emit('runs', 'progress', { runId: 'eeee05', event });
    }
    await flushPromises();
    const label = (testid: string) => w.find(`[data-testid="${testid}"]`).attributes('label') ?? '';
    expect(label('loss-chart')).toContain('1. compress — task loss');
    expect(label('loss-chart')).toContain('1. compress — distillation loss');
    const sparsity = w.find('[data-testid="sparsity-live"]');
    expect(sparsity.text()).toContain('step 1 (compress)');
    expect(sparsity.find('e-chart-stub').attributes('label')).toContain('mean; /c1/Conv.weight; /c2/Conv.weight');
    const ranges = w.find('[data-testid="qrange-live"]');
    expect(ranges.find('e-chart-stub').attributes('label')).toContain('/c1/Conv._input_0; /c2/Conv.weight');
    await ranges.find('select').setValue('/c2/Conv.weight');
    expect(w.find('[data-testid="qrange-live"] e-chart-stub').attributes('label')).not.toContain('_input_0');
    w.unmount();
  });

  it('the run view says why a result is slower than the original, never only that it is', async () => {
    const before = { ...emptySnapshot(), params: 100, latencyMs: { p50: 0.03 } };
    const reasons = ['the model is tiny (0.030 ms in float at batch 1): quantizing its input costs as much'];
    const after = {
      ...emptySnapshot(),
      params: 40,
      latencyMs: { p50: 0.04, baselineP50: 0.03, speedup: 0.75 },
      slower: { batches: [1], reasons },
    };
    const report = { runId: 'dddd04', planName: null, status: 'succeeded' as const, before, after };
    host.runs.set(
      'dddd04',
      fakeRun('dddd04', {
        before,
        after,
        report: {
          ...report,
          factors: computeFactors(before, after),
          steps: [],
          startedAt: null,
          finishedAt: null,
          modelSha256: null,
        },
      }),
    );
    location.hash = '#/runs/dddd04';
    const w = mount(RunView, { attachTo: document.body, global: { stubs: { EChart: true } } });
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    await flushPromises();
    const why = w.find('[data-testid="slower-why"]');
    expect(why.text()).toContain('Slower than the original at batch 1');
    expect(why.text()).toContain(reasons[0]);
    w.unmount();
  });

  it('the run view shows the layer widths loading, not "no layer changed width", until they arrive', async () => {
    let arrive: (ls: { node: string; opType: string; before: number; after: number | null }[]) => void = () => {};
    host = createFakeHost({ runs: { layers: () => new Promise((resolve) => (arrive = resolve)) } });
    setHost(host);
    setActivePinia(createPinia());
    const before = emptySnapshot();
    const report = { runId: 'ffff06', planName: null, status: 'succeeded' as const, before, after: before };
    host.runs.set(
      'ffff06',
      fakeRun('ffff06', {
        report: {
          ...report,
          factors: computeFactors(before, before),
          steps: [],
          startedAt: null,
          finishedAt: null,
          modelSha256: null,
        },
      }),
    );
    location.hash = '#/runs/ffff06';
    const w = mount(RunView, { attachTo: document.body, global: { stubs: { EChart: true } } });
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    await flushPromises();
    expect(w.find('[data-testid="open-diff"]').exists()).toBe(true);
    expect(w.find('[data-testid="widths-loading"]').text()).toBe('Loading the layer widths…');
    expect(w.text()).not.toContain('No layer changed width');
    // the widths came and none is there to draw: now, and only now, it says so
    arrive([]);
    await flushPromises();
    expect(w.find('[data-testid="widths-loading"]').exists()).toBe(false);
    expect(w.find('[data-testid="widths-none"]').text()).toBe('No layer changed width.');
    w.unmount();
  });

  it('the wizard offers CPU and the providers the host found, the unavailable ones disabled, and the plan carries the choice', async () => {
    host = createFakeHost({
      experiments: {
        capabilities: () => ({
          stepKinds: ['prune'],
          knownStepKinds: ['prune'],
          executionProviders: [
            { name: 'cpu', available: true },
            { name: 'webgpu', available: true },
            { name: 'cuda', available: false },
          ],
          ...compressorCapabilities(),
        }),
      },
    });
    setHost(host);
    setActivePinia(createPinia());
    const wizard = useWizardStore();
    await wizard.init();
    const w = mount(WizardDataStep, { attachTo: document.body });
    await flushPromises();
    const options = w.findAll('[data-testid="wizard-ep"] option');
    expect(options.map((o) => [o.text(), o.attributes('disabled') !== undefined])).toEqual([
      ['CPU', false],
      ['WebGPU', false],
      ['CUDA (not available here)', true],
    ]);
    await w.find('[data-testid="wizard-ep"]').setValue('webgpu');
    expect(wizard.draft.executionProvider).toBe('webgpu');
    wizard.draft.model = { path: '/models/net.onnx', name: 'net.onnx' };
    expect((wizard.built.plan as { executionProvider?: string }).executionProvider).toBe('webgpu');
    w.unmount();
  });
});

describe('CompareView', () => {
  it('gives no ★ to an unchanged model or to figures that do not compare, and adds side-by-side latencies on request', async () => {
    const snap = (params: number, acc: number, baseline: number) => ({
      ...emptySnapshot(),
      params,
      macs: params,
      sizeBytes: params * 4,
      accuracy: acc,
      latencyMs: { p50: 0.1, baselineP50: baseline },
    });
    const before = snap(100, 0.99, 0.2);
    const plan = (limit?: number) =>
      ({
        model: '/m.onnx',
        steps: [{ kind: 'prune' }],
        dataset: { evaluation: { kind: 'idx', paths: ['/t10k-images.gz', '/l.gz'], ...(limit ? { limit } : {}) } },
      }) as unknown as ReturnType<typeof fakeRun>['plan'];
    const add = (id: string, after: ReturnType<typeof snap>, limit?: number) =>
      host.runs.set(
        id,
        fakeRun(id, {
          name: id,
          plan: plan(limit),
          before,
          after,
          report: {
            runId: id,
            planName: null,
            status: 'succeeded',
            before,
            after,
            factors: computeFactors(before, after),
            steps: [],
            startedAt: null,
            finishedAt: null,
            modelSha256: null,
          },
        }),
      );
    add('aaaa11', snap(50, 0.98, 0.213), 2000);
    add('bbbb22', snap(100, 0.995, 0.399), 2000);
    location.hash = '#/compare?ids=aaaa11,bbbb22';
    const w = mount(CompareView, { attachTo: document.body, global: { stubs: { EChart: true } } });
    await flushPromises();
    await new Promise((r) => setTimeout(r, 10));
    await flushPromises();
    const accRow = w.find('[data-testid="metric-Accuracy"]');
    // The unchanged model has the higher accuracy, but it is the original's: no ★ for it (nor for the other, alone).
    expect(accRow.findAll('td.best')).toHaveLength(0);
    expect(w.text()).toContain('model unchanged');
    // Their originals were timed 0.213 and 0.399 ms: the latencies do not compare until re-measured.
    expect(w.find('[data-testid="latency-note"]').text()).toContain('0.213 ms, 0.399 ms');
    expect(w.find('[data-testid="metric-Latency p50"]').text()).toContain('≠');
    await w.find('[data-testid="remeasure"]').trigger('click');
    await flushPromises();
    expect(w.find('[data-testid="metric-Latency p50 now"]').exists()).toBe(true);
    expect(w.find('[data-testid="metric-Speedup now"] td.best').exists()).toBe(true);
    expect(w.find('[data-testid="latency-note"]').exists()).toBe(false);
    w.unmount();
  });
});
