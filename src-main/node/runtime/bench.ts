/**
 * @file Latency benchmark: warm-up, timed runs, percentiles, with the thread count pinned and the CPU
 * recorded; and side-by-side comparison of two models run round by round (machines are noisy, so A and B
 * are always measured together). May import core, node:* and onnxruntime-node.
 */
import type * as ort from 'onnxruntime-node';
import type { Model, Tensor } from '../../core/ir/index.ts';
import { cpuInfo, type CpuInfo } from './cpu.ts';
import { sampleInputs, type SampleInputOptions } from './inputs.ts';
import type { Fallback, OptimizationLevel, ProviderName, SessionOptions } from './providers.ts';
import { ModelRunner } from './run.ts';

export interface LatencyStats {
  /** Milliseconds. Percentiles interpolate linearly between order statistics. */
  p50: number;
  p90: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
  /** Sample standard deviation (0 for one run). */
  std: number;
  runs: number;
  /** Every timed run, in order. */
  samples: number[];
}

export interface BenchOptions extends Omit<SessionOptions, 'interOpThreads'>, SampleInputOptions {
  /** Untimed runs first (default 5). */
  warmup?: number;
  /** Timed runs (default 50). */
  runs?: number;
  /** Stop timing early once this many ms are spent (at least 3 timed runs are kept). */
  maxMs?: number;
}

export interface BenchSetup {
  ep: ProviderName;
  fallback?: Fallback;
  /** intraOpNumThreads (interOpNumThreads is pinned to 1). */
  threads: number;
  optimization: OptimizationLevel;
  spinning: boolean;
  warmup: number;
  cpu: CpuInfo;
}

export interface BenchResult extends LatencyStats, BenchSetup {
  /** Session creation, ms (not part of the latency). */
  createMs: number;
}

/** Value at quantile p ∈ [0, 1] of ascending `sorted`: linear between the two nearest ranks. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const x = p * (sorted.length - 1);
  const i = Math.floor(x);
  const j = Math.min(i + 1, sorted.length - 1);
  return sorted[i]! + (sorted[j]! - sorted[i]!) * (x - i);
}

/** Summary of timed samples (ms). */
export function latencyStats(samples: readonly number[]): LatencyStats {
  const sorted = [...samples].sort((a, b) => a - b);
  const n = sorted.length;
  const mean = n ? sorted.reduce((s, v) => s + v, 0) / n : NaN;
  const variance = n > 1 ? sorted.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1) : 0;
  return {
    p50: percentile(sorted, 0.5),
    p90: percentile(sorted, 0.9),
    p99: percentile(sorted, 0.99),
    mean,
    min: sorted[0] ?? NaN,
    max: sorted[n - 1] ?? NaN,
    std: Math.sqrt(variance),
    runs: n,
    samples: [...samples],
  };
}

interface Prepared {
  runner: ModelRunner;
  feeds: Record<string, ort.Tensor>;
}

async function prepare(model: Model | Uint8Array | string, opts: BenchOptions): Promise<Prepared> {
  const runner = await ModelRunner.create(model, { ...opts, threads: opts.threads ?? 1, interOpThreads: 1 });
  try {
    const feeds = runner.prepare(sampleInputs(runner.inputs, opts));
    return { runner, feeds };
  } catch (e) {
    await runner.release();
    throw e;
  }
}

async function timeOnce(p: Prepared): Promise<number> {
  const t0 = performance.now();
  await p.runner.runPrepared(p.feeds);
  return performance.now() - t0;
}

function setup(p: Prepared, opts: BenchOptions, warmup: number): BenchSetup {
  return {
    ep: p.runner.ep,
    ...(p.runner.fallback ? { fallback: p.runner.fallback } : {}),
    threads: opts.threads ?? 1,
    optimization: opts.optimization ?? 'all',
    spinning: opts.spinning ?? false,
    warmup,
    cpu: cpuInfo(),
  };
}

