/** @file Tests of the experiment plan schema, its error paths, and the report helpers. Imports only src-shared and zod. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  beforeLatencyMs,
  computeFactors,
  emptySnapshot,
  mapPlanPaths,
  parsePlan,
  planInputs,
  PlanError,
  planPath,
  PRUNERS,
  registerStepKind,
  STEP_KINDS,
  STEP_REGISTRY,
  runReportSchema,
  safeParsePlan,
  type DistillStep,
  type PruneStep,
} from './experiment.ts';

const split = (kind: string, ...paths: string[]) => ({ kind, paths });
const fullPlan = {
  name: 'resnet 50%',
  model: 'models/net.onnx',
  dataset: {
    train: split('idx', 'tr-img', 'tr-lbl'),
    evaluation: split('idx', 'ev-img', 'ev-lbl'),
    calibration: split('idx', 'ca-img', 'ca-lbl'),
  },
  evaluator: { metric: 'top5', batchSize: 16 },
  executionProvider: 'cpu',
  seed: 7,
  steps: [
    { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
    { kind: 'speedup', roundTo: 8 },
    { kind: 'finetune', epochs: 2, lr: 0.01, optimizer: { kind: 'sgd', momentum: 0.9 }, schedule: { kind: 'cosine' } },
    {
      kind: 'quantize',
      observer: 'minmax',
      configList: [{ op_types: ['Conv'], quant_dtype: 'int8' }],
      calibrationBatches: 8,
    },
  ],
};

function issuesOf(json: unknown) {
  const r = safeParsePlan(json);
  if (r.ok) throw new Error('expected the plan to fail');
  return r.issues;
}

describe('parsePlan', () => {
  it('accepts a full plan and fills defaults', () => {
    const plan = parsePlan(fullPlan);
    expect(plan.version).toBe(1);
    expect(plan.steps.map((s) => s.kind)).toEqual(['prune', 'speedup', 'finetune', 'quantize']);
    expect((plan.steps[0] as PruneStep).pruner).toBe('l1');
    expect(plan.steps[2]).toMatchObject({ batchSize: 32, schedule: { kind: 'cosine', minLr: 0 } });
    expect(plan.steps[3]).toMatchObject({ quantizer: 'ptq', calibrationBatches: 8 });
    expect(plan.evaluator).toEqual({ metric: 'top5', batchSize: 16 });
  });

  it('accepts JSON text and a minimal plan', () => {
    const plan = parsePlan('{"model":"a.onnx","steps":[]}');
    expect(plan).toMatchObject({ model: 'a.onnx', seed: 0, executionProvider: 'cpu', dataset: {}, steps: [] });
  });

  it('rejects an unknown step kind with its JSON path and a suggestion', () => {
    const steps = [{ kind: 'speedup' }, { kind: 'speedup' }, { kind: 'prun' }];
    expect(issuesOf({ model: 'a.onnx', steps })).toEqual([
      { path: '$.steps[2].kind', message: 'unknown step kind "prun" (did you mean "prune"?)' },
    ]);
  });

  it('rejects unknown options, bad values and bad JSON, all in one pass', () => {
    const issues = issuesOf({
      model: 'a.onnx',
      colour: 'red',
      seed: -1,
      steps: [{ kind: 'speedup', roundto: 8 }, { kind: 'prune', pruner: 'l3', configList: [1] }, 'x', {}],
    });
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        '$.colour',
        '$.seed',
        '$.steps[0].roundto',
        '$.steps[1].pruner',
        '$.steps[1].configList[0]',
        '$.steps[2]',
        '$.steps[3].kind',
      ]),
    );
    expect(issues.find((i) => i.path === '$.steps[0].roundto')!.message).toBe('unknown option "roundto"');
    expect(issuesOf('{ nope')[0]).toMatchObject({ path: '$', message: expect.stringContaining('not valid JSON') });
    expect(() => parsePlan({ steps: [] })).toThrow(PlanError);
    try {
      parsePlan({ model: 'a.onnx', steps: [{ kind: 'prun' }] });
    } catch (e) {
      expect((e as PlanError).message).toContain('$.steps[0].kind: unknown step kind "prun"');
      expect((e as PlanError).code).toBe('PLAN_INVALID');
    }
  });

  it('checks data splits and the data each step needs', () => {
    const issues = issuesOf({
      model: 'a.onnx',
      dataset: { evaluation: split('idx', 'only-one') },
      evaluator: { metric: 'top1' },
      steps: [
        { kind: 'finetune', epochs: 1, lr: 0.1 },
        { kind: 'quantize', configList: [] },
      ],
    });
    expect(issues).toEqual(
      expect.arrayContaining([
        { path: '$.dataset.evaluation.paths', message: expect.stringContaining('images file, labels file') },
        { path: '$.steps[0]', message: 'a finetune step needs dataset.train' },
        { path: '$.steps[1]', message: 'the "ptq" quantizer needs dataset.calibration (or dataset.train)' },
      ]),
    );
    expect(issuesOf({ model: 'a', evaluator: {}, steps: [] })).toEqual([
      { path: '$.evaluator', message: 'an evaluator needs dataset.evaluation' },
    ]);
    // a split kind the steps cannot read is refused here, not at run time; every kind loadSplit reads is accepted
    expect(issuesOf({ model: 'a', dataset: { train: split('csv', 'd.csv') }, steps: [] })).toEqual([
      {
        path: '$.dataset.train.kind',
        message: 'split kind "csv" is not read by the plan\'s steps (available: idx, npy, npz, folder)',
      },
    ]);
    expect(
      safeParsePlan({
        model: 'a',
        dataset: {
          train: split('npz', 'd.npz'),
          evaluation: { ...split('folder', 'imgs'), part: 'test' },
          calibration: split('npy', 'x.npy', 'y.npy'),
        },
        steps: [],
      }).ok,
    ).toBe(true);
    expect(
      issuesOf({
        model: 'a',
        dataset: { train: split('npz', 'a.npz', 'b.npz'), evaluation: { ...split('idx', 'i', 'l'), part: 'test' } },
        steps: [],
      }),
    ).toEqual([
      { path: '$.dataset.train.paths', message: 'a "npz" split takes one .npz archive; got 2 path(s)' },
      {
        path: '$.dataset.evaluation.part',
        message: 'a "idx" split has no train/test parts (part is read by npz and folder splits)',
      },
    ]);
  });

  it('refuses compressors with no implementation and options their compressor does not read, naming what is available', () => {
    const issues = issuesOf({
      model: 'a',
      dataset: { train: split('idx', 'tr-img', 'tr-lbl') },
      steps: [
        { kind: 'prune', pruner: 'oracle', configList: [{ op_types: ['Conv'], sparse_ratio: 2 }] },
        { kind: 'prune', pruner: 'l1', configList: [], trainingBatches: 4, totalTimes: 2 },
        { kind: 'quantize', quantizer: 'hqq', configList: [] },
        { kind: 'quantize', configList: [], observer: 'kl', training: { epochs: 1, lr: 0.1 } },
        { kind: 'distill', epochs: 1, lr: 0.1, configList: [] },
        { kind: 'prune', configList: [] },
      ],
    });
    expect(issues).toEqual([
      {
        path: '$.steps[0].pruner',
        message: 'unknown pruner "oracle" (available: level, l1, l2, fpgm, slim, taylor, movement, linear, agp)',
      },
      { path: '$.steps[0].configList[0].sparse_ratio', message: expect.any(String) },
      { path: '$.steps[1].trainingBatches', message: 'unknown option "trainingBatches"' },
      { path: '$.steps[1].totalTimes', message: 'unknown option "totalTimes"' },
      {
        path: '$.steps[2].quantizer',
        message: 'unknown quantizer "hqq" (available: ptq, qat, lsq, lsqplus, dorefa, bnn)',
      },
      { path: '$.steps[3].observer', message: expect.stringContaining('minmax') },
      { path: '$.steps[3].training', message: 'unknown option "training"' },
      {
        path: '$.steps[4].distiller',
        message: 'missing distiller (available: logits, dynamic_layerwise, adaptive1d_layerwise)',
      },
      {
        path: '$.steps[5].pruner',
        message: 'missing pruner (available: level, l1, l2, fpgm, slim, taylor, movement, linear, agp)',
      },
    ]);
    // the names the schema takes are the registry's
    expect(STEP_KINDS).toEqual(Object.keys(STEP_REGISTRY));
    const dataset = { train: split('idx', 'tr-img', 'tr-lbl') };
    for (const pruner of PRUNERS)
      expect(
        parsePlan({ model: 'a', dataset, steps: [{ kind: 'prune', pruner, configList: [] }] }).steps[0],
      ).toMatchObject({ pruner });
  });

  it('validates the training-aware pruners: options with their defaults, and every bad one named by its JSON path', () => {
    const dataset = { train: split('idx', 'tr-img', 'tr-lbl') };
    expect(
      parsePlan({ model: 'a', dataset, steps: [{ kind: 'prune', pruner: 'agp', configList: [] }] }).steps[0],
    ).toEqual({
      kind: 'prune',
      pruner: 'agp',
      configList: [],
      intervalSteps: 50,
      totalTimes: 10,
      inner: 'l1',
      regularScale: 1,
      lr: 0.01,
      batchSize: 32,
    });
    const issues = issuesOf({
      model: 'a',
      dataset,
      steps: [
        { kind: 'prune', pruner: 'taylor', configList: [], trainingSteps: 0 },
        { kind: 'prune', pruner: 'agp', configList: [], intervalSteps: 10, totalTimes: 5, maxSteps: 40 },
        { kind: 'prune', pruner: 'movement', configList: [], warmupSteps: 300, cooldownBeginStep: 300 },
        { kind: 'prune', pruner: 'linear', configList: [], inner: 'movement' },
        { kind: 'prune', pruner: 'taylor', configList: [], inner: 'l1' },
      ],
    });
    expect(issues).toEqual([
      { path: '$.steps[0].trainingSteps', message: expect.stringContaining('>0') },
      { path: '$.steps[4].inner', message: 'unknown option "inner"' },
      {
        path: '$.steps[1].maxSteps',
        message: "the run is 40 steps but the schedule's last update is at step 50 (intervalSteps × totalTimes)",
      },
      { path: '$.steps[2].warmupSteps', message: 'warmupSteps (300) must be smaller than cooldownBeginStep (300)' },
      {
        path: '$.steps[3].inner',
        message: expect.stringContaining(
          '"movement" cannot be scheduled by linear (Movement has its own warm-up / cool-down schedule)',
        ),
      },
    ]);
    expect(issuesOf({ model: 'a', steps: [{ kind: 'prune', pruner: 'slim', configList: [] }] })).toEqual([
      { path: '$.steps[0]', message: 'the "slim" pruner trains and needs dataset.train' },
    ]);
  });

  it('distill steps: the distiller names its options (a layer-wise config list, the logits T and α), the teacher is a plan input', () => {
    const train = { train: split('idx', 'tr-img', 'tr-lbl') };
    const training = { epochs: 2, lr: 0.003 };
    const plan = parsePlan({
      model: 'net.onnx',
      dataset: train,
      steps: [
        { kind: 'distill', distiller: 'logits', temperature: 4, alpha: 0.7, ...training },
        {
          kind: 'distill',
          distiller: 'adaptive1d_layerwise',
          teacher: 'big.onnx',
          configList: [{ op_types: ['Conv'], lambda: 0.5 }],
          ...training,
        },
      ],
    });
    expect(plan.steps[0]).toMatchObject({
      kind: 'distill',
      distiller: 'logits',
      temperature: 4,
      alpha: 0.7,
      batchSize: 32,
    });
    expect(plan.steps[1]).toMatchObject({
      distiller: 'adaptive1d_layerwise',
      originLossLambda: 1,
      teacher: 'big.onnx',
    });
    expect(planInputs(plan).map((f) => f.path)).toContain('$.steps[1].teacher');
    expect((mapPlanPaths(plan, (f) => `/abs/${f}`).steps[1] as DistillStep).teacher).toBe('/abs/big.onnx');
    expect(
      issuesOf({
        model: 'a',
        steps: [
          { kind: 'distill', distiller: 'logits', configList: [{ op_types: ['Conv'] }], ...training },
          { kind: 'distill', distiller: 'dynamic_layerwise', ...training },
          {
            kind: 'distill',
            distiller: 'dynamic_layerwise',
            configList: [{ op_types: ['Conv'], apply_method: 'l1' }],
            alpha: 0.5,
            ...training,
          },
          { kind: 'distill', distiller: 'hinton', ...training },
        ],
      }),
    ).toEqual([
      { path: '$.steps[0].configList', message: 'unknown option "configList"' },
      { path: '$.steps[1].configList', message: expect.any(String) },
      { path: '$.steps[2].alpha', message: 'unknown option "alpha"' },
      {
        path: '$.steps[3].distiller',
        message: 'unknown distiller "hinton" (available: logits, dynamic_layerwise, adaptive1d_layerwise)',
      },
    ]);
    expect(issuesOf({ model: 'a', steps: [{ kind: 'distill', distiller: 'logits', ...training }] })).toEqual([
      { path: '$.steps[0]', message: 'the "logits" distiller trains and needs dataset.train' },
    ]);
    expect(
      issuesOf({
        model: 'a',
        dataset: train,
        steps: [
          {
            kind: 'distill',
            distiller: 'dynamic_layerwise',
            configList: [{ op_types: ['Conv'], apply_method: 'l1' }],
            ...training,
          },
        ],
      })[0]!.path,
    ).toBe('$.steps[0].configList[0].apply_method');
  });

  it('accepts registered step kinds and validates them', () => {
    registerStepKind('nap', z.strictObject({ kind: z.literal('nap'), ms: z.int().nonnegative() }));
    expect(parsePlan({ model: 'a', steps: [{ kind: 'nap', ms: 5 }] }).steps[0]).toEqual({ kind: 'nap', ms: 5 });
    expect(issuesOf({ model: 'a', steps: [{ kind: 'nap', ms: -1 }] })[0]!.path).toBe('$.steps[0].ms');
    expect(() => registerStepKind('prune', z.any())).toThrow(/built in/);
  });

  it('validates config lists with src-shared/config, re-rooting their JSON paths', () => {
    const issues = issuesOf({
      model: 'a',
      dataset: { calibration: split('idx', 'x-img', 'x-lbl') },
      steps: [
        { kind: 'speedup' },
        { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 2 }] },
        { kind: 'quantize', configList: [{ op_types: ['Conv'], quant_dtype: 'int8', colour: 1 }] },
      ],
    });
    expect(issues.map((i) => i.path)).toEqual([
      '$.steps[1].configList[0].sparse_ratio',
      '$.steps[2].configList[0].colour',
    ]);
    expect(issuesOf({ model: 'a', steps: [{ kind: 'prune', pruner: 'l1', configList: {} }] })[0]!.path).toBe(
      '$.steps[0].configList',
    );
  });
});

describe('plan helpers', () => {
  it('lists and maps input files', () => {
    const plan = parsePlan(fullPlan);
    expect(planInputs(plan).map((i) => i.path)).toEqual([
      '$.model',
      '$.dataset.train.paths[0]',
      '$.dataset.train.paths[1]',
      '$.dataset.calibration.paths[0]',
      '$.dataset.calibration.paths[1]',
      '$.dataset.evaluation.paths[0]',
      '$.dataset.evaluation.paths[1]',
    ]);
    const mapped = mapPlanPaths(plan, (f) => `/base/${f}`);
    expect(mapped.model).toBe('/base/models/net.onnx');
    expect(mapped.dataset.train!.paths).toEqual(['/base/tr-img', '/base/tr-lbl']);
    expect(plan.model).toBe('models/net.onnx');
  });

  it('formats JSON paths', () => {
    expect(planPath(['steps', 2, 'kind'])).toBe('$.steps[2].kind');
    expect(planPath(['a b'])).toBe('$["a b"]');
  });

  it('computes factors and validates reports', () => {
    const before = {
      ...emptySnapshot(),
      accuracy: 0.9,
      params: 100,
      macs: 1000,
      sizeBytes: 400,
      latencyMs: { p50: 10 },
    };
    const after = { ...emptySnapshot(), accuracy: 0.85, params: 25, macs: null, sizeBytes: 100, latencyMs: { p50: 4 } };
    const f = computeFactors(before, after);
    expect(f).toEqual({
      params: 4,
      macs: null,
      sizeBytes: 4,
      latency: 2.5,
      latencyAtEvalBatch: null,
      accuracyDelta: expect.closeTo(-0.05, 9),
    });
    const atEval = (p50: number) => ({ p50, batch: 64 });
    const g = computeFactors(
      { ...before, latencyAtEvalBatch: atEval(30) },
      { ...after, latencyAtEvalBatch: atEval(20) },
    );
    expect(g.latencyAtEvalBatch).toBeCloseTo(1.5, 9);
    const report = {
      runId: 'r',
      planName: null,
      status: 'succeeded',
      before,
      after,
      factors: f,
      steps: [],
      startedAt: null,
      finishedAt: null,
      modelSha256: null,
    };
    expect(runReportSchema.parse(report)).toEqual(report);
  });

  it('prefers the side-by-side latency of the after measurement, and shows its baseline as "before"', () => {
    const before = { ...emptySnapshot(), latencyMs: { p50: 10 } };
    const after = { ...emptySnapshot(), latencyMs: { p50: 4, baselineP50: 6, speedup: 1.45 } };
    expect(computeFactors(before, after).latency).toBe(1.45);
    expect(beforeLatencyMs(before, after)).toBe(6);
    const plain = { ...emptySnapshot(), latencyMs: { p50: 4 } };
    expect(computeFactors(before, plain).latency).toBe(2.5);
    expect(beforeLatencyMs(before, plain)).toBe(10);
  });
});

describe('hostile plans', () => {
  it('refuses step kinds and keys that name the prototype machinery instead of throwing a TypeError', () => {
    for (const kind of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const r = safeParsePlan(JSON.stringify({ model: 'm.onnx', steps: [{ kind }] }));
      expect(r.ok).toBe(false);
      if (!r.ok)
        expect(r.issues).toEqual([
          expect.objectContaining({ path: '$.steps[0].kind', message: expect.stringMatching(/^unknown step kind/) }),
        ]);
    }
    const r = safeParsePlan('{"model":"m.onnx","steps":[],"__proto__":{"polluted":true}}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]!.path).toBe('$.__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses JSON nested deeper than any plan needs', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    const r = safeParsePlan({ model: 'm.onnx', steps: [], tags: deep });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]!.message).toMatch(/nested deeper than 64 levels/);
  });
});
