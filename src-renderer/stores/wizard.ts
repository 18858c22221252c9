/**
 * @file The new-experiment wizard: the draft (kept in localStorage, so a reload or a crash never loses the
 * user's work), presets, live checks of the config lists against the model (faults with JSON paths, the targets
 * they select for the graph), validation of the whole plan by the host, and starting the run.
 */
import { defineStore } from 'pinia';
import { computed, ref, shallowRef, watch } from 'vue';
import { DISTILLATION_PRESETS, PRUNING_PRESETS, QUANTIZATION_PRESETS } from '../../src-shared/presets.ts';
import type { Capabilities, CompressionMode, TargetsReply } from '../../src-shared/ipc/dto.ts';
import { asIpcError, errorIssues } from '../../src-shared/ipc/errors.ts';
import {
  activeModes,
  buildPlan,
  familiesChosen,
  buildScanPlan,
  type ScanForm,
  hasAutoGroups,
  isFused,
  setAutoGroups as setAutoGroupsText,
  newDraft,
  parseJsonText,
  pretty,
  reviveDraft,
  suggestName,
  WIZARD_STEPS,
  type JsonFault,
  type WizardDraft,
  type WizardStep,
} from '../composables/plan-builder.ts';
import type { PrunerName } from '../../src-shared/compressors.ts';
import type { Allocation, SensitivityScan } from '../../src-shared/sensitivity.ts';
import { useHost } from '../host/host.ts';
import { useModelStore } from './model.ts';
import { useSettingsStore } from './settings.ts';

export const DRAFT_KEY = 'studio.wizard.draft.v1';

export interface ConfigCheck {
  /** 'idle' before the first check; 'checking' while the host answers. */
  state: 'idle' | 'checking' | 'ok' | 'invalid';
  faults: JsonFault[];
  reply: TargetsReply | null;
}

/** The saved draft, or null when there is none (or it cannot be read). */
function loadDraft(): WizardDraft | null {
  try {
    const text = localStorage.getItem(DRAFT_KEY);
    return text ? reviveDraft(JSON.parse(text)) : null;
  } catch {
    return null;
  }
}

