/**
 * @file `dependency_group_id: "auto"`: trace the model for shapes, run the channel dependency analysis, and
 * rewrite those config entries into per-node entries with group ids (NNI's auto_set_denpendency_group_ids).
 */
import type { Diagnostic, PruningConfig } from '../../../src-shared/config/index.ts';
import type { Model } from '../../core/ir/index.ts';
import { resolveAutoDependencyGroups } from '../../core/compress/pruning/index.ts';
import { resolveInputShapes, trace } from '../runtime/index.ts';

export interface AutoGroupsResult {
  configList: unknown[];
  /** Dependency groups found (0 when no entry asked for "auto"). */
  groups: number;
  diagnostics: Diagnostic[];
  shapes?: Map<string, number[]>;
}

/**
 * Expand "auto" dependency groups; entries without it pass unchanged (and nothing is traced). `inputShapes` size
 * inputs with dynamic dims (a dynamic leading dim alone is traced at 1; any other must be given).
 * @throws DynamicDimsError naming the dims no shape sizes
 */
export async function expandAutoGroups(model: Model, configList: readonly unknown[], inputShapes?: Record<string, number[]>): Promise<AutoGroupsResult> {
  const wantsAuto = configList.some((c) => (c as Record<string, unknown>)?.dependency_group_id === 'auto');
  if (!wantsAuto) return { configList: [...configList], groups: 0, diagnostics: [] };
  const t = await trace(model, { shapes: resolveInputShapes(model, inputShapes) });
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
  const r = resolveAutoDependencyGroups(configList as PruningConfig[], model, shapes);
  return { configList: r.configList, groups: r.groups.length, diagnostics: r.diagnostics, shapes };
}
