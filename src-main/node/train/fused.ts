/**
 * @file Fusion compression on onnxruntime-node (NNI's pqd_fuse, NNI-SEMANTICS §8): a training-aware pruner, a trained
 * quantizer and a distiller chained with `fromCompressor` onto ONE Evaluator — `compress()` on the last one trains
 * once, masks, fake quantization, schedules, scores, learned scales and distillation losses all acting in the same
 * training-step graph (per target: quantize-dequantize → mask → record) — then speedup of the fused result with the
 * quantization carried across (per-channel parameters sliced to the surviving channels, no second calibration),
 * the compact model re-simulated and exported as QDQ, and both checks: compact = masked (speedup's verification)
 * and simulated = deployed (within 0.1 point). The `compress` plan step and `studio compress` come here.
 * Node layer.
 */
import type { Compressor, StepState } from '../../core/compress/compressor.ts';
import { PRUNER_CLASSES } from '../../core/compress/pruning/index.ts';
import {
  AGPPruner,
  LinearPruner,
  MovementPruner,
  PrunerOptionError,
  SlimPruner,
  TaylorPruner,
  type SchedulablePruner,
  type TrainingPruneResult,
  type TrajectoryPoint,
} from '../../core/compress/pruning/training.ts';
import {
  type TrainedQuantizer,
  type TrainedQuantizerName,
  type TrainedQuantResult,
} from '../../core/compress/quantization/trained.ts';
import { TRAINED_QUANTIZERS } from '../../core/compress/quantization/trained-registry.ts';
import { buildQuantized } from '../../core/compress/quantization/build.ts';
import { toCalibrationConfig, type CalibrationConfig } from '../../core/compress/quantization/calibration.ts';
import type { QuantTarget } from '../../core/compress/quantization/plan.ts';
import { DISTILLER_CLASSES, type DistillResult } from '../../core/compress/distillation/index.ts';
import { carryQuantization, refoldedParams } from '../../core/compress/fused/carry.ts';
import { fuseModules } from '../../core/compress/fusion/index.ts';
import type { KeptChannels } from '../../core/compress/speedup/index.ts';
import type { Masks } from '../../core/compress/masks.ts';
import { cloneModel, type Model } from '../../core/ir/index.ts';
import { simulate } from '../../core/compress/simulate/index.ts';
import { maskSparsity } from '../../core/compress/masks.ts';
import type { OneShotPrunerName, DistillerName } from '../../../src-shared/compressors.ts';
import { PRUNE_DEFAULTS, type TrainingPrunerName } from '../../../src-shared/prune-options.ts';
import type { SpeedupReport } from '../../../src-shared/speedup-report.ts';
import { ModelSpeedup } from '../speedup/index.ts';
import { checkDeployed, type DeployedCheck } from '../quantize/trained.ts';
import type { ArrayDataset } from './data.ts';
import type { Evaluator } from './evaluator.ts';
import { evaluate, type RunOptions } from './trainer.ts';
import { shapesOf } from './distill.ts';
import { applyBatchNormStats, reestimateBatchNorm } from './batchnorm-stats.ts';

/** The pruning block of a fused run: a training-aware pruner and its options (the run's length is the budget's). */
export interface FusedPruning {
  pruner: TrainingPrunerName;
  configList: unknown;
  /** Linear / AGP: the scheduled pruner (level, l1, l2, fpgm, slim, taylor). */
  inner?: string;
  intervalSteps?: number;
  totalTimes?: number;
  trainingSteps?: number;
  regularScale?: number;
  warmupSteps?: number;
  cooldownBeginStep?: number;
}

export interface FusedQuantization {
  quantizer: TrainedQuantizerName;
  configList: unknown;
  quantStartStep?: number;
  init?: 'mean' | 'nni';
  /** DoReFa: stochastic k-bit gradients. */
  gradientBits?: number;
  reduceRange?: boolean;
  /** BatchNormalization folding before training (the quantizer's default: 'auto' for QAT / LSQ). */
  fuse?: 'none' | 'config' | 'auto';
  /**
   * When BatchNormalization is folded: 'start' (the quantizer's own way: folded before training, BN statistics
   * frozen) or 'end' (BN trains with batch statistics alongside the masks, and is folded into the trained, masked
   * model for the export; the weights' parameters then come from the folded weights, by the same own-min/max rule,
   * and every activation's from the range tracked for that value in training). Default 'start'.
   */
  foldAt?: 'start' | 'end';
}

