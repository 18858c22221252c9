/** @file The bundled MNIST and Fashion-MNIST subsets (resources/), read without any system package. */
import { describe, expect, it } from 'vitest';
import { bundledMnist, fashionMnist } from './mnist.ts';

describe('bundled data', () => {
  it('MNIST test split: 10,000 images in [0,1] with labels 0..9', () => {
    const s = bundledMnist('test');
    expect(s.length).toBe(10000);
    expect(s.sampleShape).toEqual([1, 28, 28]);
    expect(Math.max(...s.x.subarray(0, 784 * 10))).toBeLessThanOrEqual(1);
    expect(new Set(Array.from(s.classLabels(), Number))).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });

  it('Fashion-MNIST ships in resources/ as the harder set: 10k train, 10k test, ten classes', () => {
    const s = fashionMnist('test', 500);
    expect(s.length).toBe(500);
    expect(s.sampleShape).toEqual([1, 28, 28]);
    expect(new Set(Array.from(s.classLabels(), Number)).size).toBe(10);
    expect(fashionMnist('train').length).toBe(10000);
    expect(fashionMnist('test').length).toBe(10000);
    // Not MNIST under another name: the first test image differs from MNIST's.
    expect(fashionMnist('test', 1).x).not.toEqual(bundledMnist('test', 1).x);
  });
});
