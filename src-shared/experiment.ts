/**
 * @file Experiment plan (zod-validated JSON, config lists checked by src-shared/config), progress events and the
 * report types shared by host, worker and renderer. Pure TypeScript: imports only zod and src-shared/config,
 * never Node, DOM, Electron or src-main.
 */
import { z } from 'zod';
import { ConfigListError, parseConfigList } from './config/index.ts';
import { findUnsafeKeys, MAX_JSON_DEPTH } from './config/json.ts';
import { StudioError } from './errors.ts';
import {
  DISTILLER_REGISTRY,
  FAMILIES,
  PRUNER_REGISTRY,
  QUANTIZER_REGISTRY,
  TRAINING_SHAPE,
  compressorInfo,
  unknownCompressorMessage,
  type Family,
} from './compressors.ts';
import { planAllocationSchema, SCAN_PRUNERS } from './sensitivity.ts';
import { checkPruneOptions, isTrainingPruner, stepsNeeded, type TrainingPrunerName } from './prune-options.ts';

// ---------------------------------------------------------------------------------------------------------------
// JSON paths and the plan error

/** One fault in a plan: where (a JSON path such as `$.steps[2].kind`) and what. */
export interface PlanIssue {
  path: string;
  message: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Formats path segments as a JSON path.
 *
 * @example planPath(['steps', 2, 'kind']) // '$.steps[2].kind'
 */
export function planPath(segments: readonly PropertyKey[], root = '$'): string {
  return segments.reduce<string>((path, s) => {
    if (typeof s === 'number') return `${path}[${s}]`;
    const key = String(s);
    return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
  }, root);
}

/**
 * A plan that fails validation; `issues` lists every fault found in one pass.
 *
 * @example
 * // invalid experiment plan (1 fault):
 * //   $.steps[2].kind: unknown step kind "prun" (did you mean "prune"?)
 */
export class PlanError extends StudioError {
  readonly issues: readonly PlanIssue[];
  declare readonly details: { issues: readonly PlanIssue[] };

  constructor(issues: readonly PlanIssue[]) {
    const count = `${issues.length} fault${issues.length === 1 ? '' : 's'}`;
    super(
      `invalid experiment plan (${count}):\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
      'PLAN_INVALID',
      { issues },
    );
    this.issues = issues;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

const path = z.string().min(1, 'must be a non-empty path');
const positiveInt = z.int().positive();
const nonNegativeInt = z.int().nonnegative();
/** A config list as far as this layer checks it: an array of objects (the NNI keys are src-shared/config's job). */
const configList = z.array(z.record(z.string(), z.unknown()), 'must be an array of objects (a config list)');

/**
 * Split kinds the plan's steps read (all loaded by `loadSplit` in src-main/node/train/data.ts):
 * - `idx`: an IDX images file and its labels file (MNIST format, optionally gzipped);
 * - `npy`: a samples `.npy` [N, …] and a labels `.npy` [N] (int labels, or float targets);
 * - `npz`: one archive with `x_train`/`y_train` (and `x_test`/`y_test`) or `x`/`y`;
 * - `folder`: a folder of images per class (torchvision's ImageFolder layout), or one with `train/` and
 *   `test/` (or `val/`) folders of that layout.
 * `part` picks the train or test half of an `npz` or `folder` split (default train).
 */
export const SPLIT_KINDS = ['idx', 'npy', 'npz', 'folder'] as const;
export type SplitKind = (typeof SPLIT_KINDS)[number];

/** How many paths each split kind takes, in order, and whether it has train/test parts. */
const SPLIT_PATHS: Record<SplitKind, { min: number; max: number; names: string; parts: boolean }> = {
  idx: { min: 2, max: 2, names: 'images file, labels file', parts: false },
  npy: { min: 2, max: 2, names: 'samples .npy, labels .npy', parts: false },
  npz: { min: 1, max: 1, names: 'one .npz archive', parts: true },
  folder: { min: 1, max: 1, names: 'one folder', parts: true },
};

export const splitSchema = z
  .strictObject({
    kind: z.enum(SPLIT_KINDS, {
      error: (iss) =>
        `split kind ${JSON.stringify(iss.input)} is not read by the plan's steps (available: ${SPLIT_KINDS.join(', ')})`,
    }),
    paths: z.array(path).min(1),
    /** The train or test half of an `npz` archive or a `folder` with train/ and test/ (default train). */
    part: z.enum(['train', 'test']).optional(),
    /** Use at most this many samples. */
    limit: positiveInt.optional(),
    /** Input preprocessing: x' = (x · scale − mean) / std, per channel when arrays. */
    preprocess: z
      .strictObject({
        scale: z.number().positive().optional(),
        mean: z.array(z.number()).min(1).optional(),
        std: z.array(z.number().positive()).min(1).optional(),
      })
      .optional(),
  })
  .superRefine((split, ctx) => {
    const want = SPLIT_PATHS[split.kind];
    if (split.paths.length < want.min || split.paths.length > want.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['paths'],
        message: `a "${split.kind}" split takes ${want.names}; got ${split.paths.length} path(s)`,
      });
    }
    if (split.part !== undefined && !want.parts) {
      ctx.addIssue({
        code: 'custom',
        path: ['part'],
        message: `a "${split.kind}" split has no train/test parts (part is read by npz and folder splits)`,
      });
    }
  });
export type DataSplit = z.infer<typeof splitSchema>;

export const datasetSchema = z.strictObject({
  train: splitSchema.optional(),
  calibration: splitSchema.optional(),
  evaluation: splitSchema.optional(),
});
export type Dataset = z.infer<typeof datasetSchema>;

export const METRICS = ['top1', 'top5', 'loss'] as const;
export type MetricName = (typeof METRICS)[number];

export const evaluatorSchema = z.strictObject({
  metric: z.enum(METRICS).default('top1'),
  batchSize: positiveInt.default(64),
  /** Evaluate on at most this many batches (quick runs). */
  maxBatches: positiveInt.optional(),
});
export type EvaluatorSpec = z.infer<typeof evaluatorSchema>;

