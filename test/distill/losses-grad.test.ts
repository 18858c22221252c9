/**
 * @file The distillation losses' values and gradients against torch autograd (float64), from the committed fixture
 * test/fixtures/distill/distill_grad.json (made by make_distill_grad.py next to it): KL with T = 2 and `batchmean`,
 * MSE, the min over links, and the Adaptive1d projections (1×1 conv, linear) — gradients w.r.t. the student value and
 * the projection's weight and bias, each computed by one training step in ORT.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Graph, Model, Tensor, type Value } from '../../src-main/core/ir/index.ts';
import { buildTrainingStep, type Emitter } from '../../src-main/core/autodiff/index.ts';
import { DISTILL_LOSSES, klLoss, minOf, mseLoss, project } from '../../src-main/core/compress/distillation/losses.ts';
import { StepRunner } from '../../src-main/node/train/step-runner.ts';

interface Case {
  loss: number;
  each?: number[];
  tensors: Record<string, { shape: number[]; data: number[] }>;
  grads: Record<string, number[]>;
  lambda?: number;
  method?: 'mse' | 'kl';
}
const fixture = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/distill/distill_grad.json', import.meta.url)), 'utf8'),
) as { cases: Record<string, Case> };

const tensor = (t: { shape: number[]; data: number[] }) => new Tensor('float32', t.shape, Float32Array.from(t.data));

/**
 * One training step of a model whose trainables are the case's `grads` keys (everything else a constant) and whose
 * loss is `loss(e, values)`: returns the loss and each trainable's gradient (observed).
 */
async function lossAndGrads(
  c: Case,
  loss: (e: Emitter, v: Record<string, Value>) => Value,
): Promise<{ loss: number; grads: Record<string, Float32Array> }> {
  const g = new Graph('distill_loss');
  const m = new Model(g);
  for (const [k, t] of Object.entries(c.tensors)) g.addInitializer(k, tensor(t));
  // a forward graph the step can hang on: the student value passes through an Identity to the output
  const id = g.addNode({ opType: 'Identity', inputs: [g.get('s')!], outputs: ['out'] });
  g.outputs.push(id.outputs[0]!);
  const trainable = Object.keys(c.grads);
  const shapes = new Map(Object.entries(c.tensors).map(([k, t]) => [k, t.shape] as const));
  shapes.set('out', c.tensors.s!.shape);
  const step = buildTrainingStep(m, {
    shapes,
    trainable,
    optimizer: { type: 'sgd', lr: 0 },
    loss: {
      type: 'custom',
      build: (ctx) => {
        const v: Record<string, Value> = {};
        for (const k of Object.keys(c.tensors))
          v[k] = trainable.includes(k) ? ctx.value(k) : ctx.e.constant(tensor(c.tensors[k]!), k);
        return loss(ctx.e, v);
      },
    },
    observe: trainable.map((name) => ({ name, kind: 'grad' as const })),
  });
  const runner = await StepRunner.create(step, (n) => tensor(c.tensors[n]!));
  try {
    const r = await runner.run({}, { main: 0 }, 1);
    return {
      loss: r.loss,
      grads: Object.fromEntries(trainable.map((k) => [k, r.observed[`grad:${k}`]!.data as Float32Array])),
    };
  } finally {
    await runner.release();
  }
}

/** max |a − b| relative to max |b|. */
function relErr(a: ArrayLike<number>, b: readonly number[]): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

async function check(name: string, loss: (e: Emitter, v: Record<string, Value>) => Value): Promise<void> {
  const c = fixture.cases[name]!;
  const r = await lossAndGrads(c, loss);
  expect(Math.abs(r.loss - c.loss) / Math.abs(c.loss)).toBeLessThan(1e-5);
  for (const [k, ref] of Object.entries(c.grads)) {
    expect(r.grads[k]!.length).toBe(ref.length);
    expect(relErr(r.grads[k]!, ref), `${name}: d/d${k}`).toBeLessThan(2e-5);
  }
}

describe('distillation losses against torch (float64 autograd)', () => {
  it('KL with T = 2, batchmean, × T²', async () => {
    await check('kl', (e, v) => klLoss(e, v.s!, v.t!, 2));
  });

  it('MSE (mean) on an NCHW value', async () => {
    await check('mse', (e, v) => mseLoss(e, v.s!, v.t!));
  });

  it('the min over two links (mse and kl), λ = 0.5: the gradient flows to the smaller', async () => {
    for (const name of ['min_mse', 'min_kl']) {
      const c = fixture.cases[name]!;
      expect(c.each![0]).not.toBe(c.each![1]);
      await check(name, (e, v) =>
        minOf(
          e,
          [v.t1!, v.t2!].map((t) => e.scale(DISTILL_LOSSES[c.method!](e, v.s!, t), c.lambda!)),
        ),
      );
    }
  });

  it('the 1×1-conv projection (NCHW): gradients of the student value, weight and bias', async () => {
    await check('conv1x1', (e, v) => mseLoss(e, project(e, v.s!, v.weight!, v.bias!), v.t!));
  });

  it('the linear projection on the last axis: gradients of the student value, weight and bias', async () => {
    await check('linear', (e, v) => klLoss(e, project(e, v.s!, v.weight!, v.bias!), v.t!));
  });
});
