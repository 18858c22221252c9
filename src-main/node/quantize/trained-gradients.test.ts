/**
 * @file The straight-through gradients of DoReFa's and BNN's activation chains and DoReFa's gradient quantization,
 * run as the training step ORT executes: values against NNI's forward formulas, gradients against NNI's backward
 * definitions (the chains are piecewise constant, so their gradient is a definition, not a derivative); the
 * per-batch range of DoReFa's inputs passes no gradient (checked at the elements that set the range); the
 * quantized gradient is DoReFa's formula with the step's noise, and unbiased. The activation chains are also checked
 * against torch's autograd of NNI's definitions (a committed fixture).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { Model, Tensor, type Value } from '../../core/ir/index.ts';
import { buildTrainingStep, type GradientHook } from '../../core/autodiff/index.ts';
import { ChainWriter, type TrainingFakeQuant } from '../../core/compress/quantization/fake-quant.ts';
import {
  bnnChain,
  dorefaActivation,
  dorefaGradientHook,
  dorefaTrainingActivation,
} from '../../core/compress/quantization/dorefa-bnn.ts';
import { qparams, fakeQuantValue } from '../../core/compress/quantization/qparams.ts';
import { quantRange } from '../../core/compress/quantization/dtype.ts';
import { StepRunner } from '../train/step-runner.ts';
import { traceModel } from '../train/ort.ts';

interface Run {
  y: number[];
  dx: number[];
  noiseName?: string;
}

/**
 * y = chain(x) for a trainable x of `dims`; loss Σ c·y, so dL/dy = c; returns y and dL/dx (noise fed where asked).
 */
async function run(
  x: number[],
  chain: (w: ChainWriter, x: Value) => Value | TrainingFakeQuant,
  opts: { dims?: number[]; coef?: number[]; hooks?: (y: string) => GradientHook[]; noise?: Float32Array } = {},
): Promise<Run> {
  const dims = opts.dims ?? [x.length];
  const m = new Model();
  const g = m.graph;
  const xv = g.addInitializer('x', Tensor.float32(dims, x));
  const made = chain(new ChainWriter(g, 'chain'), xv);
  // a training chain with a composite backward (the gradient written by hand for the whole chain)
  const composite = 'gradient' in made ? made.gradient : null;
  const y = 'gradient' in made ? made.y : made;
  g.renameValue(y, 'y');
  g.outputs.push(y);
  const coef = opts.coef ?? x.map(() => 1);
  const { shapes, dtypes } = await traceModel(m, {});
  const step = buildTrainingStep(m, {
    shapes,
    dtypes,
    trainable: ['x'],
    loss: {
      type: 'custom',
      build: (c) => c.e.reduceSum(c.e.mul(c.output(), c.e.constant(Tensor.float32(dims, coef))), [], false),
    },
    optimizer: { type: 'sgd' },
    observe: [
      { name: 'x', kind: 'grad' },
      { name: 'y', kind: 'value' },
    ],
    ...(opts.hooks ? { gradientHooks: opts.hooks('y') } : {}),
    ...(composite ? { compositeGradients: [composite] } : {}),
  });
  const r = await StepRunner.create(step, (n) => m.graph.get(n)!.initializer!);
  const noise: Record<string, ort.Tensor> = {};
  for (const nz of step.signature.noise) noise[nz.name] = new ort.Tensor('float32', opts.noise!, nz.shape);
  const out = await r.run({}, { main: 0 }, 1, noise);
  await r.release();
  return {
    y: Array.from(out.observed['value:y']!.data as Float32Array),
    dx: Array.from(out.observed['grad:x']!.data as Float32Array),
  };
}

