/**
 * @file The plan's shared pieces on their own: JSON paths, zod issues as plan issues (an unknown key at its own
 * path), config-list faults re-rooted under the step, the plan error's message, and the small schemas. Imports only
 * src-shared and zod.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  configList,
  configListIssues,
  isObject,
  path,
  PlanError,
  planPath,
  positiveInt,
  toPlanIssues,
  unionOf,
} from './plan-parts.ts';

describe('plan parts', () => {
  it('formats JSON paths, quoting keys that are not identifiers', () => {
    expect(planPath([])).toBe('$');
    expect(planPath(['steps', 0, 'configList', 1, 'op_types'])).toBe('$.steps[0].configList[1].op_types');
    expect(planPath(['dataset', 'my split'], '$.x')).toBe('$.x.dataset["my split"]');
  });

  it('turns zod issues into plan issues under a prefix, one per unknown key', () => {
    const schema = z.strictObject({ epochs: positiveInt, lr: z.number() });
    const r = schema.safeParse({ epochs: 0, lr: 0.1, lrr: 1, momentum: 0.9 });
    expect(r.success).toBe(false);
    const issues = toPlanIssues(r.error!.issues, ['steps', 3]);
    expect(issues.map((i) => i.path).sort()).toEqual(['$.steps[3].epochs', '$.steps[3].lrr', '$.steps[3].momentum']);
    expect(issues.find((i) => i.path === '$.steps[3].lrr')!.message).toBe('unknown option "lrr"');
  });

  it('re-roots a config list’s faults at the step’s path, and finds none in a good list', () => {
    const at = '$.steps[1].configList';
    expect(configListIssues([{ op_types: ['Conv'], sparse_ratio: 0.5 }], 'pruning', at)).toEqual([]);
    const bad = configListIssues([{ op_types: ['Conv'], sparse_ratio: 2 }], 'pruning', at);
    expect(bad.map((i) => i.path)).toEqual(['$.steps[1].configList[0].sparse_ratio']);
  });

  it('names every fault in the plan error, and keeps them as details', () => {
    const issues = [
      { path: '$.model', message: 'must be a non-empty path' },
      { path: '$.steps[0].kind', message: 'unknown step kind "prun"' },
    ];
    const e = new PlanError(issues);
    expect(e.code).toBe('PLAN_INVALID');
    expect(e.message).toBe(
      'invalid experiment plan (2 faults):\n  $.model: must be a non-empty path\n  $.steps[0].kind: unknown step kind "prun"',
    );
    expect(e.details.issues).toEqual(issues);
    expect(new PlanError([issues[0]!]).message).toMatch(/^invalid experiment plan \(1 fault\):/);
  });

  it('small schemas: paths, positive counts, config lists, unions, objects', () => {
    expect(path.safeParse('').success).toBe(false);
    expect(positiveInt.safeParse(0).success).toBe(false);
    expect(positiveInt.safeParse(1.5).success).toBe(false);
    expect(configList.safeParse({ op_types: ['Conv'] }).error!.issues[0]!.message).toBe(
      'must be an array of objects (a config list)',
    );
    const one = z.literal('a');
    expect(unionOf([one])).toBe(one);
    expect(unionOf([one, z.literal('b')]).safeParse('b').success).toBe(true);
    expect([isObject({}), isObject([]), isObject(null)]).toEqual([true, false, false]);
  });
});
