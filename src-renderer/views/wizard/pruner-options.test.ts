// @vitest-environment happy-dom
/**
 * @file The wizard offers the training-aware pruners with their options: it says which train on the data, shows the
 * chosen pruner's options only (those its registry entry reads), and the plan it builds carries exactly those, which
 * the plan schema accepts.
 */
import { mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { parsePlan } from '../../../src-shared/experiment.ts';
import { PRUNE_OPTION_KEYS } from '../../../src-shared/prune-options.ts';
import { pruneStepOptions } from '../../composables/plan-builder.ts';
import { setHost } from '../../host/host.ts';
import { useWizardStore } from '../../stores/wizard.ts';
import { createFakeHost } from '../../testing/fake-host.ts';
import WizardCompressionStep from './WizardCompressionStep.vue';

beforeEach(() => {
  localStorage.clear();
  setHost(createFakeHost());
  setActivePinia(createPinia());
});

describe('wizard: training-aware pruners', () => {
  it('says which pruners need data and shows the chosen one’s options', async () => {
    const wizard = useWizardStore();
    wizard.draft.prune.enabled = true;
    wizard.draft.prune.pruner = 'l1';
    const w = mount(WizardCompressionStep);
    expect(w.get('[data-testid=pruner-note]').text()).toContain('One-shot: needs no data');
    expect(w.find('[data-testid=pruner-options]').exists()).toBe(false);
    wizard.draft.prune.pruner = 'agp';
    await w.vm.$nextTick();
    expect(w.get('[data-testid=pruner-note]').text()).toContain('Trains on the data set’s train split');
    const ids = w.findAll('[data-testid=pruner-options] .field label').map((l) => l.attributes('for'));
    expect(ids).toEqual(['pt-intervalSteps', 'pt-totalTimes', 'pt-inner', 'pt-regularScale']);
    expect(w.findAll('#pt-inner option').map((o) => (o.element as HTMLOptionElement).value)).toEqual([
      'level',
      'l1',
      'l2',
      'fpgm',
      'slim',
      'taylor',
    ]);
    await w.get('#pt-totalTimes').setValue('4');
    expect(wizard.draft.prune.training.totalTimes).toBe(4);
    wizard.draft.prune.pruner = 'movement';
    await w.vm.$nextTick();
    expect(w.findAll('[data-testid=pruner-options] .field label').map((l) => l.attributes('for'))).toEqual([
      'pt-warmupSteps',
      'pt-cooldownBeginStep',
      'pt-regularScale',
    ]);
  });

  it('puts exactly the chosen pruner’s options in the plan, which the schema accepts', () => {
    const wizard = useWizardStore();
    const dataset = { train: { kind: 'idx', paths: ['a', 'b'] } };
    for (const pruner of ['slim', 'taylor', 'movement', 'linear', 'agp'] as const) {
      wizard.draft.prune.pruner = pruner;
      const opts = pruneStepOptions(wizard.draft);
      expect(Object.keys(opts)).toEqual(PRUNE_OPTION_KEYS[pruner].filter((k) => k !== 'maxSteps'));
      expect(
        parsePlan({ model: 'm.onnx', dataset, steps: [{ kind: 'prune', pruner, configList: [], ...opts }] }).steps[0],
      ).toMatchObject({ pruner, ...opts });
    }
    wizard.draft.prune.pruner = 'l1';
    expect(pruneStepOptions(wizard.draft)).toEqual({});
  });
});
