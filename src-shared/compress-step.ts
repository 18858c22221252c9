/**
 * @file The fused `compress` step of the plan: pruning, quantization and distillation in ONE training run (NNI's
 * fusion compression). Its schema (the blocks, each as its own step less the training keys, and one training
 * block), its parser with faults at their JSON paths, which compressors can be fused (`fusedRefusal`) and the
 * budgets a run of N optimizer steps leaves them (`fusedBudgetFaults`). Pure TypeScript: imports only zod and
 * src-shared, never Node, DOM, Electron or src-main.
 */
import { z } from 'zod';
import {
  DISTILLER_REGISTRY,
  FAMILIES,
  PRUNER_REGISTRY,
  QUANTIZER_REGISTRY,
  TRAINING_SHAPE,
  compressorInfo,
  unknownCompressorMessage,
} from './compressors.ts';
import {
  configListIssues,
  isObject,
  nonNegativeInt,
  path,
  planPath,
  positiveInt,
  toPlanIssues,
  unionOf,
  type ConfigListJson,
  type OptionsOf,
  type PlanIssue,
} from './plan-parts.ts';
import { checkPruneOptions, isTrainingPruner, stepsNeeded, type TrainingPrunerName } from './prune-options.ts';

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
  training: z.infer<z.ZodObject<typeof TRAINING_SHAPE>>;
  /** Remove the pruned channels after the run (default true). */
  speedup: boolean;
  /** Keep pruned widths at multiples of this. */
  roundTo?: number;
  /**
   * After training, before the export: every BatchNormalization's statistics measured again over this many training
   * images on the model as it will run (masks and fake quantization in place); 0 or absent: the running statistics
   * tracked in training are kept.
   */
  batchNormStats?: number;
}

/** The step's own keys; the blocks are checked one by one (parseCompressStep) for faults named by their member. */
const compressOwnSchema = z.strictObject({
  kind: z.literal('compress'),
  pruning: z.unknown().optional(),
  quantization: z.unknown().optional(),
  distillation: z.unknown().optional(),
  training: z.strictObject(TRAINING_SHAPE, {
    error: (iss) =>
      iss.input === undefined
        ? 'a compress step trains once for all its compressors: it needs a training block (epochs, lr, optimizer, schedule, batchSize)'
        : undefined,
  }),
  speedup: z.boolean().default(true),
  roundTo: positiveInt.optional(),
  batchNormStats: nonNegativeInt.optional(),
});

/** The schema of a whole compress step (its blocks as unions of their members), for typing and reuse. */
export const compressSchema = z.strictObject({
  ...compressOwnSchema.shape,
  pruning: unionOf([...BLOCK_SCHEMAS.pruning.values()]).optional(),
  quantization: unionOf([...BLOCK_SCHEMAS.quantization.values()]).optional(),
  distillation: unionOf([...BLOCK_SCHEMAS.distillation.values()]).optional(),
}) as unknown as z.ZodType<CompressStep>;

/**
 * Parse a compress step, reporting each block's faults at its own JSON path (the member named, then its options,
 * then its config list) and the faults of the whole: no block, no training block, a compressor that cannot be fused.
 */
export function parseCompressStep(
  raw: Record<string, unknown>,
  at: PropertyKey[],
  issues: PlanIssue[],
): CompressStep | null {
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
