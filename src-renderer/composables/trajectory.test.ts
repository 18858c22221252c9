/** @file The run view's sparsity-schedule chart data: the prune step's trajectory as a mean curve plus one per weight target. */
import { describe, expect, it } from 'vitest';
import { trajectoryCurves } from './charts.ts';

describe('trajectoryCurves', () => {
  it('turns step → sparsity per target into percent curves, the mean first, biases left out', () => {
    const summary = {
      pruner: 'agp',
      trajectory: [
        { step: 10, ratio: 0.7037, sparsity: { 'c1.weight': 0.5, 'c1.bias': 0.5, 'c2.weight': 0.25 } },
        { step: 20, ratio: 1, sparsity: { 'c1.weight': 0.75, 'c1.bias': 0.75, 'c2.weight': 0.75 } },
      ],
    };
    expect(trajectoryCurves(summary)).toEqual([
      {
        name: 'mean',
        points: [
          { x: 10, value: 37.5 },
          { x: 20, value: 75 },
        ],
      },
      {
        name: 'c1.weight',
        points: [
          { x: 10, value: 50 },
          { x: 20, value: 75 },
        ],
      },
      {
        name: 'c2.weight',
        points: [
          { x: 10, value: 25 },
          { x: 20, value: 75 },
        ],
      },
    ]);
    expect(trajectoryCurves(summary, 1).map((c) => c.name)).toEqual(['mean', 'c1.weight']);
  });

  it('draws nothing for steps without a trajectory (one-shot pruners, other steps)', () => {
    expect(trajectoryCurves({ pruner: 'l1', maskedFraction: 0.5 })).toEqual([]);
    expect(trajectoryCurves(null)).toEqual([]);
    expect(trajectoryCurves({ trajectory: 'x' })).toEqual([]);
  });
});
