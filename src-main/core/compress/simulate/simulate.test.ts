/** @file Simulation: masked parameters as new tensors on a copy, Mul / Add nodes for activations, softmax with 'add' vs 'mul' in onnxruntime, and the errors. */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../ir/index.ts';
import { Builder, randomInput, runOrt } from '../../../../test/pruning/helpers.ts';
import { makeMask, setMask, type Masks } from '../masks.ts';
import { MaskApplyError } from '../errors.ts';
import { simulate } from './index.ts';

function masksOf(entries: [string, string, number[], number[]][]): Masks {
  const m: Masks = new Map();
  for (const [node, target, dims, data] of entries) setMask(m, node, target, makeMask(dims, Uint8Array.from(data)));
  return m;
}

describe('parameters', () => {
  it('installs new masked tensors on a copy and leaves the model alone', () => {
    const b = new Builder();
    const m = b.output(b.gemm('fc', b.input('x', [1, 3]), 2, 3), [1, 2]);
    const w = m.graph.node('fc')!.input(1)!;
    const original = w.initializer!;
    const values = Float32Array.from(original.toFloat32());
    const sim = simulate(
      m,
      masksOf([
        ['fc', 'weight', [2, 1], [0, 1]],
        ['fc', 'bias', [2], [0, 1]],
      ]),
    );
    expect(w.initializer).toBe(original);
    expect(original.toFloat32()).toEqual(values);
    const sw = sim.graph.node('fc')!.input(1)!.initializer!;
    expect(sw).not.toBe(original);
    expect([...sw.toFloat32()]).toEqual([0, 0, 0, ...values.slice(3)]);
    expect(sim.graph.node('fc')!.input(2)!.initializer!.toFloat32()[0]).toBe(0);
  });

  it('gives a shared initializer a masked copy for the masked node only', () => {
    const b = new Builder();
    const x = b.input('x', [1, 2]);
    const w = b.weight('shared', [2, 2]);
    const y = b.op('MatMul', 'mm2', [b.op('MatMul', 'mm1', [x, w]), w]);
    const sim = simulate(b.output(y, [1, 2]), masksOf([['mm1', 'weight', [1, 2], [1, 0]]]));
    const a = sim.graph.node('mm1')!.input(1)!;
    const c = sim.graph.node('mm2')!.input(1)!;
    expect(a).not.toBe(c);
    expect(c.name).toBe('shared');
    expect([...a.initializer!.toFloat32()].filter((_, i) => i % 2 === 1)).toEqual([0, 0]);
    expect(c.initializer!.toFloat32()[1]).not.toBe(0);
  });

  it('masks float16 weights', () => {
    const b = new Builder();
    const m = b.output(b.gemm('fc', b.input('x', [1, 2]), 2, 2), [1, 2]);
    const v = m.graph.node('fc')!.input(1)!;
    m.graph.setInitializer(v, new Tensor('float16', [2, 2], Uint16Array.of(0x3c00, 0x4000, 0x4200, 0x4400)));
    const sim = simulate(m, masksOf([['fc', 'weight', [2, 1], [1, 0]]]));
    expect([...(sim.graph.node('fc')!.input(1)!.initializer!.data as Uint16Array)]).toEqual([0x3c00, 0x4000, 0, 0]);
  });
});

