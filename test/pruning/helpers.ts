/**
 * @file Test helpers for pruning and simulation: small hand-built graphs (NNI's MNIST-like test CNN, single-op
 * graphs) with seeded weights, and a direct onnxruntime-node run of an IR model.
 */
import * as ort from 'onnxruntime-node';
import { Graph, Model, Tensor, type AttributeValue, type Value } from '../../src-main/core/ir/index.ts';
import { encodeModel } from '../../src-main/core/onnx/index.ts';
import { Rng } from '../../src-main/core/util/random.ts';

const f32 = (shape: number[]) => ({ kind: 'tensor' as const, dtype: 'float32' as const, shape });
const ints = (value: number[]): AttributeValue => ({ type: 'ints', value });
const int = (value: number): AttributeValue => ({ type: 'int', value });

/** A float32 tensor of seeded normal values (std scaled by fan-in). */
export function randomTensor(rng: Rng, dims: number[], std = 0.1): Tensor {
  return Tensor.float32(
    dims,
    Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal(0, std)),
  );
}

/** A graph builder with seeded weights. */
export class Builder {
  readonly model = new Model(new Graph('test'));
  readonly g = this.model.graph;
  readonly rng: Rng;

  constructor(seed = 1) {
    this.rng = new Rng(seed);
  }

  input(name: string, shape: number[]): Value {
    return this.g.addInput(name, f32(shape));
  }

  weight(name: string, dims: number[], std = 0.1): Value {
    return this.g.addInitializer(name, randomTensor(this.rng, dims, std));
  }

  conv(name: string, x: Value, cout: number, cin: number, k = 3, opts: { bias?: boolean; group?: number } = {}): Value {
    const group = opts.group ?? 1;
    const w = this.weight(`${name}.weight`, [cout, cin / group, k, k], Math.sqrt(2 / ((cin / group) * k * k)));
    const inputs = opts.bias === false ? [x, w] : [x, w, this.weight(`${name}.bias`, [cout])];
    const p = (k - 1) / 2;
    return this.g.addNode({
      opType: 'Conv',
      name,
      inputs,
      attributes: { kernel_shape: ints([k, k]), pads: ints([p, p, p, p]), group: int(group) },
    }).outputs[0]!;
  }

  gemm(name: string, x: Value, nout: number, nin: number, transB = 1): Value {
    const w = this.weight(`${name}.weight`, transB ? [nout, nin] : [nin, nout], Math.sqrt(2 / nin));
    const b = this.weight(`${name}.bias`, [nout]);
    return this.g.addNode({ opType: 'Gemm', name, inputs: [x, w, b], attributes: { transB: int(transB) } }).outputs[0]!;
  }

  op(opType: string, name: string, inputs: Value[], attributes: Record<string, AttributeValue> = {}): Value {
    return this.g.addNode({ opType, name, inputs, attributes }).outputs[0]!;
  }

  output(v: Value, shape: number[]): Model {
    v.type = f32(shape);
    this.g.outputs.push(v);
    return this.model;
  }
}

/**
 * NNI's pruner test model, MNIST-like: conv1 → relu → (conv2 ‖ conv3) → add → relu → global pool → fc1 → relu → fc2.
 * conv2 and conv3 feed one Add, so they belong in one dependency group.
 */
export function mnistCnn(seed = 1): Model {
  const b = new Builder(seed);
  const x = b.input('input', [1, 1, 28, 28]);
  const r1 = b.op('Relu', 'relu1', [b.conv('conv1', x, 16, 1)]);
  const sum = b.op('Add', 'add', [b.conv('conv2', r1, 32, 16), b.conv('conv3', r1, 32, 16)]);
  const pooled = b.op('Flatten', 'flatten', [b.op('GlobalAveragePool', 'pool', [b.op('Relu', 'relu2', [sum])])]);
  const h = b.op('Relu', 'relu3', [b.gemm('fc1', pooled, 64, 32)]);
  return b.output(b.gemm('fc2', h, 10, 64), [1, 10]);
}

/** Run a model in onnxruntime-node (CPU, one thread); feeds are float32. */
export async function runOrt(model: Model, feeds: Record<string, Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(encodeModel(model).bytes, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  try {
    const inputs = Object.fromEntries(
      Object.entries(feeds).map(([k, t]) => [k, new ort.Tensor('float32', t.toFloat32(), [...t.dims])]),
    );
    const out = await session.run(inputs);
    return Object.fromEntries(Object.entries(out).map(([k, t]) => [k, t.data as Float32Array]));
  } finally {
    await session.release();
  }
}

/** A seeded float32 feed. */
export function randomInput(dims: number[], seed = 7): Tensor {
  return randomTensor(new Rng(seed), dims, 1);
}
