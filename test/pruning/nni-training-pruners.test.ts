/**
 * @file NNI's own pruner assertions (test_pruner.py, NNI-SEMANTICS §4) for all nine pruners and for Linear / AGP
 * around each of Level, L1, L2, FPGM, Slim and Taylor, on the bundled MNIST model and on NNI's MNIST-like test CNN
 * (conv2 ‖ conv3 into one Add: one dependency group): `sparse_ratio` 0.75, `out_channel`, automatic dependency
 * groups. Every weight mask is exactly 0.75 sparse, every bias mask is "weight row not all zero", members of one
 * dependency group carry identical masks, and after speedup each pruned layer keeps exactly 25 % of its output
 * channels and the compact model computes what the masked model computes (≤ 1e-4, checked by ModelSpeedup).
 */
import { describe, expect, it } from 'vitest';
import { keptAlong, maskSparsity, simulate } from '../../src-main/index.ts';
import type { Model } from '../../src-main/core/ir/index.ts';
import {
  FPGMPruner,
  L1NormPruner,
  L2NormPruner,
  LevelPruner,
  type PruneResult,
} from '../../src-main/core/compress/pruning/index.ts';
import {
  AGPPruner,
  LinearPruner,
  MovementPruner,
  SlimPruner,
  TaylorPruner,
  type SchedulablePruner,
  type TrainingPruneResult,
} from '../../src-main/core/compress/pruning/training.ts';
import { openModel } from '../../src-main/node/io/open-model.ts';
import { ArrayDataset, loadIdxDataset } from '../../src-main/node/train/data.ts';
import { Evaluator } from '../../src-main/node/train/evaluator.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { shapesForAutoGroups } from '../../src-main/node/steps/auto-groups.ts';
import { mnistCnn } from './helpers.ts';

const mnist = loadIdxDataset(
  'resources/mnist/train-images-idx3-ubyte.gz',
  'resources/mnist/train-labels-idx1-ubyte.gz',
);
const data = new ArrayDataset(mnist.x.subarray(0, 256 * 784), [1, 28, 28], mnist.targets().subarray(0, 256));
const CONFIG = [
  { op_types: ['Conv', 'Gemm'], sparse_ratio: 0.75, granularity: 'out_channel', dependency_group_id: 'auto' },
];

interface Case {
  name: string;
  model: () => Model;
  /** Output channels of every layer that gets pruned. */
  pruned: Record<string, number>;
  /** Layers that must share one mask (a dependency group). */
  same: string[][];
  batch: number;
}

const CASES: Case[] = [
  {
    name: 'the bundled MNIST model',
    model: () => openModel('resources/mnist-cnn.onnx').model,
    pruned: { '/conv1/Conv': 16, '/conv2/Conv': 32, '/conv3/Conv': 64 },
    same: [],
    batch: 32,
  },
  {
    name: "NNI's MNIST-like test CNN",
    model: () => mnistCnn(),
    pruned: { conv1: 16, conv2: 32, conv3: 32, fc1: 64 },
    same: [['conv2', 'conv3']],
    batch: 1,
  },
];

type Make = (
  model: Model,
  cfg: unknown,
  ev: Evaluator,
  shapes: Map<string, number[]>,
) => { compress(): Promise<PruneResult | TrainingPruneResult> };

const oneShot = { level: LevelPruner, l1: L1NormPruner, l2: L2NormPruner, fpgm: FPGMPruner } as const;
const inner = (
  kind: string,
  model: Model,
  cfg: unknown,
  ev: Evaluator,
  shapes: Map<string, number[]>,
): SchedulablePruner => {
  if (kind === 'slim') return new SlimPruner(model, cfg, ev, { trainingSteps: 2, shapes });
  if (kind === 'taylor') return new TaylorPruner(model, cfg, ev, { trainingSteps: 2, shapes });
  return new oneShot[kind as keyof typeof oneShot](model, cfg, undefined, { shapes });
};

const PRUNERS: [string, Make][] = [
  ...Object.entries(oneShot).map(([k, P]): [string, Make] => [
    k,
    (m, c, _ev, shapes) => new P(m, c, undefined, { shapes }),
  ]),
  ['slim', (m, c, ev, shapes) => new SlimPruner(m, c, ev, { trainingSteps: 4, shapes })],
  ['taylor', (m, c, ev, shapes) => new TaylorPruner(m, c, ev, { trainingSteps: 4, shapes })],
  ['movement', (m, c, ev, shapes) => new MovementPruner(m, c, ev, { warmupSteps: 1, cooldownBeginStep: 4, shapes })],
  ...['level', 'l1', 'l2', 'fpgm', 'slim', 'taylor'].flatMap((k): [string, Make][] => [
    [
      `linear(${k})`,
      (m, c, ev, shapes) =>
        new LinearPruner(inner(k, m, c, ev, shapes), { intervalSteps: 2, totalTimes: 2, evaluator: ev }),
    ],
    [
      `agp(${k})`,
      (m, c, ev, shapes) =>
        new AGPPruner(inner(k, m, c, ev, shapes), { intervalSteps: 2, totalTimes: 2, evaluator: ev }),
    ],
  ]),
];

describe.each(CASES)('NNI pruner assertions on $name', (c) => {
  it.each(PRUNERS)('%s', async (name, make) => {
    const model = c.model();
    const shapes = (await shapesForAutoGroups(model, CONFIG))!;
    const ev = new Evaluator(model, {
      train: data,
      optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9 },
      batchSize: c.batch,
      epochs: 1,
      seed: 1,
      threads: 1,
    });
    const r = await make(model, CONFIG, ev, shapes).compress();
    const masks = r.masks;
    // every pruned layer: weight mask exactly 0.75 sparse over output channels, bias = weight row not all zero
    expect(new Set([...masks.keys()].filter((n) => masks.get(n)!.has('weight')))).toEqual(
      new Set(Object.keys(c.pruned)),
    );
    for (const [node, channels] of Object.entries(c.pruned)) {
      const w = masks.get(node)!.get('weight')!;
      expect(w.dims[0], node).toBe(channels);
      expect(maskSparsity(w), node).toBe(0.75);
      const b = masks.get(node)!.get('bias');
      if (b) expect([...b.data].map(Boolean)).toEqual(keptAlong(w, 0));
    }
    for (const group of c.same) {
      const first = [...masks.get(group[0]!)!.get('weight')!.data];
      for (const n of group.slice(1)) expect([...masks.get(n)!.get('weight')!.data], n).toEqual(first);
    }
    // training-time pruners hand back the trained weights: the masks apply to those
    const base = 'model' in r ? r.model : model;
    if ('trajectory' in r) expect(r.trajectory.at(-1)!.ratio).toBe(1);
    const { model: compact, report } = await new ModelSpeedup(base, masks, {
      applyMethods: r.applyMethods,
      benchmark: false,
    }).speedupModel();
    expect(report.verification.maxRelErr).toBeLessThanOrEqual(1e-4);
    for (const [node, channels] of Object.entries(c.pruned)) {
      expect(compact.graph.node(node)!.input(1)!.initializer!.dims[0], node).toBe(channels / 4);
    }
    void simulate;
  });
});
