/**
 * @file The wizard's draft and the experiment plan it describes: model → data → prune / speedup / fine-tune /
 * distill / quantize with their config lists (kept as the JSON text the user edits) → plan JSON for the host. Pure
 * functions; the wizard store holds the draft.
 */
import { DISTILLATION_PRESETS, PRUNING_PRESETS, QUANTIZATION_PRESETS } from '../../src-shared/presets.ts';
import {
  EXECUTION_PROVIDERS,
  type ExecutionProvider,
  type ObserverName,
  type PrunerName,
  type QuantizerName,
} from '../../src-shared/experiment.ts';
import {
  DISTILLER_REGISTRY,
  PRUNER_REGISTRY,
  QUANTIZER_REGISTRY,
  type DistillerName,
} from '../../src-shared/compressors.ts';
import type { CompressionMode, Examples } from '../../src-shared/ipc/dto.ts';
import type { PlanAllocation } from '../../src-shared/sensitivity.ts';
import {
  isTrainingPruner,
  PRUNE_DEFAULTS,
  PRUNE_OPTION_KEYS,
  type TrainingPruneOptions,
} from '../../src-shared/prune-options.ts';

export const WIZARD_STEPS = ['model', 'data', 'compression', 'config', 'review'] as const;
export type WizardStep = (typeof WIZARD_STEPS)[number];

export interface WizardDraft {
  version: 1;
  step: WizardStep;
  model: { path: string; name: string } | null;
  /** A bundled data set id, or 'custom' (then `customDataset` is the plan's dataset JSON). */
  dataId: string;
  customDataset: string;
  evaluator: { metric: 'top1' | 'top5'; batchSize: number; maxBatches: number | null };
  /** Where the before / after measurements run (ORT execution provider; one that cannot run here falls back to CPU). */
  executionProvider: ExecutionProvider;
  /** `training`: the options of the pruners that train (only the chosen pruner's keys reach the plan). */
  prune: {
    enabled: boolean;
    presetId: string | null;
    pruner: PrunerName;
    speedup: boolean;
    roundTo: number | null;
    training: WizardPruneTraining;
  };
  finetune: {
    enabled: boolean;
    epochs: number;
    lr: number;
    batchSize: number;
    maxBatchesPerEpoch: number | null;
    optimizer: 'adam' | 'sgd';
    schedule: 'cosine' | 'constant';
  };
  /** PTQ reads observer / calibrationBatches; the trained quantizers (QUANTIZER_REGISTRY[q].needsTraining) epochs / lr / bits. */
  quantize: {
    enabled: boolean;
    presetId: string | null;
    quantizer: QuantizerName;
    bits: 8 | 4 | 2 | 1;
    calibrationBatches: number;
    observer: ObserverName;
    epochs: number;
    lr: number;
  };
  /**
   * Distillation after the other steps: the distiller (a preset sets it), the teacher (empty: the plan's input model,
   * i.e. the model before compression), the logits distiller's T and α, and the training recipe.
   */
  distill: {
    enabled: boolean;
    presetId: string | null;
    distiller: DistillerName;
    teacher: string;
    temperature: number;
    alpha: number;
    epochs: number;
    lr: number;
  };
  configText: Record<CompressionMode, string>;
  /**
   * How two or more chosen compressions combine: 'fused' (default) makes ONE `compress` step — one training run in
   * which masks, fake quantization and the distillation loss all act (NNI's fusion compression), then speedup and
   * int8 export; 'sequential' makes one step each (prune → speedup → fine-tune → distill → quantize). The training
   * settings of a fused run are the fine-tune ones; `quantStartStep` is when its fake quantization starts.
   */
  combine: 'fused' | 'sequential';
  fusion: { quantStartStep: number };
  meta: { name: string; tags: string; notes: string };
  /**
   * The allocation the pruning config list was loaded from (a scan's budgeted sparsities), written into the plan so
   * the report can set its prediction beside the measurement; null once the config list is edited by hand.
   */
  allocation: PlanAllocation | null;
}

/** The training-aware pruners' options as the wizard edits them (PRUNE_OPTION_KEYS picks the chosen pruner's). */
export type WizardPruneTraining = Required<Omit<TrainingPruneOptions, 'maxSteps'>>;

