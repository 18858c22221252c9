/** @file Zod schemas of NNI 3.0 config lists in the three modes (pruning, quantization, distillation): the key
 * sets, value ranges and cross-key rules of `default_config_schema` (nni/compression/base/config.py). Pure
 * TypeScript: imports only zod, never Node or DOM.
 */
import { z } from 'zod';

/** The three NNI compression modes; each has its own keys and its own template table. */
export const MODES = ['pruning', 'quantization', 'distillation'] as const;
export type Mode = (typeof MODES)[number];

/** Keys choosing ops; NNI pops them before settings resolution. */
export const SELECTION_KEYS = [
  'op_types',
  'op_names',
  'op_names_re',
  'exclude_op_names',
  'exclude_op_names_re',
  'exclude_op_types',
] as const;

/** At least one of these must be present (NNI's `Or('op_types', 'op_names', 'op_names_re')`). */
export const SELECTOR_KEYS = ['op_types', 'op_names', 'op_names_re'] as const;

/** Keys that are never shortcuts: every other top-level key is copied into targets that declare it. */
export const NON_SHORTCUT_KEYS: ReadonlySet<string> = new Set([
  ...SELECTION_KEYS,
  'target_names',
  'target_settings',
  'fuse_names',
]);

/** `dependency_group_id: 'auto'` = take the group from the channel-dependency analysis instead of a user id. */
export const AUTO_DEPENDENCY_GROUP = 'auto';

// Refinements run even when sibling keys already failed, so one pass reports every fault.
const ALWAYS = { when: () => true };

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

const names = z.array(z.string());

/** An integer. (Not `z.int()`: its failure aborts the sibling refinements, and we want every fault in one pass.) */
const integer = () => z.number().refine(Number.isInteger, { error: 'must be an integer' });

/** JS RegExp must accept the pattern; Python-only syntax such as `(?P<name>…)` fails here rather than later. */
const regexString = z.string().superRefine((pattern, ctx) => {
  try {
    new RegExp(pattern);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: `not a valid regular expression (${(err as Error).message})` });
  }
});

const selectionShape = {
  op_types: names.optional(),
  op_names: names.optional(),
  op_names_re: z.array(regexString).optional(),
  exclude_op_names: names.optional(),
  exclude_op_names_re: z.array(regexString).optional(),
  exclude_op_types: names.optional(),
  target_names: names.optional(),
};

/** A block kernel entry: a positive block length, or -1 for "the whole dim is one block". */
const blockDim = z.number().refine((n) => Number.isInteger(n) && (n === -1 || n > 0), {
  error: 'block sizes must be positive integers or -1',
});

/** `'default'`, a channel keyword, or a block kernel such as `[4, 4]` / `[-1, 1]` (NNI-SEMANTICS §2). */
export const granularitySchema = z.union(
  [
    z.enum(['default', 'out_channel', 'in_channel', 'per_channel']),
    z.array(blockDim).min(1, { error: 'a block list needs at least one size' }),
  ],
  {
    error:
      "must be 'default', 'out_channel', 'in_channel', 'per_channel' or a non-empty list of block sizes (positive ints or -1)",
  },
);
export type Granularity = z.infer<typeof granularitySchema>;

const groupId = z
  .union([z.number(), z.string()], { error: 'must be an integer or a string' })
  .refine((id) => typeof id === 'string' || Number.isInteger(id), { error: 'must be an integer or a string' });

/** Mask derived from another target's mask; `module_name` null/absent = the same op (NNI-SEMANTICS §3.2 rule 5). */
export const alignSchema = z.strictObject({
  module_name: z.string().nullable().optional(),
  target_name: z.string(),
  dims: z.array(integer()),
});
export type Align = z.infer<typeof alignSchema>;

/** The selector rule: a config must say which ops it is about. */
function requireSelector(config: Record<string, unknown>, ctx: z.RefinementCtx): void {
  // Runs even when the entry is not an object (ALWAYS); that fault is reported by the object schema.
  if (typeof config !== 'object' || config === null) return;
  if (SELECTOR_KEYS.some((k) => config[k] !== undefined)) return;
  ctx.addIssue({ code: 'custom', message: `needs at least one of ${SELECTOR_KEYS.join(', ')}` });
}

// ---------------------------------------------------------------------------------------------------------------
// Pruning

/**
 * Template keys whose default is null accept null (= unset, exactly as if the key were left out), as in NNI's
 * templates and the explicit configs of its documentation; every other key refuses null with its JSON path
 * (docs/pruning.md, "null means unset").
 */
const pruningSettingShape = {
  // A ratio of 1 would mask every weight of the target (NNI's own schema requires 0 < ratio < 1).
  sparse_ratio: z.number().gte(0).lt(1).nullable().optional(),
  // Metrics are norms and magnitudes (≥ 0): a negative threshold can never mask anything.
  sparse_threshold: z.number().gte(0).nullable().optional(),
  max_sparse_ratio: z.number().gt(0).lte(1).nullable().optional(),
  min_sparse_ratio: z.number().gte(0).lt(1).nullable().optional(),
  global_group_id: groupId.nullable().optional(),
  dependency_group_id: groupId.nullable().optional(),
  internal_metric_block: integer().gte(1).nullable().optional(),
  granularity: granularitySchema.optional(),
  apply_method: z.enum(['mul', 'add', 'bypass', 'movement_mul', 'movement_add', 'slim_mul']).optional(),
  align: alignSchema.optional(),
};

const isNumber = (v: unknown): v is number => typeof v === 'number';

/**
 * NNI's `only_one` between `sparse_ratio` and `sparse_threshold` (null counts as unset), and min ≤ max.
 * Applied to the top level and to each target setting separately.
 */