/**
 * Latency of one model on sample inputs (given ones or generated), with intra-op threads pinned
 * (default 1) and inter-op threads 1.
 * @example
 * const r = await benchmark(model, { runs: 100, threads: 2 });
 * console.log(r.p50, r.p90, r.cpu.flags.avx512_vnni);
 */
export async function benchmark(model: Model | Uint8Array | string, opts: BenchOptions = {}): Promise<BenchResult> {
  const warmup = opts.warmup ?? 5;
  const runs = Math.max(1, opts.runs ?? 50);
  const p = await prepare(model, opts);
  try {
    for (let i = 0; i < warmup; i++) await timeOnce(p);
    const samples: number[] = [];
    let spent = 0;
    while (samples.length < runs) {
      const ms = await timeOnce(p);
      samples.push(ms);
      spent += ms;
      if (opts.maxMs !== undefined && spent >= opts.maxMs && samples.length >= 3) break;
    }
    return { ...latencyStats(samples), ...setup(p, opts, warmup), createMs: p.runner.createMs };
  } finally {
    await p.runner.release();
  }
}

export interface CompareOptions extends BenchOptions {
  /** Feeds for B when its inputs differ from A's (default: generated for B with the same options). */
  inputsB?: Record<string, Tensor>;
}

export interface CompareResult extends BenchSetup {
  a: LatencyStats;
  b: LatencyStats;
  /** b.p50 / a.p50: below 1 means B is faster. */
  ratio: number;
  /** Median over rounds of (B's time / A's time) in the same round: robust to load that drifts. */
  roundRatio: number;
  rounds: number;
  /** B's provider fallback, when it differs from A's. */
  fallbackB?: Fallback;
}

/**
 * Compare two models side by side: each round times A and B back to back (the order alternating,
 * AB, BA, AB, …, so neither always runs second on warm caches), on the same sample inputs when their
 * inputs agree.
 * @example
 * const c = await compareLatency(dense, pruned, { runs: 40 });
 * console.log(`pruned runs at ${c.ratio.toFixed(2)}× the dense latency`);
 */
export async function compareLatency(
  a: Model | Uint8Array | string,
  b: Model | Uint8Array | string,
  opts: CompareOptions = {},
): Promise<CompareResult> {
  const warmup = opts.warmup ?? 5;
  const rounds = Math.max(1, opts.runs ?? 50);
  const pa = await prepare(a, opts);
  let pb: Prepared;
  try {
    pb = await prepare(b, opts.inputsB ? { ...opts, inputs: opts.inputsB } : opts);
  } catch (e) {
    await pa.runner.release();
    throw e;
  }
  try {
    for (let i = 0; i < warmup; i++) {
      await timeOnce(pa);
      await timeOnce(pb);
    }
    const ta: number[] = [];
    const tb: number[] = [];
    let spent = 0;
    for (let r = 0; r < rounds; r++) {
      const first = r % 2 === 0 ? pa : pb;
      const second = first === pa ? pb : pa;
      const t1 = await timeOnce(first);
      const t2 = await timeOnce(second);
      ta.push(first === pa ? t1 : t2);
      tb.push(first === pa ? t2 : t1);
      spent += t1 + t2;
      if (opts.maxMs !== undefined && spent >= opts.maxMs && ta.length >= 3) break;
    }
    const sa = latencyStats(ta);
    const sb = latencyStats(tb);
    const perRound = [...ta.map((x, i) => tb[i]! / x)].sort((x, y) => x - y);
    const result: CompareResult = {
      a: sa,
      b: sb,
      ratio: sb.p50 / sa.p50,
      roundRatio: percentile(perRound, 0.5),
      rounds: ta.length,
      ...setup(pa, opts, warmup),
    };
    if (pb.runner.fallback && pb.runner.fallback.reason !== pa.runner.fallback?.reason)
      result.fallbackB = pb.runner.fallback;
    return result;
  } finally {
    await pa.runner.release();
    await pb.runner.release();
  }
}
