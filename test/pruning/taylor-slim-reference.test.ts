/**
 * @file Gradient-based pruning scores checked against numbers. Taylor: the accumulator of (w · ∂L/∂w)² over three
 * SGD steps on a small conv net equals the one torch computes with NNI's hook (test/fixtures/taylor, made by
 * make_taylor_ref.py), element by element and as the per-channel metric, and the ranking follows it. Slim: the
 * gradient the training step computes for a factor is the data term plus regular_scale · sign(f) / #targets (the
 * penalty's), checked against the same step built without the penalty.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SlimPruner, TaylorPruner } from '../../src-main/core/compress/pruning/training.ts';
import { openModel } from '../../src-main/node/io/open-model.ts';
import { ArrayDataset } from '../../src-main/node/train/data.ts';
import { Evaluator } from '../../src-main/node/train/evaluator.ts';

interface Ref {
  steps: number;
  lr: number;
  input: number[];
  labels: number[];
  losses: number[];
  sums: Record<string, number[]>;
  metric: Record<string, number[]>;
}

const ref = JSON.parse(readFileSync('test/fixtures/taylor/taylor_ref.json', 'utf8')) as Ref;
const data = new ArrayDataset(Float32Array.from(ref.input), [1, 6, 6], BigInt64Array.from(ref.labels.map(BigInt)));
const evaluator = (model = openModel('test/fixtures/taylor/taylor_cnn.onnx').model) =>
  new Evaluator(model, {
    train: data,
    optimizer: { type: 'sgd', lr: ref.lr },
    batchSize: 8,
    epochs: ref.steps,
    seed: 0,
    threads: 1,
  });

/** max |a − b| / max |b| */
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
};

describe('TaylorPruner against torch', () => {
  it('accumulates (w·∂L/∂w)² exactly as NNI does on torch, and ranks channels by it', async () => {
    const { model } = openModel('test/fixtures/taylor/taylor_cnn.onnx');
    const nodes = { 'conv.weight': '/conv/Conv', 'fc.weight': '/fc/Gemm' } as const;
    const ev = evaluator(model);
    const losses: number[] = [];
    ev.patchOptimizerStep([], [(s) => void losses.push(s.result!.loss)]);
    const pruner = new TaylorPruner(model, [{ op_types: ['Conv', 'Gemm'], sparse_ratio: 0.5 }], ev, {
      trainingSteps: ref.steps,
    });
    const r = await pruner.compress();
    expect(r.steps).toBe(ref.steps);
    expect(relErr(losses, ref.losses)).toBeLessThan(1e-5);
    for (const [w, node] of Object.entries(nodes)) {
      const acc = pruner.accumulator(node, 'weight')!;
      expect(acc.steps).toBe(ref.steps);
      expect(relErr(acc.data, ref.sums[w]!)).toBeLessThan(1e-4);
      const metric = pruner.metricNow(pruner.engine.preparedTargets.find((p) => p.t.nodeName === node)!);
      expect(relErr(metric, ref.metric[w]!)).toBeLessThan(1e-4);
      // the half with the smallest metric is masked
      const order = ref.metric[w]!.map((m, i) => [m, i] as const).sort((a, b) => a[0] - b[0]);
      const mask = r.masks.get(node)!.get('weight')!;
      const half = Math.floor(order.length * 0.5);
      for (const [k, [, i]] of order.entries()) expect(mask.data[i], `${node} channel ${i}`).toBe(k < half ? 0 : 1);
    }
  });
});

describe('activation targets during training', () => {
  it('an aligned _output_ target is masked in the trained graph (a Mul after the node) and gets the channel mask', async () => {
    const { model } = openModel('test/fixtures/taylor/taylor_cnn.onnx');
    const relu = model.graph.nodes.find((n) => n.opType === 'Relu')!.name;
    const ev = evaluator(model);
    const cfg = [
      { op_types: ['Conv'], sparse_ratio: 0.5 },
      {
        op_names: [relu],
        target_names: ['_output_'],
        target_settings: { _output_: { align: { module_name: '/conv/Conv', target_name: 'weight', dims: [0] } } },
      },
    ];
    const shapes = new Map([[model.graph.node(relu)!.outputs[0]!.name, [8, 4, 6, 6]]]);
    const r = await new TaylorPruner(model, cfg, ev, { trainingSteps: 2, shapes }).compress();
    const mul = ev.model.graph.node(`${relu}/prune_mask`)!;
    expect(mul.opType).toBe('Mul');
    expect(mul.inputs[0]!.producer!.name).toBe(relu);
    const out = r.masks.get(relu)!.get('_output_0')!;
    expect(out.dims).toEqual([1, 4, 1, 1]);
    expect([...out.data]).toEqual([...r.masks.get('/conv/Conv')!.get('weight')!.data]);
  });
});

describe('SlimPruner', () => {
  it("the factor's gradient includes the penalty term regular_scale · sign(f) / #targets", async () => {
    const cfg = [{ op_types: ['Conv', 'Gemm'], sparse_ratio: 0.5 }];
    const grads = async (scale: number) => {
      const { model } = openModel('test/fixtures/taylor/taylor_cnn.onnx');
      const ev = evaluator(model);
      const pruner = new SlimPruner(model, cfg, ev, { trainingSteps: 1, regularScale: scale });
      const seen: Record<string, Float32Array> = {};
      // the factors are named after their target; observed once training builds its step
      for (const node of ['/conv/Conv', '/fc/Gemm'])
        ev.observe(`${node}/weight.slim_factor`, 'grad', (t) => void (seen[node] ??= Float32Array.from(t.data)));
      await pruner.compress();
      expect(pruner.factorName('/conv/Conv', 'weight')).toBe('/conv/Conv/weight.slim_factor');
      return seen;
    };
    const plain = await grads(0);
    const penalised = await grads(2);
    for (const node of ['/conv/Conv', '/fc/Gemm']) {
      const a = plain[node]!;
      const b = penalised[node]!;
      expect(a.length).toBe(node === '/conv/Conv' ? 4 : 3);
      for (let i = 0; i < a.length; i++) {
        // d/df of 2 · mean_t ‖f_t‖₁ at f = 1: 2 · 1 / 2 targets
        expect(b[i]! - a[i]!, `${node}[${i}]`).toBeCloseTo(1, 5);
        expect(Math.abs(a[i]!)).toBeGreaterThan(0);
      }
    }
  });
});