describe('BNN activations: sign with sign(0) = +1, hard-tanh straight-through', () => {
  it('values are ±1 (0 → +1), the gradient passes only where |x| ≤ 1', async () => {
    const xs = [-2, -1, -0.5, -1e-6, 0, 1e-9, 0.3, 1, 1.5, 7];
    const coef = xs.map((_, i) => i + 1);
    const r = await run(xs, bnnChain, { coef });
    expect(r.y).toEqual([-1, -1, -1, -1, 1, 1, 1, 1, 1, 1]);
    expect(r.dx).toEqual(xs.map((x, i) => (Math.abs(x) <= 1 ? coef[i]! : 0)));
  });
});

describe('DoReFa outputs: clamp(x, 0, 1) on a k-bit grid', () => {
  for (const [how, chain] of [
    ['op by op', dorefaActivation],
    ['the training chain (composite backward)', dorefaTrainingActivation],
  ] as const)
    it(`values round(L·clamp(x, 0, 1))/L (2 bits: L = 3), the gradient passes where 0 ≤ x ≤ 1: ${how}`, async () => {
      const xs = [-0.5, 0, 0.1, 0.2, 0.5, 0.49, 0.84, 1, 1.2, 3];
      const r = await run(xs, (w, x) => chain(w, x, 3));
      const f = Math.fround;
      expect(r.y).toEqual(xs.map((x) => fakeQuantValue(Math.min(1, Math.max(0, x)), f(1 / 3), 0, 0, 3)));
      expect(r.y.slice(0, 5)).toEqual([0, 0, 0, f(1 / 3), f(2 / 3)]); // 0.5·3 = 1.5 rounds half to even
      expect(r.dx.map(Math.abs)).toEqual(xs.map((x) => (x >= 0 && x <= 1 ? 1 : 0)));
    });
});

describe("DoReFa inputs: the current batch's scale and zero point, no gradient through them", () => {
  const xs = [-1.7, -0.3, 0, 0.25, 0.8, 2.9, 1.234, -0.05];
  for (const [dtype, scheme] of [
    ['uint8', 'affine'],
    ['int8', 'symmetric'],
    ['uint4', 'affine'],
  ] as const) {
    it(`${dtype} ${scheme}: NNI's clamp_round with the batch's min / max; dL/dx = dL/dy everywhere`, async () => {
      const range = quantRange(dtype);
      const coef = xs.map((_, i) => 0.5 + i);
      const r = await run(
        xs,
        (w, x) => {
          const p = w.batchParams(x, range.qmin, range.qmax, scheme);
          return w.straightThrough(x, w.fakeQuant(x, { ...p, qmin: range.qmin, qmax: range.qmax }));
        },
        { coef },
      );
      const p = qparams([Math.min(...xs)], [Math.max(...xs)], range, scheme);
      const want = xs.map((x) => fakeQuantValue(x, p.scale[0]!, p.zeroPoint[0]!, range.qmin, range.qmax));
      for (let i = 0; i < xs.length; i++) expect(r.y[i]).toBeCloseTo(want[i]!, 6);
      // the min (−1.7) and max (2.9) set the scale: a gradient through it would change theirs
      expect(r.dx).toEqual(coef);
    });
  }
});

