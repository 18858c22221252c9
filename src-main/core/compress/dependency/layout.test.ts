/** @file Unit tests of the pure pieces: reshape segments, shape-computation evaluation with dynamic taint, and registry coverage. */
import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../../ir/index.ts';
import { PROPAGATION_RULES, REPLACERS } from './registry.ts';
import { segments } from './rules-layout.ts';
import { evalShapeInts } from './shape-eval.ts';

describe('segments', () => {
  it('cuts dims into runs of equal element counts', () => {
    expect(segments([1, 116, 28, 28], [1, 2, 58, 28, 28])).toEqual([
      { i0: 0, i1: 1, o0: 0, o1: 1 },
      { i0: 1, i1: 2, o0: 1, o1: 3 },
      { i0: 2, i1: 3, o0: 3, o1: 4 },
      { i0: 3, i1: 4, o0: 4, o1: 5 },
    ]);
    expect(segments([1, 512, 7, 7], [1, 25088])).toEqual([
      { i0: 0, i1: 1, o0: 0, o1: 1 },
      { i0: 1, i1: 4, o0: 1, o1: 2 },
    ]);
    expect(segments([16, 1, 64], [16, 4, 16])).toEqual([
      { i0: 0, i1: 1, o0: 0, o1: 1 },
      { i0: 1, i1: 2, o0: 1, o1: 1 },
      { i0: 2, i1: 3, o0: 1, o1: 3 },
    ]);
    expect(segments([2, 3], [3, 2])).toEqual([{ i0: 0, i1: 2, o0: 0, o1: 2 }]);
    expect(segments([2, 3], [4])).toBeUndefined();
  });
});

describe('evalShapeInts', () => {
  it('evaluates Shape → Gather → Add → Div → Mul chains and taints what follows a dynamic dim', () => {
    const m = new Model();
    const g = m.graph;
    const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['N', 192] });
    const c = (name: string, v: number) => g.addInitializer(name, Tensor.int64([1], [v]));
    const shape = g.addNode({ opType: 'Shape', inputs: [x] }).outputs[0]!;
    const last = g.addNode({
      opType: 'Gather',
      inputs: [shape, c('i1', 1)],
      attributes: { axis: { type: 'int', value: 0 } },
    }).outputs[0]!;
    const third = g.addNode({
      opType: 'Div',
      inputs: [g.addNode({ opType: 'Add', inputs: [last, c('two', 2)] }).outputs[0]!, c('three', 3)],
    }).outputs[0]!;
    const batch = g.addNode({
      opType: 'Gather',
      inputs: [shape, c('i0', 0)],
      attributes: { axis: { type: 'int', value: 0 } },
    }).outputs[0]!;
    const cat = g.addNode({ opType: 'Concat', inputs: [batch, third], attributes: { axis: { type: 'int', value: 0 } } })
      .outputs[0]!;
    const ints = evalShapeInts(
      g,
      (v) => (v === x ? [2, 192] : undefined),
      (v, axis) => v === x && axis === 0,
    );
    expect(ints.get(third)).toMatchObject({ values: [64], dynamic: [false] });
    expect(ints.get(cat)).toMatchObject({ values: [2, 64], dynamic: [true, false] });
  });

  it('reads opset-9 Slice bounds from attributes (paddle2onnx: Reshape(x, Concat(Shape(x)[0:1], C)))', () => {
    const m = new Model();
    const g = m.graph;
    const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['N', 200, 1, 1] });
    const shape = g.addNode({ opType: 'Shape', inputs: [x] }).outputs[0]!;
    const ints = (value: number[]) => ({ type: 'ints' as const, value });
    const batch = g.addNode({
      opType: 'Slice',
      inputs: [shape],
      attributes: { axes: ints([0]), starts: ints([0]), ends: ints([1]) },
    }).outputs[0]!;
    const cat = g.addNode({
      opType: 'Concat',
      inputs: [batch, g.addInitializer('c', Tensor.int64([1], [200]))],
      attributes: { axis: { type: 'int', value: 0 } },
    }).outputs[0]!;
    const known = evalShapeInts(
      g,
      (v) => (v === x ? [3, 200, 1, 1] : undefined),
      (v, axis) => v === x && axis === 0,
    );
    expect(known.get(cat)).toMatchObject({ values: [3, 200], dynamic: [true, false] });
  });
});

describe('registries', () => {
  it('every op with a propagation rule that can shrink has a replacer', () => {
    const blocking = [
      'LRN',
      'GroupNormalization',
      'DepthToSpace',
      'SpaceToDepth',
      'And',
      'Or',
      'Xor',
      'Equal',
      'Less',
      'Greater',
      'LessOrEqual',
      'GreaterOrEqual',
      'Mod',
    ];
    const missing = Object.keys(PROPAGATION_RULES).filter((op) => !REPLACERS[op] && !blocking.includes(op));
    expect(missing).toEqual([]);
  });
});