/** The options of a training-aware prune step the draft asks for; none for a one-shot pruner. */
export function pruneStepOptions(d: Pick<WizardDraft, 'prune'>): Record<string, unknown> {
  if (!isTrainingPruner(d.prune.pruner)) return {};
  const t = d.prune.training as Record<string, unknown>;
  return Object.fromEntries(PRUNE_OPTION_KEYS[d.prune.pruner].filter((k) => t[k] !== undefined).map((k) => [k, t[k]]));
}

export const pretty = (v: unknown) => JSON.stringify(v, null, 2);

/**
 * A fresh draft: balanced pruning with speedup and a short fine-tune, int8 PTQ, the quick MNIST split. With the
 * step kinds this build can run, the ones it cannot are left off.
 */
export function newDraft(available?: readonly string[]): WizardDraft {
  const d = baseDraft();
  if (!available) return d;
  const has = (k: string) => available.includes(k);
  d.prune.enabled &&= has('prune');
  d.prune.speedup &&= has('speedup');
  d.finetune.enabled &&= has('finetune');
  d.quantize.enabled &&= has('quantize');
  d.distill.enabled &&= has('distill');
  if (!has('compress')) d.combine = 'sequential';
  return d;
}

function baseDraft(): WizardDraft {
  const prune = PRUNING_PRESETS.find((p) => p.id === 'balanced')!;
  const quant = QUANTIZATION_PRESETS.find((p) => p.id === 'int8')!;
  return {
    version: 1,
    step: 'model',
    model: null,
    dataId: 'mnist-quick',
    customDataset: pretty({
      train: { kind: 'idx', paths: ['train-images.idx3-ubyte', 'train-labels.idx1-ubyte'] },
      evaluation: { kind: 'idx', paths: ['t10k-images.idx3-ubyte', 't10k-labels.idx1-ubyte'] },
    }),
    evaluator: { metric: 'top1', batchSize: 100, maxBatches: null },
    executionProvider: 'cpu',
    prune: {
      enabled: true,
      presetId: prune.id,
      pruner: prune.pruner,
      speedup: true,
      roundTo: null,
      training: { ...PRUNE_DEFAULTS },
    },
    // The demo's recipe (Adam, cosine decay, lr 0.003), 8 epochs of the chosen split. Measured with the balanced
    // preset + speedup + int8 on MNIST (quick): the old 1 × 40 batches of SGD at a constant 0.01 gave 98.95 → 70.65 %,
    // 4 epochs of this recipe 91.30 %, 8 epochs 95.30 % (2,000 test images; 12 s and 17 s runs on a loaded box).
    finetune: {
      enabled: true,
      epochs: 8,
      lr: 0.003,
      batchSize: 64,
      maxBatchesPerEpoch: null,
      optimizer: 'adam',
      schedule: 'cosine',
    },
    quantize: {
      enabled: true,
      presetId: quant.id,
      quantizer: quant.quantizer,
      bits: quant.bits,
      calibrationBatches: 8,
      observer: quant.observer ?? 'minmax',
      epochs: 1,
      lr: 1e-4,
    },
    distill: {
      enabled: false,
      presetId: DISTILLATION_PRESETS[0]!.id,
      distiller: DISTILLATION_PRESETS[0]!.distiller,
      teacher: '',
      temperature: 2,
      alpha: 0.5,
      epochs: 2,
      lr: 0.003,
    },
    configText: {
      pruning: setAutoGroups(pretty(prune.configList), true),
      quantization: pretty(quant.configList),
      distillation: pretty(DISTILLATION_PRESETS[0]!.configList),
    },
    combine: 'fused',
    fusion: { quantStartStep: 0 },
    meta: { name: '', tags: '', notes: '' },
    allocation: null,
  };
}

