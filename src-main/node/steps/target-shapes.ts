/**
 * @file Activation targets (`_input_` / `_output_`, e.g. a Softmax's logits) need their concrete shapes: when building
 * a pruner fails only because some are unknown, trace the model and build it again with every traced shape, so a
 * config file naming activations works from the CLI and the plan without anything else asking for a trace.
 */
import type { Model } from '../../core/ir/index.ts';
import { CompressionConfigError } from '../../core/compress/errors.ts';
import { resolveInputShapes, trace } from '../runtime/index.ts';

/** Whether a pruner could not be built only for want of activation shapes. */
export function needsShapes(e: unknown): boolean {
  return e instanceof CompressionConfigError && e.diagnostics.some((d) => d.code === 'unknown-shape');
}

/**
 * `build(shapes)`; when that fails for want of activation shapes and none were traced, trace the model (inputs sized
 * by `inputShapes`) and build again with the traced shapes.
 * @example const pruner = await withTargetShapes(model, shapes, plan.inputShapes, (s) => new L1NormPruner(model, cfg, undefined, { shapes: s }));
 */
export async function withTargetShapes<T>(
  model: Model,
  shapes: Map<string, number[]> | undefined,
  inputShapes: Record<string, number[]> | undefined,
  build: (shapes: Map<string, number[]> | undefined) => T | Promise<T>,
): Promise<T> {
  try {
    return await build(shapes);
  } catch (e) {
    if (shapes || !needsShapes(e)) throw e;
    const t = await trace(model, { shapes: resolveInputShapes(model, inputShapes) });
    return build(new Map([...t.values].map(([k, v]) => [k, v.shape])));
  }
}
