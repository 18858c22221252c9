/**
 * @file The training-step builder end to end through ORT: whole-CNN cross-entropy gradients against float64
 * finite differences, optimizer updates against a JS transcription of torch.optim, loss values, named errors.
 */
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import {
  buildTrainingStep,
  NoTrainableTensorError,
  NotDifferentiableError,
  UnsupportedGradientError,
  attr,
  type CompositeGradient,
  type LossSpec,
  type OptimizerSpec,
} from './index.ts';
import { Model, Tensor } from '../ir/index.ts';
import { Rng } from '../util/random.ts';
import { gradCheck, lowerForFloat64, toFloat64 } from '../../node/train/gradcheck.ts';
import { traceModel, toOrt } from '../../node/train/ort.ts';
import { buildCnn } from '../../node/train/example-cnn.ts';
import { StepRunner } from '../../node/train/step-runner.ts';
import { randomTensor } from './op-model.ts';

const rng = new Rng(5);
const images = (n: number, c: number, h: number) => randomTensor([n, c, h, h], 'float32', rng);
const labels = (n: number, k: number) =>
  Tensor.int64(
    [n],
    Array.from({ length: n }, () => rng.int(0, k)),
  );

describe('whole-model gradients', () => {
  it('small CNN (Conv-BN(train)-Relu-MaxPool-Conv-BN-Relu-GAP-Gemm) + cross-entropy: float32 analytic vs float64 FD', async () => {
    const model = buildCnn({ widths: [4, 6], input: [2, 8, 8], classes: 5, seed: 3 });
    const feeds = { input: images(4, 2, 8), labels: labels(4, 5) };
    const { shapes } = await traceModel(model, { input: toOrt(feeds.input) });
    const fdModel = lowerForFloat64(toFloat64(model), shapes);
    const wrt = model.graph.initializers.filter((v) => !v.name.includes('running')).map((v) => v.name);
    const res = await gradCheck({
      model,
      fdModel,
      feeds,
      wrt,
      samples: 12,
      spec: { loss: { type: 'cross_entropy', labelSmoothing: 0.1 } },
    });
    expect(res.length).toBe(wrt.length);
    for (const r of res) expect(r.rel, `${r.tensor}: ${r.rel}`).toBeLessThan(1e-4);
  });
});

/** y = x·Wᵀ + b: a linear model for optimizer and loss tests. */
function linearModel(n: number, d: number, k: number): Model {
  const m = new Model();
  const g = m.graph;
  const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [n, d] });
  const w = g.addInitializer('w', randomTensor([k, d], 'float32', new Rng(1), 0.5));
  const b = g.addInitializer('b', randomTensor([k], 'float32', new Rng(2), 0.1));
  g.outputs.push(
    g.addNode({ opType: 'Gemm', inputs: [x, w, b], outputs: ['y'], attributes: { transB: attr.int(1) } }).outputs[0]!,
  );
  return m;
}

/** torch.optim's update, transcribed element by element (float64 arithmetic). */
function reference(
  o: OptimizerSpec,
  p: number,
  g: number,
  st: Record<string, number>,
  lr: number,
  t: number,
): [number, Record<string, number>] {
  if (o.type === 'sgd') {
    const g1 = g + (o.weightDecay ?? 0) * p;
    if (!o.momentum) return [p - lr * g1, {}];
    const v = (st.momentum ?? 0) * o.momentum + g1;
    return [p - lr * (o.nesterov ? g1 + o.momentum * v : v), { momentum: v }];
  }
  const [b1, b2, eps] = [o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8];
  const wd = o.weightDecay ?? (o.type === 'adamw' ? 0.01 : 0);
  const p0 = o.type === 'adamw' ? p * (1 - lr * wd) : p;
  const g1 = o.type === 'adam' ? g + wd * p : g;
  const m = b1 * (st.exp_avg ?? 0) + (1 - b1) * g1;
  const v = b2 * (st.exp_avg_sq ?? 0) + (1 - b2) * g1 * g1;
  const denom = Math.sqrt(v) / Math.sqrt(1 - b2 ** t) + eps;
  return [p0 - (lr / (1 - b1 ** t)) * (m / denom), { exp_avg: m, exp_avg_sq: v }];
}