export const EXECUTION_PROVIDERS = ['cpu', 'webgpu', 'cuda', 'dml', 'coreml'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Steps: one options schema per step kind

export {
  PRUNERS,
  QUANTIZERS,
  OBSERVERS,
  type PrunerName,
  type QuantizerName,
  type ObserverName,
} from './compressors.ts';

export { OPTIMIZERS } from './compressors.ts';

/** The training block of a step that trains (finetune; trained compressors carry the same keys in their options). */
const trainingShape = TRAINING_SHAPE;

/**
 * The steps that name a compressor: which option names it, its family's registry, the options every member
 * shares, and the default name. Each member's own options (its registry entry's `options`) join these, strictly.
 */
const FAMILY_STEPS = {
  prune: { key: 'pruner', family: 'pruner', shared: { configList }, fallback: undefined },
  quantize: { key: 'quantizer', family: 'quantizer', shared: { configList }, fallback: 'ptq' },
  distill: {
    key: 'distiller',
    family: 'distiller',
    shared: {
      /** Teacher model path; defaults to the plan's input model (the model before any compression). */
      teacher: path.optional(),
      ...trainingShape,
    },
    fallback: undefined,
  },
} as const satisfies Record<
  string,
  { key: string; family: Family; shared: z.ZodRawShape; fallback: string | undefined }
>;
type FamilyStepKind = keyof typeof FAMILY_STEPS;

/** One strict schema per member of a family: `{ kind, <key>: name, ...shared, ...member options }`. */
function memberSchemas(kind: FamilyStepKind): Map<string, z.ZodType> {
  const { key, family, shared } = FAMILY_STEPS[kind];
  const out = new Map<string, z.ZodType>();
  for (const [name, info] of Object.entries(FAMILIES[family].registry)) {
    out.set(name, z.strictObject({ kind: z.literal(kind), [key]: z.literal(name), ...shared, ...info.options }));
  }
  return out;
}
const MEMBER_SCHEMAS: Record<FamilyStepKind, Map<string, z.ZodType>> = {
  prune: memberSchemas('prune'),
  quantize: memberSchemas('quantize'),
  distill: memberSchemas('distill'),
};

type OptionsOf<E> = E extends { options: infer O extends z.ZodRawShape } ? z.infer<z.ZodObject<O>> : never;
type ConfigListJson = z.infer<typeof configList>;
/** A step naming member N of a registry R through option Key, with N's options. */
type MemberStep<Kind extends string, Key extends string, R> = {
  [N in keyof R & string]: { kind: Kind; configList: ConfigListJson } & { [k in Key]: N } & OptionsOf<R[N]>;
}[keyof R & string];

export type PruneStep = MemberStep<'prune', 'pruner', typeof PRUNER_REGISTRY>;
export type QuantizeStep = MemberStep<'quantize', 'quantizer', typeof QUANTIZER_REGISTRY>;
/** A distill step: the distiller's own options (a layer-wise one's config list, the logits one's T and α) and the training ones. */
export type DistillStep = {
  [N in keyof typeof DISTILLER_REGISTRY & string]: { kind: 'distill'; distiller: N; teacher?: string } & z.infer<
    z.ZodObject<typeof trainingShape>
  > &
    OptionsOf<(typeof DISTILLER_REGISTRY)[N]>;
}[keyof typeof DISTILLER_REGISTRY & string];

/** Options of the steps that name no compressor. Each is strict: unknown options are rejected with their JSON path. */
const PLAIN_STEP_SCHEMAS = {
  speedup: z.strictObject({
    kind: z.literal('speedup'),
    /** Round kept channel counts up to a multiple of this (hardware-friendly widths). */
    roundTo: positiveInt.optional(),
  }),
  finetune: z.strictObject({ kind: z.literal('finetune'), ...trainingShape }),
  sensitivity: z.strictObject({
    kind: z.literal('sensitivity'),
    /** Ratios each group is pruned at, alone; each in (0, 1). Default 0.1 … 0.9. */
    ratios: z.array(z.number().gt(0, 'a ratio must be > 0').lt(1, 'a ratio must be < 1')).min(1).optional(),
    /** One-shot pruner (one needing no data or training). */
    pruner: z.enum(SCAN_PRUNERS as [string, ...string[]]).default('l1'),
    /** Samples of the evaluation split, a seeded choice (default 1000, at most the split). */
    evalCount: positiveInt.default(1000),
    /** Evaluation and latency batch (the batch the budget is stated at). */
    batchSize: positiveInt.default(64),
    /** Worker processes (default cores − 1). */
    workers: positiveInt.optional(),
    /** Side-by-side latency rounds per point. */
    latencyRuns: positiveInt.default(30),
  }),
} as const;

// ---------------------------------------------------------------------------------------------------------------
// The fused step: pruning, quantization and distillation in ONE training run (NNI's fusion compression)

/** The keys the training block owns: a fused block carrying them is refused (one run, one training block). */
const TRAINING_KEYS = Object.keys(TRAINING_SHAPE);
const PRUNE_RUN_KEYS = ['maxSteps', 'lr', 'batchSize'];
const omitKeys = (shape: z.ZodRawShape, keys: readonly string[]): z.ZodRawShape =>
  Object.fromEntries(Object.entries(shape).filter(([k]) => !keys.includes(k)));

/** The blocks of a `compress` step: which option names the compressor, its family, and which members can be fused. */
const FUSED_BLOCKS = {
  pruning: { key: 'pruner', family: 'pruner', mode: 'pruning', runKeys: PRUNE_RUN_KEYS },
  quantization: { key: 'quantizer', family: 'quantizer', mode: 'quantization', runKeys: TRAINING_KEYS },
  distillation: { key: 'distiller', family: 'distiller', mode: 'distillation', runKeys: TRAINING_KEYS },
} as const;

/**
 * Member options a fused block does not offer (refused as unknown there): latencyAware is the quantize step's, for
 * its own export; the compress step's export has its own speed check.
 */
const NOT_FUSED: readonly string[] = ['latencyAware'];
export type FusedBlock = keyof typeof FUSED_BLOCKS;
export const FUSED_BLOCK_NAMES = Object.keys(FUSED_BLOCKS) as FusedBlock[];

/** Why a compressor cannot be fused into one training run, or null (it registers on the evaluator). */
export function fusedRefusal(block: FusedBlock, name: string): string | null {
  const { family } = FUSED_BLOCKS[block];
  const info = compressorInfo(family, name);
  if (!info) return null;
  if (info.needsTraining) return null;
  const fusable = Object.entries(FAMILIES[family].registry)
    .filter(([, e]) => e.needsTraining)
    .map(([n]) => n)
    .join(', ');
  if (block === 'pruning')
    return `the "${name}" pruner computes its masks at once and cannot be fused into a training run; use ${fusable} (agp / linear schedule "${name}" while training: { "pruner": "agp", "inner": "${name}" })`;
  return `the "${name}" ${family} calibrates after training and cannot be fused into a training run; use ${fusable}`;
}

/**
 * QAT in a fused run: when BatchNormalization is folded. 'end' (default): BN trains with batch statistics beside
 * the masks (masked with its conv) and is folded into the trained model for the export, the weights' parameters
 * from the folded weights (QAT's own min / max rule), the activations' from the ranges tracked in training. 'start':
 * folded before training, as a QAT step does (measured 1–15 points less accurate on the bundled model, see
 * docs/fusion.md).
 */
const QAT_FUSED_OPTIONS = { foldAt: z.enum(['start', 'end']).default('end') };

/** One strict schema per fusable member of a block: `{ <key>: name, ...shared, ...member options − run keys }`. */
function blockSchemas(block: FusedBlock): Map<string, z.ZodType> {
  const { key, family, runKeys } = FUSED_BLOCKS[block];
  const out = new Map<string, z.ZodType>();
  for (const [name, info] of Object.entries(FAMILIES[family].registry)) {
    if (!info.needsTraining) continue;
    const shared: z.ZodRawShape =
      block === 'distillation'
        ? { teacher: path.optional() }
        : { configList: z.array(z.record(z.string(), z.unknown()), 'must be an array of objects (a config list)') };
    const own = block === 'quantization' && name === 'qat' ? QAT_FUSED_OPTIONS : {};
    out.set(
      name,
      z.strictObject({
        [key]: z.literal(name),
        ...shared,
        ...omitKeys(info.options, [...runKeys, ...NOT_FUSED]),
        ...own,
      }),
    );
  }
  return out;
}
const BLOCK_SCHEMAS: Record<FusedBlock, Map<string, z.ZodType>> = {
  pruning: blockSchemas('pruning'),
  quantization: blockSchemas('quantization'),
  distillation: blockSchemas('distillation'),
};

type FusedPruningBlock = {
  [N in TrainingPrunerName]: { pruner: N; configList: ConfigListJson } & Omit<
    OptionsOf<(typeof PRUNER_REGISTRY)[N]>,
    'maxSteps' | 'lr' | 'batchSize'
  >;
}[TrainingPrunerName];
type TrainedQuantizerKey = Exclude<keyof typeof QUANTIZER_REGISTRY, 'ptq'>;
type FusedQuantizationBlock = {
  [N in TrainedQuantizerKey]: { quantizer: N; configList: ConfigListJson } & Omit<
    OptionsOf<(typeof QUANTIZER_REGISTRY)[N]>,
    keyof typeof TRAINING_SHAPE | 'latencyAware'
  > &
    (N extends 'qat' ? { foldAt: 'start' | 'end' } : unknown);
}[TrainedQuantizerKey];
type FusedDistillationBlock = {
  [N in keyof typeof DISTILLER_REGISTRY & string]: { distiller: N; teacher?: string } & OptionsOf<
    (typeof DISTILLER_REGISTRY)[N]
  >;
}[keyof typeof DISTILLER_REGISTRY & string];

/**
 * The fused step: optional pruning / quantization / distillation blocks (each as its own step, less the training
 * keys) and ONE training block; one training run for all, then speedup (when pruning) and the quantization
 * carried to the compact model and exported as QDQ.
 */
export interface CompressStep {
  kind: 'compress';
  pruning?: FusedPruningBlock;
  quantization?: FusedQuantizationBlock;
  distillation?: FusedDistillationBlock;
  training: z.infer<z.ZodObject<typeof trainingShape>>;
  /** Remove the pruned channels after the run (default true). */
  speedup: boolean;
  /** Keep pruned widths at multiples of this. */
  roundTo?: number;
}

/** The step's own keys; the blocks are checked one by one (parseCompressStep) for faults named by their member. */
const compressOwnSchema = z.strictObject({
  kind: z.literal('compress'),
  pruning: z.unknown().optional(),
  quantization: z.unknown().optional(),
  distillation: z.unknown().optional(),
  training: z.strictObject(trainingShape, {
    error: (iss) =>
      iss.input === undefined
        ? 'a compress step trains once for all its compressors: it needs a training block (epochs, lr, optimizer, schedule, batchSize)'
        : undefined,
  }),
  speedup: z.boolean().default(true),
  roundTo: positiveInt.optional(),
});

/** The schema of a whole compress step (its blocks as unions of their members), for typing and reuse. */
const compressSchema = z.strictObject({
  ...compressOwnSchema.shape,
  pruning: unionOf([...BLOCK_SCHEMAS.pruning.values()]).optional(),
  quantization: unionOf([...BLOCK_SCHEMAS.quantization.values()]).optional(),
  distillation: unionOf([...BLOCK_SCHEMAS.distillation.values()]).optional(),
}) as unknown as z.ZodType<CompressStep>;

/**
 * Parse a compress step, reporting each block's faults at its own JSON path (the member named, then its options,
 * then its config list) and the faults of the whole: no block, no training block, a compressor that cannot be fused.
 */
function parseCompressStep(raw: Record<string, unknown>, at: PropertyKey[], issues: PlanIssue[]): CompressStep | null {
  const before = issues.length;
  const own = compressOwnSchema.safeParse(raw);
  if (!own.success) issues.push(...toPlanIssues(own.error.issues, at));
  const blocks: Partial<Record<FusedBlock, unknown>> = {};
  for (const block of FUSED_BLOCK_NAMES) {
    const value = raw[block];
    if (value === undefined) continue;
    const here = [...at, block];
    if (!isObject(value)) {
      issues.push({ path: planPath(here), message: `must be an object naming its ${FUSED_BLOCKS[block].family}` });
      continue;
    }
    const { key, family, mode, runKeys } = FUSED_BLOCKS[block];
    const name = value[key];
    if (typeof name !== 'string' || !compressorInfo(family, name)) {
      issues.push({ path: planPath([...here, key]), message: unknownCompressorMessage(family, name) });
      continue;
    }
    const refusal = fusedRefusal(block, name);
    if (refusal) {
      issues.push({ path: planPath([...here, key]), message: refusal });
      continue;
    }
    for (const k of Object.keys(value))
      if (runKeys.includes(k))
        issues.push({
          path: planPath([...here, k]),
          message: `"${k}" belongs to the step's training block: one training run for every compressor of a compress step`,
        });
    const parsed = BLOCK_SCHEMAS[block].get(name)!.safeParse(omitKeys(value as z.ZodRawShape, runKeys));
    if (!parsed.success) {
      issues.push(...toPlanIssues(parsed.error.issues, here));
      continue;
    }
    const b = parsed.data as Record<string, unknown>;
    if (b.configList !== undefined)
      issues.push(...configListIssues(b.configList, mode, planPath([...here, 'configList'])));
    if (block === 'pruning')
      for (const f of checkPruneOptions(name as TrainingPrunerName, b))
        issues.push({ path: planPath([...here, f.key]), message: f.message });
    blocks[block] = b;
  }
  if (FUSED_BLOCK_NAMES.every((b) => raw[b] === undefined))
    issues.push({
      path: planPath(at),
      message: `a compress step fuses compressors: give at least one of ${FUSED_BLOCK_NAMES.join(', ')}`,
    });
  if (issues.length > before || !own.success) return null;
  return { ...own.data, ...blocks } as CompressStep;
}

/**
 * Budgets shorter than what the step's compressors need, for a run of `totalSteps` optimizer steps: a pruning
 * schedule (or Taylor / Slim collection, Movement's cool-down) that would not finish, a quantization that would
 * never start. Each with the JSON path of the option at fault (relative segments under the step).
 *
 * @example fusedBudgetFaults({ …, pruning: { pruner: 'agp', intervalSteps: 100, totalTimes: 10, … } }, 500)
 * // [{ path: ['pruning', 'totalTimes'], message: "the schedule's last update is at step 1000 … the run is 500 steps" }]
 */
export function fusedBudgetFaults(step: CompressStep, totalSteps: number): { path: string[]; message: string }[] {
  const faults: { path: string[]; message: string }[] = [];
  const p = step.pruning;
  if (p && isTrainingPruner(p.pruner)) {
    const need = stepsNeeded(p.pruner, p as Record<string, unknown>);
    if (need > totalSteps) {
      const [key, what] =
        p.pruner === 'movement'
          ? ['cooldownBeginStep', `cooldownBeginStep is ${need}`]
          : p.pruner === 'linear' || p.pruner === 'agp'
            ? ['totalTimes', `the schedule's last update is at step ${need} (intervalSteps × totalTimes)`]
            : ['trainingSteps', `the masks come at step ${need} (trainingSteps)`];
      faults.push({
        path: ['pruning', key],
        message: `${what}, but the training block makes ${totalSteps} optimizer steps: lengthen training or shorten the schedule`,
      });
    }
  }
  const q = step.quantization as { quantStartStep?: number } | undefined;
  if (q?.quantStartStep !== undefined && q.quantStartStep >= totalSteps)
    faults.push({
      path: ['quantization', 'quantStartStep'],
      message: `quantization starts after step ${q.quantStartStep}, but the training block makes ${totalSteps} optimizer steps: it would never quantize`,
    });
  return faults;
}

/** The optimizer steps a training block makes over `samples` training samples. */
export function trainingBlockSteps(training: CompressStep['training'], samples: number): number {
  const all = Math.floor(samples / training.batchSize);
  const perEpoch = training.maxBatchesPerEpoch ? Math.min(training.maxBatchesPerEpoch, all) : all;
  return Math.max(1, Math.round(perEpoch * training.epochs));
}

export type SpeedupStep = z.infer<(typeof PLAIN_STEP_SCHEMAS)['speedup']>;
export type FinetuneStep = z.infer<(typeof PLAIN_STEP_SCHEMAS)['finetune']>;
export type SensitivityStep = z.infer<(typeof PLAIN_STEP_SCHEMAS)['sensitivity']>;

/** The built-in step kinds, in pipeline order, with what the app shows for them. */
export const STEP_REGISTRY = {
  prune: {
    label: 'Prune',
    description: 'a pruner’s masks over the config list’s targets → the simulated (masked) model',
  },
  speedup: { label: 'Speedup', description: 'remove the pruned channels, verified against the masked model' },
  finetune: { label: 'Fine-tune', description: 'train the model on dataset.train through our autodiff' },
  quantize: { label: 'Quantize', description: 'a quantizer’s scales → the QDQ model ORT runs in integers' },
  distill: {
    label: 'Distill',
    description:
      'train the model with a teacher’s forward inside each step (the teacher defaults to the plan’s input model)',
  },
  compress: {
    label: 'Fused compression',
    description:
      'prune, quantize and distill in ONE training run (NNI’s fusion), then remove the pruned channels and export int8 with the trained scales',
  },
  sensitivity: {
    label: 'Sensitivity scan',
    description:
      'prune each group alone at each ratio, speed up, measure accuracy and latency (the model passes on unchanged)',
  },
} as const satisfies Record<string, { label: string; description: string }>;

interface StepTypes {
  prune: PruneStep;
  speedup: SpeedupStep;
  finetune: FinetuneStep;
  quantize: QuantizeStep;
  distill: DistillStep;
  compress: CompressStep;
  sensitivity: SensitivityStep;
}
export type StepKind = keyof typeof STEP_REGISTRY & keyof StepTypes;
export const STEP_KINDS = Object.keys(STEP_REGISTRY) as StepKind[];
export type StepOf<K extends StepKind> = StepTypes[K];
export type BuiltinStep = StepTypes[StepKind];

/**
 * The schema of every built-in step kind (the members of a family step joined as a union). Plans are parsed
 * through `parsePlan`, which checks the compressor's name first and reports it with the names available.
 */
export const STEP_SCHEMAS = {
  ...PLAIN_STEP_SCHEMAS,
  prune: unionOf([...MEMBER_SCHEMAS.prune.values()]),
  quantize: unionOf([...MEMBER_SCHEMAS.quantize.values()]),
  distill: unionOf([...MEMBER_SCHEMAS.distill.values()]),
  compress: compressSchema,
} as { readonly [K in StepKind]: z.ZodType<StepOf<K>> };

function unionOf(schemas: z.ZodType[]): z.ZodType {
  return schemas.length === 1 ? schemas[0]! : z.union(schemas as [z.ZodType, z.ZodType, ...z.ZodType[]]);
}

/** A step of a kind registered with `registerStepKind` (extensions, test steps). */
export interface CustomStep {
  kind: string;
  [option: string]: unknown;
}
export type Step = BuiltinStep | CustomStep;

/** Config-list mode of the steps that carry one (src-shared/config's modes). */
export const CONFIG_LIST_MODE: Partial<Record<StepKind, 'pruning' | 'quantization' | 'distillation'>> = {
  prune: 'pruning',
  quantize: 'quantization',
  distill: 'distillation',
};

const customSteps = new Map<string, z.ZodType>();

/**
 * Registers the options schema of an extra step kind, so plans may use it. The schema must check `kind`.
 *
 * @example registerStepKind('sleep', z.strictObject({ kind: z.literal('sleep'), ms: z.int() }))
 */
export function registerStepKind(kind: string, schema: z.ZodType): void {
  if (Object.hasOwn(STEP_SCHEMAS, kind)) throw new Error(`step kind "${kind}" is built in and cannot be replaced`);
  customSteps.set(kind, schema);
}

/** Every step kind a plan may use now: the built-ins and the registered ones. */
export function knownStepKinds(): string[] {
  return [...STEP_KINDS, ...customSteps.keys()];
}

function stepSchema(kind: string): z.ZodType | undefined {
  // Own keys only: a kind such as "constructor" or "__proto__" must not find Object.prototype's members.
  return Object.hasOwn(STEP_SCHEMAS, kind) ? (STEP_SCHEMAS as Record<string, z.ZodType>)[kind] : customSteps.get(kind);
}

// ---------------------------------------------------------------------------------------------------------------
// The plan

export const PLAN_VERSION = 1;

const planBaseSchema = z.strictObject({
  version: z.literal(PLAN_VERSION).default(PLAN_VERSION),
  name: z.string().optional(),
  tags: z.array(z.string().min(1)).optional(),
  /** The input model (.onnx); relative paths are relative to the plan file's folder. */
  model: path,
  dataset: datasetSchema.default({}),
  evaluator: evaluatorSchema.optional(),
  executionProvider: z.enum(EXECUTION_PROVIDERS).default('cpu'),
  /** Full shapes of inputs with dynamic dims, for the steps that trace (like `--shape input=1,3,640,640`). */
  inputShapes: z.record(z.string().min(1), z.array(positiveInt).min(1)).optional(),
  seed: nonNegativeInt.default(0),
  /** The allocation the prune step's config list came from (the report sets its prediction beside the measurement). */
  allocation: planAllocationSchema.optional(),
  steps: z.array(z.unknown()),
});

export type Plan = Omit<z.infer<typeof planBaseSchema>, 'steps'> & { steps: Step[] };

/**
 * Validates an experiment plan (JSON text or a parsed value) and fills in defaults. Every fault comes back at
 * once, each with its JSON path.
 *
 * @example
 * const plan = parsePlan({ model: 'net.onnx', steps: [{ kind: 'speedup' }] });
 * parsePlan({ model: 'net.onnx', steps: [{ kind: 'prun' }] }); // throws PlanError: $.steps[0].kind: unknown step kind "prun" …
 */
export function parsePlan(json: unknown): Plan {
  const result = safeParsePlan(json);
  if (!result.ok) throw new PlanError(result.issues);
  return result.plan;
}

/** `parsePlan` without throwing. */
export function safeParsePlan(json: unknown): { ok: true; plan: Plan } | { ok: false; issues: PlanIssue[] } {
  let value = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (e) {
      return { ok: false, issues: [{ path: '$', message: `not valid JSON (${(e as Error).message})` }] };
    }
  }
  const issues: PlanIssue[] = unsafeKeyIssues(value);
  if (issues.length > 0) return { ok: false, issues };
  const base = planBaseSchema.safeParse(value);
  if (!base.success) issues.push(...toPlanIssues(base.error.issues, []));
  const rawSteps = isObject(value) && Array.isArray(value.steps) ? value.steps : [];
  const steps = rawSteps.map((raw, i) => parseStep(raw, i, issues));
  checkPlanConsistency(value, steps, issues);
  if (issues.length > 0 || !base.success) return { ok: false, issues };
  return { ok: true, plan: { ...base.data, steps: steps as Step[] } };
}

