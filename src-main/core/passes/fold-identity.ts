/**
 * @file Undo torch's initializer de-duplication: an `Identity` (or a chain of them) whose input is an
 * initializer becomes an initializer of its own, named by the Identity's output. torch's exporter merges
 * initializers with equal values and reads the copies through Identity nodes; the user's model had one
 * parameter per layer, so each reader gets its own again and can be pruned on its own. (A tensor that nodes
 * read *directly* is a real shared weight and is left shared: see `sharedParameters` in compress/targets.)
 * In place. Pure: imports only the IR.
 */
import type { Graph, Model } from '../ir/index.ts';
import type { Pass, PassChange, PassResult } from './pass.ts';

function foldGraph(g: Graph, changes: PassChange[]): void {
  for (const node of [...g.nodes]) {
    for (const sg of node.subgraphs()) foldGraph(sg, changes);
    if (node.opType !== 'Identity' || node.domain !== '') continue;
    const src = node.input(0);
    const out = node.outputs[0]!;
    // an initializer that is also a graph input is a default the caller may override: not a constant
    if (!src?.initializer || src.isGraphInput || out.isGraphOutput) continue;
    const users = [...out.uses];
    const name = out.name;
    g.removeNode(node, true);
    // Tensors are never mutated in place (see ir/clone.ts), so the copy can share the data.
    const init = g.addInitializer(name, src.initializer);
    for (const u of users) u.node.setInput(u.index, init);
    changes.push({ node: node.name, pattern: `Identity(initializer "${src.name}")`, result: `initializer "${name}"` });
    if (src.uses.length === 0 && !src.isGraphOutput && !src.isGraphInput) src.graph.removeInitializer(src);
  }
}

/** Every Identity over an initializer, in order (so chains fold front to back), becomes its own initializer. */
export const foldIdentity: Pass = {
  name: 'fold-identity',
  inPlace: true,
  run(model: Model): PassResult {
    const changes: PassChange[] = [];
    foldGraph(model.graph, changes);
    return { model, modified: changes.length > 0, changes };
  },
};
