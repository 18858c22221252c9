/** @file Passes on real models: lifting Constant-node weights (an exporter style) and dead-code elimination. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { modelStats } from '../analysis/stats.ts';
import { Model, Tensor } from '../ir/index.ts';
import { loadModelFile } from '../../node/io/model-file.ts';
import { runModel } from '../../node/runtime/index.ts';
import { deadCode, liftConstants } from './index.ts';

const FIXTURES = join(import.meta.dirname, '..', '..', '..', 'test', 'fixtures');

describe('liftConstants', () => {
  it('turns Constant-node weights into initializers so compression sees them, outputs unchanged', async () => {
    const model = loadModelFile(join(FIXTURES, 'constant_weights_cnn.onnx'));
    const before = modelStats(model);
    expect(before.params).toBe(0);
    const feeds = {
      input: Tensor.float32(
        [1, 3, 16, 16],
        Array.from({ length: 768 }, (_, i) => Math.cos(i)),
      ),
    };
    const outBefore = await runModel(model, feeds);
    const r = liftConstants.run(model);
    expect(r.modified).toBe(true);
    expect(
      model.graph.nodes.some(
        (n) => n.opType === 'Constant' && n.outputs[0]!.uses.some((u) => u.node.opType === 'Conv'),
      ),
    ).toBe(false);
    const conv = model.graph.nodes.find((n) => n.opType === 'Conv')!;
    expect(conv.inputs[1]!.isInitializer).toBe(true);
    expect(modelStats(model).params).toBeGreaterThan(0);
    const outAfter = await runModel(model, feeds);
    const k = Object.keys(outBefore)[0]!;
    expect(Array.from(outAfter[k]!.data as Float32Array)).toEqual(Array.from(outBefore[k]!.data as Float32Array));
    expect(liftConstants.run(model).modified).toBe(false);
  });
});

describe('deadCode', () => {
  it('removes nodes and initializers that reach no output', () => {
    const m = new Model();
    const g = m.graph;
    const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [2] });
    const w = g.addInitializer('unused_w', Tensor.float32([2], [1, 2]));
    g.addNode({ opType: 'Mul', name: 'dead', inputs: [x, w], outputs: ['d'] });
    const live = g.addNode({ opType: 'Relu', name: 'live', inputs: [x], outputs: ['y'] });
    g.outputs.push(live.outputs[0]!);
    expect(deadCode.run(m).modified).toBe(true);
    expect(g.nodes.map((n) => n.name)).toEqual(['live']);
    expect(g.get('unused_w')).toBeUndefined();
    expect(deadCode.run(m).modified).toBe(false);
  });
});
