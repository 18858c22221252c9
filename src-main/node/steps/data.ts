/**
 * @file Data splits of an experiment plan, loaded as image sets for evaluation, calibration and training.
 * IDX pairs (MNIST format) are read here; other split kinds come from the trainer's loaders.
 */
import type { DataSplit } from '../../../src-shared/experiment.ts';
import { StudioError } from '../../core/ir/errors.ts';
import type { Model } from '../../core/ir/index.ts';
import { loadIdxPair, type ImageSet } from '../train/mnist.ts';

export class UnsupportedSplitError extends StudioError {
  constructor(kind: string) {
    super(`data split kind "${kind}" is not supported by this step yet (use "idx")`, 'UNSUPPORTED_SPLIT', { kind });
  }
}

/** A split's preprocessing that does not fit the data or the model: names the field and both channel counts. */
export class PreprocessError extends StudioError {
  constructor(message: string, field: string) {
    super(message, 'PREPROCESS_MISMATCH', { field });
  }
}

/** The channel count of a model's first input (axis 1 of NCHW), when the model states it. */
export function modelChannels(model: Model): number | null {
  const input = model.graph.inputs.find((v) => !v.isInitializer);
  const c = input?.shape?.[1];
  return typeof c === 'number' && c > 0 ? c : null;
}

/**
 * Why `preprocess.mean` / `std` cannot apply to data or a model with `channels` channels: each must hold one value
 * (for every channel) or one per channel. Null when they fit.
 */
export function preprocessFault(split: Pick<DataSplit, 'preprocess'>, channels: number | null, field: string): string | null {
  if (channels === null) return null;
  for (const key of ['mean', 'std'] as const) {
    const values = split.preprocess?.[key];
    if (values && values.length !== 1 && values.length !== channels) {
      return `${field}.preprocess.${key} has ${values.length} values but the ${channels === 1 ? 'input has 1 channel' : `input has ${channels} channels`}; give one value, or one per channel`;
    }
  }
  return null;
}

/**
 * Load a split; `scale` from its preprocess replaces the default 1/255 pixel scale of IDX images, and `mean` / `std`
 * apply per channel. With `model`, the preprocessing and the data must fit its input channels.
 */
export function loadSplit(split: DataSplit, opts: { model?: Model; field?: string } = {}): ImageSet {
  if (split.kind !== 'idx') throw new UnsupportedSplitError(split.kind);
  const field = opts.field ?? 'dataset split';
  const set = loadIdxPair(split.paths[0]!, split.paths[1]!, split.limit);
  const channels = set.shape.length === 3 ? set.shape[0]! : 1;
  const fault = preprocessFault(split, channels, field) ?? (opts.model ? preprocessFault(split, modelChannels(opts.model), field) : null);
  if (fault) throw new PreprocessError(fault, field);
  const pre = split.preprocess;
  if (pre && (pre.scale !== undefined || pre.mean || pre.std)) {
    const rescale = (pre.scale ?? 1 / 255) * 255;
    const plane = set.images.length / Math.max(1, set.count * channels);
    for (let i = 0; i < set.images.length; i++) {
      const c = Math.floor(i / plane) % channels;
      const mean = pre.mean?.[pre.mean.length === 1 ? 0 : c] ?? 0;
      const std = pre.std?.[pre.std.length === 1 ? 0 : c] ?? 1;
      set.images[i] = (set.images[i]! * rescale - mean) / std;
    }
  }
  return set;
}
