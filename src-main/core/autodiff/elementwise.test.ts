/** @file Finite-difference checks (float64, h = 1e-6) of the elementwise, activation and reduction gradient rules. */
import { describe, expect, it } from 'vitest';
import { attr } from './index.ts';
import { opModel, type OpModelSpec } from './op-model.ts';
import { gradCheck } from '../../node/train/gradcheck.ts';

async function check(spec: OpModelSpec, wrt: string[], tol = 1e-6, h?: number) {
  const res = await gradCheck({ model: opModel(spec), wrt, h });
  for (const r of res) expect(r.rel, `${spec.opType} d/d${r.tensor}: ${r.rel}`).toBeLessThan(tol);
  return res;
}

const x = (shape: number[], extra: Partial<{ scale: number; offset: number }> = {}) => ({ name: 'x', shape, ...extra });
const b = (shape: number[], extra: Partial<{ scale: number; offset: number }> = {}) => ({ name: 'b', shape, ...extra });

describe('elementwise gradient rules (float64 FD)', () => {
  it.each(['Add', 'Sub', 'Mul', 'Div'])('%s with broadcasting', async (op) => {
    await check({ opType: op, inputs: [x([2, 3, 4]), b([3, 1], { offset: op === 'Div' ? 3 : 0 })] }, ['x', 'b']);
  });
  it('Pow (positive base)', async () => {
    await check({ opType: 'Pow', inputs: [x([3, 4], { scale: 0.3, offset: 2 }), b([4], { scale: 0.5 })] }, ['x', 'b']);
  });
  it.each([
    ['Neg', {}],
    ['Exp', {}],
    ['Sigmoid', {}],
    ['Tanh', {}],
    ['Relu', {}],
    ['Abs', {}],
    ['Sqrt', { offset: 3 }],
    ['Log', { offset: 3 }],
    ['Reciprocal', { offset: 3 }],
  ] as const)('%s', async (op, extra) => {
    await check({ opType: op, inputs: [x([2, 5], extra)] }, ['x']);
  });
  it('LeakyRelu, HardSigmoid, HardSwish, Clip', async () => {
    await check({ opType: 'LeakyRelu', inputs: [x([4, 5])], attrs: { alpha: attr.float(0.1) } }, ['x']);
    // no float64 kernels in ORT: float32 with h = 1e-2 (both are piecewise linear/quadratic)
    await check(
      {
        opType: 'HardSigmoid',
        dtype: 'float32',
        inputs: [x([4, 5], { scale: 3 })],
        attrs: { alpha: attr.float(0.25) },
      },
      ['x'],
      1e-3,
      1e-2,
    );
    await check({ opType: 'HardSwish', dtype: 'float32', inputs: [x([4, 5], { scale: 3 })] }, ['x'], 1e-3, 1e-2);
    await check(
      {
        opType: 'Clip',
        inputs: [
          x([4, 5]),
          { name: 'lo', shape: [], offset: -0.5, scale: 0 },
          { name: 'hi', shape: [], offset: 0.7, scale: 0 },
        ],
      },
      ['x'],
    );
  });
  it('Where', async () => {
    const model = { opType: 'Where', inputs: [{ name: 'c', shape: [3, 1] }, x([3, 4]), b([4])] };
    const m = opModel(model);
    // the condition must be boolean: make it from a comparison
    const g = m.graph;
    const node = g.nodes[0]!;
    const cmp = g.addNode({ opType: 'Greater', inputs: [g.get('c')!, g.get('b')!], outputs: ['cond'], at: 0 });
    node.setInput(0, cmp.outputs[0]!);
    const { gradCheck: gc } = await import('../../node/train/gradcheck.ts');
    const res = await gc({ model: m, wrt: ['x', 'b'] });
    for (const r of res) expect(r.rel).toBeLessThan(1e-6);
  });
  it('Sum of three', async () => {
    await check({ opType: 'Sum', inputs: [x([2, 3]), b([3]), { name: 'c', shape: [2, 1] }] }, ['x', 'b', 'c']);
  });
  it('Softmax and LogSoftmax on inner and outer axes', async () => {
    await check({ opType: 'Softmax', inputs: [x([2, 3, 4])], attrs: { axis: attr.int(1) } }, ['x']);
    await check({ opType: 'LogSoftmax', inputs: [x([2, 3, 4])], attrs: { axis: attr.int(-1) } }, ['x']);
  });
  it.each(['ReduceSum', 'ReduceMean', 'ReduceSumSquare', 'ReduceL2'])('%s (axes input / attribute)', async (op) => {
    const axesAsInput = op === 'ReduceSum';
    const axes = { name: 'axes', tensor: (await import('../ir/index.ts')).Tensor.int64([2], [0, -1]) };
    await check(
      {
        opType: op,
        inputs: axesAsInput ? [x([2, 3, 4]), axes] : [x([2, 3, 4])],
        attrs: axesAsInput ? {} : { axes: attr.ints([0, -1]), keepdims: attr.int(0) },
      },
      ['x'],
    );
  });
  it('Erf (float32: no float64 kernel)', async () => {
    await check({ opType: 'Erf', dtype: 'float32', inputs: [x([3, 4])] }, ['x'], 2e-3, 1e-2);
  });
  it('Identity, Cast (float64 → float64), Round (straight-through)', async () => {
    await check({ opType: 'Identity', inputs: [x([3])] }, ['x']);
    await check({ opType: 'Cast', inputs: [x([3])], attrs: { to: attr.int(11) } }, ['x']);
  });
});