describe('optimizers as graphs (vs torch.optim semantics)', () => {
  const opts: OptimizerSpec[] = [
    { type: 'sgd' },
    { type: 'sgd', momentum: 0.9, weightDecay: 1e-2 },
    { type: 'sgd', momentum: 0.9, nesterov: true },
    { type: 'adam', weightDecay: 1e-3 },
    { type: 'adamw', beta1: 0.8 },
  ];
  it.each(opts)('%o: three steps', async (opt) => {
    const model = linearModel(6, 4, 3);
    const { shapes, dtypes } = await traceModel(model, { x: toOrt(randomTensor([6, 4], 'float32', rng)) });
    const step = buildTrainingStep(model, {
      shapes,
      dtypes,
      loss: { type: 'cross_entropy' },
      optimizer: opt,
      observe: [
        { name: 'w', kind: 'grad' },
        { name: 'b', kind: 'grad' },
      ],
    });
    const runner = await StepRunner.create(step, (n) => model.graph.get(n)!.initializer!);
    const state: Record<string, Record<string, number>[]> = { w: [], b: [] };
    for (let t = 1; t <= 3; t++) {
      const before = {
        w: Float64Array.from(runner.get('w').data as Float32Array),
        b: Float64Array.from(runner.get('b').data as Float32Array),
      };
      const r = await runner.run(
        { x: toOrt(randomTensor([6, 4], 'float32', rng)), labels: toOrt(labels(6, 3)) },
        { main: 0.05 },
        t,
      );
      for (const name of ['w', 'b'] as const) {
        const g = r.observed[`grad:${name}`]!.data as Float32Array;
        const after = runner.get(name).data as Float32Array;
        before[name].forEach((p, i) => {
          const [want, st] = reference(opt, p, g[i]!, state[name]![i] ?? {}, 0.05, t);
          state[name]![i] = st;
          expect(Math.abs(after[i]! - want), `${name}[${i}] step ${t}`).toBeLessThan(
            2e-6 * Math.max(1, Math.abs(want)),
          );
        });
      }
    }
    await runner.release();
  });

  it('gradient clipping by global norm', async () => {
    const model = linearModel(6, 4, 3);
    const x = toOrt(randomTensor([6, 4], 'float32', rng, 10));
    const { shapes } = await traceModel(model, { x });
    const step = buildTrainingStep(model, {
      shapes,
      loss: { type: 'cross_entropy' },
      optimizer: { type: 'sgd' },
      clipGradNorm: 0.5,
      observe: [
        { name: 'w', kind: 'grad' },
        { name: 'b', kind: 'grad' },
      ],
    });
    const runner = await StepRunner.create(step, (n) => model.graph.get(n)!.initializer!);
    const w0 = Float64Array.from(runner.get('w').data as Float32Array);
    const r = await runner.run({ x, labels: toOrt(labels(6, 3)) }, { main: 1 }, 1);
    const gw = r.observed['grad:w']!.data as Float32Array;
    const gb = r.observed['grad:b']!.data as Float32Array;
    const norm = Math.sqrt([...gw, ...gb].reduce((a, v) => a + v * v, 0));
    expect(r.reports.grad_norm).toBeCloseTo(norm, 4);
    const coef = Math.min(1, 0.5 / (norm + 1e-6));
    const w1 = runner.get('w').data as Float32Array;
    w0.forEach((p, i) => expect(w1[i]!).toBeCloseTo(p - coef * gw[i]!, 5));
    await runner.release();
  });
});

