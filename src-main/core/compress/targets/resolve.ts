/**
 * @file Target resolution: a parsed config list × a graph → each selected node's targets with their resolved
 * settings, by NNI's rules (NNI-SEMANTICS §1): selection formula, op-type templates, shortcut keys landing only
 * where the template declares them, `target_settings` merged last, `_input_` / `_output_` read as index 0, and the
 * first config to configure a (node, target) wins. Pure: imports only the IR and the shared config layer.
 *
 * ONNX roles replace PyTorch attributes: `weight` / `bias` are the node's initializer inputs by position
 * (`PARAM_ROLES`), `_input_k` / `_output_k` its inputs / outputs. Only nodes of the main graph are selectable.
 */
import type { Model, Node, Value } from '../../ir/index.ts';
import {
  getTemplate,
  isIoTarget,
  jsonPath,
  normaliseTargetNames,
  resolveSettings,
  type ConfigEntryOf,
  type Diagnostic,
  type Mode,
  type SettingOf,
} from '../../../../src-shared/config/index.ts';
import { bindTarget, canonicalPerm, isBindingFault, type TargetKind } from './layout.ts';
import { selectNodes, type Selected } from './select.ts';

/** One configured target of one node. */
export interface ResolvedTarget<M extends Mode = Mode> {
  node: Node;
  nodeName: string;
  opType: string;
  /** Target name, normalised (`_input_0`, never `_input_`). */
  name: string;
  kind: TargetKind;
  /** Node input index (parameters, inputs) or output index (outputs). */
  index: number;
  /** The tensor: an initializer for parameters, an activation otherwise. */
  value: Value;
  setting: SettingOf<M>;
  /** Index of the config entry that configured it (first wins). */
  configIndex: number;
  /** JSON path of that entry, `$[i]`. */
  path: string;
  /** Named by the entry's `target_names` or `target_settings` (rather than taken from the template). */
  explicit: boolean;
  /** ONNX axes in canonical out-first order (see layout.ts). */
  perm: number[];
}

/** All resolved targets of a config list on a graph. */
export interface TargetTable<M extends Mode = Mode> {
  /** In config order, then graph order, then template order. */
  targets: ResolvedTarget<M>[];
  get(node: string, target: string): ResolvedTarget<M> | undefined;
  diagnostics: Diagnostic[];
}

const key = (node: string, target: string) => `${node}\u0000${target}`;

/**
 * Resolves a parsed config list on a model's main graph. Faults the user must fix are error diagnostics (the caller
 * decides whether to throw, so that one pass reports them all); things NNI ignores silently are warnings.
 *
 * @example
 * const { configs } = parseConfigList([{ op_types: ['Conv'], sparse_ratio: 0.5 }], 'pruning');
 * const table = resolveTargets(model, configs, 'pruning');
 * table.get('/conv1/Conv', 'weight')?.setting.sparse_ratio // 0.5
 */
export function resolveTargets<M extends Mode>(
  model: Model,
  configs: readonly ConfigEntryOf<M>[],
  mode: M,
): TargetTable<M> {
  const diagnostics: Diagnostic[] = [];
  const targets: ResolvedTarget<M>[] = [];
  const index = new Map<string, ResolvedTarget<M>>();
  const nameCount = new Map<string, number>();
  for (const n of model.graph.nodes) nameCount.set(n.name, (nameCount.get(n.name) ?? 0) + 1);

  configs.forEach((entry, i) => {
    const path = jsonPath([i]);
    const selected = selectNodes(model.graph, entry, i, diagnostics);
    if (selected.length === 0)
      diagnostics.push({ level: 'warning', code: 'empty-selection', path, message: 'this config selects no node' });
    for (const sel of selected) {
      if (!checkNodeName(sel, nameCount, path, diagnostics)) continue;
      if (getTemplate(mode, sel.node.opType) === undefined) {
        noTemplate(mode, sel, path, diagnostics);
        continue;
      }
      const settings = resolveSettings(mode, sel.node.opType, entry, { diagnostics, node: sel.node.name, path });
      const explicitNames = explicitTargets(entry);
      for (const [name, setting] of settings) {
        const t = bind(sel, name, setting, { i, path, explicit: explicitNames.has(name) }, diagnostics);
        if (!t) continue;
        const earlier = index.get(key(t.nodeName, name));
        if (earlier) {
          diagnostics.push({
            level: 'warning',
            code: 'duplicate-target',
            path,
            node: t.nodeName,
            message: `${name} of ${sel.node.label} is already configured by ${earlier.path}; the first config wins and this one is ignored for it`,
          });
          continue;
        }
        index.set(key(t.nodeName, name), t);
        targets.push(t);
      }
    }
  });
  if (targets.length === 0 && !diagnostics.some((d) => d.level === 'error')) diagnostics.push(noTargets(model, mode));
  return { targets, diagnostics, get: (node, target) => index.get(key(node, target)) };
}

/**
 * The error for a config list that selects no target at all: a step that would run and change nothing. It names
 * what the list could have named: the nodes of this model that have targets in this mode (the first 12).
 */
