/**
 * @file The bundled MNIST and Fashion-MNIST subsets (resources/mnist, resources/fashion-mnist; IDX gzipped),
 * as data sets of float32 images x/255 shaped [N,1,28,28] with int64 labels.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadIdxDataset, type ArrayDataset } from './data.ts';

export const RESOURCES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'resources');
export const FASHION_MNIST_DIR = join(RESOURCES_DIR, 'fashion-mnist');

/** Load an IDX image/label pair as a data set (pixels / 255; optionally only the first `limit`). */
export function loadIdxPair(imagesFile: string, labelsFile: string, limit?: number): ArrayDataset {
  const set = loadIdxDataset(imagesFile, labelsFile);
  return limit === undefined ? set : set.head(limit);
}

/** The bundled MNIST split ('train' = first 10k training images, 'test' = the 10k test set). */
export function bundledMnist(split: 'train' | 'test', limit?: number): ArrayDataset {
  const p = split === 'train' ? 'train' : 't10k';
  const dir = join(RESOURCES_DIR, 'mnist');
  return loadIdxPair(join(dir, `${p}-images-idx3-ubyte.gz`), join(dir, `${p}-labels-idx1-ubyte.gz`), limit);
}

/** The bundled Fashion-MNIST split ('train' = first 10k training images, 'test' = the 10k test set). */
export function fashionMnist(split: 'train' | 'test', limit?: number): ArrayDataset {
  const p = split === 'train' ? 'train' : 't10k';
  return loadIdxPair(
    join(FASHION_MNIST_DIR, `${p}-images-idx3-ubyte.gz`),
    join(FASHION_MNIST_DIR, `${p}-labels-idx1-ubyte.gz`),
    limit,
  );
}
