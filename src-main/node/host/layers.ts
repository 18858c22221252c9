/**
 * @file Per-layer output widths of a model (channels of Conv / ConvTranspose, features of Gemm / MatMul), and the
 * before → after table of a run, read from its input model and its latest model artifact. Weights behind a
 * DequantizeLinear (QDQ models) count as the layer's weight. Imports the IR, the serde and node:fs.
 */
import { READ_LIMITS, readInputFile } from '../io/guard.ts';
import { statSync } from 'node:fs';
import type { Model, Node, Tensor } from '../../core/ir/index.ts';
import { decodeModel } from '../../core/onnx/index.ts';
import { outputChannelCount } from '../../core/compress/targets/index.ts';
import type { LayerWidth } from '../../../src-shared/ipc/dto.ts';

/** The layers with a width: their output channels / features, read by the layout rule of core/compress/targets. */
const LAYER_TYPES = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** The layer's weight and its input index (MatMul: the constant operand, B first). */
function weightOf(node: Node): { tensor: Tensor; index: number } | null {
  const candidates = node.opType === 'MatMul' ? [1, 0] : [1];
  for (const index of candidates) {
    const v = node.inputs[index];
    if (!v) continue;
    if (v.isInitializer && v.initializer) return { tensor: v.initializer, index };
    const p = v.producer;
    if (p?.opType === 'DequantizeLinear' && p.inputs[0]?.isInitializer && p.inputs[0].initializer)
      return { tensor: p.inputs[0].initializer, index };
  }
  return null;
}

/**
 * Layer name → { opType, width } for every layer with a width rule and a stored weight, in graph order.
 *
 * @example layerWidths(model).get('/conv1/Conv') // { opType: 'Conv', width: 16 }
 */
export function layerWidths(model: Model): Map<string, { opType: string; width: number }> {
  const out = new Map<string, { opType: string; width: number }>();
  for (const node of model.graph.nodes) {
    const w = LAYER_TYPES.has(node.opType) ? weightOf(node) : null;
    if (!w || !node.name) continue;
    const width = outputChannelCount(node, w.index, w.tensor.dims);
    if (width !== undefined) out.set(node.name, { opType: node.opType, width });
  }
  return out;
}

const cache = new Map<string, { mtimeMs: number; widths: Map<string, { opType: string; width: number }> }>();

/** Widths of a model file, cached by path and modification time; weights are not read (only their dims). */
export function fileLayerWidths(path: string): Map<string, { opType: string; width: number }> {
  const mtimeMs = statSync(path).mtimeMs;
  const hit = cache.get(path);
  if (hit && hit.mtimeMs === mtimeMs) return hit.widths;
  const model = decodeModel(readInputFile(path, { what: 'model file', maxBytes: READ_LIMITS.model }), {
    allowWeightless: true,
    readExternal: ({ length }) => new Uint8Array(length),
  });
  const widths = layerWidths(model);
  cache.set(path, { mtimeMs, widths });
  if (cache.size > 64) cache.delete(cache.keys().next().value!);
  return widths;
}

/**
 * The before → after width table: every layer of the input model, with its width in the output model (null when
 * the layer is gone, e.g. fused away).
 */
export function widthDiff(beforePath: string, afterPath: string | null): LayerWidth[] {
  const before = fileLayerWidths(beforePath);
  const after = afterPath ? fileLayerWidths(afterPath) : before;
  return [...before].map(([node, b]) => ({
    node,
    opType: b.opType,
    before: b.width,
    after: after.get(node)?.width ?? null,
  }));
}
