/**
 * @file The compressor registries: one table per family (pruners, quantizers, distillers, observers) and one of the
 * plan's step kinds, each entry carrying its name, label, what data it needs, whether it trains, its default
 * granularity and the schema of its options. Everything that names a compressor — the plan schema, the CLI's
 * choices and help, the wizard's pickers and labels, the step dispatch, the host's capabilities — is generated from
 * these tables, and core's implementations are typed against them (`satisfies Record<PrunerName, …>`), so a name
 * here without an implementation is a compile error. A name is listed only once it runs: wave two adds Slim /
 * Taylor / Movement / AGP / Linear, QAT / LSQ / DoReFa / BNN and the distillers here, with their implementation.
 * Pure TypeScript: imports zod and the training-aware pruners' option checks.
 */
import { z } from 'zod';
import {
  checkPruneOptions,
  PRUNE_DEFAULTS,
  type TrainingPruneOptions,
  type TrainingPrunerName,
} from './prune-options.ts';

/** Which split of the plan's dataset a compressor reads: none, calibration batches, or training batches. */
export type DataNeed = 'none' | 'calibration' | 'train';

/**
 * What `granularity: 'default'` means for the family (NNI's register_scalers): element-wise, output channels of
 * parameters (and per channel on inputs / outputs), or one scale per tensor.
 */
export type DefaultGranularityKind = 'element' | 'out_channel' | 'per_tensor';

/** One registry entry. `options` is strict: an option the compressor does not read is refused with its JSON path. */
export interface CompressorInfo<Options extends z.ZodRawShape = z.ZodRawShape> {
  label: string;
  description: string;
  needsData: DataNeed;
  /** Whether it registers work on a training run (Evaluator hooks) instead of computing its result at once. */
  needsTraining: boolean;
  defaultGranularity: DefaultGranularityKind;
  /** The step options this compressor reads, beside the step's own (`kind`, `configList`, …). */
  options: Options;
  /**
   * Faults between options that single-key schemas cannot see (e.g. warm-up ≥ cool-down), each naming its option
   * key; plan validation reports them at `$.steps[i].<key>`.
   */
  check?: (options: Record<string, unknown>) => { key: string; message: string }[];
}

const positiveInt = z.int().positive();
/** What every training-aware pruner's run reads: its length, learning rate (SGD, momentum 0.9) and batch size. */
const pruneRun = {
  /** Optimizer steps of the whole run (default: the steps the pruner needs). */
  maxSteps: positiveInt.optional(),
  lr: z.number().positive().default(0.01),
  batchSize: positiveInt.default(32),
};
const trainingSteps = positiveInt.default(PRUNE_DEFAULTS.trainingSteps);
const regularScale = z.number().min(0).default(PRUNE_DEFAULTS.regularScale);
const schedule = {
  intervalSteps: positiveInt.default(PRUNE_DEFAULTS.intervalSteps),
  totalTimes: positiveInt.default(PRUNE_DEFAULTS.totalTimes),
  /** The scheduled pruner; names outside SCHEDULABLE_PRUNERS are named by `check`. */
  inner: z.string().default(PRUNE_DEFAULTS.inner),
  regularScale,
  ...pruneRun,
};
const checkOf = (pruner: TrainingPrunerName) => (o: Record<string, unknown>) =>
  checkPruneOptions(pruner, o as TrainingPruneOptions);
const entry = <O extends z.ZodRawShape>(e: CompressorInfo<O>) => e;

// ---------------------------------------------------------------------------------------------------------------
// The training block (the finetune step's options, and those of every compressor that trains with the task loss)

export const OPTIMIZERS = ['sgd', 'adam', 'adamw'] as const;

const optimizerSchema = z.strictObject({
  kind: z.enum(OPTIMIZERS).default('sgd'),
  momentum: z.number().min(0).max(1).optional(),
  weightDecay: z.number().min(0).optional(),
});

const scheduleSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('constant') }),
  z.strictObject({ kind: z.literal('cosine'), minLr: z.number().min(0).default(0) }),
  z.strictObject({ kind: z.literal('step'), stepSize: positiveInt, gamma: z.number().positive().max(1).default(0.1) }),
  z.strictObject({ kind: z.literal('linear'), endLr: z.number().min(0).default(0) }),
]);

