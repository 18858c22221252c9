/** @file Resolves one config entry into per-target settings for one op type, exactly as NNI's `ModuleSetting.get`
 * (nni/compression/base/setting.py), and the default granularity rule per compressor family. Pure TypeScript:
 * imports only sibling modules, never Node or DOM.
 */
import type { Diagnostic } from './diagnostics.ts';
import { NoTemplateError } from './errors.ts';
import { cloneJson, type JsonObject } from './json.ts';
import { NON_SHORTCUT_KEYS, type ConfigEntryOf, type Mode, type SettingOf } from './schema.ts';
import { getTemplate } from './templates.ts';

export const INPUT_PREFIX = '_input_';
export const OUTPUT_PREFIX = '_output_';

/** Where resolution diagnostics go and what they name. */
export interface ResolveOptions {
  /** Sink for diagnostics (unknown target names, conflicting merged keys). */
  diagnostics?: Diagnostic[];
  /** ONNX node the settings are for, copied into diagnostics. */
  node?: string;
  /** JSON path of the entry in the config list, e.g. `$[2]`; default `$`. */
  path?: string;
}

/** Settings under resolution: target → setting as plain objects. */
type Targets = Record<string, JsonObject>;

/**
 * The settings of each target of one op, NNI's `ModuleSetting.get`:
 * 1. deep-copy the op type's template;
 * 2. shortcut keys (top-level keys other than selection / target / fuse keys) are copied into every target whose
 *    setting already declares that key (a shortcut no target declares disappears);
 * 3. `target_settings` is merged last, a dict update per target (new keys and new targets allowed);
 * 4. targets = `target_names`, or every target of the merged settings when absent or empty;
 * 5. `_input_` → `_input_0`, `_output_` → `_output_0` (moved to the end, as NNI does);
 * 6. an `_input_k` / `_output_k` the merged settings lack takes the `_input_` / `_output_` setting.
 * A target found nowhere gets an error diagnostic and is left out.
 *
 * @example
 * resolveSettings('pruning', 'Gemm', { op_types: ['Gemm'], sparse_ratio: 0.8 })
 * // Map { 'weight' => { sparse_ratio: 0.8, …, granularity: 'default', apply_method: 'mul' },
 * //       'bias' => { align: { module_name: null, target_name: 'weight', dims: [0] }, apply_method: 'mul' } }
 * @throws NoTemplateError when the op type has no template in this mode (never in distillation)
 */
export function resolveSettings<M extends Mode>(
  mode: M,
  opType: string,
  entry: ConfigEntryOf<M>,
  options: ResolveOptions = {},
): Map<string, SettingOf<M>> {
  const merged = getTemplate(mode, opType) as Targets | undefined; // a fresh deep copy
  if (merged === undefined) throw new NoTemplateError(mode, opType, options.node);
  const templateTargets = Object.keys(merged);
  const fields = entry as JsonObject;
  applyShortcuts(merged, fields);
  mergeTargetSettings(merged, fields.target_settings as Targets | undefined);
  const requested = entry.target_names?.length ? entry.target_names : Object.keys(merged);
  const resolved = new Map<string, JsonObject>();
  for (const name of normaliseTargetNames(requested)) {
    const setting = pickSetting(merged, name);
    if (setting === undefined) report(options, unknownTarget(mode, opType, name, templateTargets), '.target_names');
    else resolved.set(name, setting);
  }
  if (mode === 'pruning') checkPruningSettings(resolved, options);
  return resolved as Map<string, SettingOf<M>>;
}

/** Step 2: shortcut keys land only where the template declares them. */
function applyShortcuts(targets: Targets, entry: JsonObject): void {
  const shortcuts = Object.entries(entry).filter(([key, value]) => !NON_SHORTCUT_KEYS.has(key) && value !== undefined);
  for (const setting of Object.values(targets)) {
    for (const [key, value] of shortcuts) if (Object.hasOwn(setting, key)) setting[key] = cloneJson(value);
  }
}

/** Step 3: dict-update each target; a target the template lacks is taken as written (not merged with `_input_`). */
function mergeTargetSettings(targets: Targets, updates: Targets | undefined): void {
  for (const [name, update] of Object.entries(updates ?? {})) {
    targets[name] = Object.hasOwn(targets, name) ? { ...targets[name], ...cloneJson(update) } : cloneJson(update);
  }
}

