/**
 * @file Short-term fine-tune of a candidate allocation (NetAdapt's answer to one-shot sensitivity ranking poorly what a
 * fine-tune recovers): prune + speed up the scan's model with the candidate's config list, train it a fixed small
 * number of steps (same seed, same samples for every candidate) on the data set's train split, and measure top-1 on a
 * held-out slice of that split that the steps never see. Candidates are compared on that accuracy.
 */
import type { DataSplit } from '../../../src-shared/experiment.ts';
import type { SensitivityScan } from '../../../src-shared/sensitivity.ts';
import type { Model } from '../../core/ir/index.ts';
import { Rng } from '../../core/util/random.ts';
import { ArrayDataset, loadDataset, loadSplit } from '../train/data.ts';
import { evaluateClassifier } from '../train/evaluate.ts';
import { train } from '../train/trainer.ts';
import { SensitivityError } from './point.ts';
import { compactOf } from './verify.ts';

/** Settings of the short-term fine-tune (each has a default). */
export interface ShortTermOptions {
  /** Optimizer steps per candidate (default 100; 0 turns the short-term selection off). */
  steps?: number;
  /** Samples per step (default: the scan's evaluation batch). */
  batchSize?: number;
  /** Adam learning rate, cosine-decayed over the steps (default 3e-3). */
  lr?: number;
  /** Held-out samples the accuracy is measured on (default 1000, at most half the split). */
  heldOut?: number;
}

export const DEFAULT_SHORT_TERM_STEPS = 100;
export const DEFAULT_SHORT_TERM_HELD_OUT = 1000;
const DEFAULT_SHORT_TERM_LR = 3e-3;

/** What one candidate's short-term fine-tune gives: top-1 on the held-out slice before and after the steps. */
export type ShortTermTrain = (
  configList: readonly Record<string, unknown>[],
) => Promise<{ oneShot: number; shortTerm: number }>;

/** The train and held-out slices (a seeded shuffle of the train split: held-out first, then the training samples). */
export interface ShortTermData {
  train: ArrayDataset;
  heldOut: ArrayDataset;
}

/**
 * The data of the short-term fine-tune: the train split of the scan's data set (a plan's scan knows only its
 * evaluation split, which is then split in two), shuffled with the scan's seed; the held-out slice comes first and
 * the training samples (steps × batch, fewer when the split is small) are disjoint from it.
 * @throws SensitivityError when the split has no labels or too few samples for a held-out slice and one batch
 */
export async function shortTermData(scan: SensitivityScan, o: ShortTermOptions = {}): Promise<ShortTermData> {
  const e = scan.eval;
  const set =
    typeof e.data === 'string'
      ? (await loadDataset(e.data)).train
      : await loadSplit(e.data as DataSplit, { field: '$.dataset.evaluation', name: 'the evaluation split' });
  const where = typeof e.data === 'string' ? `${e.data} (train)` : 'the evaluation split';
  const steps = o.steps ?? DEFAULT_SHORT_TERM_STEPS;
  const batch = o.batchSize ?? e.batchSize;
  // a small split (a plan's evaluation split) keeps half for training
  const held = o.heldOut ?? Math.min(DEFAULT_SHORT_TERM_HELD_OUT, Math.floor(set.length / 2));
  if (!set.labelled)
    throw new SensitivityError(`${where}: the short-term fine-tune needs class labels`, { data: where });
  if (!(Number.isInteger(held) && held >= 1) || set.length < held + batch)
    throw new SensitivityError(
      `${where} holds ${set.length} samples: a short-term fine-tune needs a held-out slice of ${held} and at least one batch of ${batch} besides`,
      { available: set.length, heldOut: held, batchSize: batch },
    );
  const order = Array.from({ length: set.length }, (_, i) => i);
  const rng = new Rng(`short-term:${e.seed}`);
  const want = Math.min(set.length, held + Math.max(1, steps) * batch);
  for (let i = 0; i < want; i++) {
    const j = rng.int(i, order.length);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const take = (idx: number[], name: string) => {
    const x = new Float32Array(idx.length * set.sampleSize);
    const y = new BigInt64Array(idx.length);
    set.fill(idx, x, y);
    return new ArrayDataset(x, set.sampleShape, y, [], name);
  };
  return {
    heldOut: take(order.slice(0, held), `${where} held-out slice`),
    train: take(order.slice(held, want), `${where} short-term slice`),
  };
}

/** Fine-tune one compact model a few steps (seeded); its top-1 on the held-out slice before and after. */
export async function shortTermAccuracy(
  model: Model,
  data: ShortTermData,
  o: ShortTermOptions & { seed?: number } = {},
): Promise<{ oneShot: number; shortTerm: number }> {
  const top1 = async (m: Model) => (await evaluateClassifier(m, data.heldOut, { batchSize: 500, threads: 1 })).top1;
  const oneShot = await top1(model);
  const steps = o.steps ?? DEFAULT_SHORT_TERM_STEPS;
  const batchSize = Math.min(o.batchSize ?? 64, data.train.length);
  if (steps < 1) throw new RangeError(`short-term fine-tune steps must be ≥ 1, got ${steps}`);
  const epochs = Math.max(1, Math.ceil((steps * batchSize) / data.train.length));
  const r = await train(
    {
      model,
      train: data.train,
      optimizer: { type: 'adam', lr: o.lr ?? DEFAULT_SHORT_TERM_LR },
      schedule: { type: 'cosine' },
      batchSize,
      epochs,
      seed: o.seed ?? 0,
      threads: 1,
    },
    { maxSteps: steps },
  );
  return { oneShot, shortTerm: await top1(r.model) };
}

/**
 * The default short-term evaluation of a candidate: prune + speed up the scan's model with its config list, fine-tune
 * `steps` steps on the train slice (the scan's seed; every candidate sees the same batches), top-1 on the held-out slice.
 */
export function shortTermWhole(
  scan: SensitivityScan,
  o: ShortTermOptions & { onData?: (d: ShortTermData) => void } = {},
): ShortTermTrain {
  let data: Promise<ShortTermData> | null = null;
  const batchSize = o.batchSize ?? scan.eval.batchSize;
  return async (configList) => {
    data ??= shortTermData(scan, { ...o, batchSize }).then((d) => (o.onData?.(d), d));
    const { compact } = await compactOf(scan, configList);
    return shortTermAccuracy(compact, await data, { ...o, batchSize, seed: scan.eval.seed });
  };
}
