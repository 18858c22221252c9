/**
 * @file Latency-aware mixed precision: where int8 is slower than fp32 on this machine and provider, keep that layer
 * (or the whole model) in fp32 — decided from timings measured side by side, as the accuracy fallback decides from
 * accuracy. Greedy over the quantized linear layers: export the model with one more layer left in float, time it
 * against the current best in alternating rounds at each batch size asked (batch 1 and the evaluation batch in the
 * quantize steps), keep the change when it is faster by more than `minGain` overall and clearly slower at none; at
 * the end, if the result is still slower than the float input at any batch size, the fp32 fallback is returned.
 * Every decision is reported with the ratios measured. May import core, node:* and the runtime.
 */
import type { Model } from '../../core/ir/index.ts';
import { buildQuantized, type ParamTable, type QuantTarget } from '../../core/compress/quantization/index.ts';
import { compareLatency, inputSpecs, resolveInputShapes } from '../runtime/index.ts';

/** Speedup of `b` over `a` at batch size `batch` (above 1: b is faster), measured side by side. */
export type SpeedProbe = (a: Model, b: Model, batch: number) => Promise<number>;

export interface MixedPrecisionOptions {
  /** Batch size timed (default 1); `batches` takes precedence. */
  batch?: number;
  /**
   * Batch sizes timed (e.g. 1 and the evaluation batch): a layer goes back to fp32 when that is faster overall
   * (geometric mean of the per-batch gains above 1 + `minGain`) and clearly slower at none; the whole model stays fp32
   * when the result is slower than the input at any of them.
   */
  batches?: readonly number[];
  threads?: number;
  /** Rounds per comparison (default 15). */
  runs?: number;
  /** A change is kept only when it is faster by more than this (default 0.03 = 3 %). */
  minGain?: number;
  /** Per-sample input shape when the model's input dims are symbolic. */
  sampleShape?: readonly number[];
  /** The timing (default: `compareLatency` medians of per-round ratios); tests inject one. */
  probe?: SpeedProbe;
  /**
   * The fp32 model returned when the quantized one stays slower (default `float`, the input timed against). A trained
   * quantizer passes its trained float model, so the training is kept.
   */
  fallback?: Model;
  /** Stop trying layers after this many ms of timing (default 120 000); what was decided so far stands. */
  budgetMs?: number; /**
   * Time the quantized model against the input first and return it untouched when it is slower at no batch size
   * (the per-layer search only runs where it must: what makes the result never slower, at the cost of one comparison).
   */
  whenSlower?: boolean;
}

export interface MixedPrecisionResult {
  /** The model to deploy: QDQ with some layers in float, or the fp32 fallback. */
  model: Model;
  /** Targets kept quantized. */
  targets: QuantTarget[];
  /**
   * Layers kept in fp32, each with the speedup measured when it was moved back (`gain`: the geometric mean over the
   * batch sizes, `gains`: per batch size).
   */
  floatLayers: { node: string; gain: number; gains: { batch: number; gain: number }[] }[];
  /** The whole model stayed fp32 (the quantized one was slower even after the per-layer fallback). */
  wholeModelFloat: boolean;
  /** Batch sizes at which the quantized model (after the per-layer fallback) measured slower than the input. */
  slowerAt: number[];
  /** Speedup of the returned model over the float input, the smallest over the batch sizes, measured last (1 when fp32). */
  speedup: number;
  /** Per batch size, the last measurement of the quantized candidate against the input. */
  speedups: { batch: number; speedup: number }[];
  /** Layers not tried because the timing budget ran out. */
  untried: string[];
}

function defaultProbe(float: Model, o: MixedPrecisionOptions): SpeedProbe {
  const first = inputSpecs(float)[0];
  const rest = first?.shape?.slice(1) ?? [];
  const dims = rest.every((d) => typeof d === 'number' && d > 0) ? (rest as number[]) : [...(o.sampleShape ?? [])];
  return async (a, b, batch) => {
    const shapes = resolveInputShapes(float, first ? { [first.name]: [batch, ...dims] } : {});
    return (
      1 / (await compareLatency(a, b, { threads: o.threads ?? 1, runs: o.runs ?? 15, warmup: 3, shapes })).roundRatio
    );
  };
}

const geomean = (xs: readonly number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / Math.max(xs.length, 1));

/**
 * Keep in fp32 the layers whose int8 form is slower here, then the whole model if it still is, at every batch size
 * timed.
 *
 * @example const r = await latencyAwarePrecision(fused, q.activeTargets(), q.parameters, fp32, { batches: [1, 64] });
 */
export async function latencyAwarePrecision(
  fused: Model,
  targets: readonly QuantTarget[],
  params: ParamTable,
  float: Model,
  o: MixedPrecisionOptions = {},
): Promise<MixedPrecisionResult> {
  const probe = o.probe ?? defaultProbe(float, o);
  const minGain = o.minGain ?? 0.03;
  const batches = [...new Set(o.batches ?? [o.batch ?? 1])];
  const deadline = Date.now() + (o.budgetMs ?? 120_000);
  const build = (ts: readonly QuantTarget[]) => buildQuantized(fused, ts, params, { mode: 'export' }).model;
  const measure = async (a: Model, b: Model) => {
    const gains: { batch: number; gain: number }[] = [];
    for (const batch of batches) gains.push({ batch, gain: await probe(a, b, batch) });
    return gains;
  };
  let kept = [...targets];
  let best = build(kept);
  if (o.whenSlower) {
    const first = (await measure(float, best)).map((g) => ({ batch: g.batch, speedup: g.gain }));
    if (first.every((x) => x.speedup >= 1))
      return {
        model: best,
        targets: kept,
        floatLayers: [],
        wholeModelFloat: false,
        slowerAt: [],
        speedup: Math.min(...first.map((x) => x.speedup)),
        speedups: first,
        untried: [],
      };
  }
  const floatLayers: MixedPrecisionResult['floatLayers'] = [];
  const untried: string[] = [];
  const layers = [...new Set(targets.filter((t) => t.role === 'weight').map((t) => t.node))];
  for (const node of layers) {
    const without = kept.filter((t) => t.node !== node);
    if (without.length === kept.length) continue;
    if (Date.now() > deadline) {
      untried.push(node);
      continue;
    }
    const candidate = build(without);
    const gains = await measure(best, candidate);
    const gain = geomean(gains.map((g) => g.gain));
    if (gain > 1 + minGain && gains.every((g) => g.gain >= 1 - minGain)) {
      kept = without;
      best = candidate;
      floatLayers.push({ node, gain, gains });
    }
  }
  const speedups = (await measure(float, best)).map((g) => ({ batch: g.batch, speedup: g.gain }));
  const slowerAt = speedups.filter((s) => s.speedup < 1).map((s) => s.batch);
  const base = { floatLayers, speedups, slowerAt, untried };
  if (slowerAt.length) return { ...base, model: o.fallback ?? float, targets: [], wholeModelFloat: true, speedup: 1 };
  return {
    ...base,
    model: best,
    targets: kept,
    wholeModelFloat: false,
    speedup: Math.min(...speedups.map((s) => s.speedup)),
  };
}