export interface FusedDistillation {
  distiller: DistillerName;
  teacher: Model;
  configList?: unknown;
  originLossLambda?: number;
  temperature?: number;
  alpha?: number;
  seed?: number;
}

export interface FusedSpec {
  pruning?: FusedPruning;
  quantization?: FusedQuantization;
  distillation?: FusedDistillation;
  /** Traced value shapes (dependency_group_id "auto", activation targets). */
  shapes?: Map<string, number[]>;
}

/** The chain, in NNI's pqd_fuse order: pruner → quantizer.fromCompressor(pruner) → distiller.fromCompressor(quantizer). */
export interface FusedChain {
  pruner?: Compressor<TrainingPruneResult> & { trajectorySoFar: readonly TrajectoryPoint[] };
  quantizer?: TrainedQuantizer;
  distiller?: Compressor<DistillResult>;
  /** The compressor `compress()` is called on (the newest). */
  last: Compressor<unknown>;
  /** Registry names, in chaining order, e.g. ['agp(taylor)', 'qat', 'logits']. */
  names: string[];
  /** NNI's per-target order of the modes present (quantize-dequantize → mask → record). */
  order: ('quantize' | 'prune' | 'distill')[];
  /** The quantization block it was built from (its config list, and when BN is folded). */
  quantSpec?: FusedQuantization;
}

/** A fused spec with nothing to fuse. */
export class EmptyFusionError extends PrunerOptionError {
  constructor() {
    super('compress', 'a fused run needs at least one of pruning, quantization and distillation');
    this.name = 'EmptyFusionError';
  }
}

/**
 * Build the chain on `evaluator` for `model`: each compressor `fromCompressor` the one before, so that the last one's
 * `compress()` runs one training for all.
 *
 * @example
 * const chain = await buildFusedChain(model, evaluator, {
 *   pruning: { pruner: 'agp', inner: 'taylor', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }], intervalSteps: 20, totalTimes: 5 },
 *   quantization: { quantizer: 'qat', configList: ORT_FUSED_INT8, quantStartStep: 50 },
 *   distillation: { distiller: 'logits', teacher: model },
 * });
 * await chain.last.compress({ maxSteps: 200 });
 */
