// @vitest-environment happy-dom
/** @file The wizard's compressor pickers are generated from src-shared's registries: their values and labels equal the registry's, in order. */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  compressorCapabilities,
  DISTILLER_REGISTRY,
  DISTILLERS,
  OBSERVER_REGISTRY,
  OBSERVERS,
  PRUNER_REGISTRY,
  PRUNERS,
  QUANTIZER_REGISTRY,
  QUANTIZERS,
} from '../../../src-shared/compressors.ts';
import { QUANTIZATION_PRESETS } from '../../../src-shared/presets.ts';
import { buildPlan } from '../../composables/plan-builder.ts';
import { setHost } from '../../host/host.ts';
import { useWizardStore } from '../../stores/wizard.ts';
import { createFakeHost } from '../../testing/fake-host.ts';
import WizardCompressionStep from './WizardCompressionStep.vue';
import WizardReviewStep from './WizardReviewStep.vue';

beforeEach(() => {
  localStorage.clear();
  setHost(createFakeHost());
  setActivePinia(createPinia());
});

describe('wizard compressor pickers', () => {
  it('offer exactly the registry’s pruners and observers, with its labels', () => {
    const wizard = useWizardStore();
    wizard.draft.prune.enabled = true;
    wizard.draft.quantize.enabled = true;
    // (the observer picker belongs to a PTQ step: a fused run trains with QAT instead)
    wizard.draft.combine = 'sequential';
    const w = mount(WizardCompressionStep);
    const options = (id: string) =>
      w.findAll(`#${id} option`).map((o) => [(o.element as HTMLOptionElement).value, o.text()]);
    expect(options('pruner')).toEqual(PRUNERS.map((p) => [p, PRUNER_REGISTRY[p].label]));
    expect(options('observer')).toEqual(OBSERVERS.map((o) => [o, OBSERVER_REGISTRY[o].label]));
  });

  it('offers every quantizer, says which train, a bit-width choice, and flags a preset ORT leaves unfused before the run', async () => {
    const wizard = useWizardStore();
    wizard.draft.quantize.enabled = true;
    wizard.draft.combine = 'sequential';
    const w = mount(WizardCompressionStep);
    const options = (id: string) =>
      w.findAll(`#${id} option`).map((o) => [(o.element as HTMLOptionElement).value, o.text()]);
    expect(options('quantizer')).toEqual(
      QUANTIZERS.map((q) => [
        q,
        `${QUANTIZER_REGISTRY[q].label}${QUANTIZER_REGISTRY[q].needsTraining ? ' — trains' : ''}`,
      ]),
    );
    expect(options('quant-bits').map(([v]) => v)).toEqual(['8', '4', '2', '1']);
    // the default preset is the one ORT fuses: no warning
    expect(wizard.draft.quantize.presetId).toBe('int8');
    expect(w.find('[data-testid="quant-unfused"]').exists()).toBe(false);
    await w.find('[data-testid="quant-preset-int8-affine"]').trigger('click');
    expect(w.find('[data-testid="quant-unfused"]').text()).toMatch(/bias is not a target/);
    // 1 bit: only BNN; picking it switches to the training fields and the plan carries epochs / lr, no observer
    await w.find('[data-testid="quant-bits"]').setValue('1');
    expect(w.findAll('[data-testid^="quant-preset-"]').map((b) => b.attributes('data-testid'))).toEqual(
      QUANTIZATION_PRESETS.filter((p) => p.bits === 1).map((p) => `quant-preset-${p.id}`),
    );
    await w.find('[data-testid="quant-preset-bnn-w1"]').trigger('click');
    expect(w.find('#q-epochs').exists()).toBe(true);
    expect(w.find('#observer').exists()).toBe(false);
    wizard.draft.model = { path: '/m.onnx', name: 'm.onnx' };
    wizard.draft.prune.enabled = false;
    wizard.draft.finetune.enabled = false;
    wizard.draft.dataId = 'custom';
    const step = (buildPlan(wizard.draft, null).plan!.steps as Record<string, unknown>[])[0]!;
    expect(step).toMatchObject({ kind: 'quantize', quantizer: 'bnn', epochs: 1, lr: 1e-4 });
    expect(step).not.toHaveProperty('observer');
  });

  it('enables the distillation card: the registry’s distillers, presets that set the distiller, T and α only for logits', async () => {
    const wizard = useWizardStore();
    wizard.draft.distill.enabled = true;
    const w = mount(WizardCompressionStep);
    const options = w.findAll('#distiller option').map((o) => [(o.element as HTMLOptionElement).value, o.text()]);
    expect(options).toEqual(DISTILLERS.map((n) => [n, DISTILLER_REGISTRY[n].label]));
    expect(w.find('#temp').exists()).toBe(true);
    await w.find('[data-testid="distill-preset-conv-outputs"]').trigger('click');
    expect(wizard.draft.distill.distiller).toBe('adaptive1d_layerwise');
    expect(JSON.parse(wizard.draft.configText.distillation)).toEqual([
      { op_types: ['Conv'], lambda: 1, apply_method: 'mse' },
    ]);
    expect(w.find('#temp').exists()).toBe(false);
    expect((w.find('[data-testid="teacher"]').element as HTMLInputElement).placeholder).toContain('the original model');
  });

  it('two compressions chosen: a fused run by default, its training and notes in one card; sequential on request', async () => {
    setHost(
      createFakeHost({
        experiments: {
          capabilities: () => ({
            stepKinds: ['prune', 'speedup', 'finetune', 'quantize', 'distill', 'compress'],
            knownStepKinds: ['prune', 'speedup', 'finetune', 'quantize', 'distill', 'compress'],
            executionProviders: [{ name: 'cpu', available: true }],
            ...compressorCapabilities(),
          }),
        },
      }),
    );
    setActivePinia(createPinia());
    const wizard = useWizardStore();
    await wizard.init();
    const w = mount(WizardCompressionStep);
    await flushPromises();
    expect(wizard.draft.prune.enabled && wizard.draft.quantize.enabled).toBe(true);
    expect((w.find('[data-testid="combine-fused"]').element as HTMLInputElement).checked).toBe(true);
    expect(w.find('[data-testid="fused-training"]').exists()).toBe(true);
    // the fused run's training replaces the separate fine-tune and the quantizer's own epochs / observer
    expect(w.find('[data-testid="enable-finetune"]').exists()).toBe(false);
    expect(w.find('#observer').exists()).toBe(false);
    const notes = w.find('[data-testid="fused-notes"]').text();
    expect(notes).toContain('schedules it with AGP');
    expect(notes).toContain('uses QAT');
    await w.find('[data-testid="combine-sequential"]').setValue(true);
    expect(wizard.draft.combine).toBe('sequential');
    expect(w.find('[data-testid="fused-training"]').exists()).toBe(false);
    expect(w.find('[data-testid="enable-finetune"]').exists()).toBe(true);
    expect(w.find('#observer').exists()).toBe(true);
    // one compression: nothing to combine
    wizard.draft.quantize.enabled = false;
    await flushPromises();
    expect(w.find('[data-testid="combine-card"]').exists()).toBe(false);
  });

  it('a build without the fused step offers sequential only', async () => {
    const wizard = useWizardStore();
    await wizard.init();
    const w = mount(WizardCompressionStep);
    await flushPromises();
    expect(wizard.draft.combine).toBe('sequential');
    expect((w.find('[data-testid="combine-fused"]').element as HTMLInputElement).disabled).toBe(true);
    expect(w.find('[data-testid="combine-card"]').text()).toContain('no executor for the fused step');
  });

  it('the review outlines a fused step: its training, the order on every target, the schedule, what follows', async () => {
    const wizard = useWizardStore();
    wizard.draft.model = { path: '/m.onnx', name: 'm.onnx' };
    wizard.draft.dataId = 'custom';
    wizard.draft.distill.enabled = true;
    const w = mount(WizardReviewStep);
    await flushPromises();
    expect(w.text()).toContain(
      'quantization + pruning + distillation in one training run, then speedup and int8 export',
    );
    const outline = w.find('[data-testid="fused-outline"]').text();
    expect(outline).toContain('order on every target: quantize-dequantize → pruning mask → recorded for distillation');
    expect(outline).toContain(
      'AGP (cubic schedule) around L1 norm to 50 % sparsity: masks updated every 50 steps, 10 times',
    );
    expect(outline).toContain('then: speedup (pruned channels removed) → quantization carried to the compact model');
    expect(w.find('[data-testid="plan-json"]').text()).toContain('"kind": "compress"');
  });
});