/** A stored draft from an older or damaged save, merged over a fresh one (unknown keys dropped). */
export function reviveDraft(raw: unknown): WizardDraft {
  const fresh = newDraft();
  if (!raw || typeof raw !== 'object' || (raw as { version?: unknown }).version !== 1) return fresh;
  const r = raw as Partial<WizardDraft>;
  const merge = <T extends object>(a: T, b: unknown): T =>
    b && typeof b === 'object' ? { ...a, ...(b as Partial<T>) } : a;
  return {
    ...fresh,
    step: WIZARD_STEPS.includes(r.step as WizardStep) ? r.step! : fresh.step,
    model:
      r.model && typeof r.model.path === 'string'
        ? { path: r.model.path, name: String(r.model.name ?? r.model.path) }
        : null,
    dataId: typeof r.dataId === 'string' ? r.dataId : fresh.dataId,
    customDataset: typeof r.customDataset === 'string' ? r.customDataset : fresh.customDataset,
    evaluator: merge(fresh.evaluator, r.evaluator),
    executionProvider: (EXECUTION_PROVIDERS as readonly string[]).includes(r.executionProvider as string)
      ? r.executionProvider!
      : fresh.executionProvider,
    prune: merge(fresh.prune, r.prune),
    finetune: merge(fresh.finetune, r.finetune),
    quantize: merge(fresh.quantize, r.quantize),
    distill: merge(fresh.distill, r.distill),
    configText: merge(fresh.configText, r.configText),
    combine: r.combine === 'sequential' ? 'sequential' : fresh.combine,
    fusion: merge(fresh.fusion, r.fusion),
    meta: merge(fresh.meta, r.meta),
    allocation: r.allocation && typeof r.allocation === 'object' ? r.allocation : null,
  };
}

export interface JsonFault {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/**
 * Parses JSON the user typed; a syntax fault names its line and column.
 *
 * @example parseJsonText('[{"a": 1,}]') // { ok: false, fault: { path: '$', message: 'not valid JSON: …', line: 1, column: 10 } }
 */
export function parseJsonText(text: string): { ok: true; value: unknown } | { ok: false; fault: JsonFault } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    const at = jsonErrorOffset(text);
    const before = text.slice(0, at);
    const line = before.split('\n').length;
    const column = at - before.lastIndexOf('\n');
    const native = (e as Error).message
      .replace(/, ".*" is not valid JSON$/s, '')
      .replace(/ in JSON at position \d+.*$/s, '');
    return {
      ok: false,
      fault: { path: '$', message: `not valid JSON: ${native} (line ${line}, column ${column})`, line, column },
    };
  }
}

/** Offset of the first syntax fault in JSON text (a small recursive-descent scan; only called on text that failed). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const literal = (word: string) => (text.startsWith(word, i) ? (i += word.length) : fail());
  const string = () => {
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text[i] === '\\') i++;
      else if (text[i]! < ' ') fail();
      i++;
    }
    if (i >= text.length) fail();
    i++;
  };
  const number = () => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i));
    if (!m) fail();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') return container('}', true);
    if (c === '[') return container(']', false);
    if (c === '"') return string();
    if (c === 't') return void literal('true');
    if (c === 'f') return void literal('false');
    if (c === 'n') return void literal('null');
    return number();
  };
  const container = (close: string, object: boolean): void => {
    i++;
    ws();
    if (text[i] === close) return void i++;
    for (;;) {
      if (object) {
        ws();
        if (text[i] !== '"') fail();
        string();
        ws();
        if (text[i] !== ':') fail();
        i++;
      }
      value();
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === close) return void i++;
      fail();
    }
  };
  try {
    value();
    ws();
    return i < text.length ? i : text.length;
  } catch (offset) {
    return typeof offset === 'number' ? Math.min(offset, text.length) : 0;
  }
}

/** The modes whose config list the draft uses. */
export function activeModes(d: WizardDraft): CompressionMode[] {
  const modes: CompressionMode[] = [];
  if (d.prune.enabled) modes.push('pruning');
  // (the logits distiller reads the model outputs, no config list)
  if (d.distill.enabled && d.distill.distiller !== 'logits') modes.push('distillation');
  if (d.quantize.enabled) modes.push('quantization');
  return modes;
}

export interface BuiltPlan {
  plan: Record<string, unknown> | null;
  /** Faults found before asking the host (JSON syntax, nothing chosen). */
  faults: (JsonFault & { where: string })[];
}

/**
 * The experiment plan a draft describes, or the faults that stop it from being built.
 *
 * @example buildPlan(draft, examples).plan // { model: '/…/mnist-cnn.onnx', steps: [{ kind: 'prune', … }, …] }
 */
