// @vitest-environment happy-dom
/**
 * @file The wizard's one set of training fields: it edits the draft's training block in place (numbers as numbers, an
 * empty batch cap as "all"); the fine-tune step and the fused run show every key the plan's training block reads,
 * a trained quantizer its epochs and learning rate, and what they set reaches the built plan.
 */
import { flushPromises, mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { reactive } from 'vue';
import { buildPlan, newDraft } from '../../composables/plan-builder.ts';
import { setHost } from '../../host/host.ts';
import { useWizardStore } from '../../stores/wizard.ts';
import { createFakeHost } from '../../testing/fake-host.ts';
import TrainingFields from './TrainingFields.vue';
import WizardCompressionStep from './WizardCompressionStep.vue';

beforeEach(() => {
  localStorage.clear();
  setHost(createFakeHost());
  setActivePinia(createPinia());
});

const FIELDS = ['epochs', 'lr', 'batch', 'max', 'opt', 'sched'];

describe('TrainingFields', () => {
  it('edits the training block it is given, in place, under its id prefix', async () => {
    const training = reactive({ ...newDraft().finetune });
    const w = mount(TrainingFields, { props: { training, idPrefix: 'x', epochsLabel: 'Epochs (the whole run)' } });
    expect(w.findAll('input, select').map((e) => e.attributes('id'))).toEqual(FIELDS.map((f) => `x-${f}`));
    expect(w.find('label[for="x-epochs"]').text()).toBe('Epochs (the whole run)');
    await w.find('#x-epochs').setValue('2.5');
    await w.find('#x-lr').setValue('0.01');
    await w.find('#x-batch').setValue('32');
    await w.find('#x-max').setValue('7');
    await w.find('#x-opt').setValue('sgd');
    await w.find('#x-sched').setValue('constant');
    expect(training).toMatchObject({
      epochs: 2.5,
      lr: 0.01,
      batchSize: 32,
      maxBatchesPerEpoch: 7,
      optimizer: 'sgd',
      schedule: 'constant',
    });
    // an emptied (or zero) cap means every batch: null in the draft, not 0 or ""
    await w.find('#x-max').setValue('');
    expect(training.maxBatchesPerEpoch).toBeNull();
    await w.find('#x-max').setValue('0');
    expect(training.maxBatchesPerEpoch).toBeNull();
    expect((w.find('#x-max').element as HTMLInputElement).placeholder).toBe('all');
  });

  it('shows only the optional fields asked for', () => {
    const training = reactive({ epochs: 1, lr: 1e-4 });
    const w = mount(TrainingFields, { props: { training, idPrefix: 'q', fields: [], lrStep: 0.00001 } });
    expect(w.findAll('input, select').map((e) => e.attributes('id'))).toEqual(['q-epochs', 'q-lr']);
    expect(w.find('#q-lr').attributes('step')).toBe('0.00001');
  });

  it('labels its epochs plainly by default and shows the values it is given', () => {
    const training = reactive({ ...newDraft().finetune, epochs: 3, batchSize: 16, maxBatchesPerEpoch: 5 });
    const w = mount(TrainingFields, { props: { training, idPrefix: 'y' } });
    expect(w.find('label[for="y-epochs"]').text()).toBe('Epochs');
    const value = (id: string) => (w.find(`#y-${id}`).element as HTMLInputElement).value;
    expect([value('epochs'), value('batch'), value('max')]).toEqual(['3', '16', '5']);
  });
});

describe('the wizard’s training fields', () => {
  const draftWith = (combine: 'fused' | 'sequential') => {
    const wizard = useWizardStore();
    wizard.draft.model = { path: '/m.onnx', name: 'm.onnx' };
    wizard.draft.dataId = 'custom';
    wizard.draft.customDataset = JSON.stringify({ train: { kind: 'idx', paths: ['a', 'b'], limit: 2000 } });
    wizard.draft.prune.enabled = true;
    wizard.draft.quantize.enabled = true;
    wizard.draft.finetune.enabled = true;
    wizard.draft.combine = combine;
    return wizard;
  };

  it('the fine-tune step shows every training key, and the batch size reaches its step', async () => {
    const wizard = draftWith('sequential');
    const w = mount(WizardCompressionStep);
    await flushPromises();
    const fields = w.find('[data-testid="finetune-training"]');
    expect(fields.findAll('input, select').map((e) => e.attributes('id'))).toEqual(FIELDS.map((f) => `ft-${f}`));
    await w.find('#ft-batch').setValue('32');
    await w.find('#ft-max').setValue('9');
    const steps = buildPlan(wizard.draft, null).plan!.steps as Record<string, unknown>[];
    expect(steps.find((s) => s.kind === 'finetune')).toMatchObject({ batchSize: 32, maxBatchesPerEpoch: 9 });
  });

  it('the fused run shows the same keys beside its own, and the batch cap reaches its one training block', async () => {
    const wizard = draftWith('fused');
    const w = mount(WizardCompressionStep);
    await flushPromises();
    expect(w.find('[data-testid="finetune-training"]').exists()).toBe(false);
    const ids = w
      .find('[data-testid="fused-training"]')
      .findAll('input, select')
      .map((e) => e.attributes('id'));
    expect(ids.slice(0, FIELDS.length)).toEqual(FIELDS.map((f) => `fu-${f}`));
    await w.find('#fu-max').setValue('7');
    await w.find('#fu-opt').setValue('sgd');
    const [step] = buildPlan(wizard.draft, null).plan!.steps as Record<string, unknown>[];
    expect(step).toMatchObject({
      kind: 'compress',
      training: { maxBatchesPerEpoch: 7, optimizer: { kind: 'sgd' }, batchSize: 64 },
    });
  });

  it('a trained quantizer shows its epochs and learning rate, which reach its step', async () => {
    const wizard = draftWith('sequential');
    wizard.draft.prune.enabled = false;
    wizard.draft.finetune.enabled = false;
    wizard.draft.quantize.quantizer = 'lsq';
    const w = mount(WizardCompressionStep);
    await flushPromises();
    expect(w.find('#q-batch').exists()).toBe(false);
    await w.find('#q-epochs').setValue('3');
    await w.find('#q-lr').setValue('0.0005');
    const [step] = buildPlan(wizard.draft, null).plan!.steps as Record<string, unknown>[];
    expect(step).toMatchObject({ kind: 'quantize', quantizer: 'lsq', epochs: 3, lr: 0.0005 });
  });
});