function noTargets(model: Model, mode: Mode): Diagnostic {
  const all = model.graph.nodes.filter((n) => n.name && getTemplate(mode, n.opType) !== undefined);
  // nodes with parameters first: activations (weightless ops) take a mask only through align
  const hasParams = (n: (typeof all)[number]) => Object.keys(getTemplate(mode, n.opType)!).some((k) => !isIoTarget(k));
  const candidates = [...all.filter(hasParams), ...all.filter((n) => !hasParams(n))];
  const shown = candidates.slice(0, 12).map((n) => `${n.name} (${n.opType})`);
  const more = candidates.length > shown.length ? `, … ${candidates.length - shown.length} more` : '';
  const could = candidates.length
    ? `nodes it could select: ${shown.join(', ')}${more}`
    : `this model has no node with ${mode} targets`;
  return {
    level: 'error',
    code: 'no-targets',
    path: '$',
    message: `the config list selects no ${mode} target, so the step would change nothing; ${could}`,
  };
}

/** Masks and settings are keyed by node name: a selected node needs a unique, non-empty one. */
function checkNodeName(
  sel: Selected,
  counts: ReadonlyMap<string, number>,
  path: string,
  diagnostics: Diagnostic[],
): boolean {
  const { node } = sel;
  if (node.name === '') {
    diagnostics.push({
      level: 'error',
      code: 'unnamed-node',
      path,
      message: `a selected ${node.opType} node has no name; targets are keyed by node name (name it first)`,
    });
    return false;
  }
  if ((counts.get(node.name) ?? 0) > 1) {
    diagnostics.push({
      level: 'error',
      code: 'duplicate-node-name',
      path,
      node: node.name,
      message: `${counts.get(node.name)} nodes are named "${node.name}"; targets are keyed by node name`,
    });
    return false;
  }
  return true;
}

/** NNI asserts on an unregistered module class; here that is an error when the user named the node or its type, a warning for a regex sweep. */
function noTemplate(mode: Mode, sel: Selected, path: string, diagnostics: Diagnostic[]): void {
  const named = sel.nameIndex >= 0 || sel.byType;
  diagnostics.push({
    level: named ? 'error' : 'warning',
    code: 'no-template',
    path: sel.nameIndex >= 0 ? `${path}.op_names[${sel.nameIndex}]` : path,
    node: sel.node.name,
    message: `no ${mode} template for op type ${sel.node.opType}${named ? '' : '; skipped'} (register one with registerTemplate('${mode}', '${sel.node.opType}', …))`,
  });
}

/** Targets the entry names itself (target_names, target_settings keys), normalised. */
function explicitTargets(entry: { target_names?: string[]; target_settings?: Record<string, unknown> }): Set<string> {
  return new Set(normaliseTargetNames([...(entry.target_names ?? []), ...Object.keys(entry.target_settings ?? {})]));
}

interface Origin {
  i: number;
  path: string;
  explicit: boolean;
}

function bind<M extends Mode>(
  sel: Selected,
  name: string,
  setting: SettingOf<M>,
  origin: Origin,
  diagnostics: Diagnostic[],
): ResolvedTarget<M> | null {
  const { node } = sel;
  const b = bindTarget(node, name);
  if (isBindingFault(b)) {
    diagnostics.push({ level: 'error', code: 'unknown-target', path: origin.path, node: node.name, message: b.fault });
    return null;
  }
  if (b.value === null) {
    // NNI skips a parameter that is None (Conv without bias); say so only when the user asked for it
    if (origin.explicit) {
      diagnostics.push({
        level: 'info',
        code: 'absent-target',
        path: origin.path,
        node: node.name,
        message: `${node.label} has no ${name}; nothing to compress there`,
      });
    }
    return null;
  }
  if (b.kind === 'parameter' && !b.value.isInitializer) {
    notInitializer(sel, name, b.value, origin.path, diagnostics);
    return null;
  }
  const rank = b.value.shape?.length ?? 0;
  return {
    node,
    nodeName: node.name,
    opType: node.opType,
    name,
    kind: b.kind,
    index: b.index,
    value: b.value,
    setting,
    configIndex: origin.i,
    path: origin.path,
    explicit: origin.explicit,
    perm: canonicalPerm(node, b, rank),
  };
}

/** A parameter target that is computed, not stored: an error when the node was named in op_names, else skipped with a warning. */
function notInitializer(sel: Selected, name: string, value: Value, path: string, diagnostics: Diagnostic[]): void {
  const named = sel.nameIndex >= 0;
  const producer = value.producer ? `the output of ${value.producer.label}` : 'a graph input';
  const hint = value.producer?.opType === 'Constant' ? ' (run liftConstants first)' : '';
  diagnostics.push({
    level: named ? 'error' : 'warning',
    code: 'not-an-initializer',
    path: named ? `${path}.op_names[${sel.nameIndex}]` : path,
    node: sel.node.name,
    message: `${name} of ${sel.node.label} must be an initializer but is ${producer}${hint}${named ? '' : '; node skipped'}`,
  });
}

/**
 * JSON path where `key` of target `target`'s setting was written: `$[i].target_settings.<t>.<key>`, else the
 * top-level shortcut `$[i].<key>`, else `$[i]` (the template default).
 */
export function settingPath(config: object, i: number, target: string, key: string): string {
  const entry = config as { target_settings?: Record<string, Record<string, unknown>> } & Record<string, unknown>;
  const ts = entry.target_settings ?? {};
  const written = Object.keys(ts).find((k) => normaliseTargetNames([k])[0] === target && Object.hasOwn(ts[k]!, key));
  if (written !== undefined) return jsonPath([i, 'target_settings', written, key]);
  if (Object.hasOwn(entry, key) && entry[key] !== undefined) return jsonPath([i, key]);
  return jsonPath([i]);
}
