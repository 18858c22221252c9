/** The node inspector's data on the bundled model and on a hand-made Q/DQ graph; an unknown node is named. */
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../core/ir/index.ts';
import { openModel } from './io/open-model.ts';
import { trace } from './runtime/index.ts';
import { nodeDetails, NodeNotFoundError, tensorStats } from './inspect-node.ts';

describe('node inspector', () => {
  it("shows a Conv's attributes, traced shapes, weight statistics and histogram, and the config entries selecting it", async () => {
    const { model } = openModel(resolve('resources/mnist-cnn.onnx'));
    const t = await trace(model, {});
    const d = nodeDetails(model, '/conv2/Conv', {
      shapes: t.values,
      configList: [
        { op_types: ['Gemm'] },
        { op_types: ['Conv'], exclude_op_names: ['/conv1/Conv'] },
        { op_names: ['/conv1/Conv'] },
      ],
    });
    expect(d.opType).toBe('Conv');
    expect(d.attributes.kernel_shape).toEqual([3, 3]);
    expect(d.inputs.map((p) => p.shape)).toEqual([[1, 16, 14, 14], [32, 16, 3, 3], [32]]);
    expect(d.inputs[0]!.dtype).toBe('float32');
    expect(d.outputs[0]!.consumers).toEqual(['/bn2/BatchNormalization']);
    const w = d.inputs[1]!.initializer!;
    const data = model.graph.initializers.find((v) => v.name === 'conv2.weight')!.initializer!.toFloat32();
    expect(w.count).toBe(4608);
    expect(w.histogram.counts.reduce((a, b) => a + b, 0)).toBe(4608);
    expect(w.min).toBe(Math.min(...data));
    expect(w.max).toBe(Math.max(...data));
    expect(w.mean).toBeCloseTo(data.reduce((a, b) => a + b, 0) / data.length, 6);
    expect(d.selectedBy).toEqual([{ index: 1, path: '$[1]' }]);
  });

  it('counts zeros as sparsity and reads the scale and zero point of a DequantizeLinear input', () => {
    const m = new Model();
    const g = m.graph;
    const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [1, 2, 4, 4] });
    const wq = g.addInitializer('wq', new Tensor('int8', [3, 2, 1, 1], new Int8Array([1, 0, -2, 0, 3, 0])));
    const ws = g.addInitializer('ws', Tensor.float32([3], [0.5, 0.25, 0.125]));
    const wz = g.addInitializer('wz', new Tensor('int8', [3], new Int8Array([0, 0, 0])));
    const dq = g.addNode({
      opType: 'DequantizeLinear',
      name: 'dq_w',
      inputs: [wq, ws, wz],
      outputs: ['w'],
      attributes: { axis: { type: 'int', value: 0 } },
    });
    const conv = g.addNode({ opType: 'Conv', name: 'conv', inputs: [x, dq.outputs[0]!], outputs: ['y'] });
    g.outputs.push(conv.outputs[0]!);
    const d = nodeDetails(m, 'conv');
    expect(d.inputs[1]!.quantization).toEqual({
      node: 'dq_w',
      opType: 'DequantizeLinear',
      scale: [0.5, 0.25, 0.125],
      zeroPoint: [0, 0, 0],
      axis: 0,
    });
    expect(nodeDetails(m, 'dq_w').inputs[0]!.initializer!.sparsity).toBe(0.5);
    expect(tensorStats(Tensor.float32([4], [0, 0, 0, 0])).histogram.counts[0]).toBe(4);
    expect(() => nodeDetails(m, 'Conv')).toThrow(NodeNotFoundError);
    expect(() => nodeDetails(m, 'Conv')).toThrow(/no node named "Conv".*similar: "conv"/);
  });
});
