/**
 * @file The training-time fake-quant chain's gradients, run through the training-step builder in ORT: the clipped
 * straight-through estimator and LSQ / LSQ+'s scale and zero-point gradients (i) against central finite differences
 * of the straight-through surrogate (round replaced by its tangent at the point: round(u₀) + (u − u₀)), in float64
 * in JS, and (ii) against torch's autograd of the LSQ paper's formulation with grad_scale (test/fixtures/quant,
 * made by its committed script).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../../ir/index.ts';
import { buildTrainingStep } from '../../autodiff/index.ts';
import { StepRunner } from '../../../node/train/step-runner.ts';
import { traceModel } from '../../../node/train/ort.ts';
import { ChainWriter } from './fake-quant.ts';

interface Case {
  name: string;
  qmin: number;
  qmax: number;
  learnZeroPoint: boolean;
  gradScale: number;
  x: number[];
  upstream: number[];
  scale: number;
  zeroPoint: number;
  y: number[];
  dx: number[];
  dscale: number;
  dzeroPoint: number | null;
}
const fixture = JSON.parse(readFileSync('test/fixtures/quant/lsq_grads.json', 'utf8')) as { cases: Case[] };

/** Gradients of Σ upstream·x̂ w.r.t. x, scale (and zero point) through our chain, with LSQ's grad scale k. */
async function chainGrads(c: Case, k: number) {
  const m = new Model();
  const g = m.graph;
  const x = g.addInitializer('x', Tensor.float32([c.x.length], c.x));
  const up = g.addInitializer('upstream', Tensor.float32([c.x.length], c.upstream));
  const s = g.addInitializer('s', Tensor.float32([], [c.scale]));
  const sStop = g.addInitializer('s_stop', Tensor.float32([], [c.scale]));
  const zp = g.addInitializer('zp', Tensor.float32([], [c.zeroPoint]));
  const zpStop = g.addInitializer('zp_stop', Tensor.float32([], [c.zeroPoint]));
  const w = new ChainWriter(g, 'fq');
  const p = {
    scale: w.gradScale(s, sStop, k),
    ...(c.learnZeroPoint ? { zeroPoint: w.gradScale(zp, zpStop, k) } : {}),
    qmin: c.qmin,
    qmax: c.qmax,
  };
  const y = w.fakeQuant(x, p);
  g.outputs.push(w.op('Mul', [y, up]));
  const wrt = ['x', 's', ...(c.learnZeroPoint ? ['zp'] : [])];
  const { shapes, dtypes } = await traceModel(m, {});
  const step = buildTrainingStep(m, {
    shapes,
    dtypes,
    trainable: wrt,
    buffers: ['s_stop', 'zp_stop'],
    loss: { type: 'custom', build: (ctx) => ctx.e.reduceSum(ctx.output(), [], false) },
    optimizer: { type: 'sgd' },
    observe: [...wrt.map((name) => ({ name, kind: 'grad' as const })), { name: y.name, kind: 'value' as const }],
  });
  const r = await StepRunner.create(step, (n) => m.graph.get(n)!.initializer!);
  const out = await r.run({}, { main: 0 }, 1);
  await r.release();
  const get = (n: string) => Array.from(out.observed[n]!.data as Float32Array);
  return {
    y: get(`value:${y.name}`),
    dx: get('grad:x'),
    ds: get('grad:s')[0]!,
    dzp: c.learnZeroPoint ? get('grad:zp')[0]! : null,
  };
}

/** Central differences (float64, h = 1e-6) of the straight-through surrogate at (x, s, zp). */
function surrogateFd(c: Case) {
  const { qmin, qmax } = c;
  const u0 = c.x.map((v) => Math.min(qmax, Math.max(qmin, v / c.scale + c.zeroPoint)));
  const r0 = u0.map((u) => Math.round(u)); // no exact .5 ties in the fixture
  const F = (xs: number[], s: number, zp: number) =>
    xs.reduce((acc, v, i) => {
      const u = Math.min(qmax, Math.max(qmin, v / s + zp));
      return acc + c.upstream[i]! * (r0[i]! + (u - u0[i]!) - zp) * s;
    }, 0);
  const h = 1e-6;
  const dx = c.x.map((_, i) => {
    const plus = [...c.x];
    const minus = [...c.x];
    plus[i]! += h;
    minus[i]! -= h;
    return (F(plus, c.scale, c.zeroPoint) - F(minus, c.scale, c.zeroPoint)) / (2 * h);
  });
  const ds = (F(c.x, c.scale + h, c.zeroPoint) - F(c.x, c.scale - h, c.zeroPoint)) / (2 * h);
  const dzp = (F(c.x, c.scale, c.zeroPoint + h) - F(c.x, c.scale, c.zeroPoint - h)) / (2 * h);
  return { dx, ds, dzp };
}

describe('fake-quant chain gradients', () => {
  for (const c of fixture.cases) {
    it(`${c.name}: clipped STE and scale${c.learnZeroPoint ? ' / zero-point' : ''} gradients = central differences of the STE surrogate`, async () => {
      const ours = await chainGrads(c, 1);
      const fd = surrogateFd(c);
      const inside = c.x.map((v) => {
        const u = v / c.scale + c.zeroPoint;
        return u >= c.qmin && u <= c.qmax;
      });
      expect(inside.some((b) => !b)).toBe(true); // both kinds of element are exercised
      // central differences straddle a kink exactly on a clip bound (x = 0 with qmin = zp = 0): compared elsewhere
      const onBound = c.x.map((v) => [c.qmin, c.qmax].some((b) => Math.abs(v / c.scale + c.zeroPoint - b) < 1e-3));
      ours.dx.forEach((d, i) => void (onBound[i] || expect(d).toBeCloseTo(fd.dx[i]!, 4)));
      ours.dx.forEach((d, i) => (inside[i] ? expect(d).toBeCloseTo(c.upstream[i]!, 6) : expect(d).toBe(0)));
      expect(ours.ds).toBeCloseTo(fd.ds, 2);
      if (c.learnZeroPoint) expect(ours.dzp!).toBeCloseTo(fd.dzp, 3);
    });

    it(`${c.name}: forward and gradients (with LSQ's 1/√(qmax·numel) scale) match torch's autograd`, async () => {
      const ours = await chainGrads(c, c.gradScale);
      ours.y.forEach((v, i) => expect(v).toBeCloseTo(c.y[i]!, 6));
      ours.dx.forEach((d, i) => expect(d).toBeCloseTo(c.dx[i]!, 5));
      expect(ours.ds / c.dscale).toBeCloseTo(1, 4);
      if (c.learnZeroPoint) expect(ours.dzp! / c.dzeroPoint!).toBeCloseTo(1, 4);
    });
  }
});