export async function buildFusedChain(model: Model, evaluator: Evaluator, spec: FusedSpec): Promise<FusedChain> {
  if (!spec.pruning && !spec.quantization && !spec.distillation) throw new EmptyFusionError();
  const chain: Partial<FusedChain> & { names: string[] } = { names: [] };
  let last: Compressor<unknown> | undefined;
  if (spec.pruning) {
    let p = makePruner(model, evaluator, spec.pruning, spec.shapes);
    if (spec.quantization?.foldAt === 'end') {
      // BN trains beside the masks and is folded at the end: it is masked with its conv (NNI's pd_fuse aligns the
      // BN to its conv), so that a pruned channel is exactly 0 after BN and folds to a zero filter, not a constant
      const extra = batchNormAlignment(model, p.targetKeys);
      if (extra.length)
        p = makePruner(
          model,
          evaluator,
          { ...spec.pruning, configList: [...(spec.pruning.configList as unknown[]), ...extra] },
          spec.shapes,
        );
    }
    chain.pruner = p;
    last = p;
    const inner = spec.pruning.pruner === 'agp' || spec.pruning.pruner === 'linear';
    chain.names.push(
      inner ? `${spec.pruning.pruner}(${spec.pruning.inner ?? PRUNE_DEFAULTS.inner})` : spec.pruning.pruner,
    );
  }
  if (spec.quantization) {
    const q = spec.quantization;
    if (q.foldAt === 'end' && q.quantizer !== 'qat')
      throw new PrunerOptionError(
        'foldAt',
        `folding BatchNormalization at the end re-derives the weights' parameters from the folded weights, QAT's rule; ${q.quantizer} learns them (use foldAt 'start')`,
      );
    chain.quantSpec = q;
    const Q = TRAINED_QUANTIZERS[q.quantizer];
    // the quantizer's own options (e.g. DoReFa's gradientBits) pass through as its step would pass them
    const {
      quantizer: _q,
      configList: _c,
      foldAt: _f,
      reduceRange: _r,
      fuse: _u,
      ...own
    } = q as FusedQuantization & Record<string, unknown>;
    const options = {
      ...own,
      reduceRange: q.reduceRange,
      ...(q.foldAt === 'end' ? { fuse: 'none' as const } : q.fuse !== undefined ? { fuse: q.fuse } : {}),
      ...(q.quantStartStep !== undefined ? { quantStartStep: q.quantStartStep } : {}),
      ...(q.init !== undefined ? { init: q.init } : {}),
      ...(q.gradientBits !== undefined ? { gradientBits: q.gradientBits } : {}),
    };
    const quantizer = last
      ? (Q as unknown as typeof TRAINED_QUANTIZERS.qat).fromCompressor(last, q.configList, options)
      : new Q(model, q.configList, evaluator, options);
    chain.quantizer = quantizer;
    last = quantizer;
    chain.names.push(q.quantizer);
  }
  if (spec.distillation) {
    const d = spec.distillation;
    const D = DISTILLER_CLASSES[d.distiller] as unknown as typeof DISTILLER_CLASSES.adaptive1d_layerwise;
    const options = {
      teacher: d.teacher,
      ...(d.originLossLambda !== undefined ? { originLossLambda: d.originLossLambda } : {}),
      ...(d.temperature !== undefined ? { temperature: d.temperature } : {}),
      ...(d.alpha !== undefined ? { alpha: d.alpha } : {}),
      ...(d.distiller === 'adaptive1d_layerwise'
        ? { studentShapes: await shapesOf(model), teacherShapes: await shapesOf(d.teacher), seed: d.seed }
        : {}),
    } as ConstructorParameters<typeof D>[3];
    const configList = d.distiller === 'logits' ? (d.configList ?? null) : d.configList;
    const distiller = last ? D.fromCompressor(last, configList, options) : new D(model, configList, evaluator, options);
    chain.distiller = distiller;
    last = distiller;
    chain.names.push(d.distiller);
  }
  const order: FusedChain['order'] = [];
  if (spec.quantization) order.push('quantize');
  if (spec.pruning) order.push('prune');
  if (spec.distillation) order.push('distill');
  return { ...chain, last: last!, order } as FusedChain;
}

/**
 * Config entries masking each BatchNormalization that directly follows a pruned Conv / Gemm (its scale and bias
 * aligned to the head's output-channel mask), for the BN nodes the user's list does not select already.
 */
export function batchNormAlignment(model: Model, targets: readonly (readonly [string, string])[]): object[] {
  const pruned = new Set(targets.filter(([, t]) => t === 'weight').map(([n]) => n));
  const selected = new Set(targets.map(([n]) => n));
  const out: object[] = [];
  for (const bn of model.graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || selected.has(bn.name)) continue;
    const head = bn.input(0)?.producer;
    if (!head || !pruned.has(head.name) || head.outputs[0]!.uses.length !== 1) continue;
    const align = { module_name: head.name, target_name: 'weight', dims: [0] };
    out.push({
      op_names: [bn.name],
      target_names: ['weight', 'bias'],
      target_settings: { weight: { align }, bias: { align } },
    });
  }
  return out;
}

function makePruner(
  model: Model,
  ev: Evaluator,
  o: FusedPruning,
  shapes: Map<string, number[]> | undefined,
): FusedChain['pruner'] & Compressor<TrainingPruneResult> {
  const base = { shapes };
  const trainingSteps = o.trainingSteps ?? PRUNE_DEFAULTS.trainingSteps;
  const regularScale = o.regularScale ?? PRUNE_DEFAULTS.regularScale;
  const schedulable = (kind: string): SchedulablePruner => {
    if (kind === 'slim') return new SlimPruner(model, o.configList, ev, { ...base, trainingSteps, regularScale });
    if (kind === 'taylor') return new TaylorPruner(model, o.configList, ev, { ...base, trainingSteps });
    const P = Object.hasOwn(PRUNER_CLASSES, kind) ? PRUNER_CLASSES[kind as OneShotPrunerName] : undefined;
    if (!P) throw new PrunerOptionError('inner', `"${kind}" cannot be scheduled`);
    return new P(model, o.configList, undefined, base);
  };
  const schedule = {
    intervalSteps: o.intervalSteps ?? PRUNE_DEFAULTS.intervalSteps,
    totalTimes: o.totalTimes ?? PRUNE_DEFAULTS.totalTimes,
    evaluator: ev,
  };
  switch (o.pruner) {
    case 'movement':
      return new MovementPruner(model, o.configList, ev, {
        ...base,
        warmupSteps: o.warmupSteps ?? PRUNE_DEFAULTS.warmupSteps,
        cooldownBeginStep: o.cooldownBeginStep ?? PRUNE_DEFAULTS.cooldownBeginStep,
        regularScale,
      });
    case 'linear':
      return new LinearPruner(schedulable(o.inner ?? PRUNE_DEFAULTS.inner), schedule);
    case 'agp':
      return new AGPPruner(schedulable(o.inner ?? PRUNE_DEFAULTS.inner), schedule);
    case 'slim':
    case 'taylor':
      return schedulable(o.pruner) as SlimPruner | TaylorPruner;
    default:
      throw new PrunerOptionError('pruner', `"${String(o.pruner)}" does not prune while training`);
  }
}