/** Epochs, optimizer, learning rate, schedule and batch size of a training run on the plan's train split. */
export const TRAINING_SHAPE = {
  epochs: z.number().positive(),
  optimizer: optimizerSchema.default({ kind: 'sgd' }),
  lr: z.number().positive(),
  schedule: scheduleSchema.default({ kind: 'constant' }),
  batchSize: positiveInt.default(32),
  /** Stop an epoch after this many batches (quick runs). */
  maxBatchesPerEpoch: positiveInt.optional(),
};

/** The training block of the trained quantizers: a short fine-tune by default (1 epoch, Adam 1e-4, batch 64). */
const QUANT_TRAINING = {
  ...TRAINING_SHAPE,
  epochs: TRAINING_SHAPE.epochs.default(1),
  optimizer: optimizerSchema.default({ kind: 'adam' }),
  lr: TRAINING_SHAPE.lr.default(1e-4),
  batchSize: positiveInt.default(64),
  /** As PTQ's: where the exported model is slower than the step's input, layers (then the whole model) stay fp32. */
  latencyAware: z.boolean().default(true),
};

// ---------------------------------------------------------------------------------------------------------------
// Observers (quantization calibration): no options of their own at the step level

export interface ObserverInfo {
  label: string;
  description: string;
}

export const OBSERVER_REGISTRY = {
  minmax: { label: 'min / max', description: 'running minimum and maximum of every batch (NNI’s PTQ)' },
  ema: {
    label: 'moving-average min / max',
    description: 'exponential moving average of batch minima and maxima (NNI’s QAT tracker)',
  },
  percentile: {
    label: 'percentile',
    description: 'the 99.99th percentile of |x| from a histogram, ignoring rare outliers',
  },
  entropy: {
    label: 'entropy (KL)',
    description: 'the clipping range that keeps the KL divergence of the histogram smallest (TensorRT’s calibrator)',
  },
  mse: { label: 'MSE', description: 'the clipping range with the smallest quantization mean squared error' },
} as const satisfies Record<string, ObserverInfo>;
export type ObserverName = keyof typeof OBSERVER_REGISTRY;

// ---------------------------------------------------------------------------------------------------------------
// Pruners

export const PRUNER_REGISTRY = {
  level: entry({
    label: 'Level (fine-grained magnitude)',
    description: 'the smallest |w| element by element',
    needsData: 'none',
    needsTraining: false,
    defaultGranularity: 'element',
    options: {},
  }),
  l1: entry({
    label: 'L1 norm',
    description: 'output channels with the smallest L1 norm',
    needsData: 'none',
    needsTraining: false,
    defaultGranularity: 'out_channel',
    options: {},
  }),
  l2: entry({
    label: 'L2 norm',
    description: 'output channels with the smallest L2 norm',
    needsData: 'none',
    needsTraining: false,
    defaultGranularity: 'out_channel',
    options: {},
  }),
  fpgm: entry({
    label: 'FPGM (geometric median)',
    description: 'filters nearest the geometric median of their layer',
    needsData: 'none',
    needsTraining: false,
    defaultGranularity: 'out_channel',
    options: {},
  }),
  slim: entry({
    label: 'Slim (learned channel factors)',
    description:
      'a factor per output channel trained under an L1 penalty for trainingSteps steps; the smallest |factor| go',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'out_channel',
    options: { trainingSteps, regularScale, ...pruneRun },
    check: checkOf('slim'),
  }),
  taylor: entry({
    label: 'Taylor (first-order importance)',
    description: '(w · ∂L/∂w)² accumulated over trainingSteps training steps; the least important channels go',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'out_channel',
    options: { trainingSteps, ...pruneRun },
    check: checkOf('taylor'),
  }),
  movement: entry({
    label: 'Movement (learned scores)',
    description:
      'a score per block learned while fine-tuning; masks every step after warm-up, goals reached at cool-down',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'out_channel',
    options: {
      warmupSteps: z.int().min(0).default(PRUNE_DEFAULTS.warmupSteps),
      cooldownBeginStep: positiveInt.default(PRUNE_DEFAULTS.cooldownBeginStep),
      regularScale,
      ...pruneRun,
    },
    check: checkOf('movement'),
  }),
  linear: entry({
    label: 'Linear schedule',
    description:
      'raises the inner pruner’s sparsity linearly every intervalSteps steps, totalTimes times, while training',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'out_channel',
    options: schedule,
    check: checkOf('linear'),
  }),
  agp: entry({
    label: 'AGP (cubic schedule)',
    description:
      'raises the inner pruner’s sparsity on the cubic AGP curve every intervalSteps steps, totalTimes times, while training',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'out_channel',
    options: schedule,
    check: checkOf('agp'),
  }),
} as const satisfies Record<string, CompressorInfo>;
export type PrunerName = keyof typeof PRUNER_REGISTRY;
/** The pruners that compute their masks at once (the others train: TRAINING_PRUNERS). */
export type OneShotPrunerName = Exclude<PrunerName, TrainingPrunerName>;