export function buildPlan(d: WizardDraft, examples: Examples | null): BuiltPlan {
  const faults: BuiltPlan['faults'] = [];
  if (!d.model) faults.push({ where: 'model', path: '$.model', message: 'open a model first' });
  const lists: Partial<Record<CompressionMode, unknown>> = {};
  for (const mode of activeModes(d)) {
    const parsed = parseJsonText(d.configText[mode]);
    if (parsed.ok) lists[mode] = parsed.value;
    else faults.push({ where: `${mode} config list`, ...parsed.fault });
  }
  const dataset = datasetOf(d, examples, faults);
  const steps: Record<string, unknown>[] = [];
  if (isFused(d)) steps.push(fusedStep(d, lists, trainSamples(dataset)));
  else sequentialSteps(d, lists, steps);
  if (steps.length === 0)
    faults.push({
      where: 'compression',
      path: '$.steps',
      message: 'choose at least one of pruning, quantization or distillation',
    });
  if (faults.length > 0) return { plan: null, faults };
  return { plan: planOf(d, dataset, steps), faults };
}

function planOf(d: WizardDraft, dataset: unknown, steps: Record<string, unknown>[]): Record<string, unknown> {
  const hasEval = !!(dataset as { evaluation?: unknown }).evaluation;
  return {
    ...(d.meta.name.trim() ? { name: d.meta.name.trim() } : {}),
    model: d.model!.path,
    dataset,
    executionProvider: d.executionProvider,
    ...(d.allocation && d.prune.enabled ? { allocation: d.allocation } : {}),
    ...(hasEval
      ? {
          evaluator: {
            metric: d.evaluator.metric,
            batchSize: d.evaluator.batchSize,
            ...(d.evaluator.maxBatches ? { maxBatches: d.evaluator.maxBatches } : {}),
          },
        }
      : {}),
    steps,
  };
}

/** One step per compression, in the order prune → speedup → fine-tune → distill → quantize. */
function sequentialSteps(
  d: WizardDraft,
  lists: Partial<Record<CompressionMode, unknown>>,
  steps: Record<string, unknown>[],
): void {
  if (d.prune.enabled)
    steps.push({ kind: 'prune', pruner: d.prune.pruner, configList: lists.pruning, ...pruneStepOptions(d) });
  if (d.prune.enabled && d.prune.speedup)
    steps.push({ kind: 'speedup', ...(d.prune.roundTo ? { roundTo: d.prune.roundTo } : {}) });
  if (d.finetune.enabled) {
    steps.push({ kind: 'finetune', ...trainingBlock(d.finetune) });
  }
  if (d.distill.enabled) {
    steps.push({
      kind: 'distill',
      ...distillBlock(d, lists.distillation),
      epochs: d.distill.epochs,
      lr: d.distill.lr,
      optimizer: { kind: 'adam' },
      schedule: { kind: 'cosine' },
      batchSize: 64,
    });
  }
  if (d.quantize.enabled) steps.push(quantizeStep(d, lists.quantization));
}

/** The plan's dataset the draft chooses (a bundled one, or the custom JSON); faults go to `faults`. */
function datasetOf(d: WizardDraft, examples: Examples | null, faults: BuiltPlan['faults']): unknown {
  if (d.dataId === 'custom') {
    const parsed = parseJsonText(d.customDataset);
    if (parsed.ok) return parsed.value;
    faults.push({ where: 'data set', ...parsed.fault });
  } else if (d.dataId !== 'none') {
    const ex = examples?.datasets.find((x) => x.id === d.dataId);
    if (ex) return ex.dataset;
    faults.push({ where: 'data set', path: '$.dataset', message: `unknown data set "${d.dataId}"` });
  }
  return {};
}

/** What the app's scan form sets (the sensitivity step's options). */
export interface ScanForm {
  ratios: number[];
  evalCount: number;
  batchSize: number;
  latencyRuns: number;
  workers: number | null;
}

/**
 * A plan of one sensitivity step over the draft's model and data set (its evaluation split): the scan the app starts
 * from the model page.
 *
 * @example buildScanPlan(draft, examples, { ratios: [0.25, 0.5], evalCount: 500, batchSize: 64, latencyRuns: 20, workers: null })
 */
