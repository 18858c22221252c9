/**
 * @file The fusion bench's options: one data set alone (`FUSION_ONLY`), a validation split held out of the training
 * images (`FUSION_SPLIT=validation`), the seed; its plans are valid and the two splits are disjoint slices of one file.
 */
import { describe, expect, it } from 'vitest';
import { parsePlan } from '../../src-shared/experiment.ts';
import { loadIdxDataset, loadSplit } from '../../src-main/node/train/data.ts';
import type { DataSplit } from '../../src-shared/experiment.ts';
import { SETS, fusionOptions, fusionPlans } from '../bench/fusion.bench.ts';

const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) => bytes(a).equals(bytes(b));

type BenchPlan = { seed: number; dataset: Record<string, DataSplit>; steps: Record<string, unknown>[] };

describe('fusion bench options', () => {
  it('runs one data set alone, both by default, and names a bad value', () => {
    expect(fusionOptions({}).sets.map((s) => s.name)).toEqual(['MNIST', 'Fashion-MNIST']);
    expect(fusionOptions({}).split).toBe('test');
    expect(fusionOptions({ FUSION_ONLY: 'fashion' }).sets.map((s) => s.name)).toEqual(['Fashion-MNIST']);
    expect(fusionOptions({ FUSION_ONLY: 'fashion-mnist' }).sets.map((s) => s.name)).toEqual(['Fashion-MNIST']);
    expect(fusionOptions({ FUSION_ONLY: 'mnist' }).sets.map((s) => s.name)).toEqual(['MNIST']);
    expect(() => fusionOptions({ FUSION_ONLY: 'cifar' })).toThrow(
      /FUSION_ONLY=cifar: no such data set \(one of mnist, fashion\)/,
    );
    expect(() => fusionOptions({ FUSION_SPLIT: 'val' })).toThrow(
      /FUSION_SPLIT=val: expected one of test, validation, test-first-half, test-second-half/,
    );
    expect(() => fusionOptions({ FUSION_SEED: '-1' })).toThrow(/FUSION_SEED=-1/);
    expect(fusionOptions({ FUSION_SEED: '2' }).seed).toBe(2);
  });

  it('validation: trains on the first 8,000 training images and evaluates on the other 2,000', async () => {
    const fashion = SETS.find((s) => s.key === 'fashion')!;
    const plans = fusionPlans(fashion, { split: 'validation', seed: 1 }) as unknown as Record<string, BenchPlan>;
    for (const plan of Object.values(plans)) {
      parsePlan(plan);
      expect(plan.seed).toBe(1);
    }
    const { train, evaluation, calibration } = plans.fused!.dataset;
    const [trainSet, heldOut, calib] = await Promise.all([
      loadSplit(train!),
      loadSplit(evaluation!),
      loadSplit(calibration!),
    ]);
    expect([trainSet.length, heldOut.length, calib.length]).toEqual([8000, 2000, 512]);
    const all = loadIdxDataset(train!.paths[0]!, train!.paths[1]!);
    // byte-wise (toEqual walks 6 M floats element by element: minutes)
    expect(sameBytes(heldOut.x, all.x.subarray(8000 * 784))).toBe(true);
    expect(sameBytes(trainSet.x, all.x.subarray(0, 8000 * 784))).toBe(true);
    expect(sameBytes(heldOut.x, all.x.subarray(7999 * 784, 9999 * 784))).toBe(false);
    // the AGP schedule still reaches its goals at a fifth of the (shorter) run: 125 batches × 6 epochs
    const pruning = (plans.fused!.steps[0] as { pruning: { intervalSteps: number; totalTimes: number } }).pruning;
    expect(pruning.intervalSteps * pruning.totalTimes).toBe(150);
    // the test split evaluates on the 10,000 test images, trains on all 10,000 training ones
    const test = fusionPlans(fashion) as unknown as Record<string, BenchPlan>;
    expect(test.fused!.dataset.evaluation!.paths[0]).toMatch(/fashion-mnist\/t10k-images/);
    expect(test.fused!.dataset.train!.limit).toBeUndefined();
    // the test images' halves: disjoint, 5,000 each, training on all 10,000
    const halves = (['test-first-half', 'test-second-half'] as const).map(
      (split) => (fusionPlans(fashion, { split }) as unknown as Record<string, BenchPlan>).fused!.dataset,
    );
    const [a, b] = await Promise.all(halves.map((h) => loadSplit(h.evaluation!)));
    const tests = loadIdxDataset(halves[0]!.evaluation!.paths[0]!, halves[0]!.evaluation!.paths[1]!);
    expect([a!.length, b!.length, halves[1]!.train!.limit]).toEqual([5000, 5000, undefined]);
    expect(sameBytes(a!.x, tests.x.subarray(0, 5000 * 784))).toBe(true);
    expect(sameBytes(b!.x, tests.x.subarray(5000 * 784))).toBe(true);
  });
});