/** What a fused run reports while it trains (every `every` steps): sparsity and quantization ranges now. */
export interface FusedLive {
  step: number;
  /** `sparsity.<node>.<target>` → masked share now (0 before the first masks). */
  sparsity: Record<string, number>;
  /** `qrange.<node>.<target>.min` / `.max` → the float range the target's parameters cover now. */
  qrange: Record<string, number>;
}

/** The live state of a chain at a step: the pruner's last mask update and the quantizer's current ranges. */
export function liveState(chain: FusedChain, s: StepState): FusedLive {
  const sparsity: Record<string, number> = {};
  if (chain.pruner) {
    const last = chain.pruner.trajectorySoFar.at(-1);
    for (const [node, target] of chain.pruner.targetKeys)
      sparsity[`sparsity.${node}.${target}`] = last?.sparsity[`${node}.${target}`] ?? 0;
  }
  const qrange: Record<string, number> = {};
  if (chain.quantizer)
    for (const [k, r] of Object.entries(chain.quantizer.rangesNow(s))) {
      qrange[`qrange.${k}.min`] = r.min;
      qrange[`qrange.${k}.max`] = r.max;
    }
  return { step: s.step, sparsity, qrange };
}

export interface FusedRunOptions extends Pick<RunOptions, 'onProgress' | 'progressEvery' | 'signal'> {
  maxSteps: number;
  /** Called with the live sparsity / ranges every `progressEvery` steps (default 10) and at the last step. */
  onLive?: (live: FusedLive) => void;
}

/** The results of one fused training run, per compressor. */
export interface FusedTrained {
  chain: FusedChain;
  steps: number;
  pruning?: TrainingPruneResult;
  quantization?: TrainedQuantResult;
  distillation?: DistillResult;
  /**
   * The trained float model the export starts from: the quantizer's `forExport` (BN folded when it folds it; DoReFa
   * / BNN weights on their grid, their deploy ops), else the pruner's or the distiller's model. No mask, no fake
   * quantization.
   */
  float: Model;
}

/**
 * Train the chain once within `o.maxSteps` steps; every compressor's result is read from the one trained model.
 * @throws what the compressors throw (TrainingTooShortError, PrunerOptionError for budgets shorter than a schedule)
 */
export async function trainFused(chain: FusedChain, evaluator: Evaluator, o: FusedRunOptions): Promise<FusedTrained> {
  const every = o.progressEvery ?? 10;
  let steps = 0;
  const revert = evaluator.patchOptimizerStep(
    [],
    [
      (s) => {
        steps = s.step;
        if (o.onLive && (s.step % every === 0 || s.step === o.maxSteps)) o.onLive(liveState(chain, s));
      },
    ],
  );
  try {
    await chain.last.compress({
      maxSteps: o.maxSteps,
      progressEvery: every,
      onProgress: o.onProgress,
      signal: o.signal,
    } as RunOptions);
  } finally {
    revert();
  }
  const pruning = chain.pruner?.result;
  const quantization = chain.quantizer?.result;
  const distillation = chain.distiller?.result;
  // the quantizer's float model is the one whose BN it folded; a pruner's keeps the original graph
  // (DoReFa / BNN: with their weights on the grid and their deploy ops, what the export quantizes)
  const float = quantization?.forExport ?? pruning?.model ?? distillation?.model ?? evaluator.model;
  return { chain, steps, pruning, quantization, distillation, float };
}