export function buildScanPlan(d: WizardDraft, examples: Examples | null, f: ScanForm): BuiltPlan {
  const faults: BuiltPlan['faults'] = [];
  if (!d.model) faults.push({ where: 'model', path: '$.model', message: 'open a model first' });
  const dataset = datasetOf(d, examples, faults);
  if (faults.length === 0 && !(dataset as { evaluation?: unknown }).evaluation)
    faults.push({
      where: 'data set',
      path: '$.dataset.evaluation',
      message: 'a scan measures accuracy on an evaluation split: choose a data set that has one',
    });
  if (faults.length > 0) return { plan: null, faults };
  const step = {
    kind: 'sensitivity',
    ratios: f.ratios,
    evalCount: f.evalCount,
    batchSize: f.batchSize,
    latencyRuns: f.latencyRuns,
    ...(f.workers ? { workers: f.workers } : {}),
  };
  return {
    plan: { model: d.model!.path, dataset, executionProvider: d.executionProvider, steps: [step] },
    faults,
  };
}

/** Whether a quantizer trains (on dataset.train, with epochs and a learning rate) instead of calibrating. */
export const quantizerTrains = (q: QuantizerName): boolean => QUANTIZER_REGISTRY[q].needsTraining;

function quantizeStep(d: WizardDraft, configList: unknown): Record<string, unknown> {
  const q = d.quantize;
  if (quantizerTrains(q.quantizer))
    return { kind: 'quantize', quantizer: q.quantizer, configList, epochs: q.epochs, lr: q.lr };
  return {
    kind: 'quantize',
    quantizer: q.quantizer,
    observer: q.observer,
    configList,
    calibrationBatches: q.calibrationBatches,
  };
}

/** How many of pruning, quantization and distillation the draft chose. */
export const familiesChosen = (d: WizardDraft): number =>
  [d.prune.enabled, d.quantize.enabled, d.distill.enabled].filter(Boolean).length;

/** Whether the draft makes one fused `compress` step: two or more compressions chosen, combined in one run. */
export const isFused = (d: WizardDraft): boolean => d.combine === 'fused' && familiesChosen(d) >= 2;

/** The pruner a fused run uses: a training-aware one as chosen; a one-shot one scheduled by AGP around it. */
export function fusedPruner(d: WizardDraft): { pruner: PrunerName; inner?: string; scheduled: boolean } {
  const p = d.prune.pruner;
  if (isTrainingPruner(p)) return { pruner: p, scheduled: false };
  return { pruner: 'agp', inner: p, scheduled: true };
}

/** The quantizer a fused run uses: a trained one as chosen; PTQ (which calibrates after training) becomes QAT. */
export function fusedQuantizer(d: WizardDraft): { quantizer: QuantizerName; replaced: boolean } {
  const q = d.quantize.quantizer;
  return quantizerTrains(q) ? { quantizer: q, replaced: false } : { quantizer: 'qat', replaced: true };
}

/** Training samples of the chosen data set when it says (a `limit` on its train split), else null. */
export function trainSamples(dataset: unknown): number | null {
  const limit = (dataset as { train?: { limit?: unknown } } | null)?.train?.limit;
  return typeof limit === 'number' && limit > 0 ? limit : null;
}

/** Optimizer steps of the draft's training run over `samples` training samples (as the executors count them). */
export function trainingSteps(d: WizardDraft, samples: number | null): number | null {
  if (samples === null) return null;
  const perEpoch = Math.floor(samples / d.finetune.batchSize);
  const used = d.finetune.maxBatchesPerEpoch ? Math.min(d.finetune.maxBatchesPerEpoch, perEpoch) : perEpoch;
  return Math.max(1, Math.round(used * d.finetune.epochs));
}

/** The share of a fused run by which a fitted mask schedule reaches its goals. */
export const FUSED_GOALS_BY = 0.25;

/**
 * The mask schedule of a scheduled (Linear / AGP) pruner in a fused run: the draft's interval and count, with the
 * interval shortened when the run is known to be too short for them, so the goals are reached by a quarter of the
 * run and the rest trains the final masks (docs/fusion.md: the steps the final network trains decide its accuracy).
 */
export function fusedSchedule(
  d: WizardDraft,
  steps: number | null,
): { intervalSteps: number; totalTimes: number; fitted: boolean } {
  const { intervalSteps, totalTimes } = d.prune.training;
  if (steps === null || intervalSteps * totalTimes <= FUSED_GOALS_BY * steps)
    return { intervalSteps, totalTimes, fitted: false };
  const times = Math.max(1, Math.min(totalTimes, Math.floor(FUSED_GOALS_BY * steps)));
  return { intervalSteps: Math.max(1, Math.floor((FUSED_GOALS_BY * steps) / times)), totalTimes: times, fitted: true };
}

