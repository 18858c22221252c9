/**
 * @file Quantization's use of the one data-set layer (train/data.ts loads every sample set, `loadSamples` included):
 * checking that samples fit the model's input, batching them as feeds, and a `QuantEvaluator` over image sets
 * (batches for calibration, top-1 accuracy as the metric). May import node:* and the train layer.
 */
import { basename } from 'node:path';
import { Tensor, type Model } from '../../core/ir/index.ts';
import { CalibrationDataError } from '../../core/compress/quantization/index.ts';
import type { ArrayDataset } from '../train/data.ts';
import { evaluateClassifier } from '../train/evaluate.ts';
import { describeType, inputSpecs } from '../runtime/index.ts';
import type { QuantEvaluator } from './ptq.ts';

/**
 * Check that samples fit the model's (single float) input and say how, naming the input: a mismatch here is
 * clearer than an ORT error mid-calibration.
 */
export function checkSamples(model: Model, set: ArrayDataset): string {
  const specs = inputSpecs(model);
  if (specs.length !== 1)
    throw new CalibrationDataError(
      `the model has ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}); file calibration data feeds a single input`,
    );
  const spec = specs[0]!;
  const expected = describeType(spec.dtype, spec.shape);
  if (spec.dtype !== 'float32')
    throw new CalibrationDataError(
      `input "${spec.name}" expects ${expected}, but calibration data ${basename(set.name)} holds float32 samples`,
      { input: spec.name },
    );
  const shape = spec.shape;
  const fits =
    shape &&
    shape.length === set.sampleShape.length + 1 &&
    set.sampleShape.every(
      (d, i) => typeof shape[i + 1] !== 'number' || shape[i + 1] === d || (shape[i + 1] as number) < 0,
    );
  if (!fits) {
    throw new CalibrationDataError(
      `input "${spec.name}" expects ${expected}, but calibration data ${basename(set.name)} holds samples of [${set.sampleShape.join(',')}] (batches of [N,${set.sampleShape.join(',')}])`,
      {
        input: spec.name,
        expected,
        given: `[N,${set.sampleShape.join(',')}]`,
      },
    );
  }
  return spec.name;
}

/** Batches of a sample set as feeds of one input. */
export async function* batchesOf(
  set: ArrayDataset,
  input: string,
  batchSize: number,
  fixedBatch?: number,
): AsyncGenerator<Record<string, Tensor>> {
  const per = set.sampleSize;
  const size = fixedBatch ?? batchSize;
  for (let start = 0; start + (fixedBatch ? size : 1) <= set.length; start += size) {
    const n = Math.min(size, set.length - start);
    yield { [input]: new Tensor('float32', [n, ...set.sampleShape], set.x.subarray(start * per, (start + n) * per)) };
  }
}

/** A fixed batch size declared by the model's input (e.g. the corpus' `_b1` models), else undefined. */
export function declaredBatch(model: Model): number | undefined {
  const d = inputSpecs(model)[0]?.shape?.[0];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

export interface ImageEvaluatorOptions {
  /** Calibration samples. */
  calibration: ArrayDataset;
  /** Labelled samples for the metric (top-1); without them `evaluate` throws. */
  evaluation?: ArrayDataset;
  batchSize?: number;
  threads?: number;
}

/**
 * A `QuantEvaluator` over image sets: calibration batches from one set, top-1 accuracy on another.
 *
 * @example const ev = imageEvaluator(model, { calibration: await loadSamples(train, { limit: 500 }), evaluation: await loadSamples(test) });
 */
export function imageEvaluator(model: Model, opts: ImageEvaluatorOptions): QuantEvaluator {
  const input = checkSamples(model, opts.calibration);
  if (opts.evaluation) checkSamples(model, opts.evaluation);
  const fixed = declaredBatch(model);
  const batch = opts.batchSize ?? 64;
  return {
    calibrationBatches: () => batchesOf(opts.calibration, input, batch, fixed),
    evaluate: async (m) => {
      const e = opts.evaluation;
      if (!e?.labelled)
        throw new CalibrationDataError('no labelled evaluation data was given, so there is no metric to evaluate');
      return (
        await evaluateClassifier(m, e, {
          batchSize: fixed ?? 256,
          ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
        })
      ).top1;
    },
  };
}
