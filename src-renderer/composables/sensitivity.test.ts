// @vitest-environment happy-dom
/**
 * @file The scan's charts and table, the diff's marks, the histogram, the scan plan, and the analysis store and panel
 * against the fake host: one line per group from the dense point, the table sorted by either figure, a budget loaded
 * into the wizard as the pruning step with its allocation in the plan, and the panel's form naming a bad budget.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { setHost } from '../host/host.ts';
import { createFakeHost, FAKE_SCAN, type FakeHost } from '../testing/fake-host.ts';
import SensitivityPanel from '../components/SensitivityPanel.vue';
import NodeInspector from '../components/NodeInspector.vue';
import DiffView from '../views/DiffView.vue';
import ScanStarter from '../views/wizard/ScanStarter.vue';
import { useModelStore } from '../stores/model.ts';
import { useAnalysisStore } from '../stores/analysis.ts';
import { useWizardStore } from '../stores/wizard.ts';
import { buildPlan, buildScanPlan, newDraft } from './plan-builder.ts';
import { diffMarks, histogramOption } from './inspector.ts';
import { accuracyLinesOption, budgetTarget, sensitivityRows, tradeoffScatterOption } from './sensitivity.ts';
import { palette } from './theme.ts';

let host: FakeHost;
beforeEach(() => {
  localStorage.clear();
  host = createFakeHost();
  setHost(host);
  setActivePinia(createPinia());
});

type Series = { name: string; type: string; data: number[][] }[];

describe('sensitivity charts and table', () => {
  it('draws one accuracy line per group starting at the dense model, and one scatter series per group', () => {
    const lines = accuracyLinesOption(FAKE_SCAN, palette()).series as Series;
    expect(lines.map((s) => s.name)).toEqual(['/conv1/Conv', '/conv2/Conv']);
    expect(lines[1]!.data[0]).toEqual([0, 90]);
    expect(lines[1]!.data.map((d) => d[0])).toEqual([0, 0.25, 0.5, 0.75]);
    expect(lines[1]!.data[3]![1]).toBeCloseTo((0.9 - 0.75 / 4) * 100, 9);
    const scatter = tradeoffScatterOption(FAKE_SCAN, palette()).series as Series;
    expect(scatter).toHaveLength(2);
    // conv2 at 0.5: 10 ms × 0.2 saved, 12.5 points lost
    const p = scatter[1]!.data.find((d) => d[2] === 0.5)!;
    expect(p[0]).toBeCloseTo(2, 9);
    expect(p[1]).toBeCloseTo(12.5, 9);
  });

  it('sorts the table by accuracy lost or latency saved at the chosen ratio', () => {
    expect(sensitivityRows(FAKE_SCAN, { ratio: 0.75 }).map((r) => r.group)).toEqual(['conv1', 'conv2']);
    expect(sensitivityRows(FAKE_SCAN, { sort: 'accuracyLost', descending: true }).map((r) => r.group)).toEqual([
      'conv2',
      'conv1',
    ]);
    const byTime = sensitivityRows(FAKE_SCAN, { ratio: 0.25, sort: 'latencySavedMs', descending: true });
    expect(byTime.map((r) => r.group)).toEqual(['conv2', 'conv1']);
    expect(byTime[0]!.latencySavedMs).toBeCloseTo(1, 9);
    expect(byTime[0]!.accuracy).toEqual([0.9 - 0.25 / 4, 0.9 - 0.5 / 4, 0.9 - 0.75 / 4]);
  });

  it('turns the budget form into a target, naming what is wrong', () => {
    expect(budgetTarget('speedup', 2)).toEqual({ kind: 'speedup', factor: 2 });
    expect(budgetTarget('speedup', 1)).toMatch(/above 1/);
    expect(budgetTarget('size', 1000)).toEqual({ kind: 'size', bytes: 1000 });
    expect(budgetTarget('macs', -1)).toMatch(/positive/);
  });
});

describe('diff marks and histogram', () => {
  it('marks narrowed and removed nodes on the original, narrowed and inserted ones on the compressed graph', () => {
    const m = diffMarks({
      nodesBefore: 3,
      nodesAfter: 4,
      removed: [{ name: 'bn', opType: 'BatchNormalization', kinds: ['removed', 'folded-bn'], widths: [] }],
      added: [{ name: 'q', opType: 'QuantizeLinear', kinds: ['added', 'qdq'], widths: [] }],
      changed: [
        {
          name: 'conv',
          opType: 'Conv',
          kinds: ['narrowed'],
          widths: [{ input: 1, value: 'w', before: [16, 1, 3, 3], after: [8, 1, 3, 3] }],
        },
      ],
      summary: { removed: 1, added: 1, narrowed: 1, quantized: 0, foldedBn: 1, qdqPairs: 1 },
    });
    expect([...m.before.keys()].sort()).toEqual(['bn', 'conv']);
    expect([...m.after.keys()].sort()).toEqual(['conv', 'q']);
    expect(m.before.get('conv')).toBe('narrowed: [16, 1, 3, 3] → [8, 1, 3, 3]');
    expect(m.rows.map((r) => r.kind)).toEqual(['narrowed', 'folded-bn', 'qdq']);
  });

  it('draws one bar per histogram bin', () => {
    const o = histogramOption({ lo: -1, hi: 1, counts: [1, 2, 3, 4] }, palette());
    expect((o.series as { data: number[] }[])[0]!.data).toEqual([1, 2, 3, 4]);
    expect((o.xAxis as { data: string[] }).data[0]).toBe('-1.00 … -0.500');
  });
});

describe('scan plan, allocation into the wizard', () => {
  const examples = {
    models: [],
    datasets: [
      {
        id: 'mnist-quick',
        name: 'MNIST',
        description: '',
        dataset: { evaluation: { kind: 'idx', paths: ['a', 'b'] } },
      },
    ],
  };
  it('builds a one-step sensitivity plan over the draft’s evaluation split, or says what is missing', () => {
    const d = { ...newDraft(), model: { path: '/m.onnx', name: 'm.onnx' } };
    const form = { ratios: [0.5], evalCount: 100, batchSize: 32, latencyRuns: 5, workers: null };
    expect(buildScanPlan(d, examples, form).plan).toEqual({
      model: '/m.onnx',
      dataset: examples.datasets[0]!.dataset,
      executionProvider: 'cpu',
      steps: [{ kind: 'sensitivity', ratios: [0.5], evalCount: 100, batchSize: 32, latencyRuns: 5 }],
    });
    const noEval = buildScanPlan({ ...d, dataId: 'custom', customDataset: '{"train": {}}' }, examples, form);
    expect(noEval.plan).toBeNull();
    expect(noEval.faults[0]!.path).toBe('$.dataset.evaluation');
  });

  it('loads an allocation as the pruning step with speedup; the plan carries it until the list is edited', async () => {
    const analysis = useAnalysisStore();
    const wizard = useWizardStore();
    const a = (await analysis.allocate('abc123', { kind: 'speedup', factor: 1.05 }, 0.02))!;
    wizard.useAllocation(FAKE_SCAN, 'abc123', a);
    expect(wizard.draft.model?.path).toBe(FAKE_SCAN.model.path);
    expect(JSON.parse(wizard.draft.configText.pruning)).toEqual(a.configList);
    const plan = buildPlan(wizard.draft, examples).plan!;
    expect(plan.allocation).toMatchObject({ scanRun: 'abc123', predicted: { speedup: 1.081 } });
    expect((plan.steps as { kind: string }[]).slice(0, 2).map((s) => s.kind)).toEqual(['prune', 'speedup']);
    wizard.setConfigText('pruning', '[]');
    expect(buildPlan(wizard.draft, examples).plan?.allocation).toBeUndefined();
  });
});

describe('SensitivityPanel', () => {
  it('renders the scan, allocates, refuses a bad budget by name, and loads the allocation into the wizard', async () => {
    const w = mount(SensitivityPanel, { props: { runId: 'abc123' }, global: { stubs: { EChart: true } } });
    await flushPromises();
    expect(w.find('[data-testid="sensitivity-table"] tbody').findAll('tr')).toHaveLength(2);
    await w.find('[data-testid="budget-value"]').setValue('1');
    await w.find('form.budget').trigger('submit');
    expect(w.find('[data-testid="budget-error"]').text()).toMatch(/above 1/);
    expect(host.calls).not.toContain('analysis.allocate');
    await w.find('[data-testid="budget-value"]').setValue('1.05');
    await w.find('form.budget').trigger('submit');
    await flushPromises();
    expect(host.calls).toContain('analysis.allocate');
    expect(w.find('[data-testid="allocation-table"] tbody').findAll('tr')).toHaveLength(2);
    // refined by default: the scan-only model and the whole-model measurement side by side
    expect(w.find('[data-testid="allocation-refinement"]').text()).toMatch(
      /Latency of dense: scan-only model 0\.925, measured whole 0\.925 \(the prediction above; 1 allocation\s+measured\)/,
    );
    // chosen by a short-term fine-tune of the candidates (the form's steps reach the host; 0 turns it off)
    expect(w.find('[data-testid="allocation-short-term"]').text()).toMatch(/100-step fine-tune/);
    expect(w.find('[data-testid="allocation-short-term"] tbody').text()).toMatch(
      /frontier.*0\.75 \/ 0\.00.*50\.0 %.*90\.0 %/s,
    );
    await w.find('[data-testid="budget-short-term"]').setValue('0');
    await w.find('form.budget').trigger('submit');
    await flushPromises();
    expect(w.find('[data-testid="allocation-refinement"]').exists()).toBe(true);
    expect(w.find('[data-testid="allocation-short-term"]').exists()).toBe(false);
    await w.find('[data-testid="budget-refine"]').setValue(false);
    await w.find('form.budget').trigger('submit');
    await flushPromises();
    expect(w.find('[data-testid="allocation-refinement"]').exists()).toBe(false);
    await w.find('[data-testid="allocation-load"]').trigger('click');
    await flushPromises();
    expect(useWizardStore().draft.allocation?.scanRun).toBe('abc123');
    expect(location.hash).toBe('#/new');
  });
});

describe('ScanStarter, NodeInspector and DiffView', () => {
  it('names bad ratios, says a data set without an evaluation split cannot be scanned, and starts a scan', async () => {
    const wizard = useWizardStore();
    await wizard.init();
    await useModelStore().openExample('mnist-cnn');
    wizard.useOpenedModel();
    const w = mount(ScanStarter);
    await w.find('[data-testid="scan-ratios"]').setValue('0.5, 1');
    await w.find('form').trigger('submit');
    expect(w.find('[data-testid="scan-error"]').text()).toContain('bad: 1');
    wizard.draft.dataId = 'custom';
    wizard.draft.customDataset = '{ "train": { "kind": "idx", "paths": ["a", "b"] } }';
    await w.find('[data-testid="scan-ratios"]').setValue('0.5');
    await w.find('form').trigger('submit');
    await flushPromises();
    expect(w.find('[data-testid="scan-error"]').text()).toContain('evaluation split');
    expect(host.calls).not.toContain('experiments.start');
    wizard.draft.dataId = 'mnist-quick';
    await w.find('form').trigger('submit');
    await flushPromises();
    expect(host.calls).toContain('experiments.start');
    expect(location.hash).toMatch(/^#\/runs\/cccc0/);
  });

  it('shows a node’s attributes, shapes, statistics and the entries that select it', () => {
    const w = mount(NodeInspector, {
      props: {
        details: {
          name: 'fc',
          opType: 'Gemm',
          domain: 'ai.onnx',
          attributes: { transB: 1 },
          inputs: [
            {
              name: 'w',
              dtype: 'float32',
              shape: [3, 4],
              producer: null,
              consumers: ['fc'],
              initializer: {
                count: 12,
                min: -1,
                max: 1,
                mean: 0,
                std: 0.5,
                sparsity: 0.25,
                histogram: { lo: -1, hi: 1, counts: [2, 3, 3, 4] },
              },
              quantization: { node: 'dq', opType: 'DequantizeLinear', scale: [0.01], zeroPoint: [0], axis: null },
            },
          ],
          outputs: [{ name: 'y', dtype: 'float32', shape: [1, 3], producer: 'fc', consumers: [] }],
          selectedBy: [{ index: 1, path: '$[1]' }],
        },
      },
      global: { stubs: { EChart: true } },
    });
    expect(w.text()).toContain('transB');
    expect(w.find('[data-testid="inspector-selected-by"]').text()).toContain('$[1]');
    expect(w.find('[data-testid="inspector-stats"]').text()).toContain('sparsity 25.0 %');
    expect(w.find('[data-testid="inspector-quant"]').text()).toContain('scale 0.0100');
    expect(w.findAll('[data-testid="inspector-histogram"]')).toHaveLength(1);
  });

  it('lists the diff’s per-layer changes and centres a picked row in both graphs', async () => {
    location.hash = '#/diff/abc123?node=fc';
    const revealed: string[] = [];
    const GraphCanvas = {
      props: ['graph', 'highlighted', 'tall'],
      template: '<div class="g" />',
      methods: { reveal: (n: string) => (revealed.push(n), true) },
    };
    const w = mount(DiffView, { global: { stubs: { GraphCanvas } } });
    await flushPromises();
    await new Promise((r) => setTimeout(r, 20));
    expect(w.find('[data-testid="diff-summary"]').text()).toContain('1 narrowed');
    const rows = w.findAll('[data-testid="diff-table"] tbody tr');
    expect(rows.map((r) => r.attributes('data-kind'))).toEqual(['narrowed']);
    expect(revealed).toEqual(['fc', 'fc']);
    await rows[0]!.trigger('click');
    expect(revealed).toEqual(['fc', 'fc', 'fc', 'fc']);
    expect(rows[0]!.classes()).toContain('current');
  });
});