/** Prototype-named keys (`__proto__`, `constructor`, `prototype`) anywhere in the plan, and absurd nesting. */
function unsafeKeyIssues(value: unknown): PlanIssue[] {
  return findUnsafeKeys(value).map(({ path, reason }) => ({
    path: planPath(path),
    message:
      reason === 'prototype'
        ? `the key "${String(path[path.length - 1])}" is not allowed (it names JavaScript's prototype machinery)`
        : `nested deeper than ${MAX_JSON_DEPTH} levels`,
  }));
}

function parseStep(raw: unknown, index: number, issues: PlanIssue[]): Step | null {
  const at = ['steps', index];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    issues.push({ path: planPath(at), message: 'a step must be an object with a "kind"' });
    return null;
  }
  const kind = (raw as { kind?: unknown }).kind;
  if (typeof kind !== 'string') {
    issues.push({
      path: planPath([...at, 'kind']),
      message: `missing step kind (one of ${knownStepKinds()
        .map((k) => `"${k}"`)
        .join(', ')})`,
    });
    return null;
  }
  if (kind === 'compress') return parseCompressStep(raw as Record<string, unknown>, at, issues);
  const member = familyMember(kind, raw as Record<string, unknown>, at, issues);
  if (member === null) return null;
  const schema = member?.schema ?? stepSchema(kind);
  if (!schema) {
    issues.push({ path: planPath([...at, 'kind']), message: unknownKindMessage(kind) });
    return null;
  }
  const parsed = schema.safeParse(member?.value ?? raw);
  if (!parsed.success) {
    issues.push(...toPlanIssues(parsed.error.issues, at));
    return null;
  }
  const step = parsed.data as Step;
  const mode = CONFIG_LIST_MODE[kind as StepKind];
  // (a distill step's config list belongs to its distiller: the logits one reads none)
  const list = (step as { configList?: unknown }).configList;
  if (mode && list !== undefined) issues.push(...configListIssues(list, mode, planPath([...at, 'configList'])));
  return step;
}

