/**
 * @file Fusion compression on the bundled MNIST model (NNI's pqd_fuse recipe, NNI-SEMANTICS §8): AGP around a Taylor
 * pruner to 50 % of the conv channels, QAT int8 chained onto it with `fromCompressor`, logits distillation from the
 * original chained onto that — ONE training run in which the masks, the schedule, the Taylor scores, the fake
 * quantization and the distillation loss all act; then speedup with the quantization carried across (per-channel
 * weight scales sliced to the surviving channels), the QDQ export, compact = masked and simulated = deployed.
 * Also the chain's named errors: two compressors of one mode on a target, `fromCompressor` on a compressor that
 * ran, `compress()` in the middle of a chain.
 */
import { describe, expect, it } from 'vitest';
import { openModel } from '../../src-main/node/io/open-model.ts';
import { Evaluator } from '../../src-main/node/train/evaluator.ts';
import { ArrayDataset, loadIdxDataset } from '../../src-main/node/train/data.ts';
import { evaluate } from '../../src-main/node/train/trainer.ts';
import { buildFusedChain, finishFused, trainFused, type FusedLive } from '../../src-main/node/train/fused.ts';
import { shapesForAutoGroups } from '../../src-main/node/steps/auto-groups.ts';
import { FusionChainError } from '../../src-main/core/compress/compressor.ts';
import { L1NormPruner } from '../../src-main/core/compress/pruning/index.ts';
import { AGPPruner, TaylorPruner } from '../../src-main/core/compress/pruning/training.ts';
import { LsqQuantizer, QATQuantizer } from '../../src-main/core/compress/quantization/trained.ts';
import { LogitsDistiller } from '../../src-main/core/compress/distillation/index.ts';
import { modelStats } from '../../src-main/core/analysis/stats.ts';
import { ORT_FUSED_INT8 } from '../../src-shared/presets.ts';

const { model } = openModel('resources/mnist-cnn.onnx');
const tr = loadIdxDataset('resources/mnist/train-images-idx3-ubyte.gz', 'resources/mnist/train-labels-idx1-ubyte.gz');
const te = loadIdxDataset('resources/mnist/t10k-images-idx3-ubyte.gz', 'resources/mnist/t10k-labels-idx1-ubyte.gz');
const train = new ArrayDataset(tr.x, [1, 28, 28], tr.targets());
const test = new ArrayDataset(te.x.subarray(0, 2000 * 784), [1, 28, 28], te.targets().subarray(0, 2000), [], 'test');
const conv50 = [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }];
const evaluator = (steps: number) =>
  new Evaluator(model, {
    train,
    eval: test,
    optimizer: { type: 'adam', lr: 2e-3 },
    schedule: { type: 'cosine' },
    batchSize: 64,
    epochs: Math.ceil((steps * 64) / train.length),
    seed: 0,
    threads: 1,
  });

