/**
 * @file The quantize steps' speed check: the exported model against the step's input, side by side at batch 1 and
 * at the plan's evaluation batch size; a slower result is logged as a warning with ORT's reasons and lands in the
 * step's summary (the report and the run view show both). With latency-aware precision (the default) a slower result
 * goes back to fp32 layer by layer, then as a whole, so the step's output is never slower than its input.
 */
import type { Model } from '../../core/ir/index.ts';
import type { Plan, Step } from '../../../src-shared/experiment.ts';
import type { StepContext } from '../jobs/registry.ts';
import type { ParamTable, QuantTarget } from '../../core/compress/quantization/index.ts';
import { compareQuantizedSpeed, formatSpeed, type FusionReport, type SpeedReport } from '../quantize/index.ts';
import { latencyAwarePrecision } from '../quantize/mixed.ts';

export async function speedCheck(
  ctx: Pick<StepContext<Step>, 'log'>,
  plan: Plan,
  input: Model,
  exported: Model,
  fusion: FusionReport | undefined,
  sampleShape?: readonly number[],
): Promise<SpeedReport> {
  const evalBatch = plan.evaluator?.batchSize ?? 64;
  const s = await compareQuantizedSpeed(input, exported, fusion, { batches: [1, evalBatch], sampleShape });
  for (const line of formatSpeed(s)) ctx.log(`latency vs the input, ${line}`);
  if (s.slowerAt.length)
    ctx.log(
      `the quantized model is SLOWER than its input at batch ${s.slowerAt.join(' and ')}: ${s.reasons.join('; ')}`,
      'warn',
    );
  return s;
}

/** What latency-aware precision did in a quantize step (the step summary's `mixedPrecision`). */
export interface MixedPrecisionSummary {
  /** Layers kept in fp32: the speedup measured when each moved back (geometric mean and per batch size). */
  floatLayers: { node: string; gain: number; gains: { batch: number; gain: number }[] }[];
  /** The whole model stayed fp32 (the trained float model for a trained quantizer, the input for PTQ). */
  wholeModelFloat: boolean;
  /** Batch sizes at which the full quantized model measured slower than the input, and why (ORT's graph, the CPU). */
  slowerAt: number[];
  reasons: string[];
  /** Layers not tried within the timing budget. */
  untried: string[];
}

/** What a quantize step can export with fewer targets (latency-aware precision). */
export interface ReExport {
  /** The float model the export quantizes (BN folded; trained weights for a trained quantizer). */
  fused: Model;
  targets: readonly QuantTarget[];
  params: ParamTable;
  /** fp32 model returned when the quantized one stays slower (default: the step's input). */
  fallback?: Model;
}

/**
 * Never slower than the input: the speed check at batch 1 and the evaluation batch size; where the quantized model
 * is slower and `latencyAware` is on (the default), the layers whose fp32 form measures faster go back to fp32, then
 * the whole model if it is still slower at either size (latencyAwarePrecision), each decision logged with the
 * ratios measured; the returned speed report is that of the model returned.
 */
export async function neverSlower(
  ctx: Pick<StepContext<Step>, 'log' | 'progress'>,
  plan: Plan,
  input: Model,
  exported: Model,
  fusion: FusionReport | undefined,
  o: { latencyAware: boolean; reExport: ReExport; sampleShape?: readonly number[] },
): Promise<{ model: Model; speed: SpeedReport; mixedPrecision?: MixedPrecisionSummary }> {
  const speed = await speedCheck(ctx, plan, input, exported, fusion, o.sampleShape);
  if (!o.latencyAware || speed.slowerAt.length === 0) return { model: exported, speed };
  const batches = speed.batches.map((b) => b.batch);
  ctx.progress({ fraction: 0.95, message: 'latency-aware precision: timing quantized layers against fp32' });
  ctx.log(
    `latency-aware precision: timing each quantized layer against fp32 at batch ${batches.join(' and ')}, side by side`,
  );
  const { fused, targets, params, fallback } = o.reExport;
  const m = await latencyAwarePrecision(fused, targets, params, input, {
    batches,
    sampleShape: o.sampleShape,
    ...(fallback ? { fallback } : {}),
  });
  for (const l of m.floatLayers)
    ctx.log(
      `latency-aware precision: "${l.node}" stays fp32 (${l.gain.toFixed(2)}× faster that way, measured side by side: ${l.gains
        .map((g) => `batch ${g.batch} ${g.gain.toFixed(2)}×`)
        .join(', ')})`,
    );
  if (m.untried.length)
    ctx.log(`latency-aware precision: timing budget spent; not tried: ${m.untried.join(', ')}`, 'warn');
  if (m.wholeModelFloat)
    ctx.log(
      `latency-aware precision: the quantized model still measured slower than its input at batch ${m.slowerAt.join(' and ')} with ${m.floatLayers.length} layer(s) moved back, so the model stays fp32${fallback ? ' (the trained float model)' : ''}: ${speed.reasons.join('; ')}`,
      'warn',
    );
  const mixedPrecision: MixedPrecisionSummary = {
    floatLayers: m.floatLayers,
    wholeModelFloat: m.wholeModelFloat,
    slowerAt: speed.slowerAt,
    reasons: speed.reasons,
    untried: m.untried,
  };
  // the input itself: the same model, nothing to time
  if (m.model === input)
    return {
      model: input,
      speed: {
        ...speed,
        batches: speed.batches.map((b) => ({ ...b, quantizedMs: b.floatMs, speedup: 1 })),
        slowerAt: [],
        reasons: [],
      },
      mixedPrecision,
    };
  return {
    model: m.model,
    speed: await speedCheck(ctx, plan, input, m.model, undefined, o.sampleShape),
    mixedPrecision,
  };
}
