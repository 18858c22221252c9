/**
 * @file Data splits of an experiment plan, loaded as image sets for evaluation, calibration and training.
 * IDX pairs (MNIST format) are read here; other split kinds come from the trainer's loaders.
 */
import type { DataSplit } from '../../../src-shared/experiment.ts';
import { StudioError } from '../../core/ir/errors.ts';
import { loadIdxPair, type ImageSet } from '../train/mnist.ts';

export class UnsupportedSplitError extends StudioError {
  constructor(kind: string) {
    super(`data split kind "${kind}" is not supported by this step yet (use "idx")`, 'UNSUPPORTED_SPLIT', { kind });
  }
}

/** Load a split; `scale` from its preprocess replaces the default 1/255 pixel scale of IDX images. */
export function loadSplit(split: DataSplit): ImageSet {
  if (split.kind !== 'idx') throw new UnsupportedSplitError(split.kind);
  const set = loadIdxPair(split.paths[0]!, split.paths[1]!, split.limit);
  const pre = split.preprocess;
  if (pre && (pre.scale !== undefined || pre.mean || pre.std)) {
    const rescale = (pre.scale ?? 1 / 255) * 255;
    const mean = pre.mean?.[0] ?? 0;
    const std = pre.std?.[0] ?? 1;
    for (let i = 0; i < set.images.length; i++) set.images[i] = (set.images[i]! * rescale - mean) / std;
  }
  return set;
}
