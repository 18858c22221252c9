/**
 * @file Accuracy-controlled fallback (beyond NNI): rank the quantized nodes by how much of the model's output
 * error each one causes, then return the worst to float, a few more each round, until the metric is within the
 * allowed drop of the float model; the best model seen is always the one returned. Ranking needs one ORT session:
 * every node's fake quantization is gated by a scalar input (build.ts), so switching a node back to float is a
 * feed, not a rebuild. May import core and the runtime.
 */
import { Tensor, type Model } from '../../core/ir/index.ts';
import { buildQuantized, type ParamTable, type QuantTarget } from '../../core/compress/quantization/index.ts';
import type { Diagnostic } from '../../../src-shared/config/index.ts';
import { ModelRunner } from '../runtime/index.ts';

/**
 * What the fallback needs of a calibrated quantizer (PTQQuantizer is one): its fused float model, parameters,
 * targets, evaluator and QDQ export. A narrow interface, so ptq.ts imports this module and not the other way.
 */
export interface CalibratedQuantizer {
  readonly fused: Model;
  readonly parameters: ParamTable;
  readonly evaluator: {
    evaluate(model: Model): Promise<number>;
    calibrationBatches(): AsyncIterable<Record<string, Tensor>>;
  };
  readonly options: { readonly threads?: number };
  activeTargets(): QuantTarget[];
  exportQDQ(opts: { targets?: readonly QuantTarget[]; verify?: boolean }): Promise<{ model: Model }>;
}

export interface FallbackOptions {
  /** Largest metric drop allowed, in the metric's units (e.g. 0.005 for half a point of top-1 accuracy). */
  maxDrop: number;
  /** The float model's metric (evaluated when absent). */
  baseline?: number;
  /** Default true (accuracy); false for losses and error rates. */
  higherIsBetter?: boolean;
  /** Most evaluations of candidate models (default 10). */
  maxEvaluations?: number;
  /** Calibration batches used to rank nodes (default 2). */
  rankBatches?: number;
  /** Evaluate (and return) the exported QDQ model (default) or the simulated one. */
  evaluate?: 'export' | 'simulate';
}

export interface FallbackResult {
  /** The best model found. */
  model: Model;
  metric: number;
  baseline: number;
  /** baseline − metric (oriented so that positive is worse). */
  drop: number;
  met: boolean;
  /** Nodes returned to float in the best model, worst first. */
  floatNodes: string[];
  /** Quantized nodes by their share of the output error (relative error removed when the node is float). */
  ranking: { node: string; effect: number }[];
  /** Every evaluated candidate. */
  history: { floatNodes: number; metric: number }[];
  /** Targets of the best model. */
  targets: QuantTarget[];
  diagnostics: Diagnostic[];
}

/** Node-by-node ranking, then greedy return to float; see the file comment. */
export async function accuracyFallback(q: CalibratedQuantizer, opts: FallbackOptions): Promise<FallbackResult> {
  const sign = opts.higherIsBetter === false ? -1 : 1;
  const baseline = opts.baseline ?? (await q.evaluator.evaluate(q.fused));
  const targets = q.activeTargets();
  const ranking = await rankNodes(q, targets, opts.rankBatches ?? 2);
  const build = async (float: Set<string>) => {
    const kept = targets.filter((t) => !float.has(t.node));
    if (opts.evaluate === 'simulate')
      return { model: buildQuantized(q.fused, kept, q.parameters, { mode: 'simulate' }).model, kept };
    return { model: (await q.exportQDQ({ targets: kept, verify: false })).model, kept };
  };
  const history: FallbackResult['history'] = [];
  let best: { model: Model; metric: number; k: number; kept: QuantTarget[] } | null = null;
  const budget = Math.max(1, opts.maxEvaluations ?? 10);
  for (const k of schedule(ranking.length)) {
    if (history.length >= budget) break;
    const float = new Set(ranking.slice(0, k).map((r) => r.node));
    const { model, kept } = await build(float);
    const metric = await q.evaluator.evaluate(model);
    history.push({ floatNodes: k, metric });
    if (!best || sign * metric > sign * best.metric) best = { model, metric, k, kept };
    if (sign * (baseline - metric) <= opts.maxDrop) break;
  }
  const b = best!;
  const drop = sign * (baseline - b.metric);
  const diagnostics: Diagnostic[] = [];
  if (drop > opts.maxDrop) {
    diagnostics.push({
      level: 'warning',
      code: 'fallback-unmet',
      message: `no candidate within ${history.length} evaluations kept the drop within ${opts.maxDrop} (best: ${drop.toPrecision(3)} with ${b.k} node(s) in float); the best model found is returned`,
    });
  }
  return {
    model: b.model,
    metric: b.metric,
    baseline,
    drop,
    met: drop <= opts.maxDrop,
    floatNodes: ranking.slice(0, b.k).map((r) => r.node),
    ranking,
    history,
    targets: b.kept,
    diagnostics,
  };
}

/** 0, 1, 2, 3, 4, 6, 8, 12, 16, 24, … up to n: fine steps first, then growing. */
export function schedule(n: number): number[] {
  const out = [0];
  for (let k = 1; k <= n; k = k < 4 ? k + 1 : k + Math.floor(k / 2)) out.push(k);
  if (out[out.length - 1] !== n) out.push(n);
  return out;
}

/** Output error removed by returning each node to float, measured on a few calibration batches in one session. */
async function rankNodes(
  q: CalibratedQuantizer,
  targets: readonly QuantTarget[],
  batchCount: number,
): Promise<{ node: string; effect: number }[]> {
  const nodes = [...new Set(targets.map((t) => t.node))];
  const gates = new Map(nodes.map((n, i) => [n, `__quant_gate_${i}`]));
  const gated = buildQuantized(q.fused, targets, q.parameters, { mode: 'simulate', gates }).model;
  const batches: Record<string, Tensor>[] = [];
  for await (const b of q.evaluator.calibrationBatches()) {
    batches.push(b);
    if (batches.length >= batchCount) break;
  }
  const runner = await ModelRunner.create(gated, q.options.threads !== undefined ? { threads: q.options.threads } : {});
  try {
    const on = Tensor.float32([], [1]);
    const off = Tensor.float32([], [0]);
    const run = async (floatNode: string | null, all: Tensor, feeds: Record<string, Tensor>) => {
      const g: Record<string, Tensor> = {};
      for (const [n, name] of gates) g[name] = n === floatNode ? off : all;
      return runner.run({ ...feeds, ...g });
    };
    const effects = new Float64Array(nodes.length);
    for (const feeds of batches) {
      const ref = await run(null, off, feeds);
      const base = relError(await run(null, on, feeds), ref);
      for (let i = 0; i < nodes.length; i++) effects[i]! += base - relError(await run(nodes[i]!, on, feeds), ref);
    }
    return nodes
      .map((node, i) => ({ node, effect: effects[i]! / Math.max(1, batches.length) }))
      .sort((a, b) => b.effect - a.effect);
  } finally {
    await runner.release();
  }
}

/** Σ‖y − ref‖² / Σ‖ref‖² over every float output. */
function relError(y: Record<string, Tensor>, ref: Record<string, Tensor>): number {
  let num = 0;
  let den = 0;
  for (const [k, r] of Object.entries(ref)) {
    if (r.dtype !== 'float32') continue;
    const a = y[k]!.data as Float32Array;
    const b = r.data as Float32Array;
    for (let i = 0; i < b.length; i++) {
      num += (a[i]! - b[i]!) ** 2;
      den += b[i]! ** 2;
    }
  }
  return den === 0 ? num : num / den;
}
