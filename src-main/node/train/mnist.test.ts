/** @file The bundled MNIST subset and Fashion-MNIST (Debian's dataset-fashion-mnist, which CI installs). */
import { describe, expect, it } from 'vitest';
import { bundledMnist, fashionMnist } from './mnist.ts';

describe('bundled data', () => {
  it('MNIST test split: 10,000 images in [0,1] with labels 0..9', () => {
    const s = bundledMnist('test');
    expect(s.count).toBe(10000);
    expect(s.shape).toEqual([1, 28, 28]);
    expect(Math.max(...s.images.subarray(0, 784 * 10))).toBeLessThanOrEqual(1);
    expect(new Set(Array.from(s.labels, Number))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });

  it('Fashion-MNIST is read from the Debian package as the harder set', () => {
    const s = fashionMnist('test', 500);
    expect(s, 'install Debian\'s dataset-fashion-mnist (.ci/run does)').not.toBeNull();
    expect(s!.count).toBe(500);
    expect(s!.shape).toEqual([1, 28, 28]);
    expect(new Set(Array.from(s!.labels, Number)).size).toBe(10);
  });
});
