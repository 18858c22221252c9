/**
 * @file Classification accuracy of a model in ORT over a labelled data set, batch by batch (top-1 and top-5).
 * May import ORT through the runtime.
 */
import { Tensor, type Model } from '../../core/ir/index.ts';
import { ModelRunner, type SessionOptions } from '../runtime/index.ts';
import type { ArrayDataset } from './data.ts';

export interface Accuracy {
  top1: number;
  top5: number;
  count: number;
  ms: number;
}

export interface EvaluateOptions extends SessionOptions {
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Top-1 / top-5 hits and summed cross-entropy of `n` rows of logits `z` [n, k] against `labels`. A tie with the
 * true class counts against it when the tied class comes first (so a constant output scores 1/k, not 1).
 */
export function scoreLogits(
  z: Float32Array,
  labels: BigInt64Array,
  n: number,
  k: number,
): { top1: number; top5: number; loss: number } {
  let top1 = 0;
  let top5 = 0;
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const row = z.subarray(i * k, i * k + k);
    const y = Number(labels[i]);
    const target = row[y]!;
    let above = 0;
    let max = -Infinity;
    for (let j = 0; j < k; j++) {
      if (row[j]! > target || (row[j] === target && j < y)) above++;
      if (row[j]! > max) max = row[j]!;
    }
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(row[j]! - max);
    loss += max + Math.log(s) - target;
    if (above === 0) top1++;
    if (above < Math.min(5, k)) top5++;
  }
  return { top1, top5, loss };
}

/** Run the model over the set and count top-1 / top-5 hits against the labels. */
export async function evaluateClassifier(
  model: Model | Uint8Array,
  data: ArrayDataset,
  opts: EvaluateOptions = {},
): Promise<Accuracy> {
  const labels = data.classLabels();
  const count = data.length;
  const t0 = performance.now();
  const runner = await ModelRunner.create(model, opts);
  const batch = opts.batchSize ?? 256;
  const per = data.sampleSize;
  const inputName = runner.inputNames[0]!;
  let top1 = 0;
  let top5 = 0;
  try {
    for (let start = 0; start < count; start += batch) {
      const n = Math.min(batch, count - start);
      const x = new Tensor('float32', [n, ...data.sampleShape], data.x.subarray(start * per, (start + n) * per));
      const out = await runner.run({ [inputName]: x });
      const logits = Object.values(out)[0]!;
      const score = scoreLogits(logits.data as Float32Array, labels.subarray(start, start + n), n, logits.dims[1]!);
      top1 += score.top1;
      top5 += score.top5;
      opts.onProgress?.(start + n, count);
    }
  } finally {
    await runner.release();
  }
  return { top1: top1 / count, top5: top5 / count, count, ms: performance.now() - t0 };
}