export const useWizardStore = defineStore('wizard', () => {
  const { api } = useHost();
  const model = useModelStore();
  const saved = loadDraft();
  const draft = ref<WizardDraft>(saved ?? newDraft());
  const capabilities = shallowRef<Capabilities | null>(null);
  const checks = ref<Record<CompressionMode, ConfigCheck>>({
    pruning: { state: 'idle', faults: [], reply: null },
    quantization: { state: 'idle', faults: [], reply: null },
    distillation: { state: 'idle', faults: [], reply: null },
  });
  const validation = ref<{
    state: 'idle' | 'checking' | 'ok' | 'invalid';
    issues: { path: string; message: string }[];
  }>({ state: 'idle', issues: [] });
  const starting = ref(false);
  const startError = ref<{ message: string; issues: { path: string; message: string }[] } | null>(null);
  /** Why the model page's sensitivity scan did not start (apart from the experiment's own start error). */
  const scanError = ref<{ message: string; issues: { path: string; message: string }[] } | null>(null);
  const savedAt = ref<number | null>(null);

  watch(
    draft,
    (d) => {
      try {
        localStorage.setItem(DRAFT_KEY, JSON.stringify(d));
        savedAt.value = Date.now();
      } catch {
        /* storage full or disabled: the draft lives on in memory */
      }
    },
    { deep: true },
  );

  const built = computed(() => buildPlan(draft.value, model.examples));
  /** The plan without its name: what the host's verdict depends on. */
  const planKey = computed(() =>
    JSON.stringify(built.value.plan ? { ...built.value.plan, name: undefined } : built.value.faults),
  );
  watch(planKey, () => (validation.value = { state: 'idle', issues: [] }));
  const modes = computed(() => activeModes(draft.value));
  const canDistill = computed(() => capabilities.value?.stepKinds.includes('distill') ?? false);
  /** Whether this build runs the fused `compress` step (one training run for every chosen compression). */
  const canFuse = computed(() => capabilities.value?.stepKinds.includes('compress') ?? false);
  /** Two or more compressions chosen: the wizard asks how to combine them. */
  const combining = computed(() => familiesChosen(draft.value) >= 2);
  /** The draft makes one fused `compress` step. */
  const fused = computed(() => isFused(draft.value));
  const stepIndex = computed(() => WIZARD_STEPS.indexOf(draft.value.step));

  async function init(): Promise<void> {
    await model.loadExamples();
    try {
      capabilities.value = await api.experiments.capabilities({});
      // A fresh draft leaves off what this build cannot run; a saved one is the user's and stays as it was.
      if (!saved && !draft.value.model)
        draft.value = {
          ...newDraft(capabilities.value.stepKinds),
          executionProvider: useSettingsStore().executionProvider,
        };
    } catch {
      capabilities.value = null;
    }
    // A reload keeps the draft; reopen its model if the host no longer has it open.
    if (draft.value.model && model.opened?.path !== draft.value.model.path)
      await model.openPath(draft.value.model.path);
  }

  function goTo(step: WizardStep): void {
    draft.value.step = step;
  }

  function next(): void {
    draft.value.step = WIZARD_STEPS[Math.min(WIZARD_STEPS.length - 1, stepIndex.value + 1)]!;
  }

  function back(): void {
    draft.value.step = WIZARD_STEPS[Math.max(0, stepIndex.value - 1)]!;
  }

  /** Records the model just opened in the draft. */
  function useOpenedModel(): void {
    if (model.opened) draft.value.model = { path: model.opened.path, name: model.opened.name };
  }

  function applyPruningPreset(id: string): void {
    const p = PRUNING_PRESETS.find((x) => x.id === id);
    if (!p) return;
    draft.value.prune = { ...draft.value.prune, enabled: true, presetId: id, pruner: p.pruner };
    draft.value.allocation = null;
    const keepAuto = hasAutoGroups(draft.value.configText.pruning) === true;
    draft.value.configText.pruning = keepAuto ? setAutoGroupsText(pretty(p.configList), true) : pretty(p.configList);
  }

  /** Turns automatic channel dependency groups on or off for every entry of the pruning config list. */
  function setAutoGroups(on: boolean): void {
    draft.value.configText.pruning = setAutoGroupsText(draft.value.configText.pruning, on);
  }

  function applyQuantizationPreset(id: string): void {
    const p = QUANTIZATION_PRESETS.find((x) => x.id === id);
    if (!p) return;
    draft.value.quantize = {
      ...draft.value.quantize,
      enabled: true,
      presetId: id,
      quantizer: p.quantizer,
      bits: p.bits,
      ...(p.observer ? { observer: p.observer } : {}),
    };
    draft.value.configText.quantization = pretty(p.configList);
  }

  function applyDistillationPreset(id: string): void {
    const p = DISTILLATION_PRESETS.find((x) => x.id === id);
    if (!p) return;
    draft.value.distill = { ...draft.value.distill, enabled: true, presetId: id, distiller: p.distiller };
    if (p.configList.length) draft.value.configText.distillation = pretty(p.configList);
  }

  /**
   * Loads a budgeted allocation as the pruning step: the scan's model and pruner, its per-layer config list (with
   * speedup, so the report can measure the prediction; steps kept sequential, not fused into one training run), and
   * the allocation recorded for the report.
   */
  function useAllocation(scan: SensitivityScan, scanRun: string, a: Allocation): void {
    const name = scan.model.path.split(/[\\/]/).pop() ?? scan.model.path;
    draft.value.model = { path: scan.model.path, name };
    draft.value.prune = {
      ...draft.value.prune,
      enabled: true,
      presetId: null,
      pruner: scan.pruner as PrunerName,
      speedup: true,
    };
    draft.value.configText.pruning = pretty(a.configList);
    // the prediction is for prune → speedup with the scan's one-shot pruner: keep the steps apart (not fused)
    draft.value.combine = 'sequential';
    draft.value.allocation = {
      scanRun,
      target: a.target,
      maxAccuracyDrop: a.maxAccuracyDrop,
      predicted: {
        latencyMs: a.predicted.latencyMs,
        accuracy: a.predicted.accuracy,
        speedup: a.predicted.speedup,
        macs: a.predicted.macs,
        params: a.predicted.params,
      },
    };
    draft.value.step = 'config';
  }

  /** Edits of the config text by hand detach it from its preset (and from the allocation it was loaded from). */
  function setConfigText(mode: CompressionMode, text: string): void {
    draft.value.configText[mode] = text;
    if (mode === 'pruning') draft.value.allocation = null;
    if (mode === 'pruning') draft.value.prune.presetId = null;
    if (mode === 'quantization') draft.value.quantize.presetId = null;
    if (mode === 'distillation') draft.value.distill.presetId = null;
  }

  const inflight: Partial<Record<CompressionMode, AbortController>> = {};

  /** Checks one config list: JSON syntax here, NNI keys and the targets it selects on the host. */
  async function checkConfig(mode: CompressionMode): Promise<void> {
    inflight[mode]?.abort();
    const parsed = parseJsonText(draft.value.configText[mode]);
    if (!parsed.ok) {
      checks.value[mode] = { state: 'invalid', faults: [parsed.fault], reply: null };
      return;
    }
    if (!model.opened) {
      checks.value[mode] = { state: 'idle', faults: [], reply: null };
      return;
    }
    const controller = (inflight[mode] = new AbortController());
    checks.value[mode] = { ...checks.value[mode], state: 'checking' };
    try {
      const reply = await model.targets(mode, parsed.value, controller.signal);
      if (!reply) return;
      checks.value[mode] = { state: reply.ok ? 'ok' : 'invalid', faults: reply.issues, reply };
    } catch (e) {
      const err = asIpcError(e);
      if (err.code === 'CANCELLED') return;
      checks.value[mode] = {
        state: 'invalid',
        faults: errorIssues(err).length ? errorIssues(err) : [{ path: '$', message: err.message }],
        reply: null,
      };
    }
  }

  /** The host's verdict on the whole plan (schema, config lists, files, executors). */
  async function validate(): Promise<boolean> {
    const b = built.value;
    if (!b.plan) {
      validation.value = { state: 'invalid', issues: b.faults.map((f) => ({ path: f.where, message: f.message })) };
      return false;
    }
    validation.value = { state: 'checking', issues: [] };
    try {
      const r = await api.experiments.validate({ plan: b.plan });
      validation.value = { state: r.ok ? 'ok' : 'invalid', issues: r.issues };
      return r.ok;
    } catch (e) {
      validation.value = { state: 'invalid', issues: [{ path: '$', message: asIpcError(e).message }] };
      return false;
    }
  }

  /** Starts the run; returns its id, or null with `startError` set (the draft is kept either way). */
  async function start(): Promise<string | null> {
    const b = built.value;
    startError.value = null;
    if (!b.plan) {
      startError.value = {
        message: 'The experiment is incomplete',
        issues: b.faults.map((f) => ({ path: f.where, message: f.message })),
      };
      return null;
    }
    starting.value = true;
    try {
      const tags = draft.value.meta.tags
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean);
      const name = draft.value.meta.name.trim() || suggestName(draft.value);
      const { runId } = await api.experiments.start({
        plan: { ...b.plan, name },
        name,
        tags,
        notes: draft.value.meta.notes || undefined,
      });
      return runId;
    } catch (e) {
      const err = asIpcError(e);
      startError.value = { message: err.message.split('\n')[0]!, issues: errorIssues(err) };
      return null;
    } finally {
      starting.value = false;
    }
  }

  /**
   * Starts a sensitivity scan of the draft's model over its data set's evaluation split; returns the run's id, or
   * null with `scanError` set.
   */
  async function startScan(form: ScanForm): Promise<string | null> {
    const b = buildScanPlan(draft.value, model.examples, form);
    scanError.value = null;
    if (!b.plan) {
      scanError.value = {
        message: 'The scan cannot start',
        issues: b.faults.map((f) => ({ path: f.where, message: f.message })),
      };
      return null;
    }
    starting.value = true;
    try {
      const name = `sensitivity of ${draft.value.model!.name}`;
      const { runId } = await api.experiments.start({ plan: { ...b.plan, name }, name, tags: ['sensitivity'] });
      return runId;
    } catch (e) {
      const err = asIpcError(e);
      scanError.value = { message: err.message.split('\n')[0]!, issues: errorIssues(err) };
      return null;
    } finally {
      starting.value = false;
    }
  }

  /** Starts over with a fresh draft (the model stays open). */
  function reset(): void {
    const keep = draft.value.model;
    draft.value = {
      ...newDraft(capabilities.value?.stepKinds),
      executionProvider: useSettingsStore().executionProvider,
      model: keep,
    };
  }

  return {
    draft,
    capabilities,
    checks,
    validation,
    starting,
    startError,
    scanError,
    savedAt,
    built,
    planKey,
    modes,
    canDistill,
    canFuse,
    combining,
    fused,
    stepIndex,
    init,
    goTo,
    next,
    back,
    useOpenedModel,
    applyPruningPreset,
    useAllocation,
    setAutoGroups,
    applyQuantizationPreset,
    applyDistillationPreset,
    setConfigText,
    checkConfig,
    validate,
    start,
    startScan,
    reset,
    suggestName: () => suggestName(draft.value),
  };
});
