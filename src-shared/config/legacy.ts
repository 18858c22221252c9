/** @file NNI 2.x → 3.0 config-list translation (NNI's `trans_legacy_config_list`, NNI-SEMANTICS §1.5), run on the raw
 * JSON before validation. Pure TypeScript: imports only sibling modules, never Node or DOM.
 */
import type { Diagnostic } from './diagnostics.ts';
import { jsonPath, type ConfigIssue } from './errors.ts';
import { cloneJson, describeValue, isPlainObject, type JsonObject } from './json.ts';

/** Translation runs only when the FIRST config holds one of these keys (NNI's trigger). */
export const LEGACY_TRIGGER_KEYS = [
  'exclude',
  'sparsity',
  'sparsity_per_layer',
  'total_sparsity',
  'quant_types',
] as const;

/** Every 2.x key the translation consumes. */
export const LEGACY_KEYS: ReadonlySet<string> = new Set([
  ...LEGACY_TRIGGER_KEYS,
  'max_sparsity_per_layer',
  'op_partial_names',
  'quant_bits',
]);

/** The result of translating a (possibly) legacy list. */
export interface LegacyTranslation {
  /** The configs to validate: the input itself when it is not legacy, else translated deep copies. */
  configs: unknown[];
  translated: boolean;
  /** Faults in legacy keys that prevent translating them (reported with the user's own paths). */
  issues: ConfigIssue[];
  diagnostics: Diagnostic[];
  /** Translated JSON path → the path the user wrote, so validation faults point at `$[0].sparsity`, not at a key the user never wrote. */
  aliases: Map<string, string>;
}

interface Context {
  issues: ConfigIssue[];
  aliases: Map<string, string>;
  /** per config index: what was translated, for the info diagnostic */
  notes: Map<number, string[]>;
}

const QUANT_TYPE_TARGETS = { input: '_input_', weight: 'weight', output: '_output_' } as const;
type LegacyQuantType = keyof typeof QUANT_TYPE_TARGETS;

/**
 * True when NNI would treat the list as 2.x: its first config has `exclude`, `sparsity`, `sparsity_per_layer`,
 * `total_sparsity` or `quant_types`.
 */
export function isLegacyConfigList(list: readonly unknown[]): boolean {
  const first = list[0];
  return isPlainObject(first) && LEGACY_TRIGGER_KEYS.some((k) => Object.hasOwn(first, k));
}

/**
 * Translates a 2.x config list the way NNI 3.0 does, with two deliberate differences: `total_sparsity` becomes a real
 * `global_group_id` (NNI emits an unknown `group_id` key), and `exclude: false` excludes nothing (NNI tests presence).
 *
 * @example
 * translateLegacyConfigList([{ op_types: ['Conv2d'], sparsity: 0.5 }]).configs
 * // [{ op_types: ['Conv2d'], target_names: ['weight', 'bias'], target_settings: { weight: { sparse_ratio: 0.5, granularity: 'default' } } }]
 */
export function translateLegacyConfigList(list: readonly unknown[]): LegacyTranslation {
  if (!isLegacyConfigList(list)) {
    return { configs: [...list], translated: false, issues: [], diagnostics: [], aliases: new Map() };
  }
  const configs = list.map((c) => cloneJson(c));
  const ctx: Context = { issues: [], aliases: new Map(), notes: new Map() };
  const objects = configs.flatMap((c, i) => (isPlainObject(c) ? [[c, i] as const] : []));
  for (const [c, i] of objects) translatePartialNames(c, i, ctx);
  applyExcludes(objects, ctx);
  for (const [c, i] of objects) translatePruning(c, i, ctx);
  for (const [c, i] of objects) translateQuantization(c, i, ctx);
  return {
    configs,
    translated: true,
    issues: ctx.issues,
    diagnostics: legacyDiagnostics(list[0] as JsonObject, ctx),
    aliases: ctx.aliases,
  };
}

function note(ctx: Context, index: number, text: string): void {
  ctx.notes.set(index, [...(ctx.notes.get(index) ?? []), text]);
}

function fault(ctx: Context, segments: readonly PropertyKey[], message: string): void {
  ctx.issues.push({ path: jsonPath(segments), message });
}