/** Step 5: bare `_input_` / `_output_` name index 0; duplicates collapse. */
export function normaliseTargetNames(names: readonly string[]): string[] {
  const out = names.filter((n) => n !== INPUT_PREFIX && n !== OUTPUT_PREFIX);
  if (names.includes(INPUT_PREFIX)) out.push(`${INPUT_PREFIX}0`);
  if (names.includes(OUTPUT_PREFIX)) out.push(`${OUTPUT_PREFIX}0`);
  return [...new Set(out)];
}

/** Step 6: the named setting, else the `_input_` / `_output_` fallback for input / output targets. */
function pickSetting(targets: Targets, name: string): JsonObject | undefined {
  if (Object.hasOwn(targets, name)) return cloneJson(targets[name]);
  const prefix = ioPrefix(name);
  return prefix !== undefined && Object.hasOwn(targets, prefix) ? cloneJson(targets[prefix]) : undefined;
}

function ioPrefix(name: string): string | undefined {
  if (name.startsWith(INPUT_PREFIX)) return INPUT_PREFIX;
  if (name.startsWith(OUTPUT_PREFIX)) return OUTPUT_PREFIX;
  return undefined;
}

/** True for `_input_…` / `_output_…` targets (activations), false for parameters. */
export function isIoTarget(name: string): boolean {
  return ioPrefix(name) !== undefined;
}

function unknownTarget(
  mode: Mode,
  opType: string,
  name: string,
  templateTargets: string[],
): Omit<Diagnostic, 'path' | 'node'> {
  const known = templateTargets.length === 0 ? 'no targets' : templateTargets.join(', ');
  return {
    level: 'error',
    code: 'unknown-target',
    message: `target '${name}' is defined neither by the ${mode} template of ${opType} (${known}) nor by target_settings`,
  };
}

/** Conflicts that only appear after shortcuts and target_settings merge (each part was valid alone). */
function checkPruningSettings(settings: ReadonlyMap<string, JsonObject>, options: ResolveOptions): void {
  for (const [name, s] of settings) {
    if (s.sparse_ratio != null && s.sparse_threshold != null) {
      report(options, {
        level: 'warning',
        code: 'ratio-and-threshold',
        message: `target '${name}' has both sparse_ratio and sparse_threshold after merging; both rules apply`,
      });
    }
    if (
      typeof s.min_sparse_ratio === 'number' &&
      typeof s.max_sparse_ratio === 'number' &&
      s.min_sparse_ratio > s.max_sparse_ratio
    ) {
      report(options, {
        level: 'error',
        code: 'min-above-max',
        message: `target '${name}' has min_sparse_ratio ${s.min_sparse_ratio} > max_sparse_ratio ${s.max_sparse_ratio} after merging`,
      });
    }
  }
}

function report(options: ResolveOptions, d: Omit<Diagnostic, 'path' | 'node'>, pathSuffix = ''): void {
  const path = `${options.path ?? '$'}${pathSuffix}`;
  options.diagnostics?.push({ ...d, path, ...(options.node === undefined ? {} : { node: options.node }) });
}

// ---------------------------------------------------------------------------------------------------------------
// Default granularity (register_scalers in NNI's compressor.py)

/** Compressor families that differ in what `granularity: 'default'` means. */
export type CompressorFamily = 'level' | 'norm' | 'quantizer';

/** What `'default'` resolves to: a channel granularity, or null for element-wise (pruning) / per-tensor (quantization). */
export type DefaultGranularity = 'out_channel' | 'per_channel' | null;

/**
 * The granularity a `'default'` setting means for a compressor family and target: pruners other than Level
 * ('norm': L1, L2, FPGM, Slim, Taylor, Movement) use 'out_channel' on parameters and 'per_channel' on inputs / outputs;
 * LevelPruner is element-wise (null); every quantizer is per-tensor (null).
 *
 * @example defaultGranularity('norm', '_output_0') // 'per_channel'
 */
export function defaultGranularity(compressor: CompressorFamily, target: string): DefaultGranularity {
  if (compressor !== 'norm') return null;
  return isIoTarget(target) ? 'per_channel' : 'out_channel';
}
