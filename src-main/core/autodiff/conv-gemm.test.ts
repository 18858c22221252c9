/**
 * @file The batched-GEMM lowering of small-output convs (conv-gemm.ts): which convs it takes, and that the
 * lowered training step computes the same loss and gradients as the plain one and as float64 finite
 * differences of the conv lowered to Pad + Slice + Einsum.
 */
import { describe, expect, it } from 'vitest';
import type * as ort from 'onnxruntime-node';
import { attr, buildTrainingStep, Emitter, type TrainingStep } from './index.ts';
import { unfold } from './rules/linear.ts';
import { convModel, type ConvCase as Case } from './op-model.ts';
import { gradCheck, lowerForFloat64, toFloat64 } from '../../node/train/gradcheck.ts';
import { createSession, toOrt, traceModel } from '../../node/train/ort.ts';
import { Model, Tensor } from '../ir/index.ts';

const ints = attr.ints;

// every case has at most GEMM_CONV_MAX_POSITIONS output positions per image
const lowered: Case[] = [
  {
    name: '3×3 s1 p1 on 2×2 (resnet stage 4) + bias',
    x: [3, 5, 2, 2],
    w: [6, 5, 3, 3],
    bias: true,
    attrs: { pads: ints([1, 1, 1, 1]) },
  },
  {
    name: '3×3 s2 p1, 4×4 → 2×2',
    x: [2, 3, 4, 4],
    w: [8, 3, 3, 3],
    attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
  },
  {
    name: 's3 without pads (output_padding in the col2im)',
    x: [2, 2, 8, 8],
    w: [3, 2, 3, 3],
    attrs: { strides: ints([3, 3]) },
  },
  {
    name: 'dilation 2, asymmetric pads',
    x: [2, 2, 5, 4],
    w: [3, 2, 3, 3],
    attrs: { dilations: ints([2, 2]), pads: ints([1, 0, 2, 1]) },
  },
  {
    name: '2×1 kernel, mixed strides',
    x: [2, 3, 5, 4],
    w: [4, 3, 2, 1],
    attrs: { strides: ints([2, 2]), pads: ints([0, 0, 1, 0]) },
  },
  { name: '1-D s2 p1', x: [2, 3, 9], w: [4, 3, 3], bias: true, attrs: { strides: ints([2]), pads: ints([1, 1]) } },
];

async function stepOf(model: Model, convLowering: 'auto' | 'off'): Promise<TrainingStep> {
  const trace = await traceModel(model, {});
  const wrt = model.graph.initializers.map((v) => v.name);
  return buildTrainingStep(model, {
    ...trace,
    trainable: wrt,
    convLowering,
    // ½·Σ y²: every output entry gets its own gradient (y itself)
    loss: { type: 'custom', build: (c) => c.e.scale(c.e.reduceSum(c.e.mul(c.output(), c.output()), [], false), 0.5) },
    optimizer: { type: 'sgd' },
    observe: wrt.map((name) => ({ name, kind: 'grad' as const })),
  });
}

async function gradients(model: Model, step: TrainingStep): Promise<Record<string, Float32Array>> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const p of step.signature.params) feeds[p.name] = toOrt(model.graph.get(p.name)!.initializer!);
  for (const s of step.signature.state) feeds[s.name] = toOrt(model.graph.get(s.name)!.initializer!);
  for (const k of [...Object.values(step.signature.lr), step.signature.step])
    feeds[k] = toOrt(new Tensor('float32', [], Float32Array.of(0)));
  const s = await createSession(step.model);
  const out = await s.run(feeds);
  await s.release();
  const grads: Record<string, Float32Array> = { loss: out[step.signature.loss]!.data as Float32Array };
  for (const o of step.signature.observed) grads[o.name] = out[o.output]!.data as Float32Array;
  return grads;
}