// ---------------------------------------------------------------------------------------------------------------
// Quantizers

export const QUANTIZER_REGISTRY = {
  ptq: entry({
    label: 'post-training (calibration)',
    description: 'int8 scales from calibration batches through an observer; QDQ export ORT fuses into integer kernels',
    needsData: 'calibration',
    needsTraining: false,
    defaultGranularity: 'per_tensor',
    options: {
      observer: z.enum(Object.keys(OBSERVER_REGISTRY) as [ObserverName, ...ObserverName[]]).default('minmax'),
      /** Calibration batches of 32 samples. */
      calibrationBatches: positiveInt.default(32),
      /**
       * Never slower than the input (default): where the result measures slower than the input at batch 1 or the
       * evaluation batch size, keep in fp32 the layers whose fp32 form measures faster, then the whole model.
       */
      latencyAware: z.boolean().default(true),
    },
  }),
  qat: entry({
    label: 'QAT (quantization-aware training)',
    description:
      'fake quantization inside the training step, EMA activation ranges, clipped straight-through gradient; BatchNorm folded first',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: { ...QUANT_TRAINING, quantStartStep: z.int().min(0).default(0) },
  }),
  lsq: entry({
    label: 'LSQ (learned step size)',
    description: 'scales trained with LSQ’s gradient (symmetric, zero point 0), initialised at 2·mean|x|/√qmax',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: { ...QUANT_TRAINING, init: z.enum(['mean', 'nni']).default('mean') },
  }),
  lsqplus: entry({
    label: 'LSQ+ (learned step size and offset)',
    description: 'scales and zero points trained (affine), LSQ+’s offset gradient',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: { ...QUANT_TRAINING, init: z.enum(['mean', 'nni']).default('mean') },
  }),
  dorefa: entry({
    label: 'DoReFa (k-bit weights, activations, gradients)',
    description:
      'weights through tanh normalisation onto a k-bit grid in [−1, 1], activation outputs clamped to [0, 1] on a k-bit grid, inputs with batch ranges, optional stochastic k-bit gradients; trained straight through; BatchNorm kept',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: {
      ...QUANT_TRAINING,
      /** Stochastic k-bit quantization of the gradient at the outputs of ops with weight targets (off when absent). */
      gradientBits: z.int().min(1).max(16).optional(),
    },
  }),
  bnn: entry({
    label: 'BNN (binary weights and activations)',
    description:
      'sign(x) weights and activations, straight-through inside [−1, 1], weights clipped after every step; BatchNorm kept',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: { ...QUANT_TRAINING },
  }),
} as const satisfies Record<string, CompressorInfo>;
export type QuantizerName = keyof typeof QUANTIZER_REGISTRY;

// ---------------------------------------------------------------------------------------------------------------
// Distillers: the teacher's forward runs inside the student's training step (src-main/core/compress/distillation)

/** NNI's origin_loss_lambda: loss = λ_o·task loss + distillation loss. */
const originLossLambda = z.number().min(0).default(1);
/** The layer-wise distillers' config list (mode `distillation`: targets, `link`, `lambda`, `apply_method`). */
const distillConfigList = z
  .array(z.record(z.string(), z.unknown()), 'must be an array of objects (a config list)')
  .min(1, 'must select at least one target');

