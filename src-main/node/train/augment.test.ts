/**
 * @file Training-time augmentation: the shifts move each image by the drawn offsets with zeros where it left, the
 * trainer feeds exactly the shifted batch (read back from inside the step), the K-step Loop applies the same shifts
 * as single steps, and a bad shift is a named error.
 */
import { describe, expect, it } from 'vitest';
import { loadIdxDataset, ArrayDataset } from './data.ts';
import { buildCnn } from './example-cnn.ts';
import { Rng } from '../../core/util/random.ts';
import { AugmentSpecError, augmentRng, checkAugment, shiftImages } from './augment.ts';
import { epochOrder, train, type StepTask } from './trainer.ts';

const mnist = loadIdxDataset(
  'resources/mnist/train-images-idx3-ubyte.gz',
  'resources/mnist/train-labels-idx1-ubyte.gz',
);
const small = (n: number) =>
  new ArrayDataset(mnist.x.subarray(0, n * 784), [1, 28, 28], mnist.targets().subarray(0, n));

describe('augment: random shifts', () => {
  it('moves every channel of an image by the drawn (dy, dx) and fills the vacated pixels with 0', () => {
    const [C, H, W] = [2, 5, 6];
    const count = 40;
    const x = Float32Array.from({ length: count * C * H * W }, (_, i) => i + 1); // no zeros anywhere
    const before = x.slice();
    const drawn = shiftImages(x, count, [C, H, W], 2, new Rng(5));
    const seen = new Set<string>();
    for (let i = 0; i < count; i++) {
      const [dy, dx] = [drawn[2 * i]!, drawn[2 * i + 1]!];
      expect(Math.abs(dy)).toBeLessThanOrEqual(2);
      expect(Math.abs(dx)).toBeLessThanOrEqual(2);
      seen.add(`${dy},${dx}`);
      for (let c = 0; c < C; c++)
        for (let r = 0; r < H; r++)
          for (let k = 0; k < W; k++) {
            const at = ((i * C + c) * H + r) * W + k;
            const [sr, sk] = [r - dy, k - dx];
            const want = sr >= 0 && sr < H && sk >= 0 && sk < W ? before[((i * C + c) * H + sr) * W + sk]! : 0;
            expect(x[at]).toBe(want);
          }
    }
    // 40 draws over 25 offsets reach many of them, the unshifted one included or not
    expect(seen.size).toBeGreaterThan(10);
    // the same generator state gives the same shifts; shift 0 leaves the batch alone
    const again = before.slice();
    expect(Array.from(shiftImages(again, count, [C, H, W], 2, new Rng(5)))).toEqual(Array.from(drawn));
    expect(Array.from(again)).toEqual(Array.from(x));
    const same = before.slice();
    shiftImages(same, count, [C, H, W], 0, new Rng(5));
    expect(Array.from(same)).toEqual(Array.from(before));
  });

  it('the trainer feeds the shifted batch of each step (read back from inside the step)', async () => {
    const data = small(96);
    const seed = 3;
    const B = 32;
    const fed: Float32Array[] = [];
    const grab: StepTask = (c) => {
      fed.push((c.result!.observed['value:input']!.data as Float32Array).slice());
    };
    await train(
      {
        model: buildCnn({ widths: [4, 8], seed: 1 }),
        train: data,
        optimizer: { type: 'sgd', lr: 0.01 },
        batchSize: B,
        epochs: 2,
        seed,
        threads: 1,
        augment: { shift: 2 },
      },
      {},
      { observe: [{ name: 'input', kind: 'value' }], after: [grab] },
    );
    expect(fed.length).toBe(6);
    for (let s = 0; s < 6; s++) {
      const epoch = Math.floor(s / 3);
      const idx = epochOrder(96, seed, epoch).subarray((s % 3) * B, (s % 3) * B + B);
      const want = new Float32Array(B * 784);
      data.fill(idx, want, new BigInt64Array(B));
      const plain = want.slice();
      shiftImages(want, B, [1, 28, 28], 2, augmentRng(seed, s));
      expect(Array.from(fed[s]!)).toEqual(Array.from(want));
      expect(Array.from(fed[s]!)).not.toEqual(Array.from(plain));
    }
  });

  it('the K-step Loop shifts each of its steps as single steps do (same weights after training)', async () => {
    const run = (stepsPerRun: number, shift: number) =>
      train({
        model: buildCnn({ widths: [4, 8], seed: 1 }),
        train: small(256),
        optimizer: { type: 'sgd', lr: 0.05, momentum: 0.9 },
        batchSize: 32,
        epochs: 1,
        seed: 4,
        threads: 1,
        stepsPerRun,
        augment: { shift },
      });
    const w = async (stepsPerRun: number, shift: number) =>
      Array.from((await run(stepsPerRun, shift)).model.graph.get('conv1.weight')!.initializer!.data as Float32Array);
    const [single, looped, unshifted] = [await w(1, 2), await w(8, 2), await w(8, 0)];
    for (let i = 0; i < single.length; i++) expect(looped[i]).toBeCloseTo(single[i]!, 5);
    expect(unshifted.some((v, i) => Math.abs(v - single[i]!) > 1e-4)).toBe(true);
  });

  it('a shift that is not a whole number ≥ 0, or does not fit the samples, is a named error', async () => {
    expect(() => checkAugment({ shift: -1 }, [1, 28, 28])).toThrow(AugmentSpecError);
    expect(() => checkAugment({ shift: 1.5 }, [1, 28, 28])).toThrow(/augment\.shift must be a whole number/);
    expect(() => checkAugment({ shift: 3 }, [10])).toThrow(/needs image samples/);
    await expect(
      train({
        model: buildCnn({ widths: [4, 8], seed: 1 }),
        train: small(64),
        optimizer: { type: 'sgd', lr: 0.01 },
        batchSize: 32,
        threads: 1,
        augment: { shift: 28 },
      }),
    ).rejects.toThrow(/augment\.shift 28 needs image samples/);
  });
});
