/**
 * @file BN statistics re-estimated on the bundled MNIST model: with its running statistics spoiled, the measured ones
 * restore its accuracy and agree with the ones its training tracked; each layer is measured after the layers before
 * it were set (the second BN's statistics are those of its input in the corrected model, not the spoiled one); a BN
 * whose statistics are computed gets a named error.
 */
import { describe, expect, it } from 'vitest';
import { cloneModel, Tensor, type Model } from '../../core/ir/index.ts';
import { openModel } from '../io/open-model.ts';
import { ArrayDataset, loadIdxDataset } from './data.ts';
import { applyBatchNormStats, BatchNormStatsError, reestimateBatchNorm } from './batchnorm-stats.ts';
import { createSession, ortTensor } from './ort.ts';
import { evaluate } from './trainer.ts';

const { model } = openModel('resources/mnist-cnn.onnx');
const tr = loadIdxDataset('resources/mnist/train-images-idx3-ubyte.gz', 'resources/mnist/train-labels-idx1-ubyte.gz');
const te = loadIdxDataset('resources/mnist/t10k-images-idx3-ubyte.gz', 'resources/mnist/t10k-labels-idx1-ubyte.gz');
const train = new ArrayDataset(tr.x, [1, 28, 28], tr.targets());
const test = new ArrayDataset(te.x.subarray(0, 2000 * 784), [1, 28, 28], te.targets().subarray(0, 2000));
const bns = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'BatchNormalization');
const stat = (m: Model, node: string, k: 3 | 4) =>
  m.graph.node(node)!.input(k)!.initializer!.toFloat32() as Float32Array;

/** Spoil every BN's running statistics: means shifted by 1, variances ×4. */
function spoiled(): Model {
  const m = cloneModel(model);
  for (const bn of bns(m)) {
    const [mean, variance] = [bn.input(3)!, bn.input(4)!];
    const mu = mean.initializer!.toFloat32();
    m.graph.setInitializer(
      mean,
      Tensor.float32(
        [mu.length],
        mu.map((x) => x + 1),
      ),
    );
    const v = variance.initializer!.toFloat32();
    m.graph.setInitializer(
      variance,
      Tensor.float32(
        [v.length],
        v.map((x) => 4 * x),
      ),
    );
  }
  return m;
}

/** Per-channel mean and population variance of each named value over `data`, from one run of `m`. */
async function measured(m: Model, names: string[], data: ArrayDataset) {
  const c = cloneModel(m);
  c.graph.setOutputs(names.map((n) => c.graph.get(n)!));
  const s = await createSession(c, { threads: 1 });
  try {
    const r = await s.run({ [c.graph.inputs[0]!.name]: ortTensor('float32', data.x, [data.length, 1, 28, 28]) });
    return names.map((n) => {
      const t = r[n]!;
      const [B, C] = t.dims.map(Number) as [number, number];
      const inner = t.size / (B * C);
      const v = t.data as Float32Array;
      const mean = new Float64Array(C);
      const sq = new Float64Array(C);
      for (let b = 0; b < B; b++)
        for (let ch = 0; ch < C; ch++)
          for (let i = 0; i < inner; i++) {
            const e = v[(b * C + ch) * inner + i]!;
            mean[ch]! += e;
            sq[ch]! += e * e;
          }
      const N = B * inner;
      return { mean: mean.map((x) => x / N), variance: sq.map((x, ch) => x / N - (mean[ch]! / N) ** 2) };
    });
  } finally {
    await s.release();
  }
}

describe('BatchNormalization statistics re-estimated', () => {
  it('spoiled statistics: the re-estimated ones restore the accuracy and agree with those training tracked', async () => {
    const good = (await evaluate(model, test, { batchSize: 500, threads: 1 })).top1;
    const bad = spoiled();
    const worse = (await evaluate(bad, test, { batchSize: 500, threads: 1 })).top1;
    expect(worse).toBeLessThan(good - 0.2);
    const stats = await reestimateBatchNorm(bad, train, { samples: 2048, threads: 1 });
    expect(stats.map((s) => s.node)).toEqual(bns(model).map((n) => n.name));
    // the model itself is not changed; the statistics they replace are reported
    expect(stat(bad, stats[0]!.node, 3)).toEqual(stats[0]!.before.mean);
    expect(applyBatchNormStats(bad, stats)).toBe(stats.length);
    const mended = (await evaluate(bad, test, { batchSize: 500, threads: 1 })).top1;
    expect(mended).toBeGreaterThan(good - 0.005);
    for (const s of stats) {
      const mu = stat(model, s.node, 3);
      const v = stat(model, s.node, 4);
      for (let c = 0; c < mu.length; c++) {
        const sd = Math.sqrt(v[c]!);
        expect(Math.abs(s.mean[c]! - mu[c]!)).toBeLessThan(0.1 * sd + 1e-3);
        expect(s.variance[c]! / v[c]!).toBeGreaterThan(0.7);
        expect(s.variance[c]! / v[c]!).toBeLessThan(1.4);
      }
    }
  });

  it('each layer is measured in the model with the layers before it already re-estimated', async () => {
    const bad = spoiled();
    const sample = train.slice(0, 512);
    const stats = await reestimateBatchNorm(bad, sample, { samples: 512, batchSize: 100, threads: 1 });
    const inputs = bns(bad).map((n) => n.input(0)!.name);
    const fixed = cloneModel(bad);
    applyBatchNormStats(fixed, stats);
    // in the corrected model every BN's input has exactly the measured statistics …
    const want = await measured(fixed, inputs, sample);
    // … while in the spoiled one the layers after the first see other inputs
    const spoiledInputs = await measured(bad, inputs, sample);
    stats.forEach((s, i) => {
      for (let c = 0; c < s.mean.length; c++) {
        expect(s.mean[c]).toBeCloseTo(want[i]!.mean[c]!, 3);
        expect(s.variance[c]! / want[i]!.variance[c]!).toBeCloseTo(1, 3);
      }
    });
    const gap = Math.max(...stats[1]!.mean.map((m, c) => Math.abs(m - spoiledInputs[1]!.mean[c]!)));
    expect(gap).toBeGreaterThan(0.05);
  });

  it('a BN whose running statistics are computed: named error', async () => {
    const m = cloneModel(model);
    const bn = bns(m)[0]!;
    const g = m.graph;
    const ident = g.addNode({ opType: 'Identity', name: 'stats_copy', inputs: [bn.input(3)!], outputs: 1 });
    bn.setInput(3, ident.outputs[0]!);
    g.sortTopologically();
    const e = await reestimateBatchNorm(m, train.slice(0, 64), { threads: 1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BatchNormStatsError);
    expect((e as Error).message).toContain(bn.name);
  });
});
