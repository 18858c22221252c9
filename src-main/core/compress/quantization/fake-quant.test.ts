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
import { ChainWriter, type TrainingFakeQuantParams } from './fake-quant.ts';

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

/**
 * The same gradients through `trainingFakeQuant` (the chain the trained quantizers emit): with its composite backward,
 * or (`composite: false`) differentiated op by op, which has no gradient scale (k = 1). `gate`: the scalar buffer's
 * value (absent: no gate); `channels`: x as [channels, n / channels] with a per-channel scale and zero point.
 */
async function trainingChainGrads(
  c: Case,
  o: { k: number | 'numel'; composite: boolean; gate?: 0 | 1; channels?: number },
) {
  const m = new Model();
  const g = m.graph;
  const ch = o.channels ?? 1;
  const xDims = ch > 1 ? [ch, c.x.length / ch] : [c.x.length];
  const pDims = ch > 1 ? [ch, 1] : [];
  // per channel: each channel's scale and zero point a little apart, so the sums run per channel
  const per = (v: number, step: number) => Array.from({ length: ch }, (_, i) => v * (1 + step * i));
  const x = g.addInitializer('x', Tensor.float32(xDims, c.x));
  const up = g.addInitializer('upstream', Tensor.float32(xDims, c.upstream));
  const s = g.addInitializer('s', Tensor.float32(pDims, per(c.scale, 0.1)));
  const zp = g.addInitializer('zp', Tensor.float32(pDims, per(c.zeroPoint, 0)));
  const gate = g.addInitializer('gate', Tensor.float32([], [o.gate ?? 1]));
  const w = new ChainWriter(g, 'fq');
  const p: TrainingFakeQuantParams = {
    scale: s,
    ...(c.learnZeroPoint ? { zeroPoint: zp } : {}),
    qmin: c.qmin,
    qmax: c.qmax,
    ...(o.gate === undefined ? {} : { gate }),
    learned: { gradScale: o.k },
  };
  const { y, gradient } = w.trainingFakeQuant(x, p);
  g.outputs.push(w.op('Mul', [y, up]));
  const wrt = ['x', 's', ...(c.learnZeroPoint ? ['zp'] : [])];
  const { shapes, dtypes } = await traceModel(m, {});
  const step = buildTrainingStep(m, {
    shapes,
    dtypes,
    trainable: wrt,
    buffers: ['gate'],
    loss: { type: 'custom', build: (ctx) => ctx.e.reduceSum(ctx.output(), [], false) },
    optimizer: { type: 'sgd' },
    observe: [...wrt.map((name) => ({ name, kind: 'grad' as const })), { name: y.name, kind: 'value' as const }],
    ...(o.composite ? { compositeGradients: [gradient] } : {}),
  });
  const r = await StepRunner.create(step, (n) => m.graph.get(n)!.initializer!);
  const out = await r.run({}, { main: 0 }, 1);
  await r.release();
  const get = (n: string) => Array.from(out.observed[n]!.data as Float32Array);
  return {
    y: get(`value:${y.name}`),
    dx: get('grad:x'),
    ds: get('grad:s'),
    dzp: c.learnZeroPoint ? get('grad:zp') : null,
    nodes: step.model.graph.nodes.length,
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
      ours.dx.forEach((d, i) => (inside[i] ? expect(d).toBeCloseTo(c.upstream[i]!, 6) : expect(Math.abs(d)).toBe(0)));
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

describe('the training chain (trainingFakeQuant) and its composite backward', () => {
  for (const c of fixture.cases) {
    it(`${c.name}: the composite backward = central differences of the STE surrogate, = op by op, = torch (with k)`, async () => {
      const ours = await trainingChainGrads(c, { k: 1, composite: true });
      const plain = await trainingChainGrads(c, { k: 1, composite: false });
      const fd = surrogateFd(c);
      const inside = c.x.map((v) => {
        const u = v / c.scale + c.zeroPoint;
        return u >= c.qmin && u <= c.qmax;
      });
      ours.dx.forEach((d, i) => (inside[i] ? expect(d).toBeCloseTo(c.upstream[i]!, 6) : expect(Math.abs(d)).toBe(0)));
      expect(ours.ds[0]!).toBeCloseTo(fd.ds, 2);
      if (c.learnZeroPoint) expect(ours.dzp![0]!).toBeCloseTo(fd.dzp, 3);
      // the same gradients as the ops differentiated one by one (whose dx = (dy·s)/s is off by an ulp), in fewer nodes
      expect(ours.y).toEqual(plain.y);
      ours.dx.forEach((d, i) => expect(d).toBeCloseTo(plain.dx[i]!, 6));
      expect(ours.ds[0]! / plain.ds[0]!).toBeCloseTo(1, 5);
      if (c.learnZeroPoint) expect(ours.dzp![0]! / plain.dzp![0]!).toBeCloseTo(1, 5);
      expect(ours.nodes).toBeLessThan(plain.nodes);
      // LSQ's 1/√(qmax·numel) from the tensor's size: torch's autograd of the paper's formulation
      const scaled = await trainingChainGrads(c, { k: 'numel', composite: true });
      scaled.y.forEach((v, i) => expect(v).toBeCloseTo(c.y[i]!, 6));
      scaled.dx.forEach((d, i) => expect(d).toBeCloseTo(c.dx[i]!, 5));
      expect(scaled.ds[0]! / c.dscale).toBeCloseTo(1, 4);
      if (c.learnZeroPoint) expect(scaled.dzp![0]! / c.dzeroPoint!).toBeCloseTo(1, 4);
    });

    it(`${c.name}: the gate off passes x and its gradient through and trains no parameter; on, it quantizes`, async () => {
      const off = await trainingChainGrads(c, { k: 1, composite: true, gate: 0 });
      expect(off.y).toEqual(Array.from(Float32Array.from(c.x)));
      expect(off.dx).toEqual(Array.from(Float32Array.from(c.upstream)));
      expect(off.ds.map(Math.abs)).toEqual([0]);
      if (c.learnZeroPoint) expect(off.dzp!.map(Math.abs)).toEqual([0]);
      const on = await trainingChainGrads(c, { k: 1, composite: true, gate: 1 });
      const none = await trainingChainGrads(c, { k: 1, composite: true });
      expect(on).toEqual({ ...none, nodes: on.nodes });
      const plainOff = await trainingChainGrads(c, { k: 1, composite: false, gate: 0 });
      expect(plainOff.dx).toEqual(off.dx);
      expect(plainOff.y).toEqual(off.y);
    });

    it(`${c.name}: per channel, the composite's sums run per channel as the op-by-op gradients do`, async () => {
      const ours = await trainingChainGrads(c, { k: 1, composite: true, channels: 4 });
      const plain = await trainingChainGrads(c, { k: 1, composite: false, channels: 4 });
      expect(ours.y).toEqual(plain.y);
      ours.dx.forEach((d, i) => expect(d).toBeCloseTo(plain.dx[i]!, 6));
      expect(ours.ds).toHaveLength(4);
      ours.ds.forEach((d, i) => expect(d).toBeCloseTo(plain.ds[i]!, 4));
      if (c.learnZeroPoint) ours.dzp!.forEach((d, i) => expect(d).toBeCloseTo(plain.dzp![i]!, 4));
    });
  }
});
