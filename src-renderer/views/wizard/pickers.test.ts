// @vitest-environment happy-dom
/** @file The wizard's compressor pickers are generated from src-shared's registries: their values and labels equal the registry's, in order. */
import { mount } from '@vue/test-utils';
import { createPinia, setActivePinia } from 'pinia';
import { beforeEach, describe, expect, it } from 'vitest';
import { OBSERVER_REGISTRY, OBSERVERS, PRUNER_REGISTRY, PRUNERS } from '../../../src-shared/compressors.ts';
import { setHost } from '../../host/host.ts';
import { useWizardStore } from '../../stores/wizard.ts';
import { createFakeHost } from '../../testing/fake-host.ts';
import WizardCompressionStep from './WizardCompressionStep.vue';

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
    const w = mount(WizardCompressionStep);
    const options = (id: string) => w.findAll(`#${id} option`).map((o) => [(o.element as HTMLOptionElement).value, o.text()]);
    expect(options('pruner')).toEqual(PRUNERS.map((p) => [p, PRUNER_REGISTRY[p].label]));
    expect(options('observer')).toEqual(OBSERVERS.map((o) => [o, OBSERVER_REGISTRY[o].label]));
  });
});
