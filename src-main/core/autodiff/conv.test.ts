/**
 * @file Conv / ConvTranspose / pooling gradient checks. Conv: float32 analytic gradients against float64 finite
 * differences (h = 1e-6) of the model lowered to Pad + Slice + Einsum (ORT has no float64 Conv).
 * ConvTranspose and AveragePool (no float64 kernels either) are linear in each input, so float32 central
 * differences with h = 1 are exact up to rounding.
 */
import { describe, expect, it } from 'vitest';
import { attr } from './index.ts';
import { convModel, opModel, type ConvCase } from './op-model.ts';
import { gradCheck, lowerForFloat64, toFloat64 } from '../../node/train/gradcheck.ts';
import { traceModel } from '../../node/train/ort.ts';
import type { AttributeValue } from '../ir/index.ts';

type Attrs = Record<string, AttributeValue>;

const ints = attr.ints;
const cases: ConvCase[] = [
  {
    name: 'k3 s1 p1 + bias (C < M: input gradient by ConvTranspose)',
    x: [2, 3, 6, 6],
    w: [4, 3, 3, 3],
    bias: true,
    attrs: { pads: ints([1, 1, 1, 1]) },
  },
  {
    name: 'k3 s1 p1, C > M (input gradient by the flipped-kernel Conv)',
    x: [2, 5, 6, 6],
    w: [3, 5, 3, 3],
    attrs: { pads: ints([1, 1, 1, 1]) },
  },
  {
    name: 'group 2, C = M, dilation 2 (flipped-kernel Conv)',
    x: [1, 4, 7, 7],
    w: [4, 2, 3, 3],
    attrs: { group: attr.int(2), dilations: ints([2, 2]), pads: ints([2, 2, 2, 2]) },
  },
  { name: 'k3 s2 p1', x: [2, 3, 7, 7], w: [4, 3, 3, 3], attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) } },
  { name: 'k3 s3 (output_padding)', x: [1, 2, 8, 8], w: [3, 2, 3, 3], attrs: { strides: ints([3, 3]) } },
  {
    name: 'dilation 2',
    x: [1, 2, 7, 7],
    w: [3, 2, 3, 3],
    attrs: { dilations: ints([2, 2]), pads: ints([2, 2, 2, 2]) },
  },
  {
    name: 's2 d2',
    x: [1, 2, 9, 9],
    w: [3, 2, 3, 3],
    attrs: { strides: ints([2, 2]), dilations: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
  },
  { name: 'group 2', x: [2, 4, 5, 5], w: [6, 2, 3, 3], attrs: { group: attr.int(2), pads: ints([1, 1, 1, 1]) } },
  {
    name: 'depthwise s2',
    x: [2, 4, 6, 6],
    w: [4, 1, 3, 3],
    attrs: { group: attr.int(4), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
  },
  {
    name: 'depthwise multiplier 2',
    x: [1, 2, 5, 5],
    w: [4, 1, 3, 3],
    attrs: { group: attr.int(2), pads: ints([1, 1, 1, 1]) },
  },
  {
    name: 'asymmetric pads',
    x: [1, 2, 6, 6],
    w: [3, 2, 3, 3],
    attrs: { strides: ints([2, 2]), pads: ints([0, 0, 1, 1]) },
  },
  { name: '1x1 s2', x: [2, 3, 5, 5], w: [4, 3, 1, 1], attrs: { strides: ints([2, 2]) } },
  {
    name: '3x1 mixed strides/dilations',
    x: [1, 2, 7, 6],
    w: [3, 2, 3, 1],
    attrs: { strides: ints([2, 1]), dilations: ints([1, 2]), pads: ints([1, 0, 1, 0]) },
  },
  { name: 'k5 s3', x: [1, 2, 11, 11], w: [2, 2, 5, 5], attrs: { strides: ints([3, 3]), pads: ints([2, 2, 2, 2]) } },
  {
    name: 'P < M/g (late stage)',
    x: [2, 3, 4, 4],
    w: [8, 3, 3, 3],
    attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
  },
  {
    name: 'auto_pad SAME_UPPER',
    x: [1, 2, 6, 6],
    w: [3, 2, 3, 3],
    attrs: { strides: ints([2, 2]), auto_pad: attr.string('SAME_UPPER') },
  },
];

describe('Conv gradient (float32 analytic vs float64 FD of the lowered conv)', () => {
  it.each(cases)('$name', async (c) => {
    const model = convModel(c);
    const { shapes } = await traceModel(model, {});
    const explicit = c.attrs.auto_pad ? null : model;
    const fdModel = explicit ? lowerForFloat64(toFloat64(model), shapes) : null;
    const wrt = model.graph.initializers.map((v) => v.name);
    // auto_pad cases: float32 FD with h = 1 (the objective is linear in each input)
    const res = await gradCheck(fdModel ? { model, fdModel, wrt } : { model, wrt, h: 1 });
    for (const r of res) expect(r.rel, `${c.name} d/d${r.tensor}`).toBeLessThan(fdModel ? 2e-5 : 1e-4);
  });
});

describe('Conv with 1 and 3 spatial axes (float32, exact central differences)', () => {
  it.each<ConvCase>([
    { name: '1-D s2 p1', x: [2, 3, 9], w: [4, 3, 3], attrs: { strides: ints([2]), pads: ints([1, 1]) } },
    {
      name: '1-D stride 1 dilation 2',
      x: [1, 2, 8],
      w: [3, 2, 3],
      attrs: { dilations: ints([2]), pads: ints([2, 2]) },
    },
    {
      name: '3-D s2',
      x: [1, 2, 5, 5, 4],
      w: [3, 2, 3, 3, 3],
      attrs: { strides: ints([2, 2, 2]), pads: ints([1, 1, 1, 1, 1, 1]) },
    },
  ])('$name', async (c) => {
    const model = convModel(c);
    const res = await gradCheck({ model, wrt: ['x', 'w'], h: 1 });
    for (const r of res) expect(r.rel, `${c.name} d/d${r.tensor}`).toBeLessThan(1e-4);
  });
});

describe('ConvTranspose gradient (float32, exact central differences of a bilinear objective)', () => {
  const tcases: { name: string; x: number[]; w: number[]; attrs: Attrs }[] = [
    {
      name: 's2 p1 op1',
      x: [2, 3, 4, 4],
      w: [3, 2, 3, 3],
      attrs: { strides: ints([2, 2]), pads: ints([1, 1, 1, 1]), output_padding: ints([1, 1]) },
    },
    {
      name: 'group 2 dilation 2',
      x: [1, 4, 3, 3],
      w: [4, 3, 3, 3],
      attrs: { group: attr.int(2), dilations: ints([2, 2]) },
    },
    {
      name: 'output_shape',
      x: [1, 2, 3, 3],
      w: [2, 2, 3, 3],
      attrs: { strides: ints([2, 2]), output_shape: ints([6, 6]) },
    },
  ];
  it.each(tcases)('$name', async (c) => {
    const model = opModel({
      opType: 'ConvTranspose',
      dtype: 'float32',
      inputs: [
        { name: 'x', shape: c.x },
        { name: 'w', shape: c.w, scale: 0.5 },
        { name: 'b', shape: [c.w[1]! * (c.attrs.group ? 2 : 1)] },
      ],
      attrs: c.attrs,
    });
    const res = await gradCheck({ model, wrt: ['x', 'w', 'b'], h: 1 });
    for (const r of res) expect(r.rel, `${c.name} d/d${r.tensor}`).toBeLessThan(1e-4);
  });
});

describe('pooling gradients', () => {
  it.each<{ name: string; dtype: 'float32' | 'float64'; x: number[]; attrs: Attrs; h: number; tol: number }>([
    {
      name: 'k2 s2 (MaxUnpool path, float32)',
      dtype: 'float32',
      x: [2, 3, 6, 6],
      attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) },
      h: 1e-3,
      tol: 2e-3,
    },
    {
      name: 'k3 s2 p1 overlapping (scatter, float64)',
      dtype: 'float64',
      x: [2, 2, 7, 7],
      attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
      h: 1e-6,
      tol: 1e-6,
    },
    {
      name: 'ceil_mode (float64)',
      dtype: 'float64',
      x: [1, 2, 7, 7],
      attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]), ceil_mode: attr.int(1) },
      h: 1e-6,
      tol: 1e-6,
    },
  ])('MaxPool $name', async (c) => {
    const model = opModel({ opType: 'MaxPool', dtype: c.dtype, inputs: [{ name: 'x', shape: c.x }], attrs: c.attrs });
    const [r] = await gradCheck({ model, wrt: ['x'], h: c.h, samples: 60 });
    expect(r!.rel).toBeLessThan(c.tol);
  });
  it.each<{ name: string; attrs: Attrs }>([
    { name: 'k2 s2', attrs: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) } },
    {
      name: 'k3 s2 p1 exclude pad',
      attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), pads: ints([1, 1, 1, 1]) },
    },
    {
      name: 'k3 s2 p1 include pad',
      attrs: {
        kernel_shape: ints([3, 3]),
        strides: ints([2, 2]),
        pads: ints([1, 1, 1, 1]),
        count_include_pad: attr.int(1),
      },
    },
    { name: 'k3 s1 p1', attrs: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) } },
    { name: 'ceil_mode', attrs: { kernel_shape: ints([3, 3]), strides: ints([2, 2]), ceil_mode: attr.int(1) } },
  ])('AveragePool $name', async (c) => {
    const model = opModel({
      opType: 'AveragePool',
      dtype: 'float32',
      inputs: [{ name: 'x', shape: [2, 3, 8, 8] }],
      attrs: c.attrs,
    });
    const [r] = await gradCheck({ model, wrt: ['x'], h: 1, samples: 60 });
    expect(r!.rel).toBeLessThan(1e-4);
  });
  it('GlobalAveragePool', async () => {
    const model = opModel({
      opType: 'GlobalAveragePool',
      dtype: 'float32',
      inputs: [{ name: 'x', shape: [2, 3, 5, 4] }],
    });
    const [r] = await gradCheck({ model, wrt: ['x'], h: 1 });
    expect(r!.rel).toBeLessThan(1e-4);
  });
});