/**
 * For a step that names a compressor: the schema of the member it names and the step with the default member
 * filled in, or null after reporting a name with no implementation; undefined for other steps.
 */
function familyMember(
  kind: string,
  raw: Record<string, unknown>,
  at: PropertyKey[],
  issues: PlanIssue[],
): { schema: z.ZodType; value: unknown } | null | undefined {
  if (!Object.hasOwn(FAMILY_STEPS, kind)) return undefined;
  const { key, family, fallback } = FAMILY_STEPS[kind as FamilyStepKind];
  const value = raw[key] === undefined && fallback !== undefined ? { ...raw, [key]: fallback } : raw;
  const name = value[key];
  const schema =
    typeof name === 'string' && Object.hasOwn(FAMILIES[family].registry, name)
      ? MEMBER_SCHEMAS[kind as FamilyStepKind].get(name)
      : undefined;
  if (!schema) {
    issues.push({ path: planPath([...at, key]), message: unknownCompressorMessage(family, name) });
    // the options every member shares are still checked, so one pass reports every fault
    const shared = z.looseObject(FAMILY_STEPS[kind as FamilyStepKind].shared).safeParse(raw);
    if (!shared.success) issues.push(...toPlanIssues(shared.error.issues, at));
    else if (shared.data.configList !== undefined)
      issues.push(
        ...configListIssues(
          shared.data.configList,
          CONFIG_LIST_MODE[kind as FamilyStepKind]!,
          planPath([...at, 'configList']),
        ),
      );
    return null;
  }
  return { schema, value };
}