export interface FusedFinishOptions {
  /** Remove the pruned channels (default true when there are masks). */
  speedup?: boolean;
  roundTo?: number;
  /** Input shapes for models with dynamic dims (the plan's inputShapes). */
  inputShapes?: Record<string, number[]>;
  /** Data the simulated and the deployed model are compared on (top-1). */
  evalData: ArrayDataset;
  /** Largest simulated − deployed difference accepted (default 0.001 = 0.1 point). */
  tolerance?: number;
  threads?: number;
  /**
   * Re-estimate every BatchNormalization's statistics before the export (`reestimateBatchNorm`) on the first
   * `samples` images of `data` (the training set), measured on the model as it will run: the training graph's masks
   * and fake quantization in place. Off when absent or `samples` is 0.
   */
  batchNorm?: { data: ArrayDataset; samples: number };
}

/** The deployable result of a fused run. */
export interface FusedFinal {
  /** The model to deploy: the QDQ export of the compact model (no quantization: the compact float model). */
  model: Model;
  /** The compact float model (speedup's output; the masked float model without speedup). */
  compact: Model;
  speedup?: SpeedupReport;
  /** Simulated (fake-quant, compact) vs deployed (QDQ) top-1, checked within the tolerance. */
  deployed?: DeployedCheck;
  /** The training graph's own accuracy (masks and fake quantization as trained), for the report. */
  trainedSimulated?: number;
  quantTargets?: QuantTarget[];
  /** NNI's calibration config of the compact model. */
  calibration?: CalibrationConfig;
  /** Per-channel quantization parameters sliced across speedup: `node.target` → channels before → after. */
  sliced?: Record<string, { before: number; after: number }>;
  /** Masked share of every pruning target at the end. */
  sparsity?: Record<string, number>;
  /** The BN statistics re-estimated before the export (`batchNorm`), and the training graph's accuracy before. */
  batchNorm?: { samples: number; layers: number; trainedSimulatedBefore?: number };
}

/**
 * After the run: speedup of the masked trained model (verified compact = masked), the quantization carried to the
 * compact model and exported as QDQ, and simulated = deployed checked on `evalData`.
 *
 * @throws SpeedupVerificationError, SimulatedDeployedMismatchError, QuantCarryError
 */
export async function finishFused(t: FusedTrained, o: FusedFinishOptions): Promise<FusedFinal> {
  const out: Partial<FusedFinal> = {};
  if (o.batchNorm && o.batchNorm.samples > 0) ({ t, report: out.batchNorm } = await withBatchNormStats(t, o));
  let compact = t.float;
  let speedup: SpeedupReport | undefined;
  let kept = new Map<string, Map<number, number[]>>();
  if (t.pruning) {
    const { masks, applyMethods } = t.pruning;
    out.sparsity = {};
    for (const [node, m] of masks)
      for (const [target, mask] of m) out.sparsity[`${node}.${target}`] = maskSparsity(mask);
    if (o.speedup !== false) {
      const r = await new ModelSpeedup(t.float, masks, {
        roundTo: o.roundTo,
        shapes: o.inputShapes,
        applyMethods,
        benchmark: false,
      }).speedupModel();
      compact = r.model;
      speedup = r.report;
      kept = r.kept;
    } else compact = simulate(t.float, masks, { applyMethods });
  }
  if (!t.quantization) return { ...out, model: compact, compact, speedup };
  const q = t.quantization;
  if (t.chain.quantSpec?.foldAt === 'end') return finishFoldedAtEnd(t, o, out);
  return finishExport(t, o, out, { planned: q, on: t.float }, { model: compact, speedup, kept });
}

/**
 * The trained result with its BN statistics re-estimated on the model as it will run (the training graph with its
 * masks and fake quantization; without quantization the masked float model), written into copies of the float model
 * the export starts from and of the training graph.
 */