describe('losses as graphs', () => {
  async function lossOf(spec: LossSpec, extra: Record<string, ort.Tensor>) {
    const model = linearModel(4, 3, 5);
    const x = toOrt(randomTensor([4, 3], 'float32', new Rng(9)));
    const { shapes } = await traceModel(model, { x });
    const step = buildTrainingStep(model, { shapes, loss: spec, optimizer: { type: 'sgd' } });
    const runner = await StepRunner.create(step, (n) => model.graph.get(n)!.initializer!);
    const fwd = await ort.InferenceSession.create((await import('../onnx/index.ts')).encodeModel(model).bytes);
    const y = (await fwd.run({ x })).y!.data as Float32Array;
    const r = await runner.run({ x, ...extra }, { main: 0 }, 1);
    await runner.release();
    return { loss: r.loss, y: Array.from(y), reports: r.reports };
  }
  const logSoftmax = (row: number[]) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
    return row.map((v) => v - lse);
  };
  const rows = (y: number[]) => [0, 1, 2, 3].map((i) => y.slice(i * 5, i * 5 + 5));

  it('cross-entropy with label smoothing equals torch.nn.functional.cross_entropy', async () => {
    const lab = [1, 4, 0, 2];
    const { loss, y, reports } = await lossOf(
      { type: 'cross_entropy', labelSmoothing: 0.2 },
      { labels: toOrt(Tensor.int64([4], lab)) },
    );
    const want =
      rows(y).reduce((acc, row, i) => {
        const l = logSoftmax(row);
        return acc - (0.8 * l[lab[i]!]! + (0.2 / 5) * l.reduce((a, v) => a + v, 0));
      }, 0) / 4;
    expect(loss).toBeCloseTo(want, 5);
    const hits = rows(y).filter((row, i) => row.indexOf(Math.max(...row)) === lab[i]).length;
    expect(reports.correct).toBe(hits);
  });
  it('KL divergence with temperature (distillation) and MSE', async () => {
    const teacher = randomTensor([4, 5], 'float32', new Rng(3));
    const { loss, y } = await lossOf({ type: 'kl_div', temperature: 3 }, { teacher_logits: toOrt(teacher) });
    const t = Array.from(teacher.data as Float32Array);
    const want =
      (rows(y).reduce((acc, row, i) => {
        const ls = logSoftmax(row.map((v) => v / 3));
        const lt = logSoftmax(t.slice(i * 5, i * 5 + 5).map((v) => v / 3));
        return acc + lt.reduce((a, v, k) => a + Math.exp(v) * (v - ls[k]!), 0);
      }, 0) *
        9) /
      4;
    expect(loss).toBeCloseTo(want, 5);
    const mse = await lossOf({ type: 'mse' }, { target: toOrt(teacher) });
    expect(mse.loss).toBeCloseTo(mse.y.reduce((a, v, i) => a + (v - t[i]!) ** 2, 0) / 20, 5);
  });
});

describe('named errors', () => {
  it('an op without a rule on the path to the loss names the node', async () => {
    const model = linearModel(4, 3, 5);
    const g = model.graph;
    const y = g.outputs[0]!;
    const k = g.addInitializer('k', Tensor.int64([1], [5]));
    const top = g.addNode({ opType: 'TopK', name: 'the_topk', inputs: [y, k], outputs: ['vals', 'idx'] });
    g.outputs.splice(0, 1, top.outputs[0]!);
    const { shapes } = await traceModel(model, { x: toOrt(randomTensor([4, 3], 'float32', rng)) });
    expect(() => buildTrainingStep(model, { shapes, loss: { type: 'mse' }, optimizer: { type: 'sgd' } })).toThrow(
      NotDifferentiableError,
    );
    expect(() => buildTrainingStep(model, { shapes, loss: { type: 'mse' }, optimizer: { type: 'sgd' } })).toThrow(
      /the_topk/,
    );
  });
  it('a model without a trainable tensor', async () => {
    const m = new Model();
    const x = m.graph.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [2, 3] });
    m.graph.outputs.push(m.graph.addNode({ opType: 'Relu', inputs: [x], outputs: ['y'] }).outputs[0]!);
    const shapes = new Map([
      ['x', [2, 3]],
      ['y', [2, 3]],
    ]);
    expect(() => buildTrainingStep(m, { shapes, loss: { type: 'mse' }, optimizer: { type: 'sgd' } })).toThrow(
      NoTrainableTensorError,
    );
  });
});

/** x [2, 1, 6, 6] → Conv (w: 2 filters 3×3, pad 1) → MaxPool 2×2 → y: the training step rewrites both. */
function convPoolModel(): Model {
  const m = new Model();
  const g = m.graph;
  const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [2, 1, 6, 6] });
  const w = g.addInitializer('w', randomTensor([2, 1, 3, 3], 'float32', new Rng(1), 0.5));
  const c = g.addNode({
    opType: 'Conv',
    inputs: [x, w],
    outputs: ['c'],
    attributes: { pads: attr.ints([1, 1, 1, 1]) },
  });
  const p = g.addNode({
    opType: 'MaxPool',
    inputs: [c.outputs[0]!],
    outputs: ['y'],
    attributes: { kernel_shape: attr.ints([2, 2]), strides: attr.ints([2, 2]) },
  });
  g.outputs.push(p.outputs[0]!);
  return m;
}

