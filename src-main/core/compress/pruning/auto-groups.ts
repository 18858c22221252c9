/**
 * @file Automatic dependency groups: the groups of a model without masks, and the rewrite of config entries whose
 * `dependency_group_id` is "auto" into per-node entries with group ids (NNI's auto_set_denpendency_group_ids) plus
 * `internal_metric_block` for grouped convs. Pure: imports the IR, the shared config layer and sibling modules.
 */
import type { Model } from '../../ir/index.ts';
import {
  AUTO_DEPENDENCY_GROUP,
  jsonPath,
  type Diagnostic,
  type PruningConfig,
} from '../../../../src-shared/config/index.ts';
import { selectNodes } from '../targets/index.ts';
import type { ShapeMap } from '../../analysis/stats.ts';
import type { Member } from '../dependency/depgraph.ts';
import { groupsOf, type DependencyGroup } from '../dependency/groups.ts';
import { analyse } from '../dependency/analyse.ts';

/**
 * The dependency groups of a model (no masks needed): which layers must prune the same channels.
 * @example
 * const groups = autoDependencyGroups(model, shapes);
 * groups.find((g) => g.members.some((m) => m.node === '/layer1/layer1.0/conv2/Conv'))?.members.length // 5 (the stage's residual stream)
 */
export function autoDependencyGroups(model: Model, shapes: ShapeMap): DependencyGroup[] {
  return groupsOf(analyse(model, new Map(), { shapes }).dg).groups;
}

const isAuto = (e: PruningConfig) =>
  e.dependency_group_id === AUTO_DEPENDENCY_GROUP ||
  e.target_settings?.weight?.dependency_group_id === AUTO_DEPENDENCY_GROUP;

const SELECTION = [
  'op_types',
  'op_names',
  'op_names_re',
  'exclude_op_names',
  'exclude_op_names_re',
  'exclude_op_types',
] as const;

/**
 * Rewrite config entries whose `dependency_group_id` is "auto" into one entry per selected layer with the id of its
 * dependency group (NNI's auto_set_denpendency_group_ids). Layers none of whose channels can ever be removed
 * (e.g. the classifier feeding the graph output) are left out with a warning, ops without a channel weight (a
 * MatMul of two activations) with a note. Groups whose channels are not index-aligned (attention heads, a
 * channel shuffle) get one id per layer: NNI's groups need aligned channels; use `groupPruningMasks` for those.
 * Other entries pass unchanged.
 *
 * @example
 * resolveAutoDependencyGroups([{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }], model, shapes).configList
 * // [{ op_names: ['/conv1/Conv'], sparse_ratio: 0.5, dependency_group_id: 'g0' }, …]
 */
export function resolveAutoDependencyGroups(
  configList: readonly PruningConfig[],
  model: Model,
  shapes: ShapeMap,
): { configList: PruningConfig[]; groups: DependencyGroup[]; diagnostics: Diagnostic[] } {
  const { dg } = analyse(model, new Map(), { shapes });
  const { groups, memberGroup } = groupsOf(dg);
  const byNode = new Map<string, { m: Member; g: DependencyGroup }>();
  for (const [m, g] of memberGroup)
    if (m.kind === 'source' || !byNode.has(m.node.name)) byNode.set(m.node.name, { m, g });
  const diagnostics: Diagnostic[] = [];
  const out: PruningConfig[] = [];
  configList.forEach((entry, i) => {
    if (!isAuto(entry)) return void out.push(entry);
    const rest: Record<string, unknown> = { ...entry };
    for (const k of SELECTION) delete rest[k];
    // "auto" in target_settings.weight moves to the top level, where the per-node id lands
    const ts = entry.target_settings?.weight;
    if (ts?.dependency_group_id === AUTO_DEPENDENCY_GROUP) {
      const { dependency_group_id: _auto, ...weight } = ts;
      rest.target_settings = { ...entry.target_settings, weight };
    }
    for (const { node } of selectNodes(model.graph, entry, i, diagnostics)) {
      const hit = byNode.get(node.name);
      if (!hit) {
        diagnostics.push({
          level: 'info',
          code: 'no-channels',
          path: jsonPath([i]),
          node: node.name,
          message: `left out: ${node.label} has no weight whose channels can be pruned`,
        });
        continue;
      }
      const { g } = hit;
      if (g.blocked.length === g.classes) {
        diagnostics.push({
          level: 'warning',
          code: 'unprunable-layer',
          path: jsonPath([i]),
          node: node.name,
          message: `left out: none of its channels can be removed (${g.reasons[0]})`,
        });
        continue;
      }
      const id = g.aligned ? g.id : `${g.id}.${node.name}`;
      out.push({
        ...rest,
        op_names: [node.name],
        dependency_group_id: id,
        ...(g.internalMetricBlock ? { internal_metric_block: g.internalMetricBlock } : {}),
      } as PruningConfig);
    }
  });
  return { configList: out, groups, diagnostics };
}
