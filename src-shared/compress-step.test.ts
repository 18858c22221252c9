/**
 * @file The fused `compress` step of the plan: a whole step parses with its defaults; faults of the whole (no block,
 * no training block, a compressor that cannot be fused, a training key inside a block, a budget shorter than a
 * schedule or the quantization start) and of each block (unknown names, unread options, config lists) come back
 * at once, each at its JSON path. Imports only src-shared.
 */
import { describe, expect, it } from 'vitest';
import { fusedBudgetFaults, trainingBlockSteps, type CompressStep } from './compress-step.ts';
import { mapPlanPaths, parsePlan, planInputs, safeParsePlan } from './experiment.ts';

const split = (...paths: string[]) => ({ kind: 'idx', paths });
const conv50 = [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }];
const int8 = [{ op_types: ['Conv', 'Gemm'], target_names: ['_input_', 'weight', '_output_'], quant_dtype: 'int8' }];
const training = { epochs: 2, lr: 0.001, optimizer: { kind: 'adam' }, batchSize: 64 };
const fused = {
  kind: 'compress',
  pruning: { pruner: 'agp', inner: 'taylor', configList: conv50, intervalSteps: 20, totalTimes: 5 },
  quantization: { quantizer: 'qat', configList: int8, quantStartStep: 50 },
  distillation: { distiller: 'logits', temperature: 4 },
  training,
};
const plan = (step: unknown, train: object = split('a', 'b')) => ({
  model: 'm.onnx',
  dataset: { train, evaluation: split('c', 'd') },
  steps: [step],
});
function issuesOf(json: unknown) {
  const r = safeParsePlan(json);
  if (r.ok) throw new Error('expected the plan to fail');
  return r.issues.map((i) => `${i.path}: ${i.message}`);
}