describe('conv lowering to one batched GEMM (training steps only)', () => {
  it.each(lowered)('$name: lowered, same gradients as the plain conv', async (c) => {
    const model = convModel(c);
    const auto = await stepOf(model, 'auto');
    const off = await stepOf(model, 'off');
    expect(auto.model.graph.nodes.some((n) => n.opType === 'Gemm')).toBe(true);
    expect(off.model.graph.nodes.some((n) => n.opType === 'Gemm')).toBe(false);
    const a = await gradients(model, auto);
    const b = await gradients(model, off);
    for (const [k, ref] of Object.entries(b)) {
      const got = a[k]!;
      const scale = Math.max(...Array.from(ref, Math.abs), 1e-12);
      const err = Math.max(...Array.from(ref, (r, i) => Math.abs(r - got[i]!)));
      expect(err / scale, `${c.name} ${k}`).toBeLessThan(1e-5);
    }
  });

  it.each(lowered.filter((c) => c.x.length === 4))('$name: equals float64 finite differences', async (c) => {
    const model = convModel(c);
    const { shapes } = await traceModel(model, {});
    const fdModel = lowerForFloat64(toFloat64(model), shapes);
    const res = await gradCheck({ model, fdModel, wrt: model.graph.initializers.map((v) => v.name) });
    for (const r of res) expect(r.rel, `${c.name} d/d${r.tensor}`).toBeLessThan(2e-5);
  });

  it('leaves grouped, 1×1, float64 and larger-output convs as Conv', async () => {
    const keep: Case[] = [
      { name: 'grouped', x: [2, 4, 2, 2], w: [4, 2, 3, 3], attrs: { group: attr.int(2), pads: ints([1, 1, 1, 1]) } },
      { name: '1×1', x: [2, 4, 2, 2], w: [4, 4, 1, 1], attrs: {} },
      { name: '3×3 on 4×4 (16 positions)', x: [2, 4, 4, 4], w: [4, 4, 3, 3], attrs: { pads: ints([1, 1, 1, 1]) } },
    ];
    for (const c of keep) {
      const step = await stepOf(convModel(c), 'auto');
      expect(
        step.model.graph.nodes.some((n) => n.opType === 'Gemm'),
        c.name,
      ).toBe(false);
    }
  });
});

describe('unfold: the selection-matrix MatMul equals the one-hot Conv, bit for bit', () => {
  it.each<{ name: string; x: number[]; k: number[]; s?: number[]; d?: number[]; pb?: number[]; pe?: number[] }>([
    { name: '3×3 s1 p1 on 4×4', x: [2, 3, 4, 4], k: [3, 3], pb: [1, 1], pe: [1, 1] },
    { name: '3×3 s2 p1 on 5×6 (odd sizes)', x: [1, 2, 5, 6], k: [3, 3], s: [2, 2], pb: [1, 1], pe: [1, 1] },
    { name: 'dilation 2, asymmetric pads', x: [1, 2, 5, 4], k: [3, 3], d: [2, 2], pb: [1, 0], pe: [2, 1] },
    { name: '2×1 kernel, strides 2×3', x: [2, 1, 6, 7], k: [2, 1], s: [2, 3] },
    { name: '1-D k3 s2 p1', x: [2, 3, 9], k: [3], s: [2], pb: [1], pe: [1] },
    { name: '3-D k2', x: [1, 2, 3, 3, 2], k: [2, 2, 2], pb: [0, 1, 0], pe: [1, 0, 1] },
  ])('$name', async (c) => {
    const r = c.k.length;
    const g = {
      r,
      k: c.k,
      s: c.s ?? c.k.map(() => 1),
      d: c.d ?? c.k.map(() => 1),
      pb: c.pb ?? c.k.map(() => 0),
      pe: c.pe ?? c.k.map(() => 0),
      group: 1,
    };
    const out = c.x
      .slice(2)
      .map((n, i) => Math.floor((n + g.pb[i]! + g.pe[i]! - g.d[i]! * (c.k[i]! - 1) - 1) / g.s[i]!) + 1);
    const m = new Model();
    m.opsetImports.set('', 17);
    const e = new Emitter(m.graph, 17);
    const x = e.declare(m.graph.addInput('x'), c.x, 'float32');
    m.graph.outputs.push(unfold(e, x, g, out, 'matmul'), unfold(e, x, g, out, 'conv'));
    const n = c.x.reduce((a, b) => a * b, 1);
    const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 3 + (i % 5));
    const s = await createSession(m);
    const res = await s.run({ x: toOrt(new Tensor('float32', c.x, data)) });
    await s.release();
    const [a, b] = m.graph.outputs.map((o) => Array.from(res[o.name]!.data as Float32Array));
    expect(a!.length).toBe(c.x[0]! * c.x[1]! * c.k.reduce((p, q) => p * q, 1) * out.reduce((p, q) => p * q, 1));
    expect(a).toEqual(b);
  });
});
