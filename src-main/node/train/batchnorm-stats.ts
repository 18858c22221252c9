/**
 * @file BatchNormalization statistics re-estimated on a model as it will run (masks and fake quantization in place):
 * a fused run's BN trains with batch statistics, and its running statistics are an exponential average (ONNX momentum
 * 0.9: about the last 10–20 batches) taken while the weights and masks still moved. Before BN is folded for the
 * export, each BN's mean and variance are measured again over a few thousand training samples with everything else
 * fixed — layer by layer in graph order, each in inference mode after the ones before it were re-estimated, so that
 * every layer sees the inputs the deployed model gives it. Node layer: runs ORT.
 */
import type * as ort from 'onnxruntime-node';
import { cloneModel, StudioError, Tensor, type Model, type Node } from '../../core/ir/index.ts';
import type { ArrayDataset } from './data.ts';
import { createSession, ortTensor, type SessionSettings } from './ort.ts';
import { dataInput } from './trainer.ts';

/** A BatchNormalization node whose running statistics are not initializers (they cannot be re-estimated). */
export class BatchNormStatsError extends StudioError {
  constructor(node: string, message: string) {
    super(`BatchNormalization "${node}": ${message}`, 'BATCHNORM_STATS', { node });
    this.name = 'BatchNormStatsError';
  }
}

/** One BN's re-estimated statistics (per channel), beside the running ones it replaces. */
export interface BatchNormStats {
  node: string;
  mean: Float32Array;
  /** Population variance over the samples (batch × spatial elements per channel). */
  variance: Float32Array;
  before: { mean: Float32Array; variance: Float32Array };
}

export interface BatchNormStatsOptions extends SessionSettings {
  /** Samples measured (the first ones of `data`; default 4096, clamped to the set). */
  samples?: number;
  /** Batch size of the measuring passes (default 256). */
  batchSize?: number;
}

function statsInputs(bn: Node) {
  const mean = bn.input(3);
  const variance = bn.input(4);
  if (!mean?.initializer || !variance?.initializer)
    throw new BatchNormStatsError(bn.name, 'its running mean and variance are computed, not initializers');
  return { mean, variance };
}

/**
 * Measure every BatchNormalization's input mean and variance over `data` in inference mode, in graph order, each
 * after the ones before it were set to their measured statistics. `model` is not changed.
 *
 * @example
 * const stats = await reestimateBatchNorm(trainedSimulated, train, { samples: 4096 });
 * applyBatchNormStats(floatModel, stats); // same BN node names
 * @throws BatchNormStatsError when a BN's statistics are not initializers
 */
export async function reestimateBatchNorm(
  model: Model,
  data: ArrayDataset,
  o: BatchNormStatsOptions = {},
): Promise<BatchNormStats[]> {
  const work = cloneModel(model);
  work.graph.sortTopologically();
  const bns = work.graph.nodes.filter((n) => n.opType === 'BatchNormalization');
  const n = Math.min(o.samples ?? 4096, data.length);
  const B = Math.max(1, Math.min(o.batchSize ?? 256, n));
  const input = dataInput(work);
  const x = new Float32Array(B * data.sampleSize);
  const out: BatchNormStats[] = [];
  for (const bn of bns) {
    const { mean, variance } = statsInputs(bn);
    const probe = cloneModel(work);
    const g = probe.graph;
    const xv = g.get(bn.input(0)!.name)!;
    g.setOutputs([xv]);
    const session = await createSession(probe, o);
    let sum: Float64Array | null = null;
    let sq: Float64Array | null = null;
    let count = 0;
    try {
      for (let start = 0; start < n; start += B) {
        const rows = Math.min(B, n - start);
        x.set(data.x.subarray(start * data.sampleSize, (start + rows) * data.sampleSize));
        const feeds: Record<string, ort.Tensor> = {
          [input.name]: ortTensor('float32', x.subarray(0, rows * data.sampleSize), [rows, ...data.sampleShape]),
        };
        const t = (await session.run(feeds))[xv.name]!;
        const dims = t.dims.map(Number);
        const C = dims[1]!;
        const inner = dims.slice(2).reduce((p, d) => p * d, 1);
        const v = t.data as Float32Array;
        sum ??= new Float64Array(C);
        sq ??= new Float64Array(C);
        for (let b = 0; b < dims[0]!; b++)
          for (let c = 0; c < C; c++) {
            const base = (b * C + c) * inner;
            let s = 0;
            let s2 = 0;
            for (let i = 0; i < inner; i++) {
              const e = v[base + i]!;
              s += e;
              s2 += e * e;
            }
            sum[c]! += s;
            sq[c]! += s2;
          }
        count += dims[0]! * inner;
      }
    } finally {
      await session.release();
    }
    const C = sum!.length;
    const m = new Float32Array(C);
    const va = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const mu = sum![c]! / count;
      m[c] = mu;
      va[c] = Math.max(0, sq![c]! / count - mu * mu);
    }
    out.push({
      node: bn.name,
      mean: m,
      variance: va,
      before: { mean: mean.initializer!.toFloat32().slice(), variance: variance.initializer!.toFloat32().slice() },
    });
    work.graph.setInitializer(mean, Tensor.float32([C], m));
    work.graph.setInitializer(variance, Tensor.float32([C], va));
  }
  return out;
}

/**
 * Write re-estimated statistics into `model`'s BN nodes of the same names (in place); returns how many were set.
 * @throws BatchNormStatsError when a named BN is missing or its statistics are not initializers
 */
export function applyBatchNormStats(model: Model, stats: readonly BatchNormStats[]): number {
  for (const s of stats) {
    const bn = model.graph.node(s.node);
    if (!bn || bn.opType !== 'BatchNormalization')
      throw new BatchNormStatsError(s.node, 'not found in the model the statistics are written to');
    const { mean, variance } = statsInputs(bn);
    model.graph.setInitializer(mean, Tensor.float32([s.mean.length], s.mean));
    model.graph.setInitializer(variance, Tensor.float32([s.variance.length], s.variance));
  }
  return stats.length;
}
