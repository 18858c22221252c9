/** @file Tests of sweep specs: the grid's points, their plans validated, and named errors with the path. */
import { describe, expect, it } from 'vitest';
import { parsePlan } from './experiment.ts';
import { expandSweep, parseGridArgs, parseJsonPath, SweepError, sweepOf, sweepTags } from './sweep.ts';

const plan = parsePlan({
  name: 'base',
  model: 'm.onnx',
  steps: [
    { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
    { kind: 'speedup' },
  ],
});

const fault = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(SweepError);
    return { message: (e as SweepError).message, path: (e as SweepError).details };
  }
  throw new Error('no SweepError');
};

describe('expandSweep', () => {
  it('makes the cartesian product, first path slowest, each point a whole validated plan', () => {
    const points = expandSweep(plan, {
      '$.steps[0].configList[0].sparse_ratio': [0.3, 0.6],
      '$.steps[0].pruner': ['l1', 'fpgm'],
    });
    expect(points.map((p) => p.label)).toEqual([
      'sparse_ratio=0.3, pruner=l1',
      'sparse_ratio=0.3, pruner=fpgm',
      'sparse_ratio=0.6, pruner=l1',
      'sparse_ratio=0.6, pruner=fpgm',
    ]);
    expect(points[3]!.plan.steps[0]).toMatchObject({ pruner: 'fpgm', configList: [{ sparse_ratio: 0.6 }] });
    expect(points[3]!.plan.name).toBe('base [sparse_ratio=0.6, pruner=fpgm]');
    expect(points[1]!.params).toEqual({ '$.steps[0].configList[0].sparse_ratio': 0.3, '$.steps[0].pruner': 'fpgm' });
    // the base plan is never changed
    expect(plan.steps[0]).toMatchObject({ pruner: 'l1', configList: [{ sparse_ratio: 0.5 }] });
  });

  it('refuses a path the plan lacks, naming it', () => {
    expect(fault(() => expandSweep(plan, { '$.steps[3].pruner': ['l1'] }))).toEqual({
      message: 'grid path $.steps[3].pruner: the plan has no $.steps[3]',
      path: { path: '$.steps[3].pruner' },
    });
    expect(fault(() => expandSweep(plan, { '$.dataset.train.limit': [3] })).message).toBe(
      'grid path $.dataset.train.limit: the plan has no $.dataset.train',
    );
  });

  it("refuses a value the plan's schema refuses, with the grid path and the plan's own complaint", () => {
    const f = fault(() => expandSweep(plan, { '$.steps[0].configList[0].sparse_ratio': [0.5, 1.5] }));
    expect(f.path).toEqual({ path: '$.steps[0].configList[0].sparse_ratio' });
    expect(f.message).toMatch(
      /^grid path \$\.steps\[0\]\.configList\[0\]\.sparse_ratio = 1\.5: the plan refuses it at \$\.steps\[0\]\.configList\[0\]\.sparse_ratio: /,
    );
    expect(fault(() => expandSweep(plan, { '$.steps[0].pruner': ['nope'] })).message).toMatch(/unknown pruner "nope"/);
    expect(fault(() => expandSweep(plan, { '$.steps[0].bogus': [1] })).message).toMatch(/unknown option "bogus"/);
  });

  it('refuses an empty grid, an empty value list, a malformed path and too many points', () => {
    expect(fault(() => expandSweep(plan, {})).message).toMatch(/no grid/);
    expect(fault(() => expandSweep(plan, { '$.seed': [] })).message).toMatch(/at least one value/);
    expect(fault(() => parseJsonPath('$.steps[x]')).message).toMatch(/not a JSON path/);
    const many = Array.from({ length: 40 }, (_, i) => i);
    expect(
      fault(() => expandSweep(plan, { '$.seed': many, '$.evaluator.batchSize': many.map((i) => i + 1) })).message,
    ).toMatch(/1600 points, more than 1000/);
  });
});

describe('grid arguments and tags', () => {
  it('reads --grid values as JSON where they parse, else as strings', () => {
    expect(
      parseGridArgs(['$.steps[0].pruner=l1,fpgm', 'steps[0]["configList"][0].sparse_ratio=[0.3, 0.5]', '$.seed=1']),
    ).toEqual({
      '$.steps[0].pruner': ['l1', 'fpgm'],
      'steps[0]["configList"][0].sparse_ratio': [0.3, 0.5],
      '$.seed': [1],
    });
    expect(parseJsonPath('steps[0]["configList"][0].sparse_ratio')).toEqual([
      'steps',
      0,
      'configList',
      0,
      'sparse_ratio',
    ]);
    expect(fault(() => parseGridArgs(['nopath'])).message).toMatch(/expected <json path>=<value>/);
    expect(fault(() => parseGridArgs(['$.seed=[1,'])).message).toMatch(/must be a JSON array/);
  });

  it('tags a point with its sweep and parameters, and finds the sweep again', () => {
    const [p] = expandSweep(plan, { '$.steps[0].pruner': ['fpgm'], '$.seed': [7] });
    const tags = sweepTags('ab12cd34', p!);
    expect(tags).toEqual(['sweep:ab12cd34', 'sweep-param:pruner=fpgm', 'sweep-param:seed=7']);
    expect(sweepOf(tags)).toBe('ab12cd34');
    expect(sweepOf(['cnn'])).toBeNull();
  });
});
