/**
 * @file The bundled MNIST and Fashion-MNIST subsets (resources/mnist, resources/fashion-mnist; IDX gzipped),
 * as float32 images x/255 shaped [N,1,28,28] with int64 labels.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readIdx, DatasetFormatError } from './data.ts';

export const RESOURCES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'resources');
export const FASHION_MNIST_DIR = join(RESOURCES_DIR, 'fashion-mnist');

export interface ImageSet {
  images: Float32Array;
  labels: BigInt64Array;
  count: number;
  /** [1, 28, 28] */
  shape: number[];
}

/** Load an IDX image/label pair as a normalised image set (optionally only the first `limit`). */
export function loadIdxPair(imagesFile: string, labelsFile: string, limit?: number): ImageSet {
  const imgs = readIdx(imagesFile);
  const labs = readIdx(labelsFile);
  if (imgs.dims.length !== 3) throw new DatasetFormatError(`expected [N,H,W] images, got [${imgs.dims}]`, imagesFile);
  if (labs.dims.length !== 1 || labs.dims[0] !== imgs.dims[0]) {
    throw new DatasetFormatError(`labels [${labs.dims}] do not match ${imgs.dims[0]} images`, labelsFile);
  }
  const [n0, h, w] = imgs.dims as [number, number, number];
  const count = Math.min(n0, limit ?? n0);
  const images = new Float32Array(count * h * w);
  for (let i = 0; i < images.length; i++) images[i] = imgs.data[i]! / 255;
  const labels = BigInt64Array.from(Array.from(labs.data.subarray(0, count), (v) => BigInt(v)));
  return { images, labels, count, shape: [1, h, w] };
}

/** The bundled MNIST split ('train' = first 10k training images, 'test' = the 10k test set). */
export function bundledMnist(split: 'train' | 'test', limit?: number): ImageSet {
  const p = split === 'train' ? 'train' : 't10k';
  const dir = join(RESOURCES_DIR, 'mnist');
  return loadIdxPair(join(dir, `${p}-images-idx3-ubyte.gz`), join(dir, `${p}-labels-idx1-ubyte.gz`), limit);
}

/** The bundled Fashion-MNIST split ('train' = first 10k training images, 'test' = the 10k test set). */
export function fashionMnist(split: 'train' | 'test', limit?: number): ImageSet {
  const p = split === 'train' ? 'train' : 't10k';
  return loadIdxPair(join(FASHION_MNIST_DIR, `${p}-images-idx3-ubyte.gz`), join(FASHION_MNIST_DIR, `${p}-labels-idx1-ubyte.gz`), limit);
}