describe('fusion compression on the bundled MNIST model', () => {
  it('AGP(Taylor) to 50 % + QAT int8 + distillation from the original: one run, then speedup and int8 export', async () => {
    const steps = 320;
    const ev = evaluator(steps);
    let runs = 0;
    const trainOnce = ev.train.bind(ev);
    ev.train = async (o) => (runs++, trainOnce(o));
    const chain = await buildFusedChain(model, ev, {
      pruning: { pruner: 'agp', inner: 'taylor', configList: conv50, intervalSteps: 30, totalTimes: 4 },
      quantization: { quantizer: 'qat', configList: ORT_FUSED_INT8, quantStartStep: 120, foldAt: 'end' },
      distillation: { distiller: 'logits', teacher: model, temperature: 2, alpha: 0.5 },
      shapes: await shapesForAutoGroups(model, conv50),
    });
    expect(chain.names).toEqual(['agp(taylor)', 'qat', 'logits']);
    expect(chain.order).toEqual(['quantize', 'prune', 'distill']);
    expect(chain.last.fusedCompressors.map((c) => c.name)).toEqual(['logits', 'qat', 'agp']);
    const live: FusedLive[] = [];
    const parts = new Set<string>();
    const t = await trainFused(chain, ev, {
      maxSteps: steps,
      progressEvery: 10,
      onLive: (l) => live.push(l),
      onProgress: (e) => e.type === 'step' && Object.keys(e.parts ?? {}).forEach((k) => parts.add(k)),
    });
    expect(runs).toBe(1);
    expect(t.steps).toBe(steps);
    // every compressor acted in that run: the loss had both terms, the schedule rose to its goal at step 120,
    // the quantization ranges appeared once quantization started
    expect([...parts].sort()).toEqual(['loss.distill', 'loss.task']);
    expect(t.pruning!.trajectory.map((p) => p.step)).toEqual([30, 60, 90, 120]);
    expect(t.pruning!.trajectory.at(-1)!.ratio).toBe(1);
    const w = (l: FusedLive) => l.sparsity['sparsity./conv2/Conv.weight']!;
    expect(w(live[1]!)).toBe(0); // step 20: no masks yet
    const rising = live.map(w);
    expect(rising.every((v, i) => i === 0 || v >= rising[i - 1]!)).toBe(true);
    expect(w(live.find((l) => l.step === 60)!)).toBeGreaterThan(0.2);
    expect(w(live.find((l) => l.step === 60)!)).toBeLessThan(0.5);
    expect(w(live.at(-1)!)).toBe(0.5);
    expect(Object.keys(live.at(-1)!.qrange)).toContain('qrange./conv1/Conv.weight.max');
    // BN trained with batch statistics beside the masks (masked with its conv: a pruned channel is 0 after BN)
    expect(t.quantization!.trained.graph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(true);
    expect(t.pruning!.masks.get('/bn2/BatchNormalization')?.get('weight')?.data).toEqual(
      t.pruning!.masks.get('/conv2/Conv')!.get('weight')!.data,
    );

    const f = await finishFused(t, { evalData: test, threads: 1 });
    // compact = masked (speedup's own verification) and half the channels gone
    expect(f.speedup!.verification.maxRelErr).toBeLessThan(1e-4);
    expect(f.sliced).toEqual({
      '/conv1/Conv.weight': { before: 16, after: 8 },
      '/conv2/Conv.weight': { before: 32, after: 16 },
      '/conv3/Conv.weight': { before: 64, after: 32 },
    });
    expect(modelStats(model).params / modelStats(f.compact).params).toBeGreaterThan(2);
    // the int8 export runs in integer kernels, scores what the re-simulated compact model scores (0.1 point), and
    // that is what the training graph scored with its masks and fake quantization (the carried parameters)
    expect(f.deployed!.fusion.counts.QLinearConv).toBe(3);
    expect(Math.abs(f.deployed!.simulated - f.deployed!.deployed)).toBeLessThanOrEqual(0.001);
    expect(Math.abs(f.deployed!.simulated - f.trainedSimulated!)).toBeLessThanOrEqual(0.005);
    // and it learned: far above chance after 320 steps with half the channels
    expect(f.deployed!.deployed).toBeGreaterThan(0.8);
    expect((await evaluate(f.model, test, { batchSize: 500 })).top1).toBe(f.deployed!.deployed);
  }, 300_000);

  it('DoReFa fused with AGP(L1): the export starts from the weights on their grid (simulated = deployed)', async () => {
    const steps = 60;
    const ev = evaluator(steps);
    const chain = await buildFusedChain(model, ev, {
      pruning: { pruner: 'agp', inner: 'l1', configList: conv50, intervalSteps: 10, totalTimes: 3 },
      quantization: {
        quantizer: 'dorefa',
        configList: [{ op_types: ['Conv'], target_names: ['weight'], quant_dtype: 'int4' }],
      },
      shapes: await shapesForAutoGroups(model, conv50),
    });
    const t = await trainFused(chain, ev, { maxSteps: steps });
    // the float model the export starts from holds the 4-bit grid: at most 2^4 distinct values per weight
    const w = t.float.graph.node('/conv2/Conv')!.input(1)!.initializer!.toFloat32();
    expect(new Set(w).size).toBeLessThanOrEqual(16);
    const f = await finishFused(t, { evalData: test, threads: 1 });
    expect(Math.abs(f.deployed!.simulated - f.deployed!.deployed)).toBeLessThanOrEqual(0.001);
    expect(f.speedup!.verification.maxRelErr).toBeLessThan(1e-4);
  }, 300_000);

  it('names the faults of a chain', async () => {
    const ev = evaluator(4);
    const taylor = new TaylorPruner(model, conv50, ev, {
      trainingSteps: 2,
      shapes: await shapesForAutoGroups(model, conv50),
    });
    // two quantizers on the same targets
    const qat = QATQuantizer.fromCompressor(taylor, ORT_FUSED_INT8);
    const lsq = LsqQuantizer.fromCompressor(qat, [
      { op_types: ['Conv'], target_names: ['weight'], quant_scheme: 'symmetric' },
    ]);
    await expect(lsq.compress({ maxSteps: 2 })).rejects.toThrow(FusionChainError);
    await expect(lsq.compress({ maxSteps: 2 })).rejects.toThrow(
      /weight of "\/conv1\/Conv" is a quantization target of both QATQuantizer and LsqQuantizer: one compressor per mode on a target/,
    );
    // compress() on a compressor in the middle of a chain
    await expect(qat.compress({ maxSteps: 2 })).rejects.toThrow(
      /QATQuantizer is chained into LsqQuantizer: call compress\(\) on the last compressor of the chain/,
    );
    // fromCompressor on a compressor that already ran
    const ev2 = evaluator(4);
    const alone = new QATQuantizer(model, ORT_FUSED_INT8, ev2);
    await alone.compress({ maxSteps: 1 });
    expect(() => LogitsDistiller.fromCompressor(alone, null, { teacher: model })).toThrow(
      /QATQuantizer already ran: chain compressors with fromCompressor before compress\(\)/,
    );
    // a schedule around a one-shot pruner chains too; two pruners on one target do not
    const agp = new AGPPruner(
      new L1NormPruner(model, conv50, undefined, { shapes: await shapesForAutoGroups(model, conv50) }),
      {
        intervalSteps: 1,
        totalTimes: 1,
        evaluator: evaluator(4),
      },
    );
    const second = TaylorPruner.fromCompressor(agp, conv50, {
      trainingSteps: 1,
      shapes: await shapesForAutoGroups(model, conv50),
    });
    await expect(second.compress({ maxSteps: 2 })).rejects.toThrow(
      /is a pruning target of both AGPPruner and TaylorPruner/,
    );
  }, 120_000);
});