describe('composite gradients (a hand-written backward for a subgraph)', () => {
  /** y = 2·tanh(x·Wᵀ + b) as Tanh → Mul; the composite covers the two nodes from the Gemm's output. */
  async function step(
    composite: (scale: number) => CompositeGradient[],
    scale: number,
    extraUse = false,
    conv = false,
  ) {
    const model = conv ? convPoolModel() : linearModel(4, 3, 5);
    const g = model.graph;
    const y0 = g.outputs[0]!;
    const t = g.addNode({ opType: 'Tanh', name: 'the_tanh', inputs: [y0], outputs: ['t'] }).outputs[0]!;
    const two = g.addInitializer('two', Tensor.float32([], [2]));
    const out = g.addNode({ opType: 'Mul', name: 'the_mul', inputs: [t, two], outputs: ['out'] }).outputs[0]!;
    g.outputs.splice(0, 1, out);
    if (extraUse)
      g.outputs.push(g.addNode({ opType: 'Neg', name: 'the_neg', inputs: [t], outputs: ['n'] }).outputs[0]!);
    const x = randomTensor(conv ? [2, 1, 6, 6] : [4, 3], 'float32', new Rng(9));
    const { shapes } = await traceModel(model, { x: toOrt(x) });
    const built = buildTrainingStep(model, {
      shapes,
      loss: { type: 'custom', build: (c) => c.e.reduceSum(c.output('out'), [], false) },
      optimizer: { type: 'sgd' },
      observe: [{ name: 'w', kind: 'grad' }],
      compositeGradients: composite(scale),
    });
    const r = await StepRunner.create(built, (n) => model.graph.get(n)!.initializer!);
    const res = await r.run({ x: toOrt(x) }, { main: 0 }, 1);
    await r.release();
    return { dw: Array.from(res.observed['grad:w']!.data as Float32Array), nodes: built.model.graph.nodes.length };
  }
  // d(2·tanh y)/dy = 2·(1 − t²), written by hand and scaled by `scale` (to show it is what the step uses)
  const tanhTimesTwo =
    (inputs: string[]) =>
    (scale: number): CompositeGradient[] => [
      {
        output: 'out',
        inputs,
        build: ({ e, dy, value }) => {
          const t = value('t');
          return [e.scale(e.mul(dy, e.sub(e.scalarLike(1, t), e.mul(t, t))), 2 * scale)];
        },
      },
    ];

  it('the step uses the hand-written backward: the same gradients as op by op, and scaled when it is scaled', async () => {
    const plain = await step(() => [], 1);
    const ours = await step(tanhTimesTwo(['y']), 1);
    ours.dw.forEach((d, i) => expect(d).toBeCloseTo(plain.dw[i]!, 5));
    const tripled = await step(tanhTimesTwo(['y']), 3);
    tripled.dw.forEach((d, i) => expect(d).toBeCloseTo(3 * plain.dw[i]!, 4));
  });

  it('reads its inputs after the training rewrites upstream (a MaxPool gaining its indices, a lowered Conv)', async () => {
    const plain = await step(() => [], 1, false, true);
    const ours = await step(tanhTimesTwo(['y']), 1, false, true);
    expect(plain.dw.some((d) => d !== 0)).toBe(true);
    ours.dw.forEach((d, i) => expect(d).toBeCloseTo(plain.dw[i]!, 5));
  });

  it('refuses an input left unnamed (the walk would go upstream) and an intermediate read outside, naming the node', async () => {
    await expect(step(tanhTimesTwo([]), 1)).rejects.toThrow(UnsupportedGradientError);
    await expect(step(tanhTimesTwo([]), 1)).rejects.toThrow(/"x", which the composite gradient of "out" names neither/);
    await expect(step(tanhTimesTwo(['y']), 1, true)).rejects.toThrow(/the_tanh.*read outside it \(by the_neg\)/);
  });
});
