/**
 * @file `dependency_group_id: "auto"` needs traced shapes: trace the model when some config entry asks for it, so
 * the pruner (which resolves "auto" itself, core/compress/pruning) can run the channel dependency analysis.
 */
import type { Model } from '../../core/ir/index.ts';
import { resolveInputShapes, trace } from '../runtime/index.ts';

/** Whether a raw config list asks for automatic dependency groups (at the top level or on `weight`). */
export function wantsAutoGroups(configList: unknown): boolean {
  const entries = Array.isArray(configList) ? configList : [configList];
  return entries.some((c) => {
    const e = c as {
      dependency_group_id?: unknown;
      target_settings?: { weight?: { dependency_group_id?: unknown } };
    } | null;
    return e?.dependency_group_id === 'auto' || e?.target_settings?.weight?.dependency_group_id === 'auto';
  });
}

/**
 * The traced shape of every value when the config list asks for "auto" groups; undefined otherwise. `inputShapes`
 * size inputs with dynamic dims (a dynamic leading dim alone is traced at 1; any other must be given).
 * @throws DynamicDimsError naming the dims no shape sizes
 */
export async function shapesForAutoGroups(
  model: Model,
  configList: unknown,
  inputShapes?: Record<string, number[]>,
): Promise<Map<string, number[]> | undefined> {
  if (!wantsAutoGroups(configList)) return undefined;
  const t = await trace(model, { shapes: resolveInputShapes(model, inputShapes) });
  return new Map([...t.values].map(([k, v]) => [k, v.shape]));
}
