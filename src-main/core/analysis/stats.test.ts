/**
 * @file MACs of Einsum (MaxViT writes its attention as Einsum): out_numel · ∏ contracted sizes, with an explicit
 * output, in implicit mode, with an ellipsis; one operand is no linear-layer work.
 */
import { describe, expect, it } from 'vitest';
import { Graph, Model } from '../ir/index.ts';
import { modelStats } from './stats.ts';

/** One Einsum node over inputs of the given shapes; the output's shape comes from the shape map. */
function einsum(equation: string, shapes: number[][], out: number[]): number {
  const g = new Graph('einsum');
  const inputs = shapes.map((s, i) => g.addInput(`x${i}`, { kind: 'tensor', dtype: 'float32', shape: s }));
  const y = g.addNode({
    opType: 'Einsum',
    name: 'e',
    inputs,
    attributes: { equation: { type: 'string', value: equation } },
  }).outputs[0]!;
  g.addOutput(y);
  const map = new Map<string, readonly number[]>([
    ...shapes.map((s, i): [string, number[]] => [`x${i}`, s]),
    [y.name, out],
  ]);
  return modelStats(new Model(g), map).macs;
}

describe('Einsum MACs', () => {
  it("counts MaxViT's attention product bhij,bhjd->bhid as b·h·i·d·j", () => {
    expect(
      einsum(
        'bhij,bhjd->bhid',
        [
          [2, 3, 49, 49],
          [2, 3, 49, 32],
        ],
        [2, 3, 49, 32],
      ),
    ).toBe(2 * 3 * 49 * 32 * 49);
    expect(
      einsum(
        'bhid, bhjd -> bhij',
        [
          [2, 3, 49, 32],
          [2, 3, 49, 32],
        ],
        [2, 3, 49, 49],
      ),
    ).toBe(2 * 3 * 49 * 49 * 32);
  });
  it('implicit output (letters seen once) and an ellipsis', () => {
    expect(
      einsum(
        'ij,jk',
        [
          [4, 5],
          [5, 6],
        ],
        [4, 6],
      ),
    ).toBe(4 * 6 * 5);
    expect(
      einsum(
        '...ij,...jk->...ik',
        [
          [2, 7, 4, 5],
          [2, 7, 5, 6],
        ],
        [2, 7, 4, 6],
      ),
    ).toBe(2 * 7 * 4 * 6 * 5);
  });
  it('one operand (a transpose or a sum) is no linear-layer work', () => {
    expect(einsum('ij->ji', [[4, 5]], [5, 4])).toBe(0);
  });
});