/** The plan's training block (a finetune step's keys, a compress step's `training`) from the draft's training fields. */
function trainingBlock(ft: WizardDraft['finetune']): Record<string, unknown> {
  return {
    epochs: ft.epochs,
    lr: ft.lr,
    optimizer: { kind: ft.optimizer },
    schedule: { kind: ft.schedule },
    batchSize: ft.batchSize,
    ...(ft.maxBatchesPerEpoch ? { maxBatchesPerEpoch: ft.maxBatchesPerEpoch } : {}),
  };
}

/** The fused `compress` step: the chosen compressions' blocks and one training block. */
function fusedStep(
  d: WizardDraft,
  lists: Partial<Record<CompressionMode, unknown>>,
  samples: number | null,
): Record<string, unknown> {
  const training = trainingBlock(d.finetune);
  const step: Record<string, unknown> = { kind: 'compress' };
  if (d.prune.enabled) {
    const p = fusedPruner(d);
    const own = Object.fromEntries(Object.entries(pruneStepOptions(d)).filter(([k]) => k !== 'maxSteps'));
    const scheduled = p.pruner === 'agp' || p.pruner === 'linear';
    step.pruning = {
      pruner: p.pruner,
      ...(p.inner ? { inner: p.inner } : {}),
      configList: lists.pruning,
      ...own,
      ...(scheduled ? scheduleOf(fusedSchedule(d, trainingSteps(d, samples))) : {}),
    };
  }
  if (d.quantize.enabled) {
    const { quantizer } = fusedQuantizer(d);
    step.quantization = {
      quantizer,
      configList: lists.quantization,
      ...(quantizer === 'qat' && d.fusion.quantStartStep > 0 ? { quantStartStep: d.fusion.quantStartStep } : {}),
    };
  }
  if (d.distill.enabled) step.distillation = distillBlock(d, lists.distillation);
  step.training = training;
  if (d.prune.enabled) {
    step.speedup = d.prune.speedup;
    if (d.prune.speedup && d.prune.roundTo) step.roundTo = d.prune.roundTo;
  }
  return step;
}

const scheduleOf = (s: { intervalSteps: number; totalTimes: number }) => ({
  intervalSteps: s.intervalSteps,
  totalTimes: s.totalTimes,
});

/** The distiller, its teacher and its own options (the logits one: T and α; the others: their config list). */
function distillBlock(d: WizardDraft, configList: unknown): Record<string, unknown> {
  const own =
    d.distill.distiller === 'logits' ? { temperature: d.distill.temperature, alpha: d.distill.alpha } : { configList };
  return {
    distiller: d.distill.distiller,
    ...(d.distill.teacher.trim() ? { teacher: d.distill.teacher.trim() } : {}),
    ...own,
  };
}

/** A short human name for a draft (used when the user gives none). */
export function suggestName(d: WizardDraft): string {
  const parts: string[] = [];
  if (d.prune.enabled) parts.push(`${d.prune.pruner}${ratioLabel(d.configText.pruning)}`);
  if (d.prune.enabled && d.prune.speedup) parts.push('speedup');
  if (d.finetune.enabled) parts.push('finetune');
  if (d.distill.enabled) parts.push('distill');
  if (d.quantize.enabled)
    parts.push(d.quantize.quantizer === 'ptq' ? 'int8' : `${d.quantize.quantizer} ${d.quantize.bits}-bit`);
  const model = d.model?.name.replace(/\.onnx$/, '') ?? 'model';
  return `${model} · ${parts.join(' + ') || 'baseline'}`;
}

function ratioLabel(text: string): string {
  const m = /"sparse_ratio"\s*:\s*([0-9.]+)/.exec(text);
  return m ? ` ${Math.round(Number(m[1]) * 100)}%` : '';
}

/**
 * Whether every entry of a pruning config list asks for automatic channel dependency groups
 * (`dependency_group_id: "auto"`); null when the text is not a list.
 */
export function hasAutoGroups(text: string): boolean | null {
  const parsed = parseJsonText(text);
  if (!parsed.ok || !Array.isArray(parsed.value)) return null;
  const entries = parsed.value as unknown[];
  return (
    entries.length > 0 &&
    entries.every((e) => !!e && typeof e === 'object' && (e as Record<string, unknown>).dependency_group_id === 'auto')
  );
}