describe("DoReFa's stochastic gradient quantization (a backward pre-hook)", () => {
  it("is DoReFa's formula with the step's noise, per-sample max, k bits", async () => {
    const dims = [2, 4];
    const coef = [0.5, -1, 0.25, 0.1, 3, -0.2, 0, 1.5];
    const noise = Float32Array.of(0.1, 0.9, 0.5, 0.3, 0.7, 0.05, 0.6, 0.99);
    const bits = 2;
    const L = 3;
    const r = await run(new Array(8).fill(0.4), (w, x) => w.op('Relu', [x]), {
      dims,
      coef,
      noise,
      hooks: (y) => [dorefaGradientHook(y, bits)],
    });
    const want = coef.map((g, i) => {
      const row = Math.floor(i / 4);
      const m = Math.max(...coef.slice(row * 4, row * 4 + 4).map(Math.abs));
      const u = g / (2 * m) + 0.5 + (noise[i]! - 0.5) / L;
      const q = Math.round(Math.min(L, Math.max(0, u * L))) / L;
      return (q - 0.5) * 2 * m;
    });
    for (let i = 0; i < 8; i++) expect(r.dx[i]).toBeCloseTo(want[i]!, 5);
    // without the hook the gradient is the coefficient itself (Relu passes it at 0.4)
    expect((await run(new Array(8).fill(0.4), (w, x) => w.op('Relu', [x]), { dims, coef })).dx).toEqual(
      Array.from(Float32Array.from(coef)),
    );
  });

  it('is unbiased: over 20,000 uniform draws the mean quantized gradient is the gradient', async () => {
    const n = 20_000;
    const coef = new Array(n).fill(0.3);
    coef[0] = 1; // the max
    const noise = new Float32Array(n);
    let seed = 12345;
    for (let i = 0; i < n; i++) noise[i] = ((seed = (seed * 1103515245 + 12345) >>> 0) % 1_000_000) / 1_000_000;
    const r = await run(new Array(n).fill(0.4), (w, x) => w.op('Relu', [x]), {
      dims: [1, n],
      coef,
      noise,
      hooks: (y) => [dorefaGradientHook(y, 3)],
    });
    const mean = r.dx.slice(1).reduce((a, b) => a + b, 0) / (n - 1);
    // 3 bits: q is one of two neighbouring grid points 2/7 apart (in units of 2m = 2): std of the mean ≈ 0.004
    expect(mean).toBeCloseTo(0.3, 1);
    expect(Math.abs(mean - 0.3)).toBeLessThan(0.02);
    // every quantized gradient is one of the grid's points 2m·(j/7 − ½) (m = 1), the two either side of 0.3
    const grid = r.dx.slice(1).map((v) => (v / 2 + 0.5) * 7);
    for (const j of grid) expect(Math.abs(j - Math.round(j))).toBeLessThan(1e-4);
    expect(new Set(grid.map((j) => Math.round(j)))).toEqual(new Set([4, 5]));
  });
});

interface FixtureCase {
  name: string;
  x: number[];
  w: number[];
  y: number[];
  dx: number[];
  levels?: number;
  qmin?: number;
  qmax?: number;
  scheme?: 'affine' | 'symmetric';
}

describe("against torch's autograd of NNI's definitions (test/fixtures/quant/make_dorefa_bnn_fixture.py)", () => {
  const fixture = JSON.parse(readFileSync('test/fixtures/quant/dorefa_bnn_grads.json', 'utf8')) as {
    cases: FixtureCase[];
  };
  const chainOf = (c: FixtureCase) => (w: ChainWriter, x: Value) => {
    if (c.name.startsWith('bnn')) return bnnChain(w, x);
    if (c.name.startsWith('dorefa_output')) return dorefaActivation(w, x, c.levels!);
    const p = w.batchParams(x, c.qmin!, c.qmax!, c.scheme!);
    return w.straightThrough(x, w.fakeQuant(x, { ...p, qmin: c.qmin!, qmax: c.qmax! }));
  };
  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: values and gradients', async (_name, c) => {
    const r = await run(c.x, chainOf(c), { coef: c.w });
    for (let i = 0; i < c.x.length; i++) {
      expect(r.y[i]).toBeCloseTo(c.y[i]!, 5);
      expect(r.dx[i]).toBeCloseTo(c.dx[i]!, 5);
    }
    if (!c.name.startsWith('dorefa_output')) return;
    // the training chain DoReFa's quantizer emits, with its composite backward: the same values and gradients
    const t = await run(c.x, (w, x) => dorefaTrainingActivation(w, x, c.levels!), { coef: c.w });
    for (let i = 0; i < c.x.length; i++) {
      expect(t.y[i]).toBeCloseTo(c.y[i]!, 5);
      expect(t.dx[i]).toBeCloseTo(c.dx[i]!, 5);
    }
  });
});
