/**
 * @file Movement pruning with head granularity on the corpus transformer encoder: the fused in-projection's output
 * channels in head-sized blocks ([16, −1]: 4 heads × q, k, v) and the output projection's input channels in head
 * blocks ([−1, 16]) form one dependency group per layer, so q, k, v and the output columns of a head share one mask
 * (scores averaged over the parts). Speedup then removes whole heads, and the compact model computes what the masked
 * one does (≤ 1e-4).
 */
import { describe, expect, it } from 'vitest';
import { MovementPruner } from '../../src-main/core/compress/pruning/training.ts';
import { Rng } from '../../src-main/core/util/random.ts';
import { ArrayDataset } from '../../src-main/node/train/data.ts';
import { Evaluator } from '../../src-main/node/train/evaluator.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';

describe('MovementPruner with head granularity', () => {
  it('removes whole attention heads of the corpus transformer; compact = masked', async () => {
    const model = loadCorpusModel('transformer_op17_b1', 0);
    const sample = (model.graph.inputs[0]!.shape as number[]).slice(1);
    const size = sample.reduce((a, b) => a * b, 1);
    const rng = new Rng(5);
    const n = 8;
    const data = new ArrayDataset(
      Float32Array.from({ length: n * size }, () => rng.normal(0, 1)),
      sample,
      BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 10)),
    );
    const cfg = [0, 1].flatMap((l) => [
      {
        op_names: [`/encoder/layers.${l}/self_attn/MatMul`],
        target_names: ['weight'],
        sparse_ratio: 0.5,
        granularity: [16, -1],
        dependency_group_id: `heads${l}`,
      },
      {
        op_names: [`/encoder/layers.${l}/self_attn/Gemm`],
        target_names: ['weight'],
        sparse_ratio: 0.5,
        granularity: [-1, 16],
        dependency_group_id: `heads${l}`,
      },
    ]);
    const ev = new Evaluator(model, {
      train: data,
      optimizer: { type: 'sgd', lr: 0.01 },
      batchSize: 1,
      epochs: 1,
      seed: 0,
      threads: 1,
    });
    const pruner = new MovementPruner(model, cfg, ev, { warmupSteps: 1, cooldownBeginStep: 4 });
    const r = await pruner.compress({ maxSteps: 4 });
    expect(r.trajectory.map((p) => p.ratio.toFixed(6))).toEqual([
      (1 - (2 / 3) ** 3).toFixed(6),
      (1 - (1 / 3) ** 3).toFixed(6),
      '1.000000',
    ]);
    for (const l of [0, 1]) {
      const p = `/encoder/layers.${l}/self_attn`;
      const inProj = r.masks.get(`${p}/MatMul`)!.get('weight')!;
      const outProj = r.masks.get(`${p}/Gemm`)!.get('weight')!;
      expect(inProj.dims).toEqual([1, 192]);
      expect(outProj.dims).toEqual([1, 64]);
      // head h: q, k, v blocks and the output columns share one decision
      const heads = [0, 1, 2, 3].map((h) => outProj.data[h * 16]!);
      expect(heads.filter((k) => k === 1).length).toBe(2);
      for (const [h, keep] of heads.entries())
        for (const part of [0, 1, 2])
          for (let c = 0; c < 16; c++) expect(inProj.data[part * 64 + h * 16 + c]).toBe(keep);
      // the scores moved
      expect(pruner.score(`${p}/MatMul`, 'weight')!.some((s) => s !== 0)).toBe(true);
    }
    const { model: compact, report } = await new ModelSpeedup(r.model, r.masks, {
      applyMethods: r.applyMethods,
      benchmark: false,
      verifySamples: 1,
    }).speedupModel();
    expect(report.verification.maxRelErr).toBeLessThan(1e-4);
    const g = compact.graph;
    for (const l of [0, 1]) {
      const p = `/encoder/layers.${l}`;
      expect(g.node(`${p}/self_attn/MatMul`)!.input(1)!.initializer!.dims).toEqual([64, 96]); // 2 of 4 heads × (q, k, v)
      expect(g.node(`${p}/self_attn/Gemm`)!.input(1)!.initializer!.dims).toEqual([64, 32]);
      expect(g.node(`${p}/self_attn/Reshape`)!.input(1)!.initializer!.toNumbers()).toEqual([16, 2, 16]);
    }
  });
});
