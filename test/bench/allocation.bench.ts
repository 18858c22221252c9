/**
 * @file Benchmark and check of the budgeted allocation on the bundled MNIST CNN at a 2× latency target (batch 64,
 * the scan's evaluation batch): scan, allocate, prune + speed up, and print the measured speedup beside the
 * predicted one (goal: within 15 %); then uniform sparsity over every conv at the scanned ratio whose measured
 * speedup is nearest the allocation's, and both fine-tuned with the same recipe (Adam 3e-3, cosine, batch 64,
 * `ALLOC_BENCH_STEPS` steps, seed 0) and evaluated on the full MNIST test set — printed side by side (goal:
 * allocation ≥ uniform). Run alone with `node --import tsx test/bench/allocation.bench.ts`.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Model } from '../../src-main/core/ir/index.ts';
import { allocate } from '../../src-main/core/compress/pruning/index.ts';
import { sensitivityScan } from '../../src-main/node/sensitivity/scan.ts';
import { checkAllocation, measureConfigList } from '../../src-main/node/sensitivity/verify.ts';
import { train } from '../../src-main/node/train/index.ts';
import { evaluateClassifier } from '../../src-main/node/train/evaluate.ts';
import { loadIdxPair } from '../../src-main/node/train/mnist.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const STEPS = Number(process.env.ALLOC_BENCH_STEPS ?? 300);
const MNIST = join(ROOT, 'resources', 'mnist');

async function finetuneAndTest(model: Model): Promise<number> {
  const data = loadIdxPair(join(MNIST, 'train-images-idx3-ubyte.gz'), join(MNIST, 'train-labels-idx1-ubyte.gz'));
  const r = await train(
    {
      model,
      train: data,
      optimizer: { type: 'adam', lr: 3e-3 },
      schedule: { type: 'cosine' },
      batchSize: 64,
      epochs: 1,
      seed: 0,
    },
    { maxSteps: STEPS },
  );
  const test = loadIdxPair(join(MNIST, 't10k-images-idx3-ubyte.gz'), join(MNIST, 't10k-labels-idx1-ubyte.gz'));
  return (await evaluateClassifier(r.model, test, { batchSize: 500, threads: 1 })).top1;
}

/** Two rows: the allocation and the uniform sparsity of about the same measured latency. */
export async function benchAllocation(): Promise<Record<string, unknown>[]> {
  const scan = await sensitivityScan({
    model: join(ROOT, 'resources', 'mnist-cnn.onnx'),
    data: MNIST,
    evalCount: 1000,
    batchSize: 64,
    latencyRuns: 40,
  });
  const alloc = allocate(scan, { target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 1 });
  const check = await checkAllocation(scan, alloc, 100);
  let uniform: { ratio: number; speedup: number; m: Awaited<ReturnType<typeof measureConfigList>> } | null = null;
  for (const ratio of scan.ratios) {
    const m = await measureConfigList(
      scan,
      [{ op_types: ['Conv'], sparse_ratio: ratio, dependency_group_id: 'auto' }],
      100,
    );
    if (
      !uniform ||
      Math.abs(m.measured.speedup - check.measured.speedup) < Math.abs(uniform.speedup - check.measured.speedup)
    )
      uniform = { ratio, speedup: m.measured.speedup, m };
  }
  const [accAlloc, accUniform] = [await finetuneAndTest(check.compact), await finetuneAndTest(uniform!.m.compact)];
  return [
    {
      name: 'allocation.2x',
      sparsities: alloc.choices.map((c) => c.sparseRatio.toFixed(2)).join('/'),
      predicted_speedup: check.predicted.speedup,
      measured_speedup: check.measured.speedup,
      'latency error (goal≤0.15)': check.latencyError,
      predicted_acc_before_ft: check.predicted.accuracy,
      measured_acc_before_ft: check.measured.accuracy,
      acc_after_ft: accAlloc,
      'acc ≥ uniform (goal)': accAlloc >= accUniform,
      macs: check.measured.macs,
    },
    {
      name: `uniform.${uniform!.ratio}`,
      sparsities: scan.groups.map(() => uniform!.ratio.toFixed(2)).join('/'),
      predicted_speedup: '',
      measured_speedup: uniform!.speedup,
      'latency error (goal≤0.15)': '',
      predicted_acc_before_ft: '',
      measured_acc_before_ft: uniform!.m.measured.accuracy,
      acc_after_ft: accUniform,
      'acc ≥ uniform (goal)': '',
      macs: uniform!.m.measured.macs,
    },
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await benchAllocation());
}