/** Removes and returns `config[key]`. */
function take(config: JsonObject, key: string): unknown {
  const value = config[key];
  delete config[key];
  return value;
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

/** `op_partial_names: [p]` → `op_names_re: ['.*p.*']` (not escaped, as in NNI). */
function translatePartialNames(config: JsonObject, index: number, ctx: Context): void {
  if (!Object.hasOwn(config, 'op_partial_names')) return;
  const partial = take(config, 'op_partial_names');
  if (!isStringArray(partial))
    return fault(ctx, [index, 'op_partial_names'], `expected a list of strings, got ${describeValue(partial)}`);
  config.op_names_re = partial.map((p) => `.*${p}.*`);
  ctx.aliases.set(jsonPath([index, 'op_names_re']), jsonPath([index, 'op_partial_names']));
  note(ctx, index, 'op_partial_names → op_names_re');
}

/** `exclude: true` configs lend their names/types/regexes to the exclude_op_* lists of every config. */
function applyExcludes(objects: readonly (readonly [JsonObject, number])[], ctx: Context): void {
  const excluded = {
    exclude_op_types: new Set<string>(),
    exclude_op_names: new Set<string>(),
    exclude_op_names_re: new Set<string>(),
  };
  for (const [config, index] of objects) {
    if (!Object.hasOwn(config, 'exclude')) continue;
    const flag = take(config, 'exclude');
    if (typeof flag !== 'boolean') fault(ctx, [index, 'exclude'], `must be true or false, got ${describeValue(flag)}`);
    if (flag !== true) continue;
    collectStrings(config.op_types, excluded.exclude_op_types);
    collectStrings(config.op_names, excluded.exclude_op_names);
    collectStrings(config.op_names_re, excluded.exclude_op_names_re);
    note(ctx, index, 'exclude: its ops are excluded from every config (this config now selects nothing)');
  }
  for (const [key, set] of Object.entries(excluded)) {
    if (set.size === 0) continue;
    for (const [config] of objects)
      config[key] = [...new Set([...(isStringArray(config[key]) ? config[key] : []), ...set])];
  }
}

function collectStrings(value: unknown, into: Set<string>): void {
  if (isStringArray(value)) for (const s of value) into.add(s);
}

/** `sparsity` / `sparsity_per_layer` / `total_sparsity` (+ `max_sparsity_per_layer`) → a weight target setting. */
function translatePruning(config: JsonObject, index: number, ctx: Context): void {
  const max = take(config, 'max_sparsity_per_layer');
  const perLayer = take(config, 'sparsity_per_layer');
  const sparsity = take(config, 'sparsity');
  const total = take(config, 'total_sparsity');
  const [ratio, key] =
    total != null
      ? [total, 'total_sparsity']
      : perLayer != null
        ? [perLayer, 'sparsity_per_layer']
        : [sparsity, 'sparsity'];
  if (ratio == null) return;
  const weight: JsonObject = { sparse_ratio: ratio, granularity: 'default' };
  ctx.aliases.set(jsonPath([index, 'target_settings', 'weight', 'sparse_ratio']), jsonPath([index, key]));
  if (max != null) {
    weight.max_sparse_ratio = max;
    ctx.aliases.set(
      jsonPath([index, 'target_settings', 'weight', 'max_sparse_ratio']),
      jsonPath([index, 'max_sparsity_per_layer']),
    );
  }
  if (key === 'total_sparsity') weight.global_group_id = `legacy_total_sparsity_${index}`;
  config.target_names = ['weight', 'bias'];
  config.target_settings = { weight };
  const group = key === 'total_sparsity' ? ` with global_group_id '${weight.global_group_id}'` : '';
  note(ctx, index, `${key} → target_settings.weight.sparse_ratio${group}`);
}

/** `quant_types` + `quant_bits` → `_input_` / `weight` / `_output_` targets with `quant_dtype: 'int{bits}'`. */
function translateQuantization(config: JsonObject, index: number, ctx: Context): void {
  if (!Object.hasOwn(config, 'quant_types')) return;
  const types = take(config, 'quant_types');
  const bits = take(config, 'quant_bits');
  if (!isStringArray(types))
    return fault(ctx, [index, 'quant_types'], "expected a list of 'input', 'weight', 'output'");
  const targetNames: string[] = [];
  const targetSettings: Record<string, JsonObject> = {};
  types.forEach((type, k) => {
    if (!Object.hasOwn(QUANT_TYPE_TARGETS, type))
      return fault(ctx, [index, 'quant_types', k], "must be 'input', 'weight' or 'output'");
    const target = QUANT_TYPE_TARGETS[type as LegacyQuantType];
    const bit = quantBits(bits, type as LegacyQuantType, index, ctx);
    targetNames.push(target);
    if (bit !== undefined) targetSettings[target] = { quant_dtype: `int${bit}` };
  });
  config.target_names = targetNames;
  config.target_settings = targetSettings;
  note(ctx, index, `quant_types/quant_bits → targets ${targetNames.join(', ')}`);
}

/** The bit width for one quant type: `quant_bits` is an int or `{ input?, weight?, output? }`. */
function quantBits(bits: unknown, type: LegacyQuantType, index: number, ctx: Context): number | undefined {
  const [value, segments] = isPlainObject(bits)
    ? [bits[type], [index, 'quant_bits', type]]
    : [bits, [index, 'quant_bits']];
  if (value === undefined) return void fault(ctx, segments, `is required for quant type '${type}'`);
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 32) {
    return void fault(ctx, segments, `must be an integer bit width in 1..32, got ${describeValue(value)}`);
  }
  return value;
}

function legacyDiagnostics(first: JsonObject, ctx: Context): Diagnostic[] {
  const trigger = LEGACY_TRIGGER_KEYS.find((k) => Object.hasOwn(first, k));
  const summary: Diagnostic = {
    level: 'warning',
    code: 'legacy-config',
    path: '$',
    message: `legacy NNI 2.x config list (the first config has '${trigger}') translated to NNI 3.0 keys`,
  };
  const details = [...ctx.notes].map(([index, notes]): Diagnostic => ({
    level: 'info',
    code: 'legacy-config',
    path: jsonPath([index]),
    message: notes.join('; '),
  }));
  return [summary, ...details];
}
