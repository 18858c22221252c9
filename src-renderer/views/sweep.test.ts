// @vitest-environment happy-dom
/** @file Sweeps in the app against the fake host: the history's sweep form (parameters of the run's plan, values, the run count), one progress bar and ETA over the sweep's runs, the "Ran on" column, and who ran each step in the run view's progress. */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src-shared/experiment.ts';
import type { StepRecordDto } from '../../src-shared/ipc/dto.ts';
import RunProgress from '../components/RunProgress.vue';
import { sweepChoices, sweepValues, sweepView } from '../composables/sweep.ts';
import { setHost } from '../host/host.ts';
import { createFakeHost, fakeRun, type FakeHost } from '../testing/fake-host.ts';
import HistoryView from './HistoryView.vue';

const PLAN = {
  model: '/m.onnx',
  steps: [
    { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
    { kind: 'finetune', epochs: 2, lr: 0.01 },
  ],
};
const settle = async () => {
  await flushPromises();
  await new Promise((r) => setTimeout(r, 10));
  await flushPromises();
};
const progress = (overall: number): ProgressEvent => ({
  stepIndex: 0,
  stepCount: 2,
  kind: 'prune',
  fraction: overall,
  overall,
  etaMs: null,
  heartbeat: false,
  t: 0,
});

let host: FakeHost;
beforeEach(() => {
  document.body.innerHTML = '';
  host = createFakeHost();
  host.runs.set('aaaa01', fakeRun('aaaa01', { name: 'base', plan: PLAN as never, ranOn: ['w1@gpu-box (cuda)'] }));
  setHost(host);
  setActivePinia(createPinia());
});

describe('sweep composables', () => {
  it("offers the plan's compressor, training and config-list parameters, and the seed", () => {
    expect(sweepChoices(PLAN).map((c) => c.path)).toEqual([
      '$.steps[0].pruner',
      '$.steps[0].configList[0].sparse_ratio',
      '$.steps[1].epochs',
      '$.steps[1].lr',
      '$.seed',
    ]);
    expect(sweepValues('$.steps[0].pruner', 'l1, fpgm')).toEqual(['l1', 'fpgm']);
    expect(sweepValues('$.seed', '[1, 2]')).toEqual([1, 2]);
    expect(() => sweepValues('$.seed', ' ')).toThrow(/give \$\.seed at least one value/);
  });

  it('gives one progress figure and a pace ETA over the runs', () => {
    const v = sweepView(
      [
        { status: 'succeeded', progress: null },
        { status: 'running', progress: progress(0.5) },
        { status: 'queued', progress: null },
        { status: 'failed', progress: null },
      ],
      30_000,
    );
    expect(v).toEqual({ total: 4, done: 2, failed: 1, running: 1, overall: 2.5 / 4, etaMs: 18_000 });
    expect(sweepView([{ status: 'queued', progress: null }], 10_000).etaMs).toBeNull();
  });
});

describe('HistoryView sweeps', () => {
  it('starts a sweep from a run, filters to its runs and shows one progress bar that ends when they do', async () => {
    const w = mount(HistoryView, { attachTo: document.body });
    await settle();
    expect(w.find('[data-testid="run-row-aaaa01"] [data-testid="ran-on"]').text()).toBe('w1@gpu-box (cuda)');
    expect(w.find('[data-testid="run-row-bbbb02"] [data-testid="ran-on"]').text()).toBe('–');
    await w.find('[data-testid="sweep-open-aaaa01"]').trigger('click');
    const form = w.find('[data-testid="sweep-form"]');
    expect(form.findAll('[data-testid="sweep-path-0"] option').map((o) => o.text())).toContain(
      'step 1 prune: config 1 sparse_ratio',
    );
    expect(w.find('[data-testid="sweep-start"]').attributes('disabled')).toBeDefined();
    await w.find('[data-testid="sweep-path-0"]').setValue('$.steps[0].configList[0].sparse_ratio');
    await w.find('[data-testid="sweep-values-0"]').setValue('0.3, 0.6');
    expect(w.find('[data-testid="sweep-count"]').text()).toBe('2 runs');
    await w.find('[data-testid="sweep-form"]').trigger('submit');
    await settle();
    expect(host.calls.filter((c) => c === 'experiments.sweep')).toHaveLength(1);
    const card = () => w.find('[data-testid="sweep-5eed0001"]');
    expect(card().find('[data-testid="sweep-counts"]').text()).toBe('0/2 done, 0 running');
    host.server.emit('runs', 'progress', { runId: 'swp001', event: progress(0.5) });
    host.server.emit('runs', 'status', { runId: 'swp002', status: 'succeeded', error: null });
    await settle();
    expect(card().find('[data-testid="sweep-counts"]').text()).toBe('1/2 done, 1 running');
    expect(card().find('[role="progressbar"]').attributes('aria-valuenow')).toBe('75');
    host.server.emit('runs', 'status', { runId: 'swp001', status: 'succeeded', error: null });
    await settle();
    expect(card().find('[data-testid="sweep-counts"]').text()).toBe('2/2 done, 0 running');
    expect(card().find('[data-testid="sweep-eta"]').text()).toBe('finished');
    w.unmount();
  });

  it('refuses values the form cannot read before anything is sent', async () => {
    const w = mount(HistoryView, { attachTo: document.body });
    await settle();
    await w.find('[data-testid="sweep-open-aaaa01"]').trigger('click');
    await w.find('[data-testid="sweep-path-0"]').setValue('$.seed');
    await w.find('[data-testid="sweep-values-0"]').setValue('[1, 2');
    expect(w.find('[data-testid="sweep-count"]').text()).toMatch(/must be a JSON array/);
    expect(w.find('[data-testid="sweep-start"]').attributes('disabled')).toBeDefined();
    expect(host.calls).not.toContain('experiments.sweep');
    w.unmount();
  });
});

describe('RunProgress', () => {
  it('says who ran each finished step', () => {
    const step = (index: number, ranBy?: { worker: string; machine: string; ep: string }): StepRecordDto => ({
      index,
      kind: 'prune',
      status: 'done',
      startedAt: null,
      finishedAt: null,
      durationMs: 1000,
      result: ranBy ? { ranBy } : {},
      error: null,
    });
    const w = mount(RunProgress, {
      props: {
        status: 'succeeded',
        progress: null,
        steps: [
          step(0, { worker: 'local', machine: 'me', ep: 'cpu' }),
          step(1, { worker: 'w2', machine: 'box', ep: 'cuda' }),
          step(2),
        ],
        liveSteps: {},
        startedAt: null,
        finishedAt: null,
      },
    });
    expect(w.findAll('[data-testid="step-ran-on"]').map((e) => e.text())).toEqual(['local (cpu)', 'w2@box (cuda)']);
  });
});
