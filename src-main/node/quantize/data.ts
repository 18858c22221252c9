/**
 * @file Calibration and evaluation data for quantization: IDX image files (MNIST format, labels found beside them),
 * `.npy` arrays (labels from a sibling `<name>_labels.npy` / `labels.npy` / `y.npy`), and whatever the train
 * layer's `loadDataset` reads (`.npz` archives, IDX folders, image folders); and a `QuantEvaluator` over such image sets (batches for calibration, top-1 accuracy as the metric).
 * May import node:* and the train layer's readers.
 */
import { READ_LIMITS, readInputFile } from '../io/guard.ts';
import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tensor, type Model } from '../../core/ir/index.ts';
import { CalibrationDataError } from '../../core/compress/quantization/index.ts';
import { ArrayDataset, loadDataset, readIdx, readNpy } from '../train/data.ts';
import { evaluateClassifier } from '../train/evaluate.ts';
import { describeType, inputSpecs } from '../runtime/index.ts';
import type { QuantEvaluator } from './ptq.ts';

/**
 * Read calibration / evaluation samples from a file or folder (see the file comment). Byte images are scaled by
 * 1/255 and get a channel axis when they are [N, H, W]. The set is named by its path.
 *
 * @example await loadSamples('resources/mnist/train-images-idx3-ubyte.gz', { limit: 500 }) // { sampleShape: [1, 28, 28], length: 500, y: labels }
 * @throws CalibrationDataError when the file is missing, unreadable or not an array of samples
 */
export async function loadSamples(path: string, opts: { limit?: number } = {}): Promise<ArrayDataset> {
  if (!existsSync(path)) throw new CalibrationDataError(`calibration data ${path} does not exist`, { file: path });
  try {
    const set = statSync(path).isDirectory() || path.endsWith('.npz') ? await fromDataset(path) : path.endsWith('.npy') ? fromNpy(path) : fromIdx(path);
    return opts.limit === undefined ? set : set.head(opts.limit);
  } catch (e) {
    if (e instanceof CalibrationDataError) throw e;
    throw new CalibrationDataError(`cannot read calibration data ${path}: ${(e as Error).message}`, { file: path });
  }
}

function toFloat(data: ArrayLike<number>, bytes: boolean): Float32Array {
  const x = new Float32Array(data.length);
  for (let i = 0; i < x.length; i++) x[i] = bytes ? data[i]! / 255 : data[i]!;
  return x;
}

function sampleShape(dims: number[], file: string): number[] {
  if (dims.length < 2) throw new CalibrationDataError(`${basename(file)} holds an array of shape [${dims}], not a batch of samples [N, …]`, { file });
  return dims.length === 3 ? [1, dims[1]!, dims[2]!] : dims.slice(1);
}

function fromIdx(file: string): ArrayDataset {
  const im = readIdx(file);
  const shape = sampleShape(im.dims, file);
  const labelFile = [file.replace('images-idx3', 'labels-idx1'), file.replace('images', 'labels')].find((f) => f !== file && existsSync(f));
  const labels = labelFile ? BigInt64Array.from(Array.from(readIdx(labelFile).data, (v) => BigInt(v))) : undefined;
  return new ArrayDataset(toFloat(im.data, im.data instanceof Uint8Array), shape, labels ?? null, [], file);
}

function fromNpy(file: string): ArrayDataset {
  const arr = readNpy(new Uint8Array(readInputFile(file, { what: 'calibration data', maxBytes: READ_LIMITS.data })), basename(file));
  if (arr.data instanceof BigInt64Array) throw new CalibrationDataError(`${basename(file)} holds int64 values, not samples`, { file });
  const shape = sampleShape(arr.dims, file);
  const stem = file.replace(/\.npy$/, '');
  const labelFile = [`${stem}_labels.npy`, `${stem}.labels.npy`, join(dirname(file), 'labels.npy'), join(dirname(file), 'y.npy')].find(existsSync);
  let labels: BigInt64Array | undefined;
  if (labelFile) {
    const y = readNpy(new Uint8Array(readInputFile(labelFile, { what: 'labels file', maxBytes: READ_LIMITS.data })), basename(labelFile));
    labels = BigInt64Array.from(Array.from(y.data as ArrayLike<number | bigint>, (v) => BigInt(Math.round(Number(v)))));
  }
  return new ArrayDataset(toFloat(arr.data as ArrayLike<number>, arr.data instanceof Uint8Array), shape, labels ?? null, [], file);
}

async function fromDataset(path: string): Promise<ArrayDataset> {
  const d = (await loadDataset(path)).train;
  return new ArrayDataset(d.x, d.sampleShape, d.labelled ? d.y : null, [], path);
}

/**
 * Check that samples fit the model's (single float) input and say how, naming the input: a mismatch here is
 * clearer than an ORT error mid-calibration.
 */
export function checkSamples(model: Model, set: ArrayDataset): string {
  const specs = inputSpecs(model);
  if (specs.length !== 1) throw new CalibrationDataError(`the model has ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}); file calibration data feeds a single input`);
  const spec = specs[0]!;
  const expected = describeType(spec.dtype, spec.shape);
  if (spec.dtype !== 'float32') throw new CalibrationDataError(`input "${spec.name}" expects ${expected}, but calibration data ${basename(set.name)} holds float32 samples`, { input: spec.name });
  const shape = spec.shape;
  const fits = shape && shape.length === set.sampleShape.length + 1 && set.sampleShape.every((d, i) => typeof shape[i + 1] !== 'number' || shape[i + 1] === d || (shape[i + 1] as number) < 0);
  if (!fits) {
    throw new CalibrationDataError(`input "${spec.name}" expects ${expected}, but calibration data ${basename(set.name)} holds samples of [${set.sampleShape.join(',')}] (batches of [N,${set.sampleShape.join(',')}])`, {
      input: spec.name,
      expected,
      given: `[N,${set.sampleShape.join(',')}]`,
    });
  }
  return spec.name;
}

/** Batches of a sample set as feeds of one input. */
export async function* batchesOf(set: ArrayDataset, input: string, batchSize: number, fixedBatch?: number): AsyncGenerator<Record<string, Tensor>> {
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
      if (!e?.labelled) throw new CalibrationDataError('no labelled evaluation data was given, so there is no metric to evaluate');
      return (await evaluateClassifier(m, e, { batchSize: fixed ?? 256, ...(opts.threads !== undefined ? { threads: opts.threads } : {}) })).top1;
    },
  };
}