describe('activations', () => {
  it('inserts Mul nodes for _input_ and _output_ targets, keeping graph output names', async () => {
    const b = new Builder();
    const x = b.input('x', [1, 4]);
    const m = b.output(b.op('Relu', 'relu', [x]), [1, 4]);
    const outName = m.graph.outputs[0]!.name;
    const sim = simulate(
      m,
      masksOf([
        ['relu', '_input_', [1, 4], [1, 0, 1, 1]],
        ['relu', '_output_0', [1, 4], [1, 1, 0, 1]],
      ]),
    );
    expect(sim.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Relu', 'Mul']);
    expect(sim.graph.outputs[0]!.name).toBe(outName);
    expect(m.graph.nodes.length).toBe(1);
    const feed = Tensor.float32([1, 4], [1, 2, -3, 4]);
    const out = await runOrt(sim, { x: feed });
    expect([...out[outName]!]).toEqual([1, 0, 0, 4]);
  });

  it("'add' gives masked softmax inputs ~0 probability where 'mul' gives them exp(0)", async () => {
    const b = new Builder();
    const x = b.input('scores', [2, 4]);
    const m = b.output(b.op('Softmax', 'softmax', [x], { axis: { type: 'int', value: -1 } }), [2, 4]);
    const name = m.graph.outputs[0]!.name;
    const masks = masksOf([['softmax', '_input_0', [1, 4], [1, 1, 0, 0]]]);
    const scores = Tensor.float32([2, 4], [1, 2, 3, 4, -1, 0.5, -2, 2]);
    const add = (await runOrt(simulate(m, masks, { applyMethods: { softmax: { _input_0: 'add' } } }), { scores }))[
      name
    ]!;
    const mul = (await runOrt(simulate(m, masks, { applyMethods: { softmax: { _input_0: 'mul' } } }), { scores }))[
      name
    ]!;
    const softmax = (row: number[]) => row.map((v) => Math.exp(v) / row.reduce((s, u) => s + Math.exp(u), 0));
    for (const r of [0, 1]) {
      const [a, c] = [scores.toFloat32()[r * 4]!, scores.toFloat32()[r * 4 + 1]!];
      // add: the masked columns vanish; the kept ones renormalise among themselves
      expect(add[r * 4 + 2]!).toBeLessThan(1e-30);
      expect(add[r * 4 + 3]!).toBeLessThan(1e-30);
      softmax([a, c]).forEach((p, i) => expect(add[r * 4 + i]!).toBeCloseTo(p, 6));
      // mul: masked logits become 0, which still carries weight exp(0)
      const expected = softmax([a, c, 0, 0]);
      expected.forEach((p, i) => expect(mul[r * 4 + i]!).toBeCloseTo(p, 6));
      expect(mul[r * 4 + 2]!).toBeGreaterThan(0.01);
    }
  });

  it("'bypass' leaves the target alone", () => {
    const b = new Builder();
    const m = b.output(b.op('Relu', 'relu', [b.input('x', [1, 2])]), [1, 2]);
    const sim = simulate(m, masksOf([['relu', '_input_0', [1, 2], [0, 0]]]), {
      applyMethods: { relu: { _input_0: 'bypass' } },
    });
    expect(sim.graph.nodes.length).toBe(1);
  });
});

describe('errors', () => {
  const model = () => {
    const b = new Builder();
    return b.output(b.gemm('fc', b.input('x', [1, 3]), 2, 3), [1, 2]);
  };
  it('names the node and target of a mask that does not fit', () => {
    expect(() => simulate(model(), masksOf([['fc9', 'weight', [2, 1], [1, 1]]]))).toThrow(MaskApplyError);
    expect(() => simulate(model(), masksOf([['fc', 'weight', [3, 1], [1, 1, 1]]]))).toThrow(
      /weight on node "fc": mask dims \[3, 1\] do not broadcast to \[2, 3\]/,
    );
    expect(() => simulate(model(), masksOf([['fc', 'weight', [2], [1, 1]]]))).toThrow(/mask rank 1 ≠ target rank 2/);
    expect(() => simulate(model(), masksOf([['fc', 'gamma', [2], [1, 1]]]))).toThrow(/'gamma' is not a target/);
    expect(() =>
      simulate(model(), masksOf([['fc', 'weight', [2, 1], [1, 1]]]), {
        applyMethods: { fc: { weight: 'movement_mul' } },
      }),
    ).toThrow(/'movement_mul' cannot be simulated/);
  });

  it('runs the masked model it makes', async () => {
    const sim = simulate(model(), masksOf([['fc', 'weight', [2, 1], [0, 1]]]));
    const out = await runOrt(sim, { x: randomInput([1, 3]) });
    expect(Object.values(out)[0]!.length).toBe(2);
  });
});
