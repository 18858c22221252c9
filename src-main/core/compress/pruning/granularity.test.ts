/** @file NNI's Scaling kernels on the canonical view, block ids, expansion, layout permutation; quickselect; the Gram kernel. */
import { describe, expect, it } from 'vitest';
import {
  GranularityFault,
  blockIds,
  blockView,
  expandBlockMask,
  inversePerm,
  kernelFor,
  permute,
} from './granularity.ts';
import { fpgmMetric, normMetric } from './metrics.ts';
import { forEachGramPair } from './gram.ts';
import { kthSmallest } from './select.ts';
import { Rng } from '../../util/random.ts';

describe('kernels (NNI Scaling)', () => {
  it('maps the granularity strings and front-pads block lists with 1', () => {
    expect(kernelFor('out_channel', 4)).toEqual([1, -1, -1, -1]);
    expect(kernelFor('in_channel', 4)).toEqual([-1, 1, -1, -1]);
    expect(kernelFor('per_channel', 4)).toEqual([-1, 1, -1, -1]);
    expect(kernelFor([4, 4], 4)).toEqual([1, 1, 4, 4]);
    expect(kernelFor([-1, 1], 2)).toEqual([-1, 1]);
    expect(kernelFor(null, 3)).toEqual([1, 1, 1]);
    expect(kernelFor('out_channel', 1)).toEqual([1]);
  });

  it('rejects kernels that do not fit', () => {
    expect(() => kernelFor('in_channel', 1)).toThrow(GranularityFault);
    expect(() => kernelFor([2, 2, 2], 2)).toThrow(/has 3 dims, the target only 2/);
    expect(() => blockView([6, 4], [4, 1])).toThrow(/block length 4 does not divide dim 0 of size 6/);
    expect(() => blockView(['batch', 4], [1, -1])).toThrow(/dim 0 of the target is 'batch'/);
    expect(blockView(['batch', 4, 3, 3], [-1, 1, -1, -1]).blockDims).toEqual([1, 4, 1, 1]);
  });

  it('cuts blocks: metric shape, block ids and broadcastable expansion', () => {
    const view = blockView([4, 4], [2, 2]);
    expect(view.blockDims).toEqual([2, 2]);
    expect(view.maskDims).toEqual([4, 4]);
    expect([...blockIds(view)]).toEqual([0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]);
    expect([...expandBlockMask(Uint8Array.of(1, 0, 0, 1), view)]).toEqual([
      1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1,
    ]);
    const out = blockView([3, 2, 2], [1, -1, -1]);
    expect(out.maskDims).toEqual([3, 1, 1]);
    expect([...blockIds(out)]).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
  });

  it('permutes to and from the canonical view', () => {
    const kn = Float32Array.of(1, 2, 3, 4, 5, 6); // [K=2, N=3]
    const nk = permute(kn, [2, 3], [1, 0]);
    expect([...nk]).toEqual([1, 4, 2, 5, 3, 6]);
    expect([...permute(nk, [3, 2], inversePerm([1, 0]))]).toEqual([...kn]);
    const x = Float32Array.from({ length: 24 }, (_, i) => i); // [2,3,4] → axis 1 first
    const y = permute(x, [2, 3, 4], [1, 0, 2]);
    expect(y[1 * 8 + 1 * 4 + 2]).toBe(x[1 * 12 + 1 * 4 + 2]);
    expect([...permute(y, [3, 2, 4], inversePerm([1, 0, 2]))]).toEqual([...x]);
  });
});

describe('metrics', () => {
  it('norms per block; element-wise |w| without blocks', () => {
    const w = Float32Array.of(3, -4, 1, 1, 0, 0, -2, 0);
    expect([...normMetric(w, blockView([2, 4], [1, -1]), 1)]).toEqual([9, 2]);
    expect([...normMetric(w, blockView([2, 4], [1, -1]), 2)]).toEqual([Math.sqrt(27), 2]);
    expect([...normMetric(w, blockView([2, 4], [1, 1]), 1)]).toEqual([3, 4, 1, 1, 0, 0, 2, 0]);
    expect([...normMetric(w, blockView([2, 4], [-1, 2]), 1)]).toEqual([7, 4]);
  });

  it('FPGM: Σ_j ‖w_i − w_j‖₂, SIMD and scalar paths agree with the direct sum', () => {
    const rng = new Rng(3);
    for (const [rows, size] of [
      [1, 5],
      [3, 1],
      [7, 9],
      [13, 18],
    ] as const) {
      const w = Float32Array.from({ length: rows * size }, () => rng.normal());
      const view = blockView([rows, size], [1, -1]);
      const direct = Array.from({ length: rows }, (_, i) => {
        let s = 0;
        for (let j = 0; j < rows; j++) {
          let d = 0;
          for (let k = 0; k < size; k++) d += (w[i * size + k]! - w[j * size + k]!) ** 2;
          s += Math.sqrt(d);
        }
        return s;
      });
      for (const simd of [true, false]) {
        const m = fpgmMetric(w, view, simd);
        m.forEach((v, i) => expect(v).toBeCloseTo(direct[i]!, 3));
      }
    }
  });

  it('FPGM on 2-D blocks gathers each block as one vector', () => {
    // [2, 4] cut into [1, 2] blocks: (1,1) (5,5) (1,1) (9,9): blocks 0 and 2 coincide
    const w = Float32Array.of(1, 1, 5, 5, 1, 1, 9, 9);
    const m = fpgmMetric(w, blockView([2, 4], [1, 2]));
    const d = (a: number, b: number) => Math.SQRT2 * Math.abs(a - b);
    expect(m[0]).toBeCloseTo(d(1, 5) + 0 + d(1, 9), 4);
    expect(m[3]).toBeCloseTo(d(9, 1) * 2 + d(9, 5), 4);
  });

  it('Gram pairs visit every i ≤ j once', () => {
    const seen = new Set<string>();
    forEachGramPair(new Float32Array(6 * 3).fill(1), 6, 3, (i, j, dot) => {
      expect(i <= j).toBe(true);
      expect(dot).toBe(3);
      seen.add(`${i},${j}`);
    });
    expect(seen.size).toBe(21);
  });
});

describe('quickselect', () => {
  it('returns what a sort would put at rank k', () => {
    const rng = new Rng(9);
    for (const n of [1, 2, 5, 17, 1000]) {
      const a = Float64Array.from({ length: n }, () => Math.floor(rng.uniform(0, n > 100 ? 1e6 : 4)));
      const sorted = [...a].sort((x, y) => x - y);
      for (const k of [0, n >> 1, n - 1]) expect(kthSmallest(a.slice(), k)).toBe(sorted[k]);
    }
  });
});
