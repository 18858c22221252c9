/**
 * @file Training-aware pruning benchmark (`npm run bench -- prune`), side by side in one run on the bundled MNIST
 * model (99.21 %), 80 % of the conv output channels with automatic dependency groups, every variant with the same
 * total training budget (SGD, momentum 0.9, lr 0.01, batch 64, same seed and data order):
 * - one-shot L1, then fine-tuning with the masks kept (the baseline);
 * - AGP(L1): the sparsity rises on the cubic schedule during the first part of the budget, then fine-tuning;
 * - Taylor: gradients of the first steps rank the channels, then fine-tuning;
 * top-1 on the 10k MNIST test images after each. Then the cost of a training step with Taylor's or Movement's hooks
 * over a plain step (same model, batch and thread; single steps per call on both sides; medians over alternating
 * rounds).
 */
import type { Model } from '../../src-main/core/ir/index.ts';
import { L1NormPruner, type PruneResult } from '../../src-main/core/compress/pruning/index.ts';
import { AGPPruner, MovementPruner, TaylorPruner } from '../../src-main/core/compress/pruning/training.ts';
import { simulate } from '../../src-main/core/compress/simulate/index.ts';
import { openModel } from '../../src-main/node/io/open-model.ts';
import { ArrayDataset } from '../../src-main/node/train/data.ts';
import { Evaluator } from '../../src-main/node/train/evaluator.ts';
import { bundledMnist } from '../../src-main/node/train/mnist.ts';
import { evaluate, train } from '../../src-main/node/train/trainer.ts';
import { parameterMasks } from '../../src-main/node/steps/finetune.ts';
import { shapesForAutoGroups } from '../../src-main/node/steps/auto-groups.ts';
import { formatFactor } from '../../src-shared/format.ts';

const BUDGET = 600;
const BATCH = 64;
const SPARSITY = 0.8;
const CONFIG = [
  { op_types: ['Conv'], sparse_ratio: SPARSITY, granularity: 'out_channel', dependency_group_id: 'auto' },
];
const optimizer = { type: 'sgd' as const, lr: 0.01, momentum: 0.9 };

const set = (split: 'train' | 'test') => {
  const s = bundledMnist(split);
  return new ArrayDataset(s.x, s.sampleShape, s.y, [], split);
};

/** Fine-tune `model` under `r`'s masks (kept inside the step) for `steps` steps; top-1 on the test set. */
async function fineTuned(
  base: Model,
  r: PruneResult,
  steps: number,
  data: ArrayDataset,
  test: ArrayDataset,
): Promise<number> {
  const sim = simulate(base, r.masks, { applyMethods: r.applyMethods });
  const masks = parameterMasks(sim, r.masks) ?? undefined;
  const out =
    steps > 0
      ? (
          await train(
            {
              model: sim,
              train: data,
              optimizer,
              batchSize: BATCH,
              epochs: Math.ceil(steps / Math.floor(data.length / BATCH)),
              seed: 1,
              threads: 1,
              paramMasks: masks,
            },
            { maxSteps: steps, evaluateEachEpoch: false },
          )
        ).model
      : sim;
  return (await evaluate(out, test, { batchSize: 500, threads: 1 })).top1;
}

const evaluator = (model: Model, data: ArrayDataset, steps: number) =>
  new Evaluator(model, {
    train: data,
    optimizer,
    batchSize: BATCH,
    epochs: Math.ceil(steps / Math.floor(data.length / BATCH)),
    seed: 1,
    threads: 1,
  });

