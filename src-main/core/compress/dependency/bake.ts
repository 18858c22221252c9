/**
 * @file Bake masks into a working copy of the model, so that it *is* the masked model: parameter masks multiply
 * their initializers (a fresh initializer per distinct mask, the original left for other users), activation masks
 * (`_input_k`, `_output_k`) become Mul nodes. Speedup reasons about this graph and shrinks it. Pure: imports only
 * the IR and sibling modules.
 */
import { Tensor, type Graph, type Model, type Node, type Value } from '../../ir/index.ts';
import { MaskApplyError } from '../errors.ts';
import { maskTensor, type Masks, type TargetMask } from '../masks.ts';
import { applyMask } from './tensor-ops.ts';
import { bindTarget, isBindingFault } from '../targets/index.ts';

export interface BakeResult {
  /** Mul nodes inserted for activation masks (removed again when their kept part is all ones). */
  inserted: Node[];
}

const maskKey = (m: TargetMask) => `${m.dims.join('x')}:${Array.from(m.data).join('')}`;

/**
 * Apply every mask to `model` in place (call it on a clone).
 * `shapes` (by value) gains the shapes of the inserted nodes' outputs.
 * @example const { inserted } = bakeMasks(work, masks, shapes);
 * @throws MaskApplyError for an unknown node or target, a mask that does not fit, or a non-float32 parameter
 */
export function bakeMasks(model: Model, masks: Masks, shapes: Map<Value, readonly number[]>): BakeResult {
  const g = model.graph;
  const result: BakeResult = { inserted: [] };
  const cache = new Map<Value, Map<string, Value>>();
  for (const [nodeName, targets] of masks) {
    const node = g.node(nodeName);
    if (!node) throw new MaskApplyError(nodeName, [...targets.keys()].join(', '), 'the model has no node of that name');
    for (const [target, mask] of targets) {
      const b = bindTarget(node, target);
      if (isBindingFault(b)) throw new MaskApplyError(nodeName, target, b.fault);
      if (!b.value) continue; // e.g. `bias` of a MatMul: nothing to mask
      if (b.kind === 'output') {
        maskOutput(g, node, b.index, mask, shapes, result);
      } else if (b.value.isInitializer) {
        node.setInput(b.index, maskedParam(g, b.value, mask, cache, nodeName, target));
      } else {
        const mul = g.addNode({
          opType: 'Mul',
          inputs: [b.value, g.addInitializer(`${b.value.name}_mask`, maskTensor(mask), true)],
          at: g.nodes.indexOf(node),
        });
        node.setInput(b.index, mul.outputs[0]!);
        record(result, mul, shapes, shapes.get(b.value));
      }
    }
  }
  return result;
}

function maskedParam(
  g: Graph,
  v: Value,
  mask: TargetMask,
  cache: Map<Value, Map<string, Value>>,
  node: string,
  target: string,
): Value {
  const key = maskKey(mask);
  const hit = cache.get(v)?.get(key);
  if (hit) return hit;
  const t = v.initializer!;
  if (t.dtype !== 'float32')
    throw new MaskApplyError(node, target, `only float32 parameters can be masked (this one is ${t.dtype})`);
  if (mask.dims.length !== t.dims.length || mask.dims.some((d, i) => d !== 1 && d !== t.dims[i])) {
    throw new MaskApplyError(
      node,
      target,
      `mask dims [${mask.dims.join(',')}] do not broadcast to [${t.dims.join(',')}]`,
    );
  }
  const data = applyMask(t.toFloat32(), t.dims, mask.dims, mask.data);
  const out = g.addInitializer(`${v.name}_masked`, new Tensor('float32', [...t.dims], data), true);
  if (!cache.has(v)) cache.set(v, new Map());
  cache.get(v)!.set(key, out);
  return out;
}

function maskOutput(
  g: Graph,
  node: Node,
  k: number,
  mask: TargetMask,
  shapes: Map<Value, readonly number[]>,
  result: BakeResult,
): void {
  const out = node.outputs[k]!;
  const uses = [...out.uses];
  const mul = g.addNode({
    opType: 'Mul',
    inputs: [out, g.addInitializer(`${out.name}_mask`, maskTensor(mask), true)],
    at: g.nodes.indexOf(node) + 1,
  });
  const masked = mul.outputs[0]!;
  for (const u of uses) u.node.setInput(u.index, masked);
  const gi = g.outputs.indexOf(out);
  if (gi >= 0) {
    // keep the graph output's name on the masked value
    const name = out.name;
    g.renameValue(out, g.uniqueName(`${name}_unmasked`));
    g.renameValue(masked, name);
    g.setOutput(gi, masked);
    masked.type = out.type;
  }
  record(result, mul, shapes, shapes.get(out));
}

function record(
  result: BakeResult,
  mul: Node,
  shapes: Map<Value, readonly number[]>,
  shape: readonly number[] | undefined,
): void {
  result.inserted.push(mul);
  if (shape) shapes.set(mul.outputs[0]!, shape);
}
