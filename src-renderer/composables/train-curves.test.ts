/** @file The run view's training curves: loss terms, sparsity per target and quantization ranges from series points. */
import { describe, expect, it } from 'vitest';
import { lossTermLabel, rangeCurves, rangeTargets, sparsityCurves, stepsWith } from './train-curves.ts';

const pts = (stepIndex: number, ...xv: [number, number][]) => xv.map(([x, value]) => ({ x, value, stepIndex }));

describe('training curves', () => {
  const series = {
    loss: pts(0, [10, 2]),
    'loss.task': pts(0, [10, 1.5]),
    'sparsity.c1.weight': pts(0, [10, 0], [20, 0.25], [30, 0.5]),
    'sparsity.c1.bias': pts(0, [10, 0], [20, 0.25], [30, 0.5]),
    'sparsity.c2.weight': pts(0, [10, 0], [20, 0.5], [30, 0.5]),
    'qrange.c1._input_0.min': pts(0, [10, -1], [20, -0.8]),
    'qrange.c1._input_0.max': pts(0, [10, 2], [20, 2.5]),
    'qrange.c2.weight.min': pts(0, [10, -0.3]),
    'qrange.c2.weight.max': pts(0, [10, 0.3]),
    'qrange.c9._output_0.min': pts(1, [5, 0]),
    'qrange.c9._output_0.max': pts(1, [5, 6]),
  };

  it('finds the steps that report each kind of series', () => {
    expect(stepsWith(series, 'sparsity.')).toEqual([0]);
    expect(stepsWith(series, 'qrange.')).toEqual([0, 1]);
  });

  it('draws sparsity in percent per weight target, the mean over them first, biases left out', () => {
    const cs = sparsityCurves(series, 0);
    expect(cs.map((c) => c.name)).toEqual(['mean', 'c1.weight', 'c2.weight']);
    expect(cs[0]!.points).toEqual([
      { x: 10, value: 0 },
      { x: 20, value: 37.5 },
      { x: 30, value: 50 },
    ]);
    expect(cs[1]!.points.at(-1)).toEqual({ x: 30, value: 50 });
    expect(sparsityCurves(series, 1)).toEqual([]);
  });

  it('lists quantized targets per step and draws a max and a min curve for each chosen one', () => {
    expect(rangeTargets(series, 0)).toEqual(['c1._input_0', 'c2.weight']);
    expect(rangeTargets(series, 1)).toEqual(['c9._output_0']);
    const cs = rangeCurves(series, 0, ['c1._input_0']);
    expect(cs).toEqual([
      {
        name: 'c1._input_0 max',
        points: [
          { x: 10, value: 2 },
          { x: 20, value: 2.5 },
        ],
      },
      {
        name: 'c1._input_0 min',
        points: [
          { x: 10, value: -1 },
          { x: 20, value: -0.8 },
        ],
      },
    ]);
  });

  it('names loss terms for their curves', () => {
    expect(lossTermLabel('loss.task')).toBe('task loss');
    expect(lossTermLabel('loss.distill')).toBe('distillation loss');
    expect(lossTermLabel('loss.slim')).toBe('slim loss');
  });
});
