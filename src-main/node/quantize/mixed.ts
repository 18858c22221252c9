/**
 * @file Latency-aware mixed precision: where int8 is slower than fp32 on this machine and provider, keep that layer
 * (or the whole model) in fp32 — decided from timings measured side by side, as the accuracy fallback decides from
 * accuracy. Greedy over the quantized linear layers: export the model with one more layer left in float, time it
 * against the current best in alternating rounds, keep the change when it is faster by more than `minGain`; at the
 * end, if the result is still slower than the float input, the float input is returned. Every decision is reported
 * with the ratio measured. May import core, node:* and the runtime.
 */
import type { Model } from '../../core/ir/index.ts';
import { buildQuantized, type ParamTable, type QuantTarget } from '../../core/compress/quantization/index.ts';
import { compareLatency, inputSpecs, resolveInputShapes } from '../runtime/index.ts';

/** Speedup of `b` over `a` (above 1: b is faster), measured side by side. */
export type SpeedProbe = (a: Model, b: Model) => Promise<number>;

export interface MixedPrecisionOptions {
  /** Batch size timed (default 1). */
  batch?: number;
  threads?: number;
  /** Rounds per comparison (default 15). */
  runs?: number;
  /** A change is kept only when it is faster by more than this (default 0.03 = 3 %). */
  minGain?: number;
  /** Per-sample input shape when the model's input dims are symbolic. */
  sampleShape?: readonly number[];
  /** The timing (default: `compareLatency` medians of per-round ratios); tests inject one. */
  probe?: SpeedProbe;
}

export interface MixedPrecisionResult {
  /** The model to deploy: QDQ with some layers in float, or the float input itself. */
  model: Model;
  /** Targets kept quantized. */
  targets: QuantTarget[];
  /** Layers kept in fp32, each with the speedup measured when it was moved back. */
  floatLayers: { node: string; gain: number }[];
  /** The whole model stayed fp32 (the quantized one was slower even after the per-layer fallback). */
  wholeModelFloat: boolean;
  /** Speedup of the returned model over the float input, measured last. */
  speedup: number;
}

function defaultProbe(float: Model, o: MixedPrecisionOptions): SpeedProbe {
  const first = inputSpecs(float)[0];
  const rest = first?.shape?.slice(1) ?? [];
  const dims = rest.every((d) => typeof d === 'number' && d > 0) ? (rest as number[]) : [...(o.sampleShape ?? [])];
  const shapes = resolveInputShapes(float, first ? { [first.name]: [o.batch ?? 1, ...dims] } : {});
  return async (a, b) =>
    1 / (await compareLatency(a, b, { threads: o.threads ?? 1, runs: o.runs ?? 15, warmup: 3, shapes })).roundRatio;
}

/**
 * Keep in fp32 the layers whose int8 form is slower here, then the whole model if it still is.
 *
 * @example const r = await latencyAwarePrecision(fused, q.activeTargets(), q.parameters, fp32, { batch: 1 });
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
  const build = (ts: readonly QuantTarget[]) => buildQuantized(fused, ts, params, { mode: 'export' }).model;
  let kept = [...targets];
  let best = build(kept);
  const floatLayers: MixedPrecisionResult['floatLayers'] = [];
  const layers = [...new Set(targets.filter((t) => t.role === 'weight').map((t) => t.node))];
  for (const node of layers) {
    const without = kept.filter((t) => t.node !== node);
    if (without.length === kept.length) continue;
    const candidate = build(without);
    const gain = await probe(best, candidate);
    if (gain > 1 + minGain) {
      kept = without;
      best = candidate;
      floatLayers.push({ node, gain });
    }
  }
  const speedup = await probe(float, best);
  if (speedup < 1) return { model: float, targets: [], floatLayers, wholeModelFloat: true, speedup: 1 };
  return { model: best, targets: kept, floatLayers, wholeModelFloat: false, speedup };
}
