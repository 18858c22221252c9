/**
 * @file The pruning plan travels with a simulated model, in its metadata, so the steps after `prune` (fine-tune
 * keeps the masks applied; speedup removes what they zero) read the masks from the model they are given.
 */
import type { Model } from '../../core/ir/index.ts';
import { planFromJson, planMasks, planToJson, type PruningPlan } from '../../core/compress/pruning/index.ts';
import type { Masks } from '../../core/compress/masks.ts';

export const PLAN_METADATA_KEY = 'compression_studio.pruning_plan';

export function attachPlan(model: Model, plan: PruningPlan): void {
  model.metadata.set(PLAN_METADATA_KEY, planToJson(plan));
}

/** The plan a simulated model carries, or null. */
export function attachedPlan(model: Model): PruningPlan | null {
  const text = model.metadata.get(PLAN_METADATA_KEY);
  return text ? planFromJson(text) : null;
}

export function attachedMasks(model: Model): Masks | null {
  const plan = attachedPlan(model);
  return plan ? planMasks(plan) : null;
}

export function detachPlan(model: Model): void {
  model.metadata.delete(PLAN_METADATA_KEY);
}
