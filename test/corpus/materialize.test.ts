/**
 * @file The materializer's `residualGain`: the same seed draws the same normals at every value, so the weight
 * of each Conv whose output is read only by Add nodes (the last conv of a residual branch, and a conv shortcut)
 * is exactly `residualGain` times its default He-normal value, and every other initializer is bit-for-bit
 * unchanged. The zoo uses it for the models named in `WELL_CONDITIONED` (test/zoo/zoo.ts).
 */
import { describe, expect, it } from 'vitest';
import type { Model } from '../../src-main/core/ir/index.ts';
import { loadCorpusModel } from './materialize.ts';

/** Names of the weights of the Conv nodes whose output is read only by Add nodes, found independently here. */
function residualConvWeights(model: Model): Set<string> {
  const out = new Set<string>();
  for (const n of model.graph.nodes) {
    const uses = n.outputs[0]!.uses;
    if (n.opType === 'Conv' && uses.length > 0 && uses.every((u) => u.node.opType === 'Add'))
      out.add(n.inputs[1]!.name);
  }
  return out;
}

const initializers = (model: Model) =>
  new Map(model.graph.initializers.map((v) => [v.name, v.initializer!.toFloat32()]));

/** How many elements differ (exact comparison; vitest's deep equality is slow on millions of floats). */
function differing(a: Float32Array, b: Float32Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n + Math.abs(a.length - b.length);
}

describe('materializeWeights residualGain', () => {
  for (const [name, residual, adds] of [
    // 10 inverted-residual blocks with a skip, each ending in a 1×1 projection conv read only by its Add
    ['mobilenet_v2_op17_b1', 10, 10],
    // 8 basic blocks' second conv + 3 downsample shortcuts (both operands of those 3 Adds are convs)
    ['resnet18_op17_b1', 11, 8],
  ] as const) {
    it(`${name}: 0.1 scales exactly the ${residual} residual-branch conv weights, nothing else changes`, () => {
      const plain = loadCorpusModel(name, 3);
      const scaled = loadCorpusModel(name, 3, { residualGain: 0.1 });
      const again = loadCorpusModel(name, 3, { residualGain: 0.1 });
      expect(plain.graph.nodes.filter((n) => n.opType === 'Add').length).toBe(adds);
      const weights = residualConvWeights(plain);
      expect(weights.size).toBe(residual);
      const [a, b, c] = [initializers(plain), initializers(scaled), initializers(again)];
      let same = 0;
      for (const [k, x] of a) {
        const y = b.get(k)!;
        expect(differing(y, c.get(k)!), `${k} is deterministic`).toBe(0);
        if (weights.has(k)) {
          let worst = 0;
          for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(y[i]! - 0.1 * x[i]!) / Math.abs(x[i]!));
          expect(worst, k).toBeLessThanOrEqual(1e-6);
        } else {
          expect(differing(y, x), k).toBe(0);
          same++;
        }
      }
      expect(same).toBe(a.size - residual);
      expect(same).toBeGreaterThan(residual);
    });
  }

  it('rejects a value that is not a positive number', () => {
    expect(() => loadCorpusModel('resnet18_op17_b1', 0, { residualGain: 0 })).toThrow(
      /residualGain must be a positive number, got 0/,
    );
    expect(() => loadCorpusModel('resnet18_op17_b1', 0, { residualGain: Number.NaN })).toThrow(/residualGain/);
  });
});
