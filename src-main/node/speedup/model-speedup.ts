/**
 * @file `ModelSpeedup`: the library entry of pruning speedup (NNI's `ModelSpeedup(...).speedup_model()`, but the
 * input model is never mutated and the result is verified). Traces the model for shapes (and which dims are
 * dynamic), runs the pure core (src-main/core/compress/speedup), checks the compact model against the masked one
 * on seeded inputs, and measures size, MACs and ORT latency before and after. May import core and the runtime.
 */
import { cloneModel, type Model, type Tensor } from '../../core/ir/index.ts';
import { modelStats, type ShapeMap } from '../../core/analysis/stats.ts';
import type { Masks } from '../../core/compress/masks.ts';
import { normStatisticsOf, simulate, type ApplyMethods, type NormMask } from '../../core/compress/simulate/index.ts';
import {
  compactModel,
  planNormMasks,
  SpeedupVerificationError,
  type CompactResult,
  type KeptChannels,
} from '../../core/compress/speedup/index.ts';
import {
  compareLatency,
  inputSpecs,
  ModelRunner,
  resolveInputShapes,
  sampleInputs,
  trace,
  type SessionOptions,
} from '../runtime/index.ts';
import type { ModelNumbers, SpeedupReport, SpeedupVerification } from '../../../src-shared/speedup-report.ts';

export interface SpeedupBenchOptions {
  /** Timed rounds (each runs before and after back to back; default 30). */
  runs?: number;
  warmup?: number;
  /** Stop after this many ms of timing (default 20 000). */
  maxMs?: number;
}

export interface ModelSpeedupOptions {
  /** Inputs to trace and verify on: a tensor for the first input, or feeds by name (default: seeded samples). */
  dummyInput?: Tensor | Record<string, Tensor>;
  /** Shapes of inputs with dynamic dims for the seeded samples (a dynamic leading dim alone defaults to 1). */
  shapes?: Record<string, number[]>;
  /** Keep pruned widths at multiples of this (e.g. 8). */
  roundTo?: number;
  /** How the masks were applied in simulation (a pruner's `applyMethods`); default 'mul'. */
  applyMethods?: ApplyMethods;
  /** Seeded samples verified on top of the dummy input (default 2). */
  verifySamples?: number;
  /** Largest accepted max relative error between compact and masked outputs (default 1e-4). */
  tolerance?: number;
  /** Measure ORT latency side by side (default true); false skips it. */
  benchmark?: boolean | SpeedupBenchOptions;
  /** Session options for verification and benchmark (intra-op threads default 1, the same for both models). */
  session?: SessionOptions;
}

export interface SpeedupResult {
  model: Model;
  report: SpeedupReport;
  /** The surviving channels by value name and axis (where some went), to slice per-channel data across. */
  kept: KeptChannels;
  /** Norms computing their statistics over kept channels in the masked model the compact one was verified against. */
  normMasks: NormMask[];
}

/**
 * Real channel removal for pruning masks, verified.
 * @example
 * const { masks } = await new L1NormPruner(model, configList).compress();
 * const { model: compact, report } = await new ModelSpeedup(model, masks, { roundTo: 8 }).speedupModel();
 * console.log(report.macRatio, report.latencyRatio, report.verification.maxRelErr);
 * @throws SpeedupVerificationError when the compact model does not compute what the masked model computes
 */
export class ModelSpeedup {
  constructor(
    readonly model: Model,
    readonly masks: Masks,
    readonly options: ModelSpeedupOptions = {},
  ) {}

  async speedupModel(): Promise<SpeedupResult> {
    const o = this.options;
    const feeds = this.feeds();
    const t0 = performance.now();
    const { shapes, isDynamic } = await traceShapes(this.model, feeds, o.session);
    const traceMs = performance.now() - t0;
    const t1 = performance.now();
    const result = compactModel(this.model, this.masks, { shapes, isDynamic, roundTo: o.roundTo });
    const speedupMs = performance.now() - t1;
    const t2 = performance.now();
    const verification = await this.verify(result, feeds);
    const verifyMs = performance.now() - t2;
    const compactShapes = (await trace(result.model, { inputs: feeds, ...o.session })).values;
    const before = numbers(this.model, shapes);
    const after = numbers(result.model, new Map([...compactShapes].map(([k, v]) => [k, v.shape])));
    const report: SpeedupReport = {
      before,
      after,
      macRatio: before.macs ? after.macs / before.macs : 1,
      layers: result.layers,
      groups: result.groups,
      sparsity: result.sparsity,
      verification,
      ...(o.roundTo ? { roundTo: o.roundTo } : {}),
      warnings: result.warnings,
      timings: { speedupMs, traceMs, verifyMs },
    };
    if (o.benchmark !== false) await this.bench(result.model, feeds, report);
    return { model: result.model, report, kept: result.kept, normMasks: result.normMasks };
  }

