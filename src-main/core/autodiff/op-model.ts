/**
 * @file One-node (or small) models for gradient checks and op-coverage probes: every input is an initializer
 * (random, seeded, or given), so gradients with respect to all of them can be observed. Pure: imports the IR.
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
