/**
 * @file Lift weights held in `Constant` nodes into initializers. Some exporters store every weight that way;
 * compression must see them as parameters. In place. Pure: imports only the IR.
 */
import { Tensor, type Graph, type Node } from '../ir/index.ts';
import type { Pass, PassResult } from './pass.ts';
import type { Model } from '../ir/index.ts';

/** The tensor a Constant node produces, or null for attribute kinds that are not tensors (sparse). */
export function constantValue(node: Node): Tensor | null {
  for (const [k, a] of node.attributes) {
    if (k === 'value' && a.type === 'tensor') return a.value;
    if (k === 'value_float' && a.type === 'float') return Tensor.float32([], [a.value]);
    if (k === 'value_floats' && a.type === 'floats') return Tensor.float32([a.value.length], a.value);
    if (k === 'value_int' && a.type === 'int') return Tensor.int64([], [a.value]);
    if (k === 'value_ints' && a.type === 'ints') return Tensor.int64([a.value.length], a.value);
    if (k === 'value_string' && a.type === 'string') return new Tensor('string', [], [a.value]);
    if (k === 'value_strings' && a.type === 'strings') return new Tensor('string', [a.value.length], [...a.value]);
  }
  return null;
}

function liftGraph(g: Graph): number {
  let lifted = 0;
  for (const node of [...g.nodes]) {
    for (const sg of node.subgraphs()) lifted += liftGraph(sg);
    if (node.opType !== 'Constant' || node.domain !== '') continue;
    const t = constantValue(node);
    if (!t || t.data === null) continue;
    const out = node.outputs[0]!;
    const name = out.name;
    const outType = out.type;
    const users = [...out.uses];
    const isOut = out.isGraphOutput;
    g.removeNode(node, true);
    const init = g.addInitializer(name, t);
    if (outType) init.type = outType;
    for (const u of users) u.node.setInput(u.index, init);
    if (isOut) g.replaceOutput(out, init);
    lifted++;
  }
  return lifted;
}

/** Lift every Constant node (main graph and subgraphs) into an initializer of the same name. */
export const liftConstants: Pass = {
  name: 'lift-constants',
  inPlace: true,
  run(model: Model): PassResult {
    return { model, modified: liftGraph(model.graph) > 0 };
  },
};