  private feeds(): Record<string, Tensor> {
    const d = this.options.dummyInput;
    if (!d) return sampleInputs(this.model, { seed: 0, shapes: resolveInputShapes(this.model, this.options.shapes) });
    if (isTensor(d)) return sampleInputs(this.model, { seed: 0, inputs: { [inputSpecs(this.model)[0]!.name]: d } });
    return sampleInputs(this.model, { seed: 0, inputs: d });
  }

  /** Compact vs masked outputs on the dummy input and seeded samples of the same shapes. */
  private async verify(result: CompactResult, feeds: Record<string, Tensor>): Promise<SpeedupVerification> {
    const o = this.options;
    const tolerance = o.tolerance ?? 1e-4;
    const shapes = Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, [...t.dims]]));
    const samples = [
      feeds,
      ...Array.from({ length: o.verifySamples ?? 2 }, (_, i) => sampleInputs(this.model, { seed: i + 1, shapes })),
    ];
    const opts = { threads: 1, ...o.session };
    // one session at a time, and the masked copy of the weights only while its session is made: a large model
    // (regnet_y_128gf's 2.6 GB) would otherwise hold its weights four times over (masked and compact, in JS and ORT)
    const masked = await runAll(
      () => simulate(this.model, this.masks, { applyMethods: o.applyMethods, normMasks: result.normMasks }),
      samples,
      opts,
    );
    const compact = await runAll(() => result.model, samples, opts);
    let worst = { err: 0, output: Object.keys(compact[0] ?? {})[0] ?? '' };
    samples.forEach((_, i) => {
      for (const [name, a] of Object.entries(masked[i]!)) {
        const err = relErr(a, compact[i]![name]);
        if (err > worst.err || Number.isNaN(err)) worst = { err, output: name };
      }
    });
    if (!(worst.err <= tolerance)) throw new SpeedupVerificationError(worst.err, tolerance, worst.output);
    return { maxRelErr: worst.err, tolerance, samples: samples.length, output: worst.output, reference: 'simulate' };
  }

  private async bench(compact: Model, feeds: Record<string, Tensor>, report: SpeedupReport): Promise<void> {
    const b = typeof this.options.benchmark === 'object' ? this.options.benchmark : {};
    const t = performance.now();
    const c = await compareLatency(this.model, compact, {
      threads: 1,
      ...this.options.session,
      inputs: feeds,
      runs: b.runs ?? 30,
      warmup: b.warmup ?? 3,
      maxMs: b.maxMs ?? 20_000,
    });
    report.before.latencyMs = c.a.p50;
    report.after.latencyMs = c.b.p50;
    report.latencyRatio = c.ratio;
    report.latency = {
      threads: c.threads,
      rounds: c.rounds,
      before: { p50: c.a.p50, p90: c.a.p90 },
      after: { p50: c.b.p50, p90: c.b.p90 },
      roundRatio: c.roundRatio,
    };
    report.timings.benchMs = performance.now() - t;
  }
}

/** Outputs of one model (made only for its session, then let go) on each of the samples. */
async function runAll(
  make: () => Model,
  samples: readonly Record<string, Tensor>[],
  opts: SessionOptions,
): Promise<Record<string, Tensor>[]> {
  const runner = await ModelRunner.create(make(), opts);
  try {
    const out: Record<string, Tensor>[] = [];
    for (const s of samples) out.push(await runner.run(s));
    return out;
  } finally {
    await runner.release();
  }
}

