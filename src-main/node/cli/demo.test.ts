/**
 * @file The demo's plan is the fused recipe the README promises: one valid `compress` step holding pruning (Taylor
 * under AGP to 50 % of the conv channels), QAT int8 and distillation from the original model, on files that exist;
 * and its report prints latency at batch 1 and at the evaluation batch size side by side, with the reasons for a
 * slowdown. (The run itself is `npm run demo`; its figures are in the README.)
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { computeFactors, emptySnapshot, mapPlanPaths, parsePlan, planInputs } from '../../../src-shared/experiment.ts';
import { DEMO_PLAN, renderDemoReport } from './demo.ts';

describe('the demo', () => {
  it('is one fused compress step: AGP(Taylor) 50 % + QAT int8 + distillation from the original, then speedup', () => {
    const plan = parsePlan(JSON.parse(readFileSync(DEMO_PLAN, 'utf8')));
    expect(plan.steps.map((s) => s.kind)).toEqual(['compress']);
    const step = plan.steps[0] as unknown as Record<string, Record<string, unknown>>;
    expect(step.pruning).toMatchObject({ pruner: 'agp', inner: 'taylor' });
    expect(step.pruning!.configList).toEqual([{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }]);
    expect(step.quantization).toMatchObject({ quantizer: 'qat' });
    // the teacher defaults to the plan's input model: the original
    expect(step.distillation).toMatchObject({ distiller: 'logits' });
    expect(step.distillation!.teacher).toBeUndefined();
    expect(step.speedup).toBe(true);
    // the masks reach their goals early (at most a quarter of the run), so the rest trains the final network
    // (docs/fusion.md: "Where the accuracy went"); MNIST's 60,000 images in batches of 64
    const p = step.pruning as { intervalSteps: number; totalTimes: number };
    const t = step.training as { epochs: number; batchSize: number };
    expect(p.intervalSteps * p.totalTimes).toBeLessThanOrEqual(0.25 * Math.floor(60_000 / t.batchSize) * t.epochs);
    const files = planInputs(mapPlanPaths(plan, (f) => resolve(dirname(DEMO_PLAN), f)));
    for (const f of files) expect(existsSync(f.file), `${f.path}: ${f.file}`).toBe(true);
  });

  it('prints both latencies side by side and says why the result is slower where it is', () => {
    const before = {
      ...emptySnapshot(),
      accuracy: 0.9921,
      params: 24170,
      sizeBytes: 100_000,
      latencyMs: { p50: 0.028 },
      latencyAtEvalBatch: { p50: 40, batch: 500 },
    };
    const after = {
      ...emptySnapshot(),
      accuracy: 0.99,
      params: 6218,
      sizeBytes: 16_000,
      latencyMs: { p50: 0.034, baselineP50: 0.028, speedup: 0.82 },
      latencyAtEvalBatch: { p50: 32, baselineP50: 40, speedup: 1.25, batch: 500 },
      slower: { batches: [1], reasons: ['the model is tiny (0.028 ms in float at batch 1): …'] },
    };
    const text = renderDemoReport(
      {
        runId: 'abc',
        planName: 'demo',
        status: 'succeeded',
        before,
        after,
        factors: computeFactors(before, after),
        steps: [],
        startedAt: null,
        finishedAt: null,
        modelSha256: null,
      },
      '/tmp/x',
      1,
    );
    expect(text).toMatch(/latency +0\.028 ms +→ +0\.034 ms +\(1\.22× slower\) +batch 1/);
    expect(text).toMatch(/40\.00 ms +→ +32\.00 ms +\(1\.25× faster\) +batch 500 \(evaluation\)/);
    expect(text).toContain('slower than the original at batch 1, because:');
    expect(text).toContain('- the model is tiny (0.028 ms in float at batch 1)');
  });
});