async function withBatchNormStats(
  t: FusedTrained,
  o: FusedFinishOptions,
): Promise<{ t: FusedTrained; report: NonNullable<FusedFinal['batchNorm']> }> {
  const { data, samples } = o.batchNorm!;
  const threads = o.threads !== undefined ? { threads: o.threads } : {};
  const runs = t.quantization
    ? t.quantization.simulated
    : t.pruning
      ? simulate(t.float, t.pruning.masks, { applyMethods: t.pruning.applyMethods })
      : t.float;
  const stats = await reestimateBatchNorm(runs, data, { samples, ...threads });
  const report: NonNullable<FusedFinal['batchNorm']> = {
    samples: Math.min(samples, data.length),
    layers: stats.length,
  };
  if (!stats.length) return { t, report };
  const float = cloneModel(t.float);
  applyBatchNormStats(float, stats);
  let quantization = t.quantization;
  if (quantization) {
    report.trainedSimulatedBefore = (
      await evaluate(quantization.simulated, o.evalData, { batchSize: 500, ...threads })
    ).top1;
    const simulated = cloneModel(quantization.simulated);
    applyBatchNormStats(simulated, stats);
    quantization = { ...quantization, simulated };
  }
  return { t: { ...t, float, quantization }, report };
}

/**
 * `foldAt: 'end'`: BatchNormalization trained with batch statistics beside the masks; now the masks are baked into the
 * trained float model, BN is folded (pruned channels whose BN output is a constant keep it: speedup folds it into
 * the consumers), speedup removes the channels, and the quantization is planned on the folded model with the
 * parameters training tracked (refoldedParams), carried across speedup, exported and checked.
 */
async function finishFoldedAtEnd(
  t: FusedTrained,
  o: FusedFinishOptions,
  out: Partial<FusedFinal>,
): Promise<FusedFinal> {
  const q = t.quantization!;
  const spec = t.chain.quantSpec!;
  const base = t.pruning
    ? simulate(t.float, t.pruning.masks, { applyMethods: t.pruning.applyMethods })
    : cloneModel(t.float);
  fuseModules(base, { auto: true });
  let compact = base;
  let speedup: SpeedupReport | undefined;
  let kept: KeptChannels = new Map();
  if (t.pruning && o.speedup !== false) {
    // the weights' masks only (baked already): a folded bias carries BN's constant, which speedup folds onwards
    const masks: Masks = new Map();
    for (const [node, m] of t.pruning.masks) {
      const w = m.get('weight');
      if (w && base.graph.node(node)) masks.set(node, new Map([['weight', w]]));
    }
    const r = await new ModelSpeedup(base, masks, {
      roundTo: o.roundTo,
      shapes: o.inputShapes,
      benchmark: false,
    }).speedupModel();
    ({ model: compact, report: speedup, kept } = r);
  }
  const targets = new TRAINED_QUANTIZERS.qat(base, spec.configList, undefined, {
    fuse: 'auto',
    reduceRange: spec.reduceRange,
  }).targets;
  const params = refoldedParams(q, base, targets);
  return finishExport(t, o, out, { planned: { targets, params }, on: base }, { model: compact, speedup, kept });
}

/**
 * The tail both ways of finishing share: the quantization planned on `quant.on` carried across speedup to the
 * compact model, built as the simulated (fake-quant) and the exported (QDQ) model, simulated = deployed checked on
 * `evalData`, and the training graph's own accuracy measured for the report.
 *
 * @throws SimulatedDeployedMismatchError, QuantCarryError
 */
async function finishExport(
  t: FusedTrained,
  o: FusedFinishOptions,
  out: Partial<FusedFinal>,
  quant: { planned: Parameters<typeof carryQuantization>[0]; on: Model },
  compact: { model: Model; speedup: SpeedupReport | undefined; kept: KeptChannels },
): Promise<FusedFinal> {
  const carried = carryQuantization(quant.planned, quant.on, compact.model, compact.kept);
  const simulated = buildQuantized(compact.model, carried.targets, carried.params, { mode: 'simulate' });
  const exported = buildQuantized(compact.model, carried.targets, carried.params, { mode: 'export' });
  const threads = o.threads !== undefined ? { threads: o.threads } : {};
  const deployed = await checkDeployed(
    { simulated: simulated.model, exported: exported.model, targets: carried.targets, applied: exported.applied },
    o.evalData,
    { tolerance: o.tolerance, ...threads },
  );
  const trainedSimulated = (await evaluate(t.quantization!.simulated, o.evalData, { batchSize: 500, ...threads })).top1;
  return {
    ...out,
    model: exported.model,
    compact: compact.model,
    speedup: compact.speedup,
    deployed,
    trainedSimulated,
    quantTargets: carried.targets,
    calibration: toCalibrationConfig(carried.targets, carried.params),
    sliced: carried.sliced,
  };
}