function pruningRatioRules(setting: Record<string, unknown>, ctx: z.RefinementCtx): void {
  // Runs even when the value is not an object (ALWAYS); that fault is reported by the object schema.
  if (typeof setting !== 'object' || setting === null) return;
  if (setting.sparse_ratio != null && setting.sparse_threshold != null) {
    ctx.addIssue({
      code: 'custom',
      path: ['sparse_threshold'],
      message: 'cannot be set together with sparse_ratio (set only one)',
    });
  }
  const { min_sparse_ratio: min, max_sparse_ratio: max } = setting;
  // Only between in-range values: an out-of-range bound already has its own fault.
  if (isNumber(min) && isNumber(max) && min >= 0 && max <= 1 && max > 0 && min < 1 && min > max) {
    ctx.addIssue({ code: 'custom', path: ['min_sparse_ratio'], message: `must be ≤ max_sparse_ratio (${max})` });
  }
}

export const pruningSettingSchema = z.strictObject(pruningSettingShape).superRefine(pruningRatioRules, ALWAYS);
export type PruningSetting = z.infer<typeof pruningSettingSchema>;

export const pruningConfigSchema = z
  .strictObject({
    ...selectionShape,
    target_settings: z.record(z.string(), pruningSettingSchema).optional(),
    ...pruningSettingShape,
  })
  .superRefine(requireSelector, ALWAYS)
  .superRefine(pruningRatioRules, ALWAYS);
export type PruningConfig = z.infer<typeof pruningConfigSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Quantization

/** `int{N}` / `uint{N}`, N in 1..32. */
export const QUANT_DTYPE = /^u?int([1-9]|[12]\d|3[0-2])$/;

const quantizationSettingShape = {
  quant_dtype: z
    .string()
    .regex(QUANT_DTYPE, { error: "must be 'int{N}' or 'uint{N}' with N in 1..32, or null for int8" })
    .nullable()
    .optional(),
  quant_scheme: z.enum(['affine', 'symmetric']).nullable().optional(),
  granularity: granularitySchema.optional(),
  apply_method: z.enum(['bypass', 'clamp_round', 'qat_clamp_round']).optional(),
};

export const quantizationSettingSchema = z.strictObject(quantizationSettingShape);
export type QuantizationSetting = z.infer<typeof quantizationSettingSchema>;

/** One fusion group: 2 or 3 op names, the first the op whose quantization absorbs the others (NNI-SEMANTICS §6). */
const fusionGroup = z
  .array(z.string())
  .min(2, { error: 'a fusion group lists 2 or 3 op names' })
  .max(3, { error: 'a fusion group lists 2 or 3 op names' });

export const quantizationConfigSchema = z
  .strictObject({
    ...selectionShape,
    target_settings: z.record(z.string(), quantizationSettingSchema).optional(),
    ...quantizationSettingShape,
    fuse_names: z.array(fusionGroup).optional(),
  })
  .superRefine(requireSelector, ALWAYS);
export type QuantizationConfig = z.infer<typeof quantizationConfigSchema>;

/** Only the keys the list-wide fuse_names checks read; not strict, so those checks run even when other keys fail. */
export const fusionViewSchema = z.object({
  op_names: names.optional(),
  op_names_re: z.array(regexString).optional(),
  fuse_names: z.array(fusionGroup),
});
export type FusionView = z.infer<typeof fusionViewSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Distillation

const distillationSettingShape = {
  lambda: z.number().nullable().optional(),
  link: z
    .union([z.string(), z.array(z.string())], { error: "must be a teacher op name, a list of names, or 'auto'" })
    .nullable()
    .optional(),
  apply_method: z.enum(['mse', 'kl']).nullable().optional(),
};

export const distillationSettingSchema = z.strictObject(distillationSettingShape);
export type DistillationSetting = z.infer<typeof distillationSettingSchema>;

export const distillationConfigSchema = z
  .strictObject({
    ...selectionShape,
    target_settings: z.record(z.string(), distillationSettingSchema).optional(),
    ...distillationSettingShape,
  })
  .superRefine(requireSelector, ALWAYS);
export type DistillationConfig = z.infer<typeof distillationConfigSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Per-mode tables

/** One config-entry schema per mode. */
export const CONFIG_SCHEMAS = {
  pruning: pruningConfigSchema,
  quantization: quantizationConfigSchema,
  distillation: distillationConfigSchema,
} as const satisfies Record<Mode, z.ZodType>;

/** One target-setting schema per mode (used for target_settings values and registered templates). */
export const SETTING_SCHEMAS = {
  pruning: pruningSettingSchema,
  quantization: quantizationSettingSchema,
  distillation: distillationSettingSchema,
} as const satisfies Record<Mode, z.ZodType>;

/** The validated config entry of mode `M`. */
export type ConfigEntryOf<M extends Mode> = z.infer<(typeof CONFIG_SCHEMAS)[M]>;
/** A validated config entry of any mode. */
export type ConfigEntry = ConfigEntryOf<Mode>;
/** The target setting of mode `M`. */
export type SettingOf<M extends Mode> = z.infer<(typeof SETTING_SCHEMAS)[M]>;
/** A target setting of any mode. */
export type Setting = SettingOf<Mode>;

/** The setting keys a mode knows (its shortcut keys), used for "not a <mode> key" hints. */
export const SETTING_KEYS: Record<Mode, readonly string[]> = {
  pruning: Object.keys(pruningSettingShape),
  quantization: Object.keys(quantizationSettingShape),
  distillation: Object.keys(distillationSettingShape),
};