export const DISTILLER_REGISTRY = {
  logits: entry({
    label: 'Logits (Hinton KD)',
    description: 'the student’s logits learn the teacher’s softened distribution: (1 − α)·task + α·T²·KL',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: {
      /** Softmax temperature T. */
      temperature: z.number().positive().default(2),
      /** Weight of the distillation term against the task loss. */
      alpha: z.number().min(0).max(1).default(0.5),
    },
  }),
  dynamic_layerwise: entry({
    label: 'Dynamic layer-wise',
    description:
      'each selected value learns the closest of its linked teacher values: Σ min_j λ·ℓ(s, t_j) (equal shapes)',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: { configList: distillConfigList, originLossLambda },
  }),
  adaptive1d_layerwise: entry({
    label: 'Adaptive layer-wise (projection)',
    description:
      'one teacher value per selected value; a trainable 1×1 conv / linear map bridges a pruned student’s narrower width',
    needsData: 'train',
    needsTraining: true,
    defaultGranularity: 'per_tensor',
    options: { configList: distillConfigList, originLossLambda },
  }),
} as const satisfies Record<string, CompressorInfo>;
export type DistillerName = keyof typeof DISTILLER_REGISTRY;

// ---------------------------------------------------------------------------------------------------------------
// Names, in registry order

const namesOf = <R extends object>(r: R) => Object.keys(r) as (keyof R & string)[];

export const PRUNERS = namesOf(PRUNER_REGISTRY);
export const QUANTIZERS = namesOf(QUANTIZER_REGISTRY);
export const DISTILLERS = namesOf(DISTILLER_REGISTRY);
export const OBSERVERS = namesOf(OBSERVER_REGISTRY);

/** The families a plan can name, with the step option that names them and their table. */
export const FAMILIES = {
  pruner: { step: 'prune', registry: PRUNER_REGISTRY as Record<string, CompressorInfo> },
  quantizer: { step: 'quantize', registry: QUANTIZER_REGISTRY as Record<string, CompressorInfo> },
  distiller: { step: 'distill', registry: DISTILLER_REGISTRY as Record<string, CompressorInfo> },
} as const;
export type Family = keyof typeof FAMILIES;

/** The entry of a name in a family, or undefined (an own key only: `constructor` is no pruner). */
export function compressorInfo(family: Family, name: string): CompressorInfo | undefined {
  const r = FAMILIES[family].registry;
  return Object.hasOwn(r, name) ? r[name] : undefined;
}

/**
 * "unknown pruner "slim" (available: level, l1, l2, fpgm)" — the message every layer uses for a name with no
 * implementation.
 */
export function unknownCompressorMessage(family: Family | 'observer', name: unknown): string {
  const names = family === 'observer' ? OBSERVERS : Object.keys(FAMILIES[family].registry);
  const available = `available: ${names.length ? names.join(', ') : 'none in this build'}`;
  return name === undefined
    ? `missing ${family} (${available})`
    : `unknown ${family} ${JSON.stringify(name)} (${available})`;
}

/** `name — label` lines for help texts. */
export function describeChoices(family: Family | 'observer'): string {
  const r: Record<string, { label: string }> = family === 'observer' ? OBSERVER_REGISTRY : FAMILIES[family].registry;
  return Object.entries(r)
    .map(([k, v]) => `${k} (${v.label})`)
    .join(', ');
}

/** The registries as the host's `capabilities` report them (names, labels, data needs), in registry order. */
export function compressorCapabilities() {
  const list = (family: Family) =>
    Object.entries(FAMILIES[family].registry).map(([name, e]) => ({
      name,
      label: e.label,
      needsData: e.needsData,
      needsTraining: e.needsTraining,
    }));
  return {
    pruners: list('pruner'),
    quantizers: list('quantizer'),
    distillers: list('distiller'),
    observers: Object.entries(OBSERVER_REGISTRY).map(([name, e]) => ({ name, label: e.label })),
  };
}