export interface SimulateAsCompactOptions {
  /** How the masks apply (a pruner's `applyMethods`); default 'mul'. */
  applyMethods?: ApplyMethods;
  /** Shapes of inputs with dynamic dims, to trace (a dynamic leading dim alone defaults to 1). */
  shapes?: Record<string, number[]>;
  /** The `roundTo` a later speedup will use (it keeps more channels, so the norms keep more too). */
  roundTo?: number;
  session?: SessionOptions;
}

export interface SimulatedAsCompact {
  model: Model;
  /** The norms given statistics over their kept channels (none when the model has no LayerNorm / GroupNorm). */
  normMasks: NormMask[];
  /** Why plain masks were used where the model has norms (its shapes could not be traced, or speedup cannot plan it). */
  note?: string;
}

/**
 * The simulated (masked) model that speedup's compact model computes: the masks as `simulate` applies them, and
 * every LayerNormalization / GroupNormalization whose normalised channels the masks remove computing its mean and
 * variance over the kept channels (as the compact norm does), so compact = simulated holds for a model written now
 * and sped up later. A model without such norms is simulated without a trace.
 * @example const { model: simulated } = await simulateAsCompact(model, masks, { applyMethods });
 */
export async function simulateAsCompact(
  model: Model,
  masks: Masks,
  o: SimulateAsCompactOptions = {},
): Promise<SimulatedAsCompact> {
  const plain = () => simulate(model, masks, { applyMethods: o.applyMethods });
  if (!model.graph.nodes.some((n) => normStatisticsOf(n))) return { model: plain(), normMasks: [] };
  let normMasks: NormMask[];
  try {
    const feeds = sampleInputs(model, { seed: 0, shapes: resolveInputShapes(model, o.shapes) });
    const { shapes, isDynamic } = await traceShapes(model, feeds, o.session);
    normMasks = planNormMasks(model, masks, { shapes, isDynamic, roundTo: o.roundTo });
  } catch (err) {
    const why = `${(err as Error).name}: ${(err as Error).message.split('\n')[0]}`;
    return {
      model: plain(),
      normMasks: [],
      note: `the simulated model masks its norms' inputs plainly (statistics over all channels), because the channels each norm keeps could not be planned: ${why}`,
    };
  }
  return { model: simulate(model, masks, { applyMethods: o.applyMethods, normMasks }), normMasks };
}

const isTensor = (d: unknown): d is Tensor => typeof d === 'object' && d !== null && 'dims' in d && 'dtype' in d;

/** Traced shapes of every value, and which dims follow dynamic input dims (from a second, resized trace). */
async function traceShapes(
  model: Model,
  feeds: Record<string, Tensor>,
  session: SessionOptions | undefined,
): Promise<{ shapes: ShapeMap; isDynamic: (name: string, axis: number) => boolean }> {
  const annotated = cloneModel(model);
  const t = await trace(annotated, { inputs: feeds, annotate: true, ...session });
  const shapes: ShapeMap = new Map([...t.values].map(([k, v]) => [k, v.shape]));
  const isDynamic = (name: string, axis: number) => {
    const d = annotated.graph.lookup(name)?.shape?.[axis];
    return d !== undefined && typeof d !== 'number';
  };
  return { shapes, isDynamic };
}

function numbers(model: Model, shapes: ShapeMap): ModelNumbers {
  const s = modelStats(model, shapes);
  return { params: s.params, macs: s.macs, sizeBytes: s.sizeBytes };
}

/**
 * Smallest scale an output is measured against. A saturated output (a sigmoid map that is ~1e-7 everywhere on a
 * random input, as PaddleOCR's text detector gives) would otherwise turn float32 noise of 1e-7 into a "75 %" error.
 */
export const REL_ERR_FLOOR = 1e-2;

/** ‖b − a‖∞ / max(‖a‖∞, REL_ERR_FLOOR); Infinity when shapes differ or b is missing, NaN when only one side is NaN. */
export function relErr(a: Tensor, b: Tensor | undefined): number {
  if (!b || a.dims.join() !== b.dims.join()) return Infinity;
  const x = a.toFloat32();
  const y = b.toFloat32();
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < x.length; i++) {
    scale = Math.max(scale, Math.abs(x[i]!));
    diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
    if (Number.isNaN(y[i]!) !== Number.isNaN(x[i]!)) return Number.NaN;
  }
  return diff / Math.max(scale, REL_ERR_FLOOR);
}
