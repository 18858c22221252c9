/** @file The mask rules in block space: exact ratios, ties, threshold clamps, dependency rows, the global budget weighted by block size. */
import { describe, expect, it } from 'vitest';
import type { PruningSetting } from '../../../../src-shared/config/index.ts';
import { dependencyRule, globalRule, ratioMask, ratioRule, thresholdRule, type RuleTarget } from './sparsity.ts';

const target = (metric: number[], setting: PruningSetting, numel = metric.length): RuleTarget => ({
  setting,
  metric: Float64Array.from(metric),
  numel,
  mask: null,
});
const zeros = (m: Uint8Array | null) => [...m!].filter((x) => x === 0).length;

describe('ratio masks', () => {
  it('masks exactly floor(n·ratio) blocks, smallest first', () => {
    const m = Float64Array.from({ length: 16 }, (_, i) => 16 - i);
    const mask = ratioMask(m, 0.75);
    expect(zeros(mask)).toBe(12);
    expect([...mask]).toEqual([1, 1, 1, 1, ...new Array(12).fill(0)]);
    expect(
      zeros(
        ratioMask(
          Float64Array.from({ length: 10 }, (_, i) => i),
          0.29,
        ),
      ),
    ).toBe(2); // floor(2.9)
    expect(
      zeros(
        ratioMask(
          Float64Array.from({ length: 100 }, (_, i) => i),
          0.29,
        ),
      ),
    ).toBe(28); // 100·0.29 = 28.999… in floats, as in Python
    expect([...ratioMask(Float64Array.of(1, 2), 0)]).toEqual([1, 1]);
    expect([...ratioMask(Float64Array.of(1, 2), 1)]).toEqual([0, 0]);
  });

  it('breaks ties by lower index first', () => {
    expect([...ratioMask(Float64Array.of(1, 1, 1, 1, 0, 1), 0.5)]).toEqual([0, 0, 1, 1, 0, 1]);
    expect([...ratioMask(Float64Array.of(2, 2, 2, 2), 0.5)]).toEqual([0, 0, 1, 1]);
  });

  it('never prunes NaN before a number', () => {
    expect([...ratioMask(Float64Array.of(NaN, 3, 1, 2), 0.5)]).toEqual([1, 1, 0, 0]);
  });

  it('splits the metric into rows, each at the ratio (internal_metric_block)', () => {
    expect([...ratioMask(Float64Array.of(1, 2, 3, 4, 40, 30, 20, 10), 0.5, 2)]).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
  });

  it('clamps sparse_ratio into [min, max]', () => {
    const t = target([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { sparse_ratio: 0.9, max_sparse_ratio: 0.5 });
    ratioRule(t);
    expect(zeros(t.mask)).toBe(5);
    const u = target([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], { sparse_ratio: 0.1, min_sparse_ratio: 0.3 });
    ratioRule(u);
    expect(zeros(u.mask)).toBe(3);
  });
});

describe('threshold', () => {
  it('keeps metric >= threshold', () => {
    const t = target([0.1, 0.5, 0.2, 0.9], { sparse_threshold: 0.5 });
    thresholdRule(t);
    expect([...t.mask!]).toEqual([0, 1, 0, 1]);
  });

  it('redoes the mask by ratio at the violated bound', () => {
    const t = target([0.1, 0.2, 0.3, 0.4], { sparse_threshold: 1, max_sparse_ratio: 0.5 });
    thresholdRule(t);
    expect([...t.mask!]).toEqual([0, 0, 1, 1]);
    const u = target([5, 6, 7, 1], { sparse_threshold: 0, min_sparse_ratio: 0.25 });
    thresholdRule(u);
    expect([...u.mask!]).toEqual([1, 1, 1, 0]);
  });
});

describe('dependency groups', () => {
  it('gives every member the mask of the averaged metric', () => {
    const a = target([1, 10, 1, 10], { sparse_ratio: 0.5, dependency_group_id: 1 });
    const b = target([10, 1, 1, 10], { dependency_group_id: 1 });
    dependencyRule([a, b]);
    // mean = [5.5, 5.5, 1, 10] → mask index 2, then the lower-index 5.5
    expect([...a.mask!]).toEqual([0, 1, 0, 1]);
    expect([...b.mask!]).toEqual([...a.mask!]);
    expect(a.mask).not.toBe(b.mask);
  });

  it('reads a member with k times the blocks as k consecutive parts (fused q, k, v heads against the output heads)', () => {
    // 2 heads; the in-projection has q0 q1 k0 k1 v0 v1, the output projection h0 h1
    const qkv = target([1, 9, 1, 9, 1, 9], { sparse_ratio: 0.5, dependency_group_id: 'h' });
    const out = target([9, 1], { dependency_group_id: 'h' });
    dependencyRule([qkv, out]);
    // fused = mean(mean(1, 1, 1), 9) = 5 for h0, mean(9, 1) = 5 for h1 → tie: h0 goes
    expect([...out.mask!]).toEqual([0, 1]);
    expect([...qkv.mask!]).toEqual([0, 1, 0, 1, 0, 1]);
  });

  it('prunes each internal_metric_block row at the ratio (lcm of the members)', () => {
    const a = target([1, 2, 3, 4, 8, 7, 6, 5], {
      sparse_ratio: 0.5,
      dependency_group_id: 'g',
      internal_metric_block: 2,
    });
    const b = target([1, 2, 3, 4, 8, 7, 6, 5], { dependency_group_id: 'g', internal_metric_block: 1 });
    dependencyRule([a, b]);
    expect([...a.mask!]).toEqual([0, 0, 1, 1, 1, 1, 0, 0]);
  });
});

describe('global groups', () => {
  it('spends one element budget across layers of different sizes, each block weighted by its size', () => {
    // layer A: 4 channels of 1 element; layer B: 2 channels of 4 elements; budget floor(12·0.5) = 6 elements
    const a = target([1, 2, 3, 4], { sparse_ratio: 0.5, global_group_id: 0 }, 4);
    const b = target([1.5, 10], { sparse_ratio: 0.5, global_group_id: 0 }, 8);
    globalRule([a, b]);
    // ascending: a0 (1) → 1 elem, b0 (1.5) → 5, a1 (2) → 6 = budget; a2 would exceed
    expect([...a.mask!]).toEqual([0, 0, 1, 1]);
    expect([...b.mask!]).toEqual([0, 1]);
  });

  it('stops at the first block that no longer fits (NNI threshold semantics)', () => {
    const a = target([1, 5], { sparse_ratio: 0.5, global_group_id: 0 }, 2);
    const b = target([2, 9], { sparse_ratio: 0.5, global_group_id: 0 }, 8);
    globalRule([a, b]); // budget 5: a0 (1) fits, b0 (4 elems) fits → 5; a1 would make 6
    expect([...a.mask!]).toEqual([0, 1]);
    expect([...b.mask!]).toEqual([0, 1]);
  });

  it('passes over members at their max ratio and raises members below their min', () => {
    const a = target([1, 2, 3, 4], { sparse_ratio: 0.5, global_group_id: 0, max_sparse_ratio: 0.25 });
    const b = target([5, 6, 7, 8], { sparse_ratio: 0.5, global_group_id: 0 });
    globalRule([a, b]);
    expect(zeros(a.mask)).toBe(1);
    expect(zeros(b.mask)).toBe(3);
    const c = target([1, 2, 3, 4], { sparse_ratio: 0.25, global_group_id: 1 });
    const d = target([5, 6, 7, 8], { sparse_ratio: 0.25, global_group_id: 1, min_sparse_ratio: 0.25 });
    globalRule([c, d]);
    expect(zeros(c.mask)).toBe(2);
    expect(zeros(d.mask)).toBe(1);
  });

  it('masks everything at group ratio 1 (NNI reads an unset max as 0 there; we read 1)', () => {
    const a = target([1, 2], { sparse_ratio: 1, global_group_id: 0 });
    const b = target([3, 4], { sparse_ratio: 1, global_group_id: 0 });
    globalRule([a, b]);
    expect([...a.mask!, ...b.mask!]).toEqual([0, 0, 0, 0]);
  });
});
