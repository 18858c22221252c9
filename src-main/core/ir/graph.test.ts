/** @file Unit tests of the IR's bookkeeping: producers, uses, edits, topological order, clone, slices, printer. */
import { describe, expect, it } from 'vitest';
import { Graph, GraphError, Model, Tensor, cloneModel, printGraph, sliceModel } from './index.ts';

function chain(): Model {
  const m = new Model();
  const g = m.graph;
  const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['N', 4] });
  const w = g.addInitializer('w', Tensor.float32([3, 4], new Array(12).fill(0.5)));
  const gemm = g.addNode({
    opType: 'Gemm',
    name: 'fc',
    inputs: [x, w],
    outputs: ['y'],
    attributes: { transB: { type: 'int', value: 1 } },
  });
  const relu = g.addNode({ opType: 'Relu', name: 'act', inputs: [gemm.outputs[0]!], outputs: ['z'] });
  g.outputs.push(relu.outputs[0]!);
  return m;
}

describe('IR bookkeeping', () => {
  it('values know their producer and uses', () => {
    const g = chain().graph;
    const y = g.get('y')!;
    expect(y.producer?.name).toBe('fc');
    expect(y.uses.map((u) => [u.node.name, u.index])).toEqual([['act', 0]]);
    expect(g.get('w')!.isInitializer).toBe(true);
    expect(g.get('w')!.uses[0]!.index).toBe(1);
    expect(g.get('z')!.isGraphOutput).toBe(true);
  });

  it('setInput moves the use from the old value to the new one', () => {
    const g = chain().graph;
    const act = g.node('act')!;
    const x = g.get('x')!;
    act.setInput(0, x);
    expect(g.get('y')!.uses).toHaveLength(0);
    expect(x.uses.map((u) => u.node.name)).toEqual(['fc', 'act']);
  });

  it('replaceAllUsesWith rewires node inputs and graph outputs', () => {
    const g = chain().graph;
    const z = g.get('z')!;
    const id = g.addNode({ opType: 'Identity', name: 'id', inputs: [g.get('y')!], outputs: ['y2'] });
    z.replaceAllUsesWith(id.outputs[0]!);
    expect(g.outputs[0]!.name).toBe('y2');
  });

  it('removeNode refuses while outputs are used, and cleans uses when allowed', () => {
    const g = chain().graph;
    expect(() => g.removeNode(g.node('fc')!)).toThrow(GraphError);
    g.outputs.length = 0;
    g.removeNode(g.node('act')!);
    expect(g.get('y')!.uses).toHaveLength(0);
    expect(g.get('z')).toBeUndefined();
  });

  it('sortTopologically orders nodes and names the nodes of a cycle', () => {
    const g = new Graph('g');
    const x = g.addInput('x');
    const a = g.addNode({ opType: 'Relu', name: 'a', inputs: [x], outputs: ['a_out'] });
    const b = g.addNode({ opType: 'Relu', name: 'b', inputs: [a.outputs[0]!], outputs: ['b_out'], at: 0 });
    expect(g.nodes.map((n) => n.name)).toEqual(['b', 'a']);
    g.sortTopologically();
    expect(g.nodes.map((n) => n.name)).toEqual(['a', 'b']);
    a.setInput(0, b.outputs[0]!);
    expect(() => g.sortTopologically()).toThrow('graph "g" has a cycle: "a" → "b" → "a"');
  });

  it('uniqueName avoids names of nested subgraphs', () => {
    const m = chain();
    const g = m.graph;
    const sub = new Graph('then', g);
    sub.addNode({ opType: 'Identity', name: 'inner', inputs: [g.get('x')!], outputs: ['taken'] });
    g.addNode({
      opType: 'If',
      name: 'if',
      inputs: [g.get('x')!],
      outputs: ['r'],
      attributes: { then_branch: { type: 'graph', value: sub } },
    });
    expect(g.uniqueName('taken')).toBe('taken_1');
    // outer value read inside a subgraph records the use on the outer value
    expect(g.get('x')!.uses.some((u) => u.node.name === 'inner')).toBe(true);
  });

  it('clone is independent of the original and prints identically', () => {
    const m = chain();
    const c = cloneModel(m);
    expect(printGraph(c.graph)).toBe(printGraph(m.graph));
    c.graph.node('act')!.opType = 'Sigmoid';
    expect(m.graph.node('act')!.opType).toBe('Relu');
    expect(c.graph.get('y')!.producer).toBe(c.graph.node('fc'));
    expect(c.graph.get('y')!.producer).not.toBe(m.graph.node('fc'));
  });

  it('printer is deterministic and readable', () => {
    expect(printGraph(chain().graph)).toBe(
      [
        'graph main(x: float32[N,4]) {',
        '  init w: float32[3,4]',
        '  y = Gemm[fc](x, w) {transB=1}',
        '  z = Relu[act](y)',
        '  return z',
        '}',
      ].join('\n'),
    );
  });

  it('graph outputs and node order are edited through Graph methods, which refuse foreign values', () => {
    const m = chain();
    const g = m.graph;
    const y = g.get('y')!;
    const z = g.get('z')!;
    g.addOutput(y);
    expect(g.outputs).toEqual([z, y]);
    expect(g.replaceOutput(z, y)).toBe(1);
    expect(g.outputs).toEqual([y, y]);
    g.setOutput(1, z);
    g.setOutputs([z]);
    expect(g.outputs.map((v) => v.name)).toEqual(['z']);
    expect(() => g.setOutput(3, z)).toThrow(GraphError);
    const other = chain().graph.get('z')!;
    expect(() => g.addOutput(other)).toThrow(/belongs to another graph/);
    const [fc, act] = g.nodes;
    const extra = g.addNode({ opType: 'Identity', name: 'id', inputs: [y], outputs: ['y2'] });
    g.moveNodeAfter(extra, fc!);
    expect(g.nodes.map((n) => n.name)).toEqual(['fc', 'id', 'act']);
    expect(() => g.moveNodeAfter(extra, chain().graph.nodes[0]!)).toThrow(GraphError);
    void act;
  });

  it('Tensor refuses data that does not fit its dims', () => {
    expect(() => new Tensor('float32', [2, 3], new Float32Array(5))).toThrow(RangeError);
    expect(Tensor.int64([2], [1, -3]).toNumbers()).toEqual([1, -3]);
  });
});

