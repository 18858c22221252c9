/** @file Small models built through the IR for the runtime's tests (hand-checkable numbers). Imports core only. */
import {
  Model,
  Tensor,
  type AttributeValue,
  type DataType,
  type Dim,
  type Graph,
  type Value,
} from '../../../core/ir/index.ts';

export const int = (value: number): AttributeValue => ({ type: 'int', value });
export const ints = (...value: number[]): AttributeValue => ({ type: 'ints', value });
export const float = (value: number): AttributeValue => ({ type: 'float', value });
export const graphAttr = (value: Graph): AttributeValue => ({ type: 'graph', value });

export function input(g: Graph, name: string, dtype: DataType, shape: Dim[] | undefined): Value {
  return g.addInput(name, { kind: 'tensor', dtype, shape });
}

export function init(g: Graph, name: string, dims: number[], values: number[]): Value {
  return g.addInitializer(name, Tensor.float32(dims, values));
}

/** Add a one-output node named after its output. */
export function op(
  g: Graph,
  opType: string,
  inputs: (Value | null)[],
  out: string,
  attributes: Record<string, AttributeValue> = {},
): Value {
  return g.addNode({ opType, inputs, outputs: [out], name: out, attributes }).outputs[0]!;
}

export function output(g: Graph, v: Value, dtype?: DataType, shape?: Dim[]): void {
  if (dtype) v.type = { kind: 'tensor', dtype, shape };
  g.addOutput(v);
}

/**
 * x[1,1,3,3] → Conv(w = [[1,0],[0,1]], b = 0.5) → Relu → Flatten → Gemm(B = [[1,1,1,1],[1,-1,0,0]], C = [0,1], transB).
 * For x = 1..9: conv = [6.5, 8.5, 12.5, 14.5], y = [42, -1].
 */
export function convGemm(): Model {
  const m = new Model();
  const g = m.graph;
  const x = input(g, 'x', 'float32', [1, 1, 3, 3]);
  const conv = op(g, 'Conv', [x, init(g, 'w', [1, 1, 2, 2], [1, 0, 0, 1]), init(g, 'b', [1], [0.5])], 'conv', {
    kernel_shape: ints(2, 2),
  });
  const relu = op(g, 'Relu', [conv], 'relu');
  const flat = op(g, 'Flatten', [relu], 'flat');
  const y = op(g, 'Gemm', [flat, init(g, 'B', [2, 4], [1, 1, 1, 1, 1, -1, 0, 0]), init(g, 'C', [2], [0, 1])], 'y', {
    transB: int(1),
  });
  output(g, conv, 'float32', [1, 1, 2, 2]);
  output(g, y, 'float32', [1, 2]);
  return m;
}

/** Deterministic weights: w[i] = sin(i + k) · scale. */
function weights(n: number, k: number, scale = 0.3): number[] {
  return Array.from({ length: n }, (_, i) => Math.sin(i + k) * scale);
}

/**
 * x[N,3,8,8] → Conv 4 (3×3, pad 1) → Relu → MaxPool 2 → Conv 6 (3×3, stride 2, pad 1) → Relu
 * → GlobalAveragePool → Flatten → Gemm 5 = y[N,5]; plus a Shape → Cast side branch (s, sf).
 */
export function smallCnn(): Model {
  const m = new Model();
  const g = m.graph;
  const x = input(g, 'x', 'float32', ['N', 3, 8, 8]);
  const c1 = op(
    g,
    'Conv',
    [x, init(g, 'w1', [4, 3, 3, 3], weights(108, 1)), init(g, 'b1', [4], weights(4, 2))],
    'conv1',
    {
      kernel_shape: ints(3, 3),
      pads: ints(1, 1, 1, 1),
    },
  );
  const r1 = op(g, 'Relu', [c1], 'relu1');
  const p1 = op(g, 'MaxPool', [r1], 'pool1', { kernel_shape: ints(2, 2), strides: ints(2, 2) });
  const c2 = op(
    g,
    'Conv',
    [p1, init(g, 'w2', [6, 4, 3, 3], weights(216, 3)), init(g, 'b2', [6], weights(6, 4))],
    'conv2',
    {
      kernel_shape: ints(3, 3),
      pads: ints(1, 1, 1, 1),
      strides: ints(2, 2),
    },
  );
  const r2 = op(g, 'Relu', [c2], 'relu2');
  const gap = op(g, 'GlobalAveragePool', [r2], 'gap');
  const flat = op(g, 'Flatten', [gap], 'flat');
  const y = op(g, 'Gemm', [flat, init(g, 'wf', [5, 6], weights(30, 5)), init(g, 'bf', [5], weights(5, 6))], 'y', {
    transB: int(1),
  });
  const s = op(g, 'Shape', [r1], 's');
  const sf = op(g, 'Cast', [s], 'sf', { to: int(1) });
  output(g, y, 'float32', ['N', 5]);
  output(g, sf);
  return m;
}

/** y = Identity(x) for one dtype and shape. */
export function identity(dtype: DataType, shape: Dim[]): Model {
  const m = new Model();
  const x = input(m.graph, 'x', dtype, shape);
  output(m.graph, op(m.graph, 'Identity', [x], 'y'), dtype, shape);
  return m;
}

/** y = x · W for a constant n×n W: heavy enough to time. */
/** `depth` chained n×n MatMuls with constant weights: about 2·n³·depth FLOPs, output the size of the input. */
export function matmul(n: number, depth = 1): Model {
  const m = new Model();
  const g = m.graph;
  let v = input(g, 'x', 'float32', [n, n]);
  for (let i = 0; i < depth; i++)
    v = op(g, 'MatMul', [v, init(g, `W${i}`, [n, n], weights(n * n, 7 + i, 0.01))], i === depth - 1 ? 'y' : `h${i}`);
  output(g, v, 'float32', [n, n]);
  return m;
}
