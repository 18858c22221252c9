/**
 * @file Helpers of the speedup tests: traced shapes, channel masks by hand, and the exactness check (compact vs
 * simulated masked model, run in onnxruntime-node on seeded inputs).
 */
import { Tensor, type Model } from '../../src-main/core/ir/index.ts';
import { setMask, type Masks } from '../../src-main/core/compress/masks.ts';
import { simulate } from '../../src-main/core/compress/simulate/index.ts';
import { compactModel, type CompactOptions, type CompactResult } from '../../src-main/core/compress/speedup/index.ts';
import { modelStats, type ShapeMap } from '../../src-main/core/analysis/stats.ts';
import { runModel, sampleInputs, trace } from '../../src-main/node/runtime/index.ts';
import { relErr } from '../../src-main/node/speedup/index.ts';

export { Builder } from '../pruning/helpers.ts';

/** Concrete shapes of every value (one ORT trace). */
export async function shapesOf(model: Model): Promise<ShapeMap> {
  const t = await trace(model, {});
  return new Map([...t.values].map(([k, v]) => [k, v.shape]));
}

/**
 * Prune `channels` of a node's weight along `axis` (plus its bias for Conv / Gemm with `bias`).
 * @example pruneChannels(masks, model, 'conv1', [0, 2])
 */
export function pruneChannels(
  masks: Masks,
  model: Model,
  node: string,
  channels: number[],
  opts: { axis?: number; bias?: boolean } = {},
): Masks {
  const n = model.graph.node(node)!;
  const w = n.opType === 'MatMul' ? n.input(1)! : n.input(1)!;
  const dims = w.initializer!.dims;
  const axis = opts.axis ?? (n.opType === 'MatMul' || (n.opType === 'Gemm' && !n.attrInt('transB', 0)) ? 1 : 0);
  const data = Uint8Array.from({ length: dims[axis]! }, (_, i) => (channels.includes(i) ? 0 : 1));
  setMask(masks, node, 'weight', { dims: dims.map((d, i) => (i === axis ? d : 1)), data });
  if (
    opts.bias !== false &&
    n.input(2)?.isInitializer &&
    axis === (n.opType === 'Gemm' && !n.attrInt('transB', 0) ? 1 : 0)
  ) {
    setMask(masks, node, 'bias', { dims: [dims[axis]!], data });
  }
  return masks;
}

export interface Checked extends CompactResult {
  maxRelErr: number;
  macsBefore: number;
  macsAfter: number;
  paramsBefore: number;
  paramsAfter: number;
}

/** Compact the model, then compare it with `simulate(model, masks, { normMasks })` on three seeded inputs. */
export async function compactAndCheck(
  model: Model,
  masks: Masks,
  opts: Partial<CompactOptions> = {},
): Promise<Checked> {
  const shapes = opts.shapes ?? (await shapesOf(model));
  const res = compactModel(model, masks, { ...opts, shapes });
  const reference = simulate(model, masks, { normMasks: res.normMasks });
  let maxRelErr = 0;
  for (const seed of [1, 2, 3]) {
    const feeds = sampleInputs(model, { seed });
    const [a, b] = [await runModel(reference, feeds), await runModel(res.model, feeds)];
    for (const k of Object.keys(a)) maxRelErr = Math.max(maxRelErr, relErr(a[k]!, b[k]));
  }
  const after = modelStats(res.model, await shapesOf(res.model));
  const before = modelStats(model, shapes);
  return {
    ...res,
    maxRelErr,
    macsBefore: before.macs,
    macsAfter: after.macs,
    paramsBefore: before.params,
    paramsAfter: after.params,
  };
}

/** Dims of a node's input initializer in the compact model. */
export function paramDims(model: Model, node: string, input: number): readonly number[] | undefined {
  return model.graph.node(node)?.input(input)?.initializer?.dims;
}

export const f32 = (dims: number[], f: (i: number) => number) =>
  Tensor.float32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, (_, i) => f(i)),
  );

/** A seeded normal float32 tensor. */
export function randomTensorFor(dims: number[], seed = 5): Tensor {
  let s = seed;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  return Tensor.float32(dims, Array.from({ length: dims.reduce((a, b) => a * b, 1) }, next));
}
