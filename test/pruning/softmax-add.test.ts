/**
 * @file A config on Softmax inputs, end to end: the classifier's pruned rows align the softmax input mask; with
 * apply_method 'add' the pruned classes get ~0 probability, with 'mul' they keep weight exp(0).
 */
import { describe, expect, it } from 'vitest';
import { L1NormPruner, registerTemplate, simulate, keptAlong } from '../../src-main/index.ts';
import { Builder, randomInput, runOrt } from './helpers.ts';

registerTemplate('pruning', 'Softmax', { _input_: { apply_method: 'mul' } });

function classifier() {
  const b = new Builder(11);
  const logits = b.gemm('fc', b.input('input', [1, 16]), 8, 16);
  logits.type = { kind: 'tensor', dtype: 'float32', shape: [1, 8] };
  return b.output(b.op('Softmax', 'softmax', [logits], { axis: { type: 'int', value: -1 } }), [1, 8]);
}

const configFor = (method: 'add' | 'mul') => [
  { op_names: ['fc'], sparse_ratio: 0.5 },
  {
    op_names: ['softmax'],
    target_settings: {
      _input_: { apply_method: method, align: { module_name: 'fc', target_name: 'weight', dims: [0] } },
    },
  },
];

describe('softmax inputs', () => {
  it("'add' removes the pruned classes from the distribution; 'mul' leaves them exp(0)", async () => {
    const model = classifier();
    const input = randomInput([1, 16], 3);
    const probs: Record<string, Float32Array> = {};
    let keep: boolean[] = [];
    for (const method of ['add', 'mul'] as const) {
      const { masks, applyMethods } = await new L1NormPruner(model, configFor(method)).compress();
      keep = keptAlong(masks.get('fc')!.get('weight')!, 0);
      const sim = simulate(model, masks, { applyMethods });
      expect(sim.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', method === 'add' ? 'Add' : 'Mul', 'Softmax']);
      probs[method] = Object.values(await runOrt(sim, { input }))[0]!;
    }
    expect(keep.filter((k) => !k).length).toBe(4);
    const sumKept = (p: Float32Array) => keep.reduce((s, k, i) => s + (k ? p[i]! : 0), 0);
    keep.forEach((k, i) => {
      if (k) return;
      expect(probs.add![i]).toBeLessThan(1e-30); // masked logit pushed to −1000
      expect(probs.mul![i]).toBeGreaterThan(1e-3); // masked logit 0 still weighs exp(0)
    });
    expect(sumKept(probs.add!)).toBeCloseTo(1, 6);
    expect(sumKept(probs.mul!)).toBeLessThan(0.999);
  });
});
