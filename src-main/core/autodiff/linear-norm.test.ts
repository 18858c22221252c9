/** @file Finite-difference checks (float64, h = 1e-6) of MatMul, Gemm, normalization and dropout rules. */
import { describe, expect, it } from 'vitest';
import { attr } from './index.ts';
import { opModel, type OpModelSpec } from './op-model.ts';
import { gradCheck } from '../../node/train/gradcheck.ts';
import { Tensor } from '../ir/index.ts';

async function check(
  spec: OpModelSpec,
  wrt: string[],
  extra: Parameters<typeof gradCheck>[0]['spec'] = {},
  tol = 1e-6,
) {
  const res = await gradCheck({ model: opModel(spec), wrt, spec: extra });
  for (const r of res) expect(r.rel, `${spec.opType} d/d${r.tensor}: ${r.rel}`).toBeLessThan(tol);
}

describe('MatMul and Gemm (float64 FD)', () => {
  it.each([
    ['2-D', [3, 4], [4, 5]],
    ['batched × weight', [2, 3, 4], [4, 5]],
    ['batched broadcast', [3, 1, 4, 5], [2, 5, 6]],
    ['vector × matrix', [5], [5, 6]],
    ['batched × vector', [2, 4, 5], [5]],
  ])('MatMul %s', async (_n, a, b) => {
    await check(
      {
        opType: 'MatMul',
        inputs: [
          { name: 'a', shape: a as number[] },
          { name: 'b', shape: b as number[] },
        ],
      },
      ['a', 'b'],
    );
  });
  it.each([
    [0, 0, [5]],
    [1, 0, [1]],
    [0, 1, [3, 5]],
    [1, 1, [3, 1]],
  ])('Gemm transA=%i transB=%i C%j', async (tA, tB, c) => {
    const A = tA ? [4, 3] : [3, 4];
    const B = tB ? [5, 4] : [4, 5];
    const attrs = { transA: attr.int(tA), transB: attr.int(tB), alpha: attr.float(0.7), beta: attr.float(1.3) };
    await check(
      {
        opType: 'Gemm',
        inputs: [
          { name: 'a', shape: A },
          { name: 'b', shape: B },
          { name: 'c', shape: c as number[] },
        ],
        attrs,
      },
      ['a', 'b', 'c'],
    );
  });
});

describe('normalization (float64 FD)', () => {
  const bn = () => ({
    opType: 'BatchNormalization',
    inputs: [
      { name: 'x', shape: [4, 3, 3, 3], scale: 2, offset: 1 },
      { name: 'gamma', shape: [3], offset: 1 },
      { name: 'beta', shape: [3] },
      { name: 'mean', shape: [3], scale: 0.1 },
      { name: 'var', shape: [3], scale: 0.1, offset: 1 },
    ],
    attrs: { epsilon: attr.float(1e-5) },
  });
  it('BatchNormalization, training mode (batch statistics)', async () => {
    await check(bn(), ['x', 'gamma', 'beta']);
  });
  it('BatchNormalization, frozen statistics', async () => {
    await check(bn(), ['x', 'gamma', 'beta'], { batchNorm: 'frozen' });
  });
  it.each([-1, 1])('LayerNormalization axis %i', async (axis) => {
    const norm = axis === -1 ? [5] : [3, 5];
    await check(
      {
        opType: 'LayerNormalization',
        inputs: [
          { name: 'x', shape: [2, 3, 5], scale: 2 },
          { name: 'gamma', shape: norm, offset: 1 },
          { name: 'beta', shape: norm },
        ],
        attrs: { axis: attr.int(axis), epsilon: attr.float(1e-5) },
      },
      ['x', 'gamma', 'beta'],
    );
  });
  it('Dropout in training mode (mask from a fixed noise input)', async () => {
    await check(
      {
        opType: 'Dropout',
        inputs: [
          { name: 'x', shape: [4, 6] },
          { name: 'ratio', tensor: new Tensor('float64', [], Float64Array.from([0.3])) },
        ],
      },
      ['x'],
    );
  });
});

describe('LayerNormalization float32 with its stashed statistics', () => {
  it('matches float64 FD of the same model', async () => {
    const spec = {
      opType: 'LayerNormalization',
      dtype: 'float32' as const,
      inputs: [
        { name: 'x', shape: [2, 3, 8], scale: 2 },
        { name: 'gamma', shape: [8], offset: 1 },
        { name: 'beta', shape: [8] },
      ],
      attrs: { axis: attr.int(-1) },
    };
    const model = opModel(spec);
    const { toFloat64 } = await import('../../node/train/gradcheck.ts');
    const res = await gradCheck({ model, fdModel: toFloat64(model), wrt: ['x', 'gamma', 'beta'] });
    for (const r of res) expect(r.rel, r.tensor).toBeLessThan(2e-5);
  });
});
