/**
 * @file Benchmark and check of the budgeted allocation on the bundled MNIST CNN at a 2× latency target (batch 64,
 * the scan's evaluation batch): scan, allocate and refine (measure the choice whole, correct, re-allocate; among the
 * allocations measured to meet 2×, a 100-step fine-tune of each on the train split picks the best), then prune +
 * speed up again and measure three times (each 200 rounds timed alternately with the dense model), printing the
 * scan-only model's prediction, the refined prediction and the median measurement (goal: within 15 % of the
 * prediction); then uniform sparsity over every conv at the scanned ratio whose measured
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
import { refineAllocation } from '../../src-main/node/sensitivity/refine.ts';
import { loadavg } from 'node:os';
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
  const target = { kind: 'speedup', factor: 2 } as const;
  const first = allocate(scan, { target, maxAccuracyDrop: 1 });
  const alloc = await refineAllocation(
    scan,
    { target, maxAccuracyDrop: 1 },
    {
      onRound: (r, i) =>
        console.error(
          `refine ${i + 1}: ${r.sparseRatios.map((x) => x.toFixed(2)).join('/')} model ${r.modelled.toFixed(3)} corrected ${r.predicted.toFixed(3)} measured ${r.measured.toFixed(3)}`,
        ),
      onCandidate: (c) =>
        console.error(
          `short-term: ${c.source} ${c.sparseRatios.map((x) => x.toFixed(2)).join('/')} measured ${c.measured.toFixed(3)} one-shot drop ${c.predictedDrop.toFixed(3)} held-out one-shot ${c.oneShot.toFixed(3)} after ${c.shortTerm.toFixed(3)}`,
        ),
    },
  );
  const ref = alloc.refinement!;
  const checks = [];
  for (let i = 0; i < 3; i++) checks.push(await checkAllocation(scan, alloc, 200));
  const ratios = checks.map((c) => 1 / c.measured.speedup).sort((x, y) => x - y);
  const check = checks.find((c) => 1 / c.measured.speedup === ratios[1])!;
  const measuredRatio = ratios[1]!;
  const modelled = ref.rounds[ref.chosen]!.modelled;
  let uniform: { ratio: number; speedup: number; m: Awaited<ReturnType<typeof measureConfigList>> } | null = null;
  for (const ratio of scan.ratios) {
    const m = await measureConfigList(
      scan,
      [{ op_types: ['Conv'], sparse_ratio: ratio, dependency_group_id: 'auto' }],
      100,
    );
    if (!uniform || Math.abs(m.measured.speedup - 1 / measuredRatio) < Math.abs(uniform.speedup - 1 / measuredRatio))
      uniform = { ratio, speedup: m.measured.speedup, m };
  }
  const [accAlloc, accUniform] = [await finetuneAndTest(check.compact), await finetuneAndTest(uniform!.m.compact)];
  const error = (predictedRatio: number) => Math.abs(measuredRatio - predictedRatio) / predictedRatio;
  return [
    {
      name: 'allocation.2x',
      load_1min: Number(loadavg()[0]!.toFixed(1)),
      sparsities: alloc.choices.map((c) => c.sparseRatio.toFixed(2)).join('/'),
      first_choice: first.choices.map((c) => c.sparseRatio.toFixed(2)).join('/'),
      refine_rounds: ref.rounds.length,
      short_term: ref.shortTerm
        ? `${ref.shortTerm.chosen + 1} of ${ref.shortTerm.candidates.length} (${ref.shortTerm.candidates[ref.shortTerm.chosen]!.source})`
        : 'off',
      model_speedup: 1 / modelled,
      predicted_speedup: check.predicted.speedup,
      measured_speedup: 1 / measuredRatio,
      measured_3x: ratios.map((r) => (1 / r).toFixed(2)).join(' '),
      model_error: error(modelled),
      'latency error (goal≤0.15)': error(1 / check.predicted.speedup),
      predicted_acc_before_ft: check.predicted.accuracy,
      measured_acc_before_ft: check.measured.accuracy,
      acc_after_ft: accAlloc,
      'acc ≥ uniform (goal)': accAlloc >= accUniform,
      macs: check.measured.macs,
    },
    {
      name: `uniform.${uniform!.ratio}`,
      load_1min: Number(loadavg()[0]!.toFixed(1)),
      sparsities: scan.groups.map(() => uniform!.ratio.toFixed(2)).join('/'),
      first_choice: '',
      refine_rounds: '',
      short_term: '',
      model_speedup: '',
      predicted_speedup: '',
      measured_speedup: uniform!.speedup,
      measured_3x: '',
      model_error: '',
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
