/**
 * @file Never slower without saying so: the quantized model timed against its float input side by side
 * (`compareLatency`, alternating rounds) at batch 1 and at the evaluation batch size, and, where it is slower, the
 * reasons ORT's optimized graph gives — quantized nodes it left on float (with why), float linear ops left, Q/DQ
 * pairs it kept, a model so small that converting at its edges costs what the integer kernels save, and a CPU
 * without VNNI (int8 dot products through AVX2's 16-bit pairs). May import core, node:* and the runtime.
 */
import type { Model } from '../../core/ir/index.ts';
import { compareLatency, cpuInfo, inputSpecs, resolveInputShapes, type CpuInfo } from '../runtime/index.ts';
import type { FusionReport } from './verify.ts';

export interface BatchLatency {
  batch: number;
  /** p50 of the side-by-side rounds, ms. */
  floatMs: number;
  quantizedMs: number;
  /** floatMs / quantizedMs per round, median (above 1: the quantized model is faster). */
  speedup: number;
}

export interface SpeedReport {
  threads: number;
  rounds: number;
  batches: BatchLatency[];
  /** Batch sizes at which the quantized model is slower (speedup < 1). */
  slowerAt: number[];
  /** Why, from ORT's optimized graph and the CPU (empty when it is never slower). */
  reasons: string[];
}

/** Below this float latency at batch 1 the model is "tiny": Q/DQ at its edges weigh as much as its compute. */
export const TINY_MODEL_MS = 0.5;

/** Shapes of the first input at batch `b` (its other dims from the declaration, or `sampleShape`). */
function shapesAt(model: Model, b: number, sampleShape?: readonly number[]): Record<string, number[]> {
  const first = inputSpecs(model)[0];
  const rest = first?.shape?.slice(1) ?? [];
  const dims = rest.every((d) => typeof d === 'number' && d > 0) ? (rest as number[]) : [...(sampleShape ?? [])];
  return resolveInputShapes(model, first ? { [first.name]: [b, ...dims] } : {});
}

/**
 * Time `quantized` against `float` at each batch size and explain a slowdown.
 *
 * @example const s = await compareQuantizedSpeed(fp32, exported.model, exported.fusion, { batches: [1, 64] });
 */
export async function compareQuantizedSpeed(
  float: Model,
  quantized: Model,
  fusion: FusionReport | undefined,
  opts: { batches?: number[]; threads?: number; runs?: number; sampleShape?: readonly number[]; cpu?: CpuInfo } = {},
): Promise<SpeedReport> {
  const threads = opts.threads ?? 1;
  const runs = opts.runs ?? 20;
  const batches: BatchLatency[] = [];
  for (const b of [...new Set(opts.batches ?? [1, 64])]) {
    const c = await compareLatency(float, quantized, {
      threads,
      runs,
      warmup: 3,
      shapes: shapesAt(float, b, opts.sampleShape),
    });
    batches.push({ batch: b, floatMs: c.a.p50, quantizedMs: c.b.p50, speedup: 1 / c.roundRatio });
  }
  const slowerAt = batches.filter((x) => x.speedup < 1).map((x) => x.batch);
  return {
    threads,
    rounds: runs,
    batches,
    slowerAt,
    reasons: slowerAt.length ? slowdownReasons(batches, fusion, opts.cpu ?? cpuInfo()) : [],
  };
}

/** What ORT's optimized graph and the CPU say about a slower quantized model. */
export function slowdownReasons(
  batches: readonly BatchLatency[],
  fusion: FusionReport | undefined,
  cpu: CpuInfo,
): string[] {
  const out: string[] = [];
  if (fusion) {
    for (const u of fusion.unfused) out.push(`"${u.node}" (${u.opType}) runs in float: ${u.reason}`);
    if (fusion.floatLinear > 0 && fusion.unfused.length === 0)
      out.push(`${fusion.floatLinear} linear op(s) still run in float in ORT's optimized graph`);
    const qdq = (fusion.counts.QuantizeLinear ?? 0) + (fusion.counts.DequantizeLinear ?? 0);
    if (qdq > 2)
      out.push(
        `${qdq} QuantizeLinear / DequantizeLinear nodes stay in ORT's optimized graph (conversions between integer kernels)`,
      );
  }
  const one = batches.find((b) => b.batch === 1) ?? batches[0];
  if (one && one.floatMs < TINY_MODEL_MS)
    out.push(
      `the model is tiny (${one.floatMs.toFixed(3)} ms in float at batch ${one.batch}): quantizing its input and dequantizing its output cost as much as the integer kernels save`,
    );
  const vnni = cpu.flags.avx512_vnni === true || cpu.flags.avx_vnni === true;
  if (!vnni && (cpu.arch === 'x64' || cpu.arch === 'ia32'))
    out.push(
      `this CPU (${cpu.model}) has no VNNI: ORT's int8 kernels multiply through AVX2's 16-bit pairs (vpmaddubsw), at most ~2× fp32's throughput before the conversions`,
    );
  if (out.length === 0)
    out.push(
      'every quantized node runs an integer kernel; the conversions and re-layouts ORT adds cost more than they save on this machine',
    );
  return out;
}

/** One line per batch: "batch 1: 0.120 ms → 0.150 ms (0.80×, slower)". */
export function formatSpeed(r: SpeedReport): string[] {
  return r.batches.map(
    (b) =>
      `batch ${b.batch}: ${b.floatMs.toFixed(3)} ms → ${b.quantizedMs.toFixed(3)} ms (${b.speedup.toFixed(2)}×${b.speedup < 1 ? ', slower' : ''})`,
  );
}
