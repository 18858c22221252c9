/**
 * @file Straight-through rules for QAT: QuantizeLinear → DequantizeLinear passes the gradient where the
 * rounded value is inside [qmin, qmax] (the mask built on the rounded value, so half-way values clip like
 * round-half-to-even does), the scale gets LSQ's gradient, and Round is the identity.
 */
import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../ir/index.ts';
import { buildTrainingStep } from './index.ts';
import { StepRunner } from '../../node/train/step-runner.ts';
import { traceModel } from '../../node/train/ort.ts';

async function grads(build: (m: Model) => void, x: number[], wrt: string[]) {
  const m = new Model();
  m.graph.addInitializer('x', Tensor.float32([x.length], x));
  build(m);
  const { shapes, dtypes } = await traceModel(m, {});
  // objective Σ y (every upstream gradient is 1)
  const step = buildTrainingStep(m, {
    shapes,
    dtypes,
    trainable: wrt,
    loss: { type: 'custom', build: (c) => c.e.reduceSum(c.output(), [], false) },
    optimizer: { type: 'sgd' },
    observe: wrt.map((name) => ({ name, kind: 'grad' as const })),
  });
  const r = await StepRunner.create(step, (n) => m.graph.get(n)!.initializer!);
  const out = await r.run({}, { main: 0 }, 1);
  await r.release();
  return Object.fromEntries(wrt.map((n) => [n, Array.from(out.observed[`grad:${n}`]!.data as Float32Array)]));
}

describe('straight-through estimators', () => {
  const xs = [-2, -1.3, -0.5, 0, 0.26, 1.25, 1.3, 1.4, 1.75, 3];
  it('QuantizeLinear → DequantizeLinear (int8, scale 0.01·…): mask from the rounded value; LSQ scale gradient', async () => {
    const s = 0.0125; // qmax·s = 1.5875: values above clip
    const g = await grads(
      (m) => {
        const gr = m.graph;
        const scale = gr.addInitializer('s', Tensor.float32([], [s]));
        const zp = gr.addInitializer('zp', new Tensor('int8', [], Int8Array.of(0)));
        const q = gr.addNode({ opType: 'QuantizeLinear', inputs: [gr.get('x')!, scale, zp], outputs: ['q'] });
        gr.outputs.push(
          gr.addNode({ opType: 'DequantizeLinear', inputs: [q.outputs[0]!, scale, zp], outputs: ['y'] }).outputs[0]!,
        );
      },
      xs,
      ['x', 's'],
    );
    const q = xs.map((v) => Math.max(-128, Math.min(127, Math.round(v / s))));
    const inside = xs.map((v) => {
      const r = Math.round(v / s);
      return r >= -128 && r <= 127;
    });
    expect(g.x).toEqual(inside.map((b) => (b ? 1 : 0)));
    // dL/ds = Σ (q − x/s) inside + Σ q_clipped outside  (LSQ without its gradient scale)
    const want = xs.reduce((acc, v, i) => acc + (inside[i] ? q[i]! - v / s : q[i]!), 0);
    expect(g.s![0]!).toBeCloseTo(want, 2);
  });
  it('Round is the identity for the gradient', async () => {
    const g = await grads(
      (m) => {
        const gr = m.graph;
        gr.outputs.push(gr.addNode({ opType: 'Round', inputs: [gr.get('x')!], outputs: ['y'] }).outputs[0]!);
      },
      xs,
      ['x'],
    );
    expect(g.x).toEqual(xs.map(() => 1));
  });
});
