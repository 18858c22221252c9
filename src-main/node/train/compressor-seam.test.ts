/**
 * @file The compressor contract: two toy training-time compressors, chained with `fromCompressor`, register their
 * work on one Evaluator (a loss term; an after-step task, an observed gradient) and both act in ONE training run of
 * the real Evaluator on MNIST; each collects its result from the trained model; the registrations are reverted
 * afterwards. A one-shot compressor computes at once; a training one without an evaluator is refused by name.
 */
import { describe, expect, it } from 'vitest';
import type { Model } from '../../core/ir/index.ts';
import { Evaluator } from './evaluator.ts';
import { ArrayDataset, loadIdxDataset } from './data.ts';
import { buildCnn } from './example-cnn.ts';
import {
  Compressor,
  MissingEvaluatorError,
  type CompressorOptions,
  type Revert,
  type TrainingHooks,
} from '../../core/compress/compressor.ts';

const mnist = loadIdxDataset(
  'resources/mnist/train-images-idx3-ubyte.gz',
  'resources/mnist/train-labels-idx1-ubyte.gz',
);
const data = new ArrayDataset(mnist.x.subarray(0, 256 * 784), [1, 28, 28], mnist.targets().subarray(0, 256));
const config = {
  train: data,
  optimizer: { type: 'sgd' as const, lr: 0.05, momentum: 0.9 },
  batchSize: 32,
  epochs: 1,
  seed: 3,
  threads: 1,
};
const l1 = (m: Model, name: string) =>
  (m.graph.get(name)!.initializer!.data as Float32Array).reduce((a, v) => a + Math.abs(v), 0);

/** A "distiller"-like compressor: adds an L1 penalty on conv1's weight as a loss term and reads its report each step. */
class ToyPenalty extends Compressor<{ steps: number[]; l1: number }> {
  private readonly steps: number[] = [];
  constructor(
    model: Model,
    configList: unknown,
    evaluator?: Evaluator,
    options: CompressorOptions & { weight?: number } = {},
  ) {
    super(model, configList, evaluator, options);
    this.weight = options.weight ?? 0.2;
  }
  private readonly weight: number;
  get name() {
    return 'toy-penalty';
  }
  override get needsTraining() {
    return true;
  }
  protected override register(h: TrainingHooks): Revert[] {
    return [
      h.patchLoss({
        name: 'toy_l1',
        weight: this.weight,
        build: (c) => c.e.reduce('ReduceL1', c.value('conv1.weight'), [], false),
      }),
      h.patchOptimizerStep([], [(s) => void (s.result!.reports['loss.toy_l1']! > 0 && this.steps.push(s.step))]),
    ];
  }
  protected async collect(model: Model) {
    return { steps: [...this.steps], l1: l1(model, 'conv1.weight') };
  }
}

/** A "pruner"-like compressor: after every optimizer step zeroes the first rows of fc's weight; observes its gradient. */
class ToyMasker extends Compressor<{ steps: number[]; grads: number; zeroRows: number }> {
  private readonly steps: number[] = [];
  private grads = 0;
  get name() {
    return 'toy-masker';
  }
  override get needsTraining() {
    return true;
  }
  private weightName(m: Model): string {
    return m.graph.node('fc')!.inputs[1]!.name;
  }
  protected override register(h: TrainingHooks): Revert[] {
    const w = this.weightName(h.model);
    const cols = h.model.graph.get(w)!.initializer!.dims[1]!;
    return [
      h.observe(w, 'grad', (t) => void (t.dims[0] === 10 && this.grads++)),
      h.patchOptimizerStep(
        [],
        [
          (s) => {
            const v = s.get(w).slice();
            v.fill(0, 0, 3 * cols);
            s.set(w, v);
            this.steps.push(s.step);
          },
        ],
      ),
    ];
  }
  protected async collect(model: Model) {
    const t = model.graph.get(this.weightName(model))!.initializer!;
    const v = t.data as Float32Array;
    const cols = t.dims[1]!;
    let zeroRows = 0;
    for (let r = 0; r < t.dims[0]!; r++) if (v.subarray(r * cols, (r + 1) * cols).every((x) => x === 0)) zeroRows++;
    return { steps: [...this.steps], grads: this.grads, zeroRows };
  }
}

/** A one-shot compressor: its result at once, from the model it was given. */
class ToyCounter extends Compressor<number> {
  get name() {
    return 'toy-counter';
  }
  protected async collect(model: Model) {
    return model.graph.nodes.length;
  }
}

describe('the compressor contract', () => {
  it('two compressors chained with fromCompressor register on one Evaluator and both act in one training run', async () => {
    const model = buildCnn({ widths: [4, 8], seed: 2 });
    const ev = new Evaluator(model, config);
    let runs = 0;
    const train = ev.train.bind(ev);
    ev.train = async (o) => (runs++, train(o));
    const penalty = new ToyPenalty(model, [], ev, { weight: 0.2 });
    const masker = ToyMasker.fromCompressor(penalty, []);
    expect(masker.fusedCompressors).toEqual([masker, penalty]);
    expect(masker.evaluator).toBe(ev);

    const mine = await masker.compress({ maxSteps: 6 });
    expect(runs).toBe(1);
    // both acted at every optimizer step of that one run
    expect(penalty.result!.steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(mine.steps).toEqual([1, 2, 3, 4, 5, 6]);
    expect(mine.grads).toBe(6);
    expect(mine).toBe(masker.result);
    // each read its result from the trained model: three zeroed rows, a conv1 shrunk by the penalty
    expect(mine.zeroRows).toBe(3);
    const plain = new Evaluator(model, config);
    const alone = new ToyMasker(model, [], plain);
    await alone.compress({ maxSteps: 6 });
    expect(penalty.result!.l1).toBeLessThan(0.9 * l1(plain.model, 'conv1.weight'));
    // the model the compressors were built from is untouched
    expect(l1(model, 'conv1.weight')).toBe(l1(buildCnn({ widths: [4, 8], seed: 2 }), 'conv1.weight'));

    // registrations are reverted after compress(): a further run calls no hook
    await ev.train({ maxSteps: 1 });
    expect(penalty.result!.steps.length).toBe(6);
    expect((masker as unknown as { steps: number[] }).steps.length).toBe(6);
  });

  it('a one-shot compressor computes at once; a training one without an evaluator is refused', async () => {
    const model = buildCnn({ widths: [4, 8], seed: 2 });
    expect(await new ToyCounter(model, []).compress()).toBe(model.graph.nodes.length);
    await expect(new ToyMasker(model, []).compress({ maxSteps: 1 })).rejects.toThrow(MissingEvaluatorError);
    await expect(new ToyMasker(model, []).compress({ maxSteps: 1 })).rejects.toThrow(/build it with an evaluator/);
  });
});
