/** @file `parseConfigList`: the user's JSON config list → validated entries with ONNX op types plus diagnostics, or a
 * `ConfigListError` naming every fault with its JSON path. Pure TypeScript: imports only sibling modules, never
 * Node or DOM.
 */
import type { Diagnostic } from './diagnostics.ts';
import { ConfigListError, jsonPath, type ConfigIssue } from './errors.ts';
import { configErrorMap, toConfigIssues } from './issues.ts';
import { describeValue, findUnsafeKeys, MAX_JSON_DEPTH } from './json.ts';
import { translateLegacyConfigList } from './legacy.ts';
import { CONFIG_SCHEMAS, MODES, fusionViewSchema, type ConfigEntryOf, type FusionView, type Mode } from './schema.ts';
import { matchesOpNameRe } from './selection.ts';
import { mapTorchOpTypes } from './torch-op-types.ts';

export { ConfigListError } from './errors.ts';

/** A parsed config list: entries in the user's order (op types read as ONNX) and what the parser noticed. */
export interface ParsedConfigList<M extends Mode> {
  configs: ConfigEntryOf<M>[];
  diagnostics: Diagnostic[];
}

/**
 * Validates a whole NNI 3.0 config list at once (2.x lists are translated first) and reads PyTorch op type names as
 * ONNX ones.
 *
 * @example
 * const { configs, diagnostics } = parseConfigList([{ op_types: ['Conv2d'], sparse_ratio: 0.5 }], 'pruning');
 * // configs[0].op_types → ['Conv']; diagnostics[0].message → "op_types 'Conv2d' read as ONNX 'Conv'"
 * @throws ConfigListError listing every fault, e.g. `$[0].target_settings.weight.sparse_ratio: must be ≤ 1`
 */
export function parseConfigList<M extends Mode>(json: unknown, mode: M): ParsedConfigList<M> {
  if (!MODES.includes(mode))
    throw new TypeError(`unknown compression mode '${String(mode)}'; expected ${MODES.join(', ')}`);
  if (!Array.isArray(json))
    throw new ConfigListError([
      { path: '$', message: `expected a list of config objects, got ${describeValue(json)}` },
    ]);
  const shapeIssues = unsafeShapeIssues(json);
  if (shapeIssues.length > 0) throw new ConfigListError(shapeIssues);
  const legacy = translateLegacyConfigList(json);
  const issues: ConfigIssue[] = [...legacy.issues];
  const valid: [ConfigEntryOf<M>, number][] = [];
  legacy.configs.forEach((config, index) => {
    const result = CONFIG_SCHEMAS[mode].safeParse(config, { error: configErrorMap });
    if (result.success) valid.push([result.data as ConfigEntryOf<M>, index]);
    else issues.push(...toConfigIssues(result.error.issues, { mode, prefix: [index], aliases: legacy.aliases }));
  });
  if (mode === 'quantization') issues.push(...fusionIssues(legacy.configs));
  if (issues.length > 0) throw new ConfigListError(byConfigIndex(issues));
  const diagnostics = [...legacy.diagnostics, ...listWarnings(json.length, valid)];
  const configs = valid.map(([entry, index]) => withOnnxOpTypes(entry, index, diagnostics));
  return { configs, diagnostics };
}

/**
 * Faults refused before any schema sees the list: prototype-named keys (`__proto__`, `constructor`, `prototype`)
 * at any depth, and nesting deeper than any config needs.
 */
function unsafeShapeIssues(list: unknown[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const { path, reason } of findUnsafeKeys(list)) {
    issues.push({
      path: jsonPath(path),
      message:
        reason === 'prototype'
          ? `the key '${String(path[path.length - 1])}' is not allowed (it names JavaScript's prototype machinery)`
          : `nested deeper than ${MAX_JSON_DEPTH} levels`,
    });
  }
  return issues;
}

/** Stable sort of faults by the config index that leads their path, so a list reads top to bottom. */
function byConfigIndex(issues: ConfigIssue[]): ConfigIssue[] {
  const index = (i: ConfigIssue): number => Number(/^\$\[(\d+)\]/.exec(i.path)?.[1] ?? -1);
  return [...issues].sort((a, b) => index(a) - index(b));
}

/** `op_types` / `exclude_op_types` read as ONNX op types (PyTorch class names mapped, with diagnostics). */
function withOnnxOpTypes<E extends { op_types?: string[]; exclude_op_types?: string[] }>(
  entry: E,
  index: number,
  diagnostics: Diagnostic[],
): E {
  const out = { ...entry };
  if (entry.op_types) out.op_types = mapTorchOpTypes(entry.op_types, 'op_types', index, diagnostics);
  if (entry.exclude_op_types)
    out.exclude_op_types = mapTorchOpTypes(entry.exclude_op_types, 'exclude_op_types', index, diagnostics);
  return out;
}

/** Legal but probably unintended: an empty list, an empty `target_names` (NNI reads it as "every template target"). */
function listWarnings(length: number, valid: readonly [{ target_names?: string[] }, number][]): Diagnostic[] {
  const out: Diagnostic[] = [];
  if (length === 0)
    out.push({
      level: 'warning',
      code: 'empty-config-list',
      path: '$',
      message: 'the config list is empty: nothing will be compressed',
    });
  for (const [entry, index] of valid) {
    if (entry.target_names?.length !== 0) continue;
    out.push({
      level: 'warning',
      code: 'empty-target-names',
      path: jsonPath([index, 'target_names']),
      message: 'target_names is empty; NNI reads an empty list as every target of the template',
    });
  }
  return out;
}

/**
 * fuse_names rules checkable without the graph (NNI-SEMANTICS §6): an op appears in at most one fusion group across
 * the list, and the first op of a group must be selected by the same config when it selects by name. Runs on every
 * config whose fuse_names is well-formed, valid or not, so these faults come with the others.
 */
function fusionIssues(configs: readonly unknown[]): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, string>();
  configs.forEach((config, index) => {
    const view = fusionViewSchema.safeParse(config);
    if (view.success) issues.push(...fusionGroupIssues(view.data, index, seen));
  });
  return issues;
}

function fusionGroupIssues(view: FusionView, index: number, seen: Map<string, string>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  view.fuse_names.forEach((group, g) => {
    group.forEach((name, k) => {
      const path = jsonPath([index, 'fuse_names', g, k]);
      const first = seen.get(name);
      if (first !== undefined)
        issues.push({ path, message: `'${name}' is already fused at ${first}; an op may be in one fusion group only` });
      else seen.set(name, path);
    });
    if (!selectsByName(view, group[0]!)) {
      issues.push({
        path: jsonPath([index, 'fuse_names', g, 0]),
        message: `'${group[0]}' must be selected by this config's op_names or op_names_re`,
      });
    }
  });
  return issues;
}

/** Whether the config's name selectors include `name`; true when it selects by op type only (decided on the graph). */
function selectsByName(view: FusionView, name: string): boolean {
  if (view.op_names === undefined && view.op_names_re === undefined) return true;
  return (view.op_names ?? []).includes(name) || (view.op_names_re ?? []).some((re) => matchesOpNameRe(re, name));
}
