/** @file Finite-difference checks (float64, h = 1e-6) of the data-movement gradient rules. */
import { describe, expect, it } from 'vitest';
import { attr } from './index.ts';
import { opModel, type OpInput, type OpModelSpec } from './op-model.ts';
import { gradCheck } from '../../node/train/gradcheck.ts';
import { Tensor } from '../ir/index.ts';

async function check(spec: OpModelSpec, wrt: string[]) {
  const res = await gradCheck({ model: opModel(spec), wrt });
  for (const r of res) expect(r.rel, `${spec.opType} d/d${r.tensor}: ${r.rel}`).toBeLessThan(1e-6);
}
const i64 = (name: string, v: number[], dims = [v.length]): OpInput => ({ name, tensor: Tensor.int64(dims, v) });
const x = (shape: number[]): OpInput => ({ name: 'x', shape });

describe('data-movement gradient rules (float64 FD)', () => {
  it('Reshape, Flatten, Squeeze, Unsqueeze', async () => {
    await check({ opType: 'Reshape', inputs: [x([2, 3, 4]), i64('s', [4, -1])] }, ['x']);
    await check({ opType: 'Flatten', inputs: [x([2, 3, 4])], attrs: { axis: attr.int(2) } }, ['x']);
    await check({ opType: 'Squeeze', inputs: [x([2, 1, 4]), i64('a', [1])] }, ['x']);
    await check({ opType: 'Unsqueeze', inputs: [x([2, 4]), i64('a', [0, 3])] }, ['x']);
  });
  it('Transpose (explicit and default perm)', async () => {
    await check({ opType: 'Transpose', inputs: [x([2, 3, 4])], attrs: { perm: attr.ints([1, 2, 0]) } }, ['x']);
    await check({ opType: 'Transpose', inputs: [x([2, 3, 4])] }, ['x']);
  });
  it('Concat', async () => {
    await check(
      {
        opType: 'Concat',
        inputs: [x([2, 3]), { name: 'b', shape: [2, 5] }, { name: 'c', shape: [2, 1] }],
        attrs: { axis: attr.int(-1) },
      },
      ['x', 'b', 'c'],
    );
  });
  it('Split (uneven sizes; only one output used)', async () => {
    await check({ opType: 'Split', inputs: [x([2, 7]), i64('s', [3, 4])], attrs: { axis: attr.int(1) }, outputs: 2 }, [
      'x',
    ]);
  });
  it.each([
    ['unit steps, negative start', [1, -3], [3, 100], [0, 1], [1, 1]],
    ['stride 2', [0, 1], [5, 6], [0, 1], [2, 2]],
    ['reversed', [-1], [-100], [1], [-1]],
    ['reversed stride 2 from the middle', [4, 5], [0, -100], [0, 1], [-2, -3]],
  ])('Slice %s', async (_n, starts, ends, axes, steps) => {
    await check(
      {
        opType: 'Slice',
        inputs: [
          x([5, 6]),
          i64('st', starts as number[]),
          i64('en', ends as number[]),
          i64('ax', axes as number[]),
          i64('sp', steps as number[]),
        ],
      },
      ['x'],
    );
  });
  it.each([
    ['axis 0, repeated and negative indices', 0, [2, 2], [0, -1, 0, 3]],
    ['axis 1', 1, [3], [2, 0, 2]],
    ['scalar index', 1, [], [1]],
  ])('Gather %s', async (_n, axis, idxDims, idx) => {
    await check(
      {
        opType: 'Gather',
        inputs: [x([4, 3, 2]), i64('i', idx as number[], idxDims as number[])],
        attrs: { axis: attr.int(axis as number) },
      },
      ['x'],
    );
  });
  it('GatherElements', async () => {
    await check(
      {
        opType: 'GatherElements',
        inputs: [x([3, 4]), i64('i', [0, 3, 3, 1, 2, 2], [3, 2])],
        attrs: { axis: attr.int(1) },
      },
      ['x'],
    );
  });
  it('Pad (constant, with a negative pad)', async () => {
    await check({ opType: 'Pad', inputs: [x([2, 3, 4]), i64('p', [0, 1, 2, 0, -1, 1])] }, ['x']);
  });
  it('Expand', async () => {
    await check({ opType: 'Expand', inputs: [x([3, 1]), i64('s', [2, 3, 4])] }, ['x']);
  });
});