/**
 * The config list text with `dependency_group_id: "auto"` added to (or taken from) every entry: coupled channels
 * (residual adds, concats, depthwise convs) are then pruned together, as in the demo. Entries in a global group keep
 * theirs; text that does not parse is returned as it was.
 *
 * @example setAutoGroups('[{"op_types":["Conv"],"sparse_ratio":0.5}]', true) // …"dependency_group_id": "auto"…
 */
export function setAutoGroups(text: string, on: boolean): string {
  const parsed = parseJsonText(text);
  if (!parsed.ok || !Array.isArray(parsed.value)) return text;
  const list = (parsed.value as unknown[]).map((e) => {
    if (!e || typeof e !== 'object' || Array.isArray(e)) return e;
    const entry = { ...(e as Record<string, unknown>) };
    if (on && entry.global_group_id === undefined) entry.dependency_group_id = 'auto';
    if (!on && entry.dependency_group_id === 'auto') delete entry.dependency_group_id;
    return entry;
  });
  return pretty(list);
}

/** The sparsity a pruning config list asks for, in words: "50 %", "30–70 %", or "by threshold". */
function sparsityWords(list: unknown[]): string {
  const ratios = list.flatMap((e) =>
    e && typeof e === 'object' && typeof (e as Record<string, unknown>).sparse_ratio === 'number'
      ? [(e as { sparse_ratio: number }).sparse_ratio]
      : [],
  );
  if (ratios.length === 0)
    return list.some((e) => e && typeof e === 'object' && 'sparse_threshold' in e)
      ? 'weights under a threshold'
      : 'no sparse_ratio';
  const pct = (r: number) => `${+(r * 100).toFixed(1)} %`;
  const lo = Math.min(...ratios);
  const hi = Math.max(...ratios);
  return lo === hi ? `${pct(lo)} sparsity` : `${pct(lo)}–${pct(hi)} sparsity`;
}

/**
 * One plan step in words, for the review.
 *
 * @example describeStep({ kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] }) // "L1 pruner at 50 % sparsity, 1 config entry"
 */
export function describeStep(s: Record<string, unknown>): string {
  const entries = Array.isArray(s.configList) ? (s.configList as unknown[]) : [];
  const list = Array.isArray(s.configList) ? `${entries.length} config entr${entries.length === 1 ? 'y' : 'ies'}` : '';
  switch (s.kind) {
    case 'prune': {
      const auto =
        entries.length > 0 &&
        entries.every(
          (e) => e && typeof e === 'object' && (e as Record<string, unknown>).dependency_group_id === 'auto',
        );
      return `${String(s.pruner).toUpperCase()} pruner at ${sparsityWords(entries)}, ${list}${auto ? ', coupled channels pruned together' : ''}`;
    }
    case 'speedup':
      return `remove the pruned channels for real (smaller, faster graph)${s.roundTo ? `, widths rounded to multiples of ${s.roundTo}` : ''}`;
    case 'finetune': {
      const opt = (s.optimizer as { kind?: string } | undefined)?.kind ?? 'sgd';
      const sched = (s.schedule as { kind?: string } | undefined)?.kind ?? 'constant';
      return `${s.epochs} epoch${s.epochs === 1 ? '' : 's'}${s.maxBatchesPerEpoch ? ` of at most ${s.maxBatchesPerEpoch} batches` : ''}, ${opt === 'adam' ? 'Adam' : opt.toUpperCase()} at lr ${s.lr}${sched === 'constant' ? '' : ` with ${sched} decay`}`;
    }
    case 'quantize':
      return `post-training quantization (${s.observer}, ${s.calibrationBatches} calibration batches), ${list}`;
    case 'compress': {
      const families = fusedOrder(s).map((f) => FAMILY_WORDS[f]);
      return `${families.join(' + ')} in one training run${s.speedup === false ? '' : ', then speedup'}${s.quantization ? ' and int8 export' : ''}`;
    }
    case 'distill': {
      const from = s.teacher ? `from ${String(s.teacher)}` : 'from the original model';
      const how =
        s.distiller === 'logits'
          ? `logits (T = ${s.temperature}, α = ${s.alpha})`
          : `${String(s.distiller).replace('_', ' ')}, ${list}`;
      return `distill ${from}: ${how}, ${s.epochs} epoch${s.epochs === 1 ? '' : 's'}`;
    }
    default:
      return '';
  }
}

