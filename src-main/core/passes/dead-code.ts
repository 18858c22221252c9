/**
 * @file Dead-code elimination: drop nodes whose outputs reach no graph output, and unused initializers.
 * In place. Pure: imports only the IR.
 */
import type { Graph, Model } from '../ir/index.ts';
import type { Pass, PassResult } from './pass.ts';

function sweep(g: Graph): number {
  let removed = 0;
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i]!;
    if (n.outputs.every((v) => v.uses.length === 0 && !v.isGraphOutput)) {
      g.removeNode(n);
      removed++;
    }
  }
  for (const v of [...g.initializers]) {
    if (v.uses.length === 0 && !v.isGraphOutput && !v.isGraphInput) {
      g.removeInitializer(v);
      removed++;
    }
  }
  return removed;
}

export const deadCode: Pass = {
  name: 'dead-code',
  inPlace: true,
  run(model: Model): PassResult {
    return { model, modified: sweep(model.graph) > 0 };
  },
};
