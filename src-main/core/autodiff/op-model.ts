/**
 * @file One-node (or small) models for gradient checks, op-coverage probes and tests: every input of `opModel` is an
 * initializer (random, seeded, or given), so gradients with respect to all of them can be observed; `tinyGemmModel`
 * is the smallest model with a graph input (serde round trips, test steps). Pure: imports the IR.
 */
import { Model, Tensor, type AttributeValue, type DataType } from '../ir/index.ts';
import { Rng } from '../util/random.ts';

export type OpInput =
  | { name: string; tensor: Tensor }
  | { name: string; shape: number[]; dtype?: DataType; scale?: number; offset?: number }
  | null;

export interface OpModelSpec {
  opType: string;
  inputs: OpInput[];
  attrs?: Record<string, AttributeValue>;
  /** Number of outputs (the first is the model output). */
  outputs?: number;
  /** Float type of random inputs (default float64). */
  dtype?: DataType;
  seed?: number;
  opset?: number;
}

/** Random normal data (times `scale`, plus `offset`) in the given float type. */
export function randomTensor(shape: number[], dtype: DataType, rng: Rng, scale = 1, offset = 0): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * scale + offset;
  return new Tensor(dtype, shape, data);
}

/** A model computing one op on initializer inputs; output `y`. */
export function opModel(spec: OpModelSpec): Model {
  const m = new Model();
  m.opsetImports.set('', spec.opset ?? 17);
  const g = m.graph;
  const rng = new Rng(spec.seed ?? 42);
  const ins = spec.inputs.map((inp) => {
    if (!inp) return null;
    const t =
      'tensor' in inp
        ? inp.tensor
        : randomTensor(inp.shape, inp.dtype ?? spec.dtype ?? 'float64', rng, inp.scale ?? 1, inp.offset ?? 0);
    return g.addInitializer(inp.name, t);
  });
  const outs = Array.from({ length: spec.outputs ?? 1 }, (_, i) => (i === 0 ? 'y' : `y${i}`));
  const node = g.addNode({ opType: spec.opType, inputs: ins, outputs: outs, attributes: spec.attrs ?? {} });
  g.addOutput(node.outputs[0]!);
  return m;
}

/** A float32 convolution of a gradient check: input and weight shapes, a bias or none, and the Conv's attributes. */
export interface ConvCase {
  name: string;
  x: number[];
  w: number[];
  bias?: boolean;
  attrs: Record<string, AttributeValue>;
}

/**
 * The one-Conv model of a case: float32 inputs `x`, `w` (scaled by ½) and, with `bias`, `b` of M entries.
 *
 * @example convModel({ name: 'k3', x: [1, 2, 5, 5], w: [3, 2, 3, 3], attrs: {} }).graph.initializers.length // 2
 */
export function convModel(c: ConvCase): Model {
  const inputs = [
    { name: 'x', shape: c.x },
    { name: 'w', shape: c.w, scale: 0.5 },
    ...(c.bias ? [{ name: 'b', shape: [c.w[0]!] }] : []),
  ];
  return opModel({ opType: 'Conv', dtype: 'float32', inputs, attrs: c.attrs });
}

/**
 * x[batch, 4] · Wᵀ with fixed 3×4 float weights (12 parameters, w[i] = i / 7): a Gemm named `fc`, output `y`.
 *
 * @example tinyGemmModel({ alpha: { type: 'float', value: 0.5 } }).graph.node('fc')!.attributes.alpha
 */
export function tinyGemmModel(attributes: Record<string, AttributeValue> = {}): Model {
  const m = new Model();
  const g = m.graph;
  const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['batch', 4] });
  const w = g.addInitializer(
    'w',
    Tensor.float32(
      [3, 4],
      Array.from({ length: 12 }, (_, i) => i / 7),
    ),
  );
  const gemm = g.addNode({
    opType: 'Gemm',
    name: 'fc',
    inputs: [x, w],
    outputs: ['y'],
    attributes: { transB: { type: 'int', value: 1 }, ...attributes },
  });
  gemm.outputs[0]!.type = { kind: 'tensor', dtype: 'float32', shape: ['batch', 3] };
  g.addOutput(gemm.outputs[0]!);
  return m;
}