describe('the compress step', () => {
  it('parses a fused step with its defaults', () => {
    const s = parsePlan(plan(fused)).steps[0] as CompressStep;
    expect(s.speedup).toBe(true);
    expect(s.training).toMatchObject({ epochs: 2, schedule: { kind: 'constant' }, batchSize: 64 });
    expect(s.pruning).toMatchObject({ pruner: 'agp', inner: 'taylor', intervalSteps: 20, totalTimes: 5 });
    expect(s.quantization).toMatchObject({ quantizer: 'qat', quantStartStep: 50 });
    expect(s.distillation).toMatchObject({ distiller: 'logits', temperature: 4, alpha: 0.5 });
    // a single block is a fused step too (one training run)
    expect(parsePlan(plan({ kind: 'compress', quantization: fused.quantization, training })).steps).toHaveLength(1);
  });

  it('refuses a step without its training block, or with nothing to fuse', () => {
    const { training: _t, ...noTraining } = fused;
    expect(issuesOf(plan(noTraining))).toEqual([
      '$.steps[0].training: a compress step trains once for all its compressors: it needs a training block (epochs, lr, optimizer, schedule, batchSize)',
    ]);
    expect(issuesOf(plan({ kind: 'compress', training }))).toEqual([
      '$.steps[0]: a compress step fuses compressors: give at least one of pruning, quantization, distillation',
    ]);
  });

  it('refuses compressors that cannot be fused, naming the ones that can', () => {
    const issues = issuesOf(
      plan({
        ...fused,
        pruning: { pruner: 'l1', configList: conv50 },
        quantization: { quantizer: 'ptq', configList: int8 },
      }),
    );
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatch(
      /^\$\.steps\[0\]\.pruning\.pruner: the "l1" pruner computes its masks at once and cannot be fused .* use slim, taylor, movement, linear, agp \(agp \/ linear schedule "l1"/,
    );
    expect(issues[1]).toMatch(
      /^\$\.steps\[0\]\.quantization\.quantizer: the "ptq" quantizer calibrates after training and cannot be fused .*use qat, lsq, lsqplus, dorefa, bnn$/,
    );
  });

  it('reports every block fault at its own path: names, training keys in a block, unread options, config lists', () => {
    const issues = issuesOf(
      plan({
        ...fused,
        pruning: { pruner: 'agp', inner: 'movement', configList: [{ op_types: ['Conv'], sparse_ratio: 2 }] },
        quantization: { quantizer: 'qat', configList: int8, lr: 0.1, observer: 'minmax' },
        distillation: { distiller: 'nope' },
        speedup: 'yes',
      }),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^\$\.steps\[0\]\.speedup: /),
        expect.stringMatching(/^\$\.steps\[0\]\.pruning\.configList\[0\]\.sparse_ratio: /),
        expect.stringMatching(/^\$\.steps\[0\]\.pruning\.inner: "movement" cannot be scheduled by agp/),
        '$.steps[0].quantization.lr: "lr" belongs to the step\'s training block: one training run for every compressor of a compress step',
        '$.steps[0].quantization.observer: unknown option "observer"',
        expect.stringMatching(/^\$\.steps\[0\]\.distillation\.distiller: unknown distiller "nope" \(available: /),
      ]),
    );
    expect(issues).toHaveLength(6);
  });

  it("refuses the quantize step's latencyAware in a fused block (its export has its own speed check); takes DoReFa's gradientBits", () => {
    expect(
      issuesOf(plan({ ...fused, quantization: { quantizer: 'qat', configList: int8, latencyAware: true } })),
    ).toEqual(['$.steps[0].quantization.latencyAware: unknown option "latencyAware"']);
    expect(
      safeParsePlan(plan({ ...fused, quantization: { quantizer: 'dorefa', configList: int8, gradientBits: 8 } })).ok,
    ).toBe(true);
  });

  it('refuses budgets shorter than a schedule or the quantization start, where the plan knows the budget', () => {
    // 3 batches per epoch × 2 epochs = 6 steps < AGP's 100 and QAT's start at 50
    const short = { ...fused, training: { ...training, maxBatchesPerEpoch: 3 } };
    expect(issuesOf(plan(short))).toEqual([
      "$.steps[0].pruning.totalTimes: the schedule's last update is at step 100 (intervalSteps × totalTimes), but the training block makes 6 optimizer steps: lengthen training or shorten the schedule",
      '$.steps[0].quantization.quantStartStep: quantization starts after step 50, but the training block makes 6 optimizer steps: it would never quantize',
    ]);
    // a train split of known size: 640 samples / 64 = 10 steps per epoch
    expect(issuesOf(plan(fused, { ...split('a', 'b'), limit: 640 }))[0]).toMatch(/makes 20 optimizer steps/);
    // otherwise the step checks once it has read the data (same faults, same paths)
    const s = parsePlan(plan(fused)).steps[0] as CompressStep;
    expect(trainingBlockSteps(s.training, 10_000)).toBe(312);
    expect(trainingBlockSteps(s.training, 10)).toBe(1);
    expect(fusedBudgetFaults(s, 312)).toEqual([]);
    expect(fusedBudgetFaults(s, 99).map((f) => f.path.join('.'))).toEqual(['pruning.totalTimes']);
    const taylor = { ...s, pruning: { pruner: 'taylor', configList: conv50, trainingSteps: 300 } } as CompressStep;
    expect(fusedBudgetFaults(taylor, 299)[0]!.message).toMatch(/the masks come at step 300 \(trainingSteps\)/);
  });

  it('needs dataset.train, and reads its teacher file like a distill step', () => {
    expect(issuesOf({ model: 'm.onnx', steps: [fused] })).toEqual(['$.steps[0]: a compress step needs dataset.train']);
    const p = parsePlan(plan({ ...fused, distillation: { distiller: 'logits', teacher: 't.onnx' } }));
    expect(planInputs(p)).toContainEqual({ path: '$.steps[0].distillation.teacher', file: 't.onnx' });
    const mapped = mapPlanPaths(p, (f) => `/abs/${f}`).steps[0] as CompressStep;
    expect(mapped.distillation?.teacher).toBe('/abs/t.onnx');
  });
});
