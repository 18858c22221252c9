/**
 * @file The sensitivity step from a parsed plan: the scan over the plan's evaluation split is stored as the step's
 * artifact and the model passes on unchanged; bad options are refused by the plan schema with their JSON path.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePlan, PlanError, type SensitivityStep } from '../../../src-shared/experiment.ts';
import type { SensitivityScan } from '../../../src-shared/sensitivity.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { StepContext } from '../jobs/registry.ts';
import { NoEvaluationSplitError, sensitivityStep } from './sensitivity.ts';

const res = (p: string) => resolve('resources', p);
const evaluation = {
  kind: 'idx',
  paths: [res('mnist/t10k-images-idx3-ubyte.gz'), res('mnist/t10k-labels-idx1-ubyte.gz')],
};

function context(plan: ReturnType<typeof parsePlan>, messages: string[] = []): StepContext<SensitivityStep> {
  return {
    runId: 'test',
    index: 0,
    step: plan.steps[0] as SensitivityStep,
    plan,
    inputModel: plan.model,
    checkpointDir: mkdtempSync(join(tmpdir(), 'step-sens-')),
    token: new CancellationSource().token,
    progress: (p) => void messages.push(p.message ?? ''),
    metric: () => {},
    log: () => {},
  };
}

describe('sensitivity step', () => {
  it('scans over the evaluation split with one worker and stores sensitivity.json; the model is unchanged', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: { evaluation },
      steps: [{ kind: 'sensitivity', ratios: [0.5], evalCount: 100, latencyRuns: 3, workers: 1 }],
    });
    const messages: string[] = [];
    const r = await sensitivityStep(context(plan, messages));
    expect(r.outputModel).toBeUndefined();
    const scan = JSON.parse(readFileSync(r.artifacts![0]!.path, 'utf8')) as SensitivityScan;
    expect(scan.points.map((p) => p.group)).toEqual(scan.groups.map((g) => g.id));
    expect(scan.points.every((p) => p.maxRelErr < 1e-4)).toBe(true);
    expect(r.summary).toMatchObject({ groups: 3, points: 3, workers: 1 });
    expect(messages.some((m) => /^3\/3 /.test(m))).toBe(true);
  }, 120_000);

  it('refuses ratios outside (0, 1), a pruner needing training and a plan without an evaluation split', async () => {
    expect(() => parsePlan({ model: 'm.onnx', steps: [{ kind: 'sensitivity', ratios: [0.5, 1] }] })).toThrow(
      /\$\.steps\[0\]\.ratios\[1\].*< 1/,
    );
    expect(() => parsePlan({ model: 'm.onnx', steps: [{ kind: 'sensitivity', evalCount: 0 }] })).toThrow(PlanError);
    expect(() => parsePlan({ model: 'm.onnx', steps: [{ kind: 'sensitivity', pruner: 'slim' }] })).toThrow(/pruner/);
    const plan = parsePlan({ model: res('mnist-cnn.onnx'), steps: [{ kind: 'sensitivity' }] });
    await expect(sensitivityStep(context(plan))).rejects.toBeInstanceOf(NoEvaluationSplitError);
  });
});
