/**
 * @file Experiment plan (zod-validated JSON, config lists checked by src-shared/config): the data splits, the
 * evaluator, the step registry and one options schema per step kind, the plan's parser and its cross-field rules.
 * The fused `compress` step lives in compress-step.ts, the shared plan pieces in plan-parts.ts, and what a run
 * measures and reports in report.ts (re-exported here, so importers keep one module for the plan and its report).
 * Pure TypeScript: imports only zod and src-shared, never Node, DOM, Electron or src-main.
 */
import { z } from 'zod';
import { findUnsafeKeys, MAX_JSON_DEPTH } from './config/json.ts';
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
import { compressSchema, fusedBudgetFaults, parseCompressStep, type CompressStep } from './compress-step.ts';
import {
  configList,
  configListIssues,
  isObject,
  nonNegativeInt,
  path,
  PlanError,
  planPath,
  positiveInt,
  toPlanIssues,
  unionOf,
  type ConfigListJson,
  type OptionsOf,
  type PlanIssue,
} from './plan-parts.ts';
import { METRICS } from './report.ts';
import { planAllocationSchema, SCAN_PRUNERS } from './sensitivity.ts';

export { PlanError, planPath, type PlanIssue } from './plan-parts.ts';
export * from './report.ts';

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
    /**
     * Skip this many samples first; `limit` then counts from there. Two splits of one file, one with `limit: N` and
     * one with `offset: N`, are disjoint: a validation split held out from the training images.
     */
    offset: nonNegativeInt.optional(),
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
 * Training-time augmentation of the `finetune` and `distill` steps: each training image shifted by a seeded random
 * whole number of pixels in [−shift, shift] on each axis, per step (a distillation teacher labels the shifted image).
 */
export const augmentSchema = z.strictObject({ shift: z.number().int().min(0).max(64) });

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
      augment: augmentSchema.optional(),
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

/** A step naming member N of a registry R through option Key, with N's options. */
type MemberStep<Kind extends string, Key extends string, R> = {
  [N in keyof R & string]: { kind: Kind; configList: ConfigListJson } & { [k in Key]: N } & OptionsOf<R[N]>;
}[keyof R & string];

export type PruneStep = MemberStep<'prune', 'pruner', typeof PRUNER_REGISTRY>;
export type QuantizeStep = MemberStep<'quantize', 'quantizer', typeof QUANTIZER_REGISTRY>;
/** A distill step: the distiller's own options (a layer-wise one's config list, the logits one's T and α) and the training ones. */
export type DistillStep = {
  [N in keyof typeof DISTILLER_REGISTRY & string]: {
    kind: 'distill';
    distiller: N;
    teacher?: string;
    augment?: z.infer<typeof augmentSchema>;
  } & z.infer<z.ZodObject<typeof trainingShape>> &
    OptionsOf<(typeof DISTILLER_REGISTRY)[N]>;
}[keyof typeof DISTILLER_REGISTRY & string];

/** Options of the steps that name no compressor. Each is strict: unknown options are rejected with their JSON path. */
const PLAIN_STEP_SCHEMAS = {
  speedup: z.strictObject({
    kind: z.literal('speedup'),
    /** Round kept channel counts up to a multiple of this (hardware-friendly widths). */
    roundTo: positiveInt.optional(),
  }),
  finetune: z.strictObject({ kind: z.literal('finetune'), ...trainingShape, augment: augmentSchema.optional() }),
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
