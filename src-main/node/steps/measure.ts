/**
 * @file The measurement before and after a run's steps: accuracy on the evaluation split, parameters, MACs,
 * size on disk and ORT latency (p50, batch 1, one thread — the same settings before and after; after a run, the
 * original model is timed again alternately with the result, and that side-by-side speedup is the report's).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MetricSnapshot } from '../../../src-shared/experiment.ts';
import type { MeasureContext } from '../jobs/registry.ts';
import { inspectModel, openModel } from '../inspect.ts';
import { benchmark, compareLatency } from '../runtime/index.ts';
import { evaluateClassifier } from '../train/evaluate.ts';
import { loadSplit } from '../train/data.ts';

export async function measureModel(ctx: MeasureContext): Promise<MetricSnapshot> {
  const { model } = openModel(ctx.modelPath);
  const plan = ctx.plan;
  const evalSplit = plan.dataset?.evaluation;
  ctx.progress({ fraction: 0.05, message: `measuring (${ctx.phase})` });
  const inputName = model.graph.inputs.find((v) => !v.isInitializer)!.name;
  let accuracy: number | null = null;
  let shape: number[] | undefined;
  if (evalSplit) {
    const data = await loadSplit(evalSplit, { model, field: '$.dataset.evaluation', name: 'evaluation' });
    const limit = plan.evaluator?.maxBatches
      ? Math.min(data.length, plan.evaluator.maxBatches * (plan.evaluator.batchSize ?? 64))
      : data.length;
    const acc = await evaluateClassifier(model, data.head(limit), {
      batchSize: plan.evaluator?.batchSize ?? 64,
      ep: plan.executionProvider,
      onProgress: (d, n) => ctx.progress({ fraction: 0.05 + 0.7 * (d / n), message: `evaluating ${d}/${n}` }),
    });
    accuracy = plan.evaluator?.metric === 'top5' ? acc.top5 : acc.top1;
    shape = [1, ...data.sampleShape];
  }
  const shapes = plan.inputShapes ?? (shape ? { [inputName]: shape } : undefined);
  const info = await inspectModel(model, { shapes, dimSizes: { batch: 1 } });
  ctx.progress({ fraction: 0.8, message: 'latency' });
  const benchOpts = {
    threads: 1,
    warmup: 20,
    runs: 300,
    maxMs: 4000,
    shapes,
    dimSizes: { batch: 1 },
    ep: plan.executionProvider,
  };
  let latencyMs: MetricSnapshot['latencyMs'];
  let used: { ep: string; fallback?: { reason: string } };
  if (ctx.phase === 'after' && resolve(plan.model) !== resolve(ctx.modelPath)) {
    // after a run: the original model timed alternately with this one, so the speedup does not compare two
    // moments of a shared machine (the 'before' figure stays as measured then)
    const c = await compareLatency(plan.model, model, { ...benchOpts, maxMs: 8000 });
    latencyMs = { p50: c.b.p50, p90: c.b.p90, runs: c.rounds, baselineP50: c.a.p50, speedup: 1 / c.roundRatio };
    used = c;
  } else {
    const lat = await benchmark(model, benchOpts);
    latencyMs = { p50: lat.p50, p90: lat.p90, runs: lat.runs };
    used = lat;
  }
  // A provider that cannot run here falls back to CPU: said in run.log and kept in the report, never silent.
  const provider = { requested: plan.executionProvider, used: used.ep, fallback: used.fallback?.reason ?? null };
  if (provider.fallback) ctx.log(`execution provider: ${provider.fallback} (measuring ${ctx.phase})`, 'warn');
  return {
    provider,
    metric: plan.evaluator?.metric ?? null,
    accuracy,
    loss: null,
    params: info.params,
    macs: info.macs,
    sizeBytes: statSync(ctx.modelPath).size,
    latencyMs,
    opset: model.opset,
  };
}