async function accuracy(): Promise<Record<string, unknown>[]> {
  const model = openModel('resources/mnist-cnn.onnx').model;
  const data = set('train');
  const test = set('test');
  const shapes = await shapesForAutoGroups(model, CONFIG);
  const rows: Record<string, unknown>[] = [];
  const row = (variant: string, prune: number, tune: number, top1: number, secs: number) =>
    rows.push({
      variant,
      prune_steps: prune,
      finetune_steps: tune,
      top1,
      seconds: secs,
      ms_per_step: '',
      vs_plain: '',
    });
  const dense = (await evaluate(model, test, { batchSize: 500, threads: 1 })).top1;
  row('dense (no pruning)', 0, 0, dense, 0);

  let t0 = performance.now();
  const l1 = await new L1NormPruner(model, CONFIG, undefined, { shapes }).compress();
  row('L1 one-shot, no fine-tune', 0, 0, await fineTuned(model, l1, 0, data, test), 0);
  row(
    'L1 one-shot + fine-tune',
    0,
    BUDGET,
    await fineTuned(model, l1, BUDGET, data, test),
    (performance.now() - t0) / 1000,
  );

  // AGP: 8 updates 40 steps apart (320 steps), then fine-tuning for the rest of the budget
  t0 = performance.now();
  const agpSteps = 320;
  const agp = await new AGPPruner(new L1NormPruner(model, CONFIG, undefined, { shapes }), {
    intervalSteps: 40,
    totalTimes: 8,
    evaluator: evaluator(model, data, agpSteps),
  }).compress();
  row(
    'AGP(L1) + fine-tune',
    agpSteps,
    BUDGET - agpSteps,
    await fineTuned(agp.model, agp, BUDGET - agpSteps, data, test),
    (performance.now() - t0) / 1000,
  );

  t0 = performance.now();
  const taylorSteps = 50;
  const taylor = await new TaylorPruner(model, CONFIG, evaluator(model, data, taylorSteps), {
    trainingSteps: taylorSteps,
    shapes,
  }).compress();
  row(
    'Taylor + fine-tune',
    taylorSteps,
    BUDGET - taylorSteps,
    await fineTuned(taylor.model, taylor, BUDGET - taylorSteps, data, test),
    (performance.now() - t0) / 1000,
  );
  return rows;
}

type Run = (n: number, onProgress: (e: { type: string; step?: number }) => void) => Promise<unknown>;

/** Wall time per step between step 10 and the last (session build and the first steps left out). */
async function stepTime(run: Run, steps: number): Promise<number> {
  const at = new Map<number, number>();
  await run(steps, (e) => void (e.type === 'step' && at.set(e.step!, performance.now())));
  return (at.get(steps)! - at.get(10)!) / (steps - 10);
}

async function overhead(): Promise<Record<string, unknown>[]> {
  const model = openModel('resources/mnist-cnn.onnx').model;
  const data = set('train');
  const shapes = await shapesForAutoGroups(model, CONFIG);
  const STEPS = 70;
  // one step per ORT call everywhere (hooks need JS between steps; the plain run is held to the same)
  const ev = () =>
    new Evaluator(model, { train: data, optimizer, batchSize: BATCH, epochs: 1, seed: 1, threads: 1, stepsPerRun: 1 });
  const budget = (n: number, onProgress: (e: { type: string; step?: number }) => void) => ({
    maxSteps: n,
    onProgress,
    progressEvery: 1,
    evaluateEachEpoch: false,
  });
  const variants: Record<string, Run> = {
    plain: (n, p) => ev().train(budget(n, p)),
    taylor: (n, p) => new TaylorPruner(model, CONFIG, ev(), { trainingSteps: n, shapes }).compress(budget(n, p)),
    movement: (n, p) =>
      new MovementPruner(model, CONFIG, ev(), { warmupSteps: 5, cooldownBeginStep: n, shapes }).compress(budget(n, p)),
  };
  const times: Record<string, number[]> = { plain: [], taylor: [], movement: [] };
  for (let round = 0; round < 5; round++)
    for (const [k, run] of Object.entries(variants)) times[k]!.push(await stepTime(run, STEPS));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const plain = median(times.plain!);
  return Object.entries(times).map(([k, xs]) => ({
    variant: k === 'plain' ? 'plain training step' : `${k} training step (goal ≤ 1.2×)`,
    prune_steps: '',
    finetune_steps: '',
    top1: '',
    seconds: '',
    ms_per_step: median(xs),
    vs_plain: k === 'plain' ? '1.00×' : formatFactor(median(xs) / plain),
  }));
}

export async function benchPrune(): Promise<Record<string, unknown>[]> {
  console.log(
    `80 % of the conv channels (auto groups), ${BUDGET} training steps in all per variant, batch ${BATCH}, 1 thread`,
  );
  return [...(await accuracy()), ...(await overhead())];
}