describe('sliceModel', () => {
  /** x → fc (w) → y → act → z → scale (w2, reading y too: z·w2 + y) → out */
  function longer(): Model {
    const m = chain();
    const g = m.graph;
    const w2 = g.addInitializer('w2', Tensor.float32([3], [1, 2, 3]));
    const mul = g.addNode({ opType: 'Mul', name: 'scale', inputs: [g.get('z')!, w2], outputs: ['s'] });
    const add = g.addNode({ opType: 'Add', name: 'res', inputs: [mul.outputs[0]!, g.get('y')!], outputs: ['out'] });
    g.outputs.push(add.outputs[0]!);
    return m;
  }

  it('makes the values read from before the slice its inputs, carries only the initializers it reads', () => {
    const m = longer();
    const tail = sliceModel(m, 1, 4, {
      inputType: (v) => ({ kind: 'tensor', dtype: 'float32', shape: v.name === 'y' ? [2, 3] : undefined }),
    });
    const g = tail.graph;
    expect(g.nodes.map((n) => n.name)).toEqual(['act', 'scale', 'res']);
    expect(g.inputs.map((v) => [v.name, v.shape])).toEqual([['y', [2, 3]]]);
    expect(g.initializers.map((v) => v.name)).toEqual(['w2']);
    expect(g.initializers[0]!.initializer).toBe(m.graph.get('w2')!.initializer); // shared, not copied
    expect(g.outputs.map((v) => v.name)).toEqual(['z', 'out']);
    expect(g.get('y')!.uses.map((u) => u.node.name)).toEqual(['act', 'res']);
    expect(tail.opset).toBe(m.opset);
    const head = sliceModel(m, 0, 1).graph;
    expect(head.inputs.map((v) => v.name)).toEqual(['x']);
    expect(head.initializers.map((v) => v.name)).toEqual(['w']);
    expect(head.outputs).toEqual([]);
    expect(m.graph.nodes).toHaveLength(4); // the original is untouched
  });

  it('refuses a node that reads a value produced after the slice', () => {
    const m = longer();
    m.graph.nodes.reverse();
    expect(() => sliceModel(m, 0, 2)).toThrow(/Add "res" reads "y" before its producer/);
  });
});
