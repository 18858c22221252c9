/**
 * @file The measurement before and after a run's steps: accuracy on the evaluation split, parameters, MACs,
 * size on disk and ORT latency (p50, one thread — the same settings before and after; after a run, the original
 * model is timed again alternately with the result, and that side-by-side speedup is the report's), at batch 1 and at
 * the plan's evaluation batch size.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { MetricSnapshot, Plan } from '../../../src-shared/experiment.ts';
import type { Model } from '../../core/ir/index.ts';
import type { MeasureContext } from '../jobs/registry.ts';
import { inspectModel, openModel } from '../inspect.ts';
import { benchmark, compareLatency, cpuInfo } from '../runtime/index.ts';
import { INTEGER_OPS, optimizedGraph, slowdownReasons, TINY_MODEL_MS, type FusionReport } from '../quantize/index.ts';
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
  const after = ctx.phase === 'after' && resolve(plan.model) !== resolve(ctx.modelPath);
  const one = await timeModel(model, plan, benchOpts, after);
  const evalShapes = evalBatchShapes(model, plan, shapes);
  let latencyAtEvalBatch: MetricSnapshot['latencyAtEvalBatch'] = null;
  if (evalShapes) {
    ctx.token.throwIfCancelled();
    ctx.progress({ fraction: 0.9, message: `latency at batch ${evalShapes.batchSize}` });
    // a large batch of a large model takes seconds a call: few warm-up runs, a time budget, at least 3 rounds
    const opts = { ...benchOpts, warmup: 3, maxMs: 3000, ...evalShapes };
    const t = await timeModel(model, plan, opts, after);
    latencyAtEvalBatch = { ...t.latencyMs, batch: evalShapes.batchSize };
  }
  const { latencyMs, used } = one;
  const slower = after ? await slowerReasons(model, latencyMs, latencyAtEvalBatch) : null;
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
    latencyAtEvalBatch,
    slower,
    opset: model.opset,
  };
}

type Latency = NonNullable<MetricSnapshot['latencyMs']>;

/**
 * The batch sizes at which the result is slower than the original, and why: for a quantized result the reasons
 * quantization's speed check gives (ORT's optimized graph, the CPU's int8 support, a tiny model); for a float one, a
 * tiny model's per-call overhead. Null when it is nowhere slower.
 */
export async function slowerReasons(
  model: Model,
  one: Latency,
  atEval: (Latency & { batch: number }) | null,
): Promise<MetricSnapshot['slower']> {
  const batches = [{ ...one, batch: 1 }, ...(atEval ? [atEval] : [])].map((l) => ({
    batch: l.batch,
    floatMs: l.baselineP50 ?? l.p50,
    quantizedMs: l.p50,
    speedup: l.speedup ?? 1,
  }));
  const slowerAt = batches.filter((b) => b.speedup < 1).map((b) => b.batch);
  if (slowerAt.length === 0) return null;
  const quantized = [...model.graph.allNodes()].some((n) => n.opType === 'QuantizeLinear');
  if (quantized) {
    const counts: Record<string, number> = {};
    for (const n of (await optimizedGraph(model)).graph.allNodes()) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
    const integerOps = Object.entries(counts).reduce((s, [k, v]) => s + (INTEGER_OPS.has(k) ? v : 0), 0);
    const fusion: FusionReport = { counts, integerOps, floatLinear: 0, unfused: [], optimization: 'all' };
    return { batches: slowerAt, reasons: slowdownReasons(batches, fusion, cpuInfo()) };
  }
  const tiny = batches[0]!.floatMs < TINY_MODEL_MS;
  return {
    batches: slowerAt,
    reasons: [
      tiny
        ? `the model is tiny (${batches[0]!.floatMs.toFixed(3)} ms at batch 1): the fixed cost of a call outweighs the work removed`
        : 'the result does less arithmetic, but its remaining ops run less efficiently on this machine',
    ],
  };
}

type BenchOpts = Parameters<typeof benchmark>[1] & {};

/**
 * The model's latency: alone (before a run), or after a run side by side with the original (so the speedup does not
 * compare two moments of a shared machine; the 'before' figure stays as measured then).
 */
async function timeModel(
  model: Model,
  plan: Plan,
  opts: BenchOpts,
  sideBySide: boolean,
): Promise<{
  latencyMs: NonNullable<MetricSnapshot['latencyMs']>;
  used: { ep: string; fallback?: { reason: string } };
}> {
  if (sideBySide) {
    const c = await compareLatency(plan.model, model, { ...opts, maxMs: (opts.maxMs ?? 4000) * 2 });
    return {
      latencyMs: { p50: c.b.p50, p90: c.b.p90, runs: c.rounds, baselineP50: c.a.p50, speedup: 1 / c.roundRatio },
      used: c,
    };
  }
  const lat = await benchmark(model, opts);
  return { latencyMs: { p50: lat.p50, p90: lat.p90, runs: lat.runs }, used: lat };
}

/**
 * Input shapes at the plan's evaluation batch size: the batch-1 shapes with their leading dim set to it, or null when
 * the plan has no evaluator, the batch is 1, or an input's leading dim is fixed to another size.
 */
export function evalBatchShapes(
  model: Model,
  plan: Plan,
  shapes: Record<string, number[]> | undefined,
): { batchSize: number; shapes?: Record<string, number[]>; dimSizes: Record<string, number> } | null {
  const batch = plan.evaluator?.batchSize;
  if (!batch || batch === 1) return null;
  const dimSizes: Record<string, number> = { batch };
  for (const v of model.graph.inputs) {
    if (v.isInitializer) continue;
    const lead = v.shape?.[0];
    if (typeof lead === 'number' && lead !== batch) return null;
    if (typeof lead === 'string') dimSizes[lead] = batch;
  }
  const scaled = shapes
    ? Object.fromEntries(Object.entries(shapes).map(([k, s]) => [k, [batch, ...s.slice(1)]]))
    : undefined;
  return { batchSize: batch, ...(scaled ? { shapes: scaled } : {}), dimSizes };
}
