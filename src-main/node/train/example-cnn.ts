/**
 * @file The bundled example's architecture, built directly as an IR model with He-initialized weights:
 * [Conv(k3,p1)-BN-Relu-MaxPool2]×(stages−1), Conv-BN-Relu-GlobalAveragePool, Flatten, Gemm. Input `input`
 * [N, C, H, W] (MNIST: [N, 1, 28, 28], pixels/255). Used to train the example from scratch and in tests.
 */
import { Model, Tensor, type Value } from '../../core/ir/index.ts';
import { attr } from '../../core/autodiff/index.ts';
import { Rng } from '../../core/util/random.ts';

export interface CnnSpec {
  /** Output channels of each conv stage (default the example's [16, 32, 64]). */
  widths?: number[];
  classes?: number;
  /** [C, H, W] of one sample (default [1, 28, 28]). */
  input?: [number, number, number];
  seed?: number;
  /** Static batch size, or a symbolic batch dimension (default 'N'). */
  batch?: number | string;
}

/** He (Kaiming) normal init, fan-in mode: N(0, 2/fan_in). */
function he(rng: Rng, dims: number[], fanIn: number): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  const std = Math.sqrt(2 / fanIn);
  for (let i = 0; i < n; i++) d[i] = rng.normal() * std;
  return new Tensor('float32', dims, d);
}

/** The example CNN with fresh He-initialized weights. */
export function buildCnn(spec: CnnSpec = {}): Model {
  const widths = spec.widths ?? [16, 32, 64];
  const classes = spec.classes ?? 10;
  const [c0, h, w] = spec.input ?? [1, 28, 28];
  const rng = new Rng(spec.seed ?? 0);
  const m = new Model();
  m.producerName = 'compression-studio';
  const g = m.graph;
  let x: Value = g.addInput('input', { kind: 'tensor', dtype: 'float32', shape: [spec.batch ?? 'N', c0, h, w] });
  const node = (opType: string, inputs: Value[], name: string, attributes = {}) =>
    g.addNode({ opType, inputs, name, outputs: [`${name}_out`], attributes }).outputs[0]!;
  let cin = c0;
  widths.forEach((cout, i) => {
    const k = `conv${i + 1}`;
    const b = `bn${i + 1}`;
    const wt = g.addInitializer(`${k}.weight`, he(rng, [cout, cin, 3, 3], cin * 9));
    x = node('Conv', [x, wt], k, { kernel_shape: attr.ints([3, 3]), pads: attr.ints([1, 1, 1, 1]) });
    const ones = new Tensor('float32', [cout], new Float32Array(cout).fill(1));
    const zeros = () => new Tensor('float32', [cout], new Float32Array(cout));
    const bn = [
      g.addInitializer(`${b}.weight`, ones),
      g.addInitializer(`${b}.bias`, zeros()),
      g.addInitializer(`${b}.running_mean`, zeros()),
      g.addInitializer(`${b}.running_var`, ones.clone()),
    ];
    x = node('BatchNormalization', [x, ...bn], b, { epsilon: attr.float(1e-5), momentum: attr.float(0.9) });
    x = node('Relu', [x], `relu${i + 1}`);
    if (i < widths.length - 1)
      x = node('MaxPool', [x], `pool${i + 1}`, { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) });
    cin = cout;
  });
  x = node('GlobalAveragePool', [x], 'gap');
  x = node('Flatten', [x], 'flatten', { axis: attr.int(1) });
  const fw = g.addInitializer('fc.weight', he(rng, [classes, cin], cin));
  const fb = g.addInitializer('fc.bias', new Tensor('float32', [classes], new Float32Array(classes)));
  const logits = g.addNode({
    opType: 'Gemm',
    inputs: [x, fw, fb],
    name: 'fc',
    outputs: ['logits'],
    attributes: { transB: attr.int(1) },
  }).outputs[0]!;
  logits.type = { kind: 'tensor', dtype: 'float32', shape: [spec.batch ?? 'N', classes] };
  g.addOutput(logits);
  return m;
}

/**
 * Re-initialize a model's weights for training from scratch, by role: Conv/Gemm weights He-normal (fan-in),
 * their biases 0, BatchNorm γ = 1, β = 0, running mean 0 and variance 1. Other initializers are kept.
 * Returns how many tensors were reset. In place.
 */
export function heInitialize(model: Model, seed = 0): number {
  const rng = new Rng(seed);
  let n = 0;
  for (const v of model.graph.initializers) {
    const t = v.initializer!;
    if (t.dtype !== 'float32') continue;
    const use = v.uses[0];
    if (!use) continue;
    const { node, index } = use;
    const fill = (x: number) => new Tensor('float32', [...t.dims], new Float32Array(t.size).fill(x));
    let next: Tensor | null = null;
    if ((node.opType === 'Conv' || node.opType === 'Gemm') && index === 1) {
      const fanIn =
        node.opType === 'Gemm' && node.attrInt('transB', 0) === 0
          ? t.dims[0]!
          : t.dims.slice(1).reduce((a, b) => a * b, 1);
      next = he(rng, [...t.dims], fanIn);
    } else if ((node.opType === 'Conv' || node.opType === 'Gemm') && index === 2) next = fill(0);
    else if (node.opType === 'BatchNormalization') next = fill(index === 1 || index === 4 ? 1 : 0);
    if (next) {
      model.graph.setInitializer(v, next);
      n++;
    }
  }
  return n;
}