const FAMILY_WORDS = { quantize: 'quantization', prune: 'pruning', distill: 'distillation' } as const;

/** The families a compress step holds, in the order NNI applies them to each target. */
function fusedOrder(s: Record<string, unknown>): (keyof typeof FAMILY_WORDS)[] {
  // (the words are the blocks' keys)
  return (['quantize', 'prune', 'distill'] as const).filter((f) => s[FAMILY_WORDS[f]] !== undefined);
}

const label = (registry: Record<string, { label: string }>, name: unknown) =>
  registry[String(name)]?.label ?? String(name);

/**
 * A fused `compress` step for the review: what happens in its one training run and after it — the training, the
 * order in which each target's interventions apply, the mask schedule, when fake quantization starts, the
 * distillation — one line each. `steps` is the run's length in optimizer steps when the data set says its size.
 *
 * @example fusedOutline({ kind: 'compress', pruning: { pruner: 'agp', inner: 'l1', intervalSteps: 6, totalTimes: 10, … }, … }, 248)
 * // ['one training run: 8 epochs (≈ 248 steps), Adam at lr 0.003 with cosine decay, batch 64', 'order on every target: …', …]
 */
export function fusedOutline(s: Record<string, unknown>, steps: number | null): string[] {
  const t = (s.training ?? {}) as Record<string, unknown>;
  const opt = (t.optimizer as { kind?: string } | undefined)?.kind ?? 'sgd';
  const sched = (t.schedule as { kind?: string } | undefined)?.kind ?? 'constant';
  const out = [
    `one training run: ${t.epochs} epoch${t.epochs === 1 ? '' : 's'}${steps ? ` (≈ ${steps} steps)` : ''}, ${opt === 'adam' ? 'Adam' : opt.toUpperCase()} at lr ${t.lr}${sched === 'constant' ? '' : ` with ${sched} decay`}, batch ${t.batchSize}`,
  ];
  const order = fusedOrder(s);
  const acts = { quantize: 'quantize-dequantize', prune: 'pruning mask', distill: 'recorded for distillation' };
  out.push(`order on every target: ${order.map((f) => acts[f]).join(' → ')}`);
  const p = s.pruning as Record<string, unknown> | undefined;
  if (p) {
    const list = Array.isArray(p.configList) ? (p.configList as unknown[]) : [];
    const name =
      p.inner !== undefined
        ? `${label(PRUNER_REGISTRY, p.pruner)} around ${label(PRUNER_REGISTRY, p.inner)}`
        : label(PRUNER_REGISTRY, p.pruner);
    const every = p.intervalSteps as number | undefined;
    const times = p.totalTimes as number | undefined;
    const schedule =
      every && times
        ? `: masks updated every ${every} steps, ${times} times (goals reached at step ${every * times}${steps ? ` of ${steps}` : ''})`
        : '';
    out.push(`pruning: ${name} to ${sparsityWords(list)}${schedule}`);
  }
  const q = s.quantization as Record<string, unknown> | undefined;
  if (q) {
    const start = (q.quantStartStep as number | undefined) ?? 0;
    out.push(
      `quantization: ${label(QUANTIZER_REGISTRY, q.quantizer)}, fake quantization from step ${start}${start ? '' : ' (the whole run)'}`,
    );
  }
  const dist = s.distillation as Record<string, unknown> | undefined;
  if (dist) {
    const from = dist.teacher ? String(dist.teacher) : 'the original model';
    const how = dist.distiller === 'logits' ? ` (T = ${dist.temperature}, α = ${dist.alpha})` : '';
    out.push(
      `distillation: ${label(DISTILLER_REGISTRY, dist.distiller)} from ${from}${how}, its loss beside the task loss`,
    );
  }
  const after: string[] = [];
  if (p && s.speedup !== false)
    after.push(`speedup (pruned channels removed${s.roundTo ? `, widths rounded to ${s.roundTo}` : ''})`);
  if (q)
    after.push(
      p && s.speedup !== false ? 'quantization carried to the compact model' : 'quantization parameters kept',
      'int8 QDQ export checked against the simulated model',
    );
  if (after.length) out.push(`then: ${after.join(' → ')}`);
  return out;
}