function unknownKindMessage(kind: string): string {
  const known = knownStepKinds();
  const near = known.find((k) => editDistance(k, kind) <= 2);
  return `unknown step kind "${kind}"${near ? ` (did you mean "${near}"?)` : ` (known: ${known.join(', ')})`}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** Cross-field rules: steps that need data must have the split they read. Runs even when other parts failed. */
function checkPlanConsistency(value: unknown, steps: readonly (Step | null)[], issues: PlanIssue[]): void {
  const raw = isObject(value) ? value : {};
  const dataset = isObject(raw.dataset) ? raw.dataset : {};
  const need = (cond: boolean, path: string, message: string) => {
    if (cond) issues.push({ path, message });
  };
  need(raw.evaluator !== undefined && !dataset.evaluation, '$.evaluator', 'an evaluator needs dataset.evaluation');
  steps.forEach((step, i) => {
    if (!step) return;
    const at = planPath(['steps', i]);
    if (step.kind === 'finetune' || step.kind === 'compress')
      need(!dataset.train, at, `a ${step.kind} step needs dataset.train`);
    if (step.kind === 'compress') {
      // a budget known from the plan alone: batches per epoch capped, or a train split of known size
      const c = step as CompressStep;
      const train = isObject(dataset.train) ? dataset.train : {};
      const limit = typeof train.limit === 'number' ? train.limit : undefined;
      const perEpoch = Math.min(
        c.training.maxBatchesPerEpoch ?? Infinity,
        limit !== undefined ? Math.floor(limit / c.training.batchSize) : Infinity,
      );
      if (Number.isFinite(perEpoch))
        for (const f of fusedBudgetFaults(c, Math.max(1, Math.round(perEpoch * c.training.epochs))))
          issues.push({ path: planPath(['steps', i, ...f.path]), message: f.message });
    }
    if (Object.hasOwn(FAMILY_STEPS, step.kind)) {
      const { key, family } = FAMILY_STEPS[step.kind as FamilyStepKind];
      const name = String((step as Record<string, unknown>)[key]);
      const needs = compressorInfo(family, name)?.needsData ?? 'none';
      need(needs === 'train' && !dataset.train, at, `the "${name}" ${family} trains and needs dataset.train`);
      need(
        needs === 'calibration' && !dataset.calibration && !dataset.train,
        at,
        `the "${name}" ${family} needs dataset.calibration (or dataset.train)`,
      );
      for (const f of compressorInfo(family, name)?.check?.(step as Record<string, unknown>) ?? [])
        issues.push({ path: planPath(['steps', i, f.key]), message: f.message });
    }
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns zod issues into plan issues; an unknown key becomes one issue at its own path. */
function toPlanIssues(zodIssues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): PlanIssue[] {
  return zodIssues.flatMap((iss) => {
    const at = [...prefix, ...iss.path];
    if (iss.code === 'unrecognized_keys')
      return iss.keys.map((key) => ({ path: planPath([...at, key]), message: `unknown option "${key}"` }));
    return [{ path: planPath(at), message: iss.message }];
  });
}

/**
 * The config list checked by src-shared/config (NNI 3.0 keys, values, cross-key rules), its faults re-rooted at
 * `path` (`$[0].sparse_ratio` → `$.steps[1].configList[0].sparse_ratio`). The plan keeps the user's list as
 * written; steps parse it again for the typed entries.
 */
function configListIssues(list: unknown, mode: 'pruning' | 'quantization' | 'distillation', path: string): PlanIssue[] {
  try {
    parseConfigList(list, mode);
    return [];
  } catch (e) {
    if (e instanceof ConfigListError)
      return e.issues.map((i) => ({ path: path + i.path.slice(1), message: i.message }));
    return [{ path, message: (e as Error).message }];
  }
}

/** The model and data files a plan reads, each with its JSON path (for "file not found" faults). */
export function planInputs(plan: Plan): { path: string; file: string }[] {
  const files = [{ path: '$.model', file: plan.model }];
  for (const split of ['train', 'calibration', 'evaluation'] as const) {
    plan.dataset[split]?.paths.forEach((file, i) =>
      files.push({ path: planPath(['dataset', split, 'paths', i]), file }),
    );
  }
  plan.steps.forEach((step, i) => {
    if (step.kind === 'distill' && (step as DistillStep).teacher)
      files.push({ path: planPath(['steps', i, 'teacher']), file: (step as DistillStep).teacher! });
    const fusedTeacher = step.kind === 'compress' ? (step as CompressStep).distillation?.teacher : undefined;
    if (fusedTeacher) files.push({ path: planPath(['steps', i, 'distillation', 'teacher']), file: fusedTeacher });
  });
  return files;
}

/** A copy of the plan with every file path mapped (e.g. resolved against the plan file's folder). */
export function mapPlanPaths(plan: Plan, map: (file: string) => string): Plan {
  const dataset: Dataset = {};
  for (const split of ['train', 'calibration', 'evaluation'] as const) {
    const s = plan.dataset[split];
    if (s) dataset[split] = { ...s, paths: s.paths.map(map) };
  }
  const steps = plan.steps.map((step) => {
    if (step.kind === 'distill' && (step as DistillStep).teacher)
      return { ...step, teacher: map((step as DistillStep).teacher!) };
    const c = step as CompressStep;
    if (step.kind === 'compress' && c.distillation?.teacher)
      return { ...c, distillation: { ...c.distillation, teacher: map(c.distillation.teacher) } };
    return step;
  });
  return { ...plan, model: map(plan.model), dataset, steps };
}

// ---------------------------------------------------------------------------------------------------------------
// Measurements, step results, reports

export const latencySchema = z.object({
  p50: z.number().nonnegative(),
  p90: z.number().nonnegative().optional(),
  runs: z.int().optional(),
  /** After a run: the original model's p50, timed in the same session of runs, alternating with this model. */
  baselineP50: z.number().nonnegative().optional(),
  /** After a run: original ÷ this model, the median over alternating rounds (robust to drifting load). */
  speedup: z.number().positive().optional(),
});

/** One measurement of a model: task metric, size and speed. Unknown quantities are null. */
export const metricSnapshotSchema = z.object({
  metric: z.enum(METRICS).nullable(),
  /** The evaluator's top-1 / top-5 accuracy in [0, 1]; null when not evaluated or when the metric is loss. */
  accuracy: z.number().nullable(),
  loss: z.number().nullable(),
  params: z.number().nonnegative(),
  macs: z.number().nonnegative().nullable(),
  sizeBytes: z.number().nonnegative(),
  latencyMs: latencySchema.nullable(),
  /**
   * Latency at the plan's evaluation batch size (`evaluator.batchSize`), timed as `latencyMs` is (after a run, side by
   * side with the original): small models often lose at batch 1 and win at the batch they are evaluated with, so the
   * report shows both. Null or absent when the plan has no evaluator, the batch size is 1, or the model's batch
   * dimension is fixed to another size.
   */
  latencyAtEvalBatch: latencySchema.extend({ batch: z.int().positive() }).nullable().optional(),
  /**
   * After a run whose result is slower than the original at some batch size: those sizes and why (from ORT's
   * optimized graph, the model's size and the CPU), so a report never shows a slowdown without its reason.
   */
  slower: z
    .object({ batches: z.array(z.int().positive()), reasons: z.array(z.string()) })
    .nullable()
    .optional(),
  /** Default-domain opset of the measured model, when known. */
  opset: z.int().nullable().optional(),
  /**
   * The execution provider the plan asked for and the one the measurement ran on; `fallback` says why they differ
   * (e.g. "webgpu requested but no GPU adapter was found: …; ran on cpu"). Absent in runs recorded before.
   */
  provider: z.object({ requested: z.string(), used: z.string(), fallback: z.string().nullable() }).optional(),
});
export type MetricSnapshot = z.infer<typeof metricSnapshotSchema>;

/** An empty snapshot to fill in. */
export function emptySnapshot(): MetricSnapshot {
  return { metric: null, accuracy: null, loss: null, params: 0, macs: null, sizeBytes: 0, latencyMs: null };
}

const jsonRecord = z.record(z.string(), z.unknown());

/** What a step executor returns. Paths are absolute files the step wrote (normally under its checkpoint dir). */
export const stepResultSchema = z.object({
  /** The model after this step; absent = the step did not change the model. */
  outputModel: z.string().optional(),
  /** Other files worth keeping (masks, calibration tables…). */
  artifacts: z.array(z.object({ name: z.string(), path: z.string(), kind: z.string().default('file') })).optional(),
  /** Measurements the step made on its output. */
  metrics: metricSnapshotSchema.partial().optional(),
  /** Free-form facts for the report (sparsity reached, channels removed…). JSON values only. */
  summary: jsonRecord.optional(),
});
export type StepResult = z.input<typeof stepResultSchema>;

export const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const STEP_STATUSES = ['pending', 'running', 'done', 'failed', 'cancelled', 'interrupted'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** An error as it crosses a process boundary: name and code kept, never flattened to a message. */
export const serializedErrorSchema = z.object({
  name: z.string(),
  code: z.string(),
  message: z.string(),
  details: z.unknown().optional(),
});
export type SerializedError = z.infer<typeof serializedErrorSchema>;

/** The record of one step in a report. */
export const stepReportSchema = z.object({
  index: z.int(),
  kind: z.string(),
  status: z.enum(STEP_STATUSES),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  metrics: metricSnapshotSchema.partial().nullable(),
  summary: jsonRecord.nullable(),
  /** sha256 of the model after the step (null when the step kept the model). */
  modelSha256: z.string().nullable(),
  error: serializedErrorSchema.nullable(),
});
export type StepReport = z.infer<typeof stepReportSchema>;

/** before / after ratios: params, MACs and size as compression factors (×), latency as speedup, accuracy as delta. */
export const factorsSchema = z.object({
  params: z.number().nullable(),
  macs: z.number().nullable(),
  sizeBytes: z.number().nullable(),
  latency: z.number().nullable(),
  /** Original ÷ result latency at the evaluation batch size (absent in reports recorded before it was measured). */
  latencyAtEvalBatch: z.number().nullable().optional(),
  accuracyDelta: z.number().nullable(),
});
export type Factors = z.infer<typeof factorsSchema>;

export const runReportSchema = z.object({
  runId: z.string(),
  planName: z.string().nullable(),
  status: z.enum(RUN_STATUSES),
  before: metricSnapshotSchema,
  after: metricSnapshotSchema,
  factors: factorsSchema,
  steps: z.array(stepReportSchema),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  /** sha256 of the final model. */
  modelSha256: z.string().nullable(),
});
export type RunReport = z.infer<typeof runReportSchema>;

const ratio = (a: number | null | undefined, b: number | null | undefined) =>
  a != null && b != null && b > 0 ? a / b : null;

/**
 * The before / after factors of a report.
 *
 * @example computeFactors({ ...b, params: 100 }, { ...a, params: 25 }).params // 4 (4× fewer parameters)
 */
export function computeFactors(before: MetricSnapshot, after: MetricSnapshot): Factors {
  return {
    params: ratio(before.params, after.params),
    macs: ratio(before.macs, after.macs),
    sizeBytes: ratio(before.sizeBytes, after.sizeBytes),
    // the side-by-side figure of the after measurement where there is one; two separate measurements otherwise
    latency: after.latencyMs?.speedup ?? ratio(before.latencyMs?.p50, after.latencyMs?.p50),
    latencyAtEvalBatch:
      after.latencyAtEvalBatch?.speedup ?? ratio(before.latencyAtEvalBatch?.p50, after.latencyAtEvalBatch?.p50),
    accuracyDelta: before.accuracy != null && after.accuracy != null ? after.accuracy - before.accuracy : null,
  };
}

/** The "before" latency a report shows beside the after one: the side-by-side baseline when measured. */
export function beforeLatencyMs(before: MetricSnapshot, after: MetricSnapshot): number | null {
  return after.latencyMs?.baselineP50 ?? before.latencyMs?.p50 ?? null;
}

/** The same at the evaluation batch size. */
export function beforeEvalBatchLatencyMs(before: MetricSnapshot, after: MetricSnapshot): number | null {
  return after.latencyAtEvalBatch?.baselineP50 ?? before.latencyAtEvalBatch?.p50 ?? null;
}

/** Report fields the comparison view may sort by (`after.*`, `before.*`, `factors.*`). */
export const SORTABLE_METRICS = [
  'after.accuracy',
  'after.loss',
  'after.params',
  'after.macs',
  'after.sizeBytes',
  'after.latencyMs.p50',
  'before.accuracy',
  'before.loss',
  'before.params',
  'before.macs',
  'before.sizeBytes',
  'before.latencyMs.p50',
  'factors.params',
  'factors.macs',
  'factors.sizeBytes',
  'factors.latency',
  'factors.accuracyDelta',
] as const;
export type SortableMetric = (typeof SORTABLE_METRICS)[number];

// ---------------------------------------------------------------------------------------------------------------
// Progress events (worker → host → transports → renderer)

export const progressEventSchema = z.object({
  stepIndex: z.int(),
  stepCount: z.int(),
  /** Step kind, or `measure` while the before / after measurements run. */
  kind: z.string(),
  /** Fraction of the current step done, 0..1. */
  fraction: z.number().min(0).max(1),
  /** Fraction of the whole run done, 0..1. */
  overall: z.number().min(0).max(1),
  etaMs: z.number().nonnegative().nullable(),
  loss: z.number().optional(),
  /** The training step `loss` was taken at (the loss curve's x). */
  step: z.int().nonnegative().optional(),
  /** Parts of the loss where a step has several (`loss.task`, `loss.distill`). */
  parts: z.record(z.string(), z.number()).optional(),
  metric: z.number().optional(),
  message: z.string().optional(),
  /** True when the worker sent it because the step was silent. */
  heartbeat: z.boolean(),
  t: z.number(),
});
export type ProgressEvent = z.infer<typeof progressEventSchema>;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const logEventSchema = z.object({
  level: z.enum(LOG_LEVELS),
  message: z.string(),
  stepIndex: z.int().nullable(),
  t: z.number(),
});
export type LogEvent = z.infer<typeof logEventSchema>;
