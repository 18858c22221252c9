/**
 * @file Fusion benchmark (`npm run bench -- fusion`): the fused recipe against the sequential one, side by side on the
 * bundled MNIST model and on the Fashion-MNIST one, with the same total epochs, data, seed and quantization config:
 *   sequential  prune (L1, 50 % of the conv channels, automatic groups) → speedup → fine-tune E epochs → int8 PTQ
 *   fused       ONE `compress` step: AGP around Taylor to the same 50 % (goals at a fifth of the run) + QAT int8 + logits distillation from the
 *               original, trained together for the same E epochs, then speedup and int8 export
 * Quantization config: ORT_FUSED_INT8 (the wizard's default int8 preset) in both. Both run as plans through the job runner (worker process, the real step executors and the run's before / after
 * measurement), so each row's figures are the ones the app's report shows: accuracy on the 10,000 test images,
 * parameters, size, latency at batch 1 and at the evaluation batch size (each timed alternately with the original).
 * Both recipes train with SGD (momentum 0.9, cosine); the sequential fine-tune also runs with Adam (cosine), so that
 * it is not handicapped by the fused recipe's choice. The goal: the fused recipe at least as accurate as the better
 * sequential row. The learning rates and the fused recipe's distillation are chosen per data set (`SETS`) on images
 * that neither arm's starting point has seen — the first half of the test images (`FUSION_SPLIT=test-first-half`,
 * seed 0; docs/fusion.md lists every variant tried): each teacher, whose weights both arms start from, trained on its
 * whole 60,000-image training set, so a split held out of the bundled training images (`FUSION_SPLIT=validation`)
 * scores a student by how much of its teacher it kept — there the fused runs measured 0.9–1.4 point above their test
 * figures and the sequential ones ±0.1, and the recipe chosen there lost on the test images. They differ per data
 * set because the two sets measured differently: on Fashion-MNIST KD T 2, α 0.5 (half the loss on the labels) and a
 * high learning rate did best, while on MNIST T 2, α 0.5 cost 0.7 point (held-out training images, three seeds).
 *
 * Options (environment): `FUSION_ONLY=mnist` or `FUSION_ONLY=fashion` runs one data set alone;
 * `FUSION_SPLIT=validation` trains on the first 8,000 of the 10,000 training images and evaluates on the last 2,000
 * (held out from training, but each teacher — the arms' starting weights — trained on them: it favours a student
 * that stays near its teacher); `FUSION_SPLIT=test-first-half` / `test-second-half` train on all 10,000 and
 * evaluate on 5,000 of the test images (choose on the first, report the second); `FUSION_SEED=n` (default 0).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunReport } from '../../src-shared/experiment.ts';
import { ORT_FUSED_INT8 } from '../../src-shared/presets.ts';
import { formatBytes, formatCount } from '../../src-shared/format.ts';
import { runCommand } from '../../src-main/node/cli/runs.ts';
import { openStore } from '../../src-main/node/store/index.ts';
import { STEP_MODULES } from '../../src-main/node/steps/index.ts';
import { RESOURCES_DIR } from '../../src-main/node/train/mnist.ts';

/** Training epochs of each recipe (the sequential fine-tune, the fused run): equal, as the comparison requires. */
export const FUSION_EPOCHS = 6;
const BATCH = 64;
const EVAL_BATCH = 500;
/** Training images in the bundled splits. */
const TRAIN_SAMPLES = 10_000;
/** With `FUSION_SPLIT=validation`: the last this many training images are held out to evaluate on. */
const VALIDATION_SAMPLES = 2_000;

/**
 * Each data set with what was chosen for it on the first half of its test images (the header says why): the
 * fused run's SGD learning rate and distillation, the sequential fine-tune's Adam learning rate.
 */
export const SETS = [
  {
    name: 'MNIST',
    model: 'mnist-cnn.onnx',
    data: 'mnist',
    key: 'mnist',
    fusedLr: 0.05,
    sequentialAdamLr: 0.005,
    distillation: { distiller: 'logits', temperature: 4, alpha: 0.9 },
  },
  {
    name: 'Fashion-MNIST',
    model: 'fashion-mnist-cnn.onnx',
    data: 'fashion-mnist',
    key: 'fashion',
    fusedLr: 0.12,
    sequentialAdamLr: 0.016,
    distillation: { distiller: 'logits', temperature: 2, alpha: 0.5 },
  },
] as const;
type DataSet = (typeof SETS)[number];

/**
 * Where each row is evaluated: the 10,000 test images; the 2,000 validation images held out of the training ones
 * (training on the other 8,000); or one half of the test images, training on all 10,000 — the only images neither
 * arm's starting point has seen (each teacher trained on its data set's whole 60,000-image training set, the bundled
 * 10,000 included).
 */
export const FUSION_SPLITS = ['test', 'validation', 'test-first-half', 'test-second-half'] as const;
export type FusionSplit = (typeof FUSION_SPLITS)[number];
const TEST_SAMPLES = 10_000;

/** The bench's options from the environment (`FUSION_ONLY`, `FUSION_SPLIT`, `FUSION_SEED`); a bad value is named. */
export function fusionOptions(env: Record<string, string | undefined> = process.env): {
  sets: DataSet[];
  split: FusionSplit;
  seed: number;
} {
  const only = env.FUSION_ONLY?.trim();
  const sets = only ? SETS.filter((s) => s.key === only || s.data === only) : [...SETS];
  if (sets.length === 0)
    throw new Error(`FUSION_ONLY=${only}: no such data set (one of ${SETS.map((s) => s.key).join(', ')})`);
  const split = (env.FUSION_SPLIT?.trim() || 'test') as FusionSplit;
  if (!FUSION_SPLITS.includes(split))
    throw new Error(`FUSION_SPLIT=${env.FUSION_SPLIT}: expected one of ${FUSION_SPLITS.join(', ')}`);
  const seed = Number(env.FUSION_SEED ?? 0);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`FUSION_SEED=${env.FUSION_SEED}: expected an integer ≥ 0`);
  return { sets, split, seed };
}

const PRUNING = [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }];
/** SGD with momentum (the fused run's learning rate per data set: `SETS`). */
const TRAINING = {
  epochs: FUSION_EPOCHS,
  lr: 0.05,
  optimizer: { kind: 'sgd', momentum: 0.9 },
  schedule: { kind: 'cosine' },
  batchSize: BATCH,
};

/** The sequential fine-tune's other optimizer (same epochs, batch and schedule family; lr per data set). */
const ADAM = { ...TRAINING, optimizer: { kind: 'adam' } };

/** The plans of one data set: the same model, data, evaluator and seed; only the steps differ. */

export function fusionPlans(
  set: DataSet,
  { split = 'test', seed = 0 }: { split?: FusionSplit; seed?: number } = {},
): {
  sequential: object;
  sequentialAdam: object;
  fused: object;
} {
  const d = (f: string) => join(RESOURCES_DIR, set.data, f);
  const trainFile = { kind: 'idx', paths: [d('train-images-idx3-ubyte.gz'), d('train-labels-idx1-ubyte.gz')] };
  const trainSamples = split === 'validation' ? TRAIN_SAMPLES - VALIDATION_SAMPLES : TRAIN_SAMPLES;
  const train = split === 'validation' ? { ...trainFile, limit: trainSamples } : trainFile;
  const testFile = { kind: 'idx', paths: [d('t10k-images-idx3-ubyte.gz'), d('t10k-labels-idx1-ubyte.gz')] };
  const evaluation = {
    test: testFile,
    validation: { ...trainFile, offset: trainSamples },
    'test-first-half': { ...testFile, limit: TEST_SAMPLES / 2 },
    'test-second-half': { ...testFile, offset: TEST_SAMPLES / 2 },
  }[split];
  const base = {
    model: join(RESOURCES_DIR, set.model),
    dataset: { train, calibration: { ...trainFile, limit: 512 }, evaluation },
    evaluator: { metric: 'top1', batchSize: EVAL_BATCH },
    executionProvider: 'cpu',
    seed,
  };
  const quant = ORT_FUSED_INT8;
  const steps = Math.round(Math.floor(trainSamples / BATCH) * FUSION_EPOCHS);
  const totalTimes = 5;
  // goals reached at a fifth of the run (as the demo); the rest trains the final masks
  const intervalSteps = Math.floor((0.2 * steps) / totalTimes);
  const sequential = (training: object, label: string) => ({
    ...base,
    name: `fusion bench: sequential${label} (${set.name})`,
    steps: [
      { kind: 'prune', pruner: 'l1', configList: PRUNING },
      { kind: 'speedup' },
      { kind: 'finetune', ...training },
      // the int8 export as the fused run's (latency-aware precision, the quantize step's default, could keep fp32)
      {
        kind: 'quantize',
        quantizer: 'ptq',
        observer: 'minmax',
        calibrationBatches: 16,
        configList: quant,
        latencyAware: false,
      },
    ],
  });
  return {
    sequential: sequential(TRAINING, ''),
    sequentialAdam: sequential({ ...ADAM, lr: set.sequentialAdamLr }, ', Adam'),
    fused: {
      ...base,
      name: `fusion bench: fused (${set.name})`,
      steps: [
        {
          kind: 'compress',
          pruning: { pruner: 'agp', inner: 'taylor', configList: PRUNING, intervalSteps, totalTimes },
          quantization: { quantizer: 'qat', configList: quant },
          distillation: set.distillation,
          training: { ...TRAINING, lr: set.fusedLr },
        },
      ],
    },
  };
}

/** Runs one plan through the job runner in `home`; its report. */
export async function runPlan(
  home: string,
  plan: object,
  tag: string,
): Promise<{ report: RunReport; seconds: number }> {
  const file = join(home, `${tag}.json`);
  writeFileSync(file, JSON.stringify({ ...plan, tags: [tag] }, null, 1));
  const t0 = performance.now();
  const silent = { write: () => true };
  const code = await runCommand(file, { home, stepModules: STEP_MODULES, stdout: silent, handleSignals: false });
  const seconds = (performance.now() - t0) / 1000;
  const store = openStore(home);
  try {
    const run = store.listRuns({ tag, sort: 'created', order: 'desc', limit: 1 })[0];
    const report = run ? store.getReport(run.id) : null;
    if (code !== 0 || !report) throw new Error(`the ${tag} run failed (exit ${code}): ${run?.error?.message ?? ''}`);
    return { report, seconds };
  } finally {
    store.close();
  }
}

const pct = (x: number | null | undefined) => (x == null ? '–' : `${(100 * x).toFixed(2)} %`);
const times = (x: number | null | undefined) => (x == null ? '–' : `${x.toFixed(2)}×`);

/** One row of the table: the result against the original it started from. */
function row(set: string, recipe: string, r: RunReport, seconds: number): Record<string, unknown> {
  const b = r.before;
  const a = r.after;
  return {
    data: set,
    recipe,
    accuracy: `${pct(b.accuracy)} → ${pct(a.accuracy)}`,
    'Δ points': r.factors.accuracyDelta == null ? '–' : (100 * r.factors.accuracyDelta).toFixed(2),
    params: `${formatCount(b.params)} → ${formatCount(a.params)} (${times(r.factors.params)})`,
    size: `${formatBytes(b.sizeBytes)} → ${formatBytes(a.sizeBytes)}`,
    'speed b1': times(r.factors.latency),
    [`speed b${EVAL_BATCH}`]: times(r.factors.latencyAtEvalBatch),
    'ms b1': a.latencyMs ? `${(a.latencyMs.baselineP50 ?? 0).toFixed(3)} → ${a.latencyMs.p50.toFixed(3)}` : '–',
    [`ms b${EVAL_BATCH}`]: a.latencyAtEvalBatch
      ? `${(a.latencyAtEvalBatch.baselineP50 ?? 0).toFixed(2)} → ${a.latencyAtEvalBatch.p50.toFixed(2)}`
      : '–',
    seconds: Math.round(seconds),
  };
}

/** A run that failed becomes its error's first line in the table (the other rows still run). */
async function attempt<T>(f: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await f();
  } catch (e) {
    return { error: `failed: ${(e as Error).message.split('\n')[0]}` };
  }
}

export async function benchFusion(): Promise<Record<string, unknown>[]> {
  const { sets, split, seed } = fusionOptions();
  const data = {
    test: `the bundled ${TRAIN_SAMPLES} training images; accuracy on the 10,000 test images`,
    validation: `the first ${TRAIN_SAMPLES - VALIDATION_SAMPLES} of the bundled training images; accuracy on the last ${VALIDATION_SAMPLES} (validation, held out)`,
    'test-first-half': `the bundled ${TRAIN_SAMPLES} training images; accuracy on the first half of the test images`,
    'test-second-half': `the bundled ${TRAIN_SAMPLES} training images; accuracy on the second half of the test images`,
  }[split];
  console.log(
    `fused vs sequential, ${FUSION_EPOCHS} epochs each over ${data} (batch ${BATCH}, cosine, seed ${seed}; ` +
      `the sequential fine-tune with SGD momentum 0.9 lr ${TRAINING.lr} and with Adam, the fused run with SGD momentum 0.9); ` +
      `speed = original ÷ result latency, 1 thread, timed alternately (×>1: faster)`,
  );
  const home = mkdtempSync(join(tmpdir(), 'studio-bench-fusion-'));
  const rows: Record<string, unknown>[] = [];
  for (const set of sets) {
    const plans = fusionPlans(set, { split, seed });
    const adamLabel = `sequential, Adam ${set.sequentialAdamLr}`;
    const fusedLabel = `fused (SGD ${set.fusedLr}, KD T ${set.distillation.temperature}, α ${set.distillation.alpha})`;
    const seq = await attempt(() => runPlan(home, plans.sequential, `seq-${set.data}`));
    rows.push(
      'error' in seq
        ? { data: set.name, recipe: 'sequential, SGD', accuracy: seq.error }
        : row(set.name, 'sequential, SGD', seq.report, seq.seconds),
    );
    const adam = await attempt(() => runPlan(home, plans.sequentialAdam, `seq-adam-${set.data}`));
    rows.push(
      'error' in adam
        ? { data: set.name, recipe: adamLabel, accuracy: adam.error }
        : row(set.name, adamLabel, adam.report, adam.seconds),
    );
    const fused = await attempt(() => runPlan(home, plans.fused, `fused-${set.data}`));
    rows.push(
      'error' in fused
        ? { data: set.name, recipe: fusedLabel, accuracy: fused.error }
        : row(set.name, fusedLabel, fused.report, fused.seconds),
    );
    if ('error' in seq || 'error' in adam || 'error' in fused) continue;
    const best = Math.max(seq.report.after.accuracy ?? 0, adam.report.after.accuracy ?? 0);
    const gain = (fused.report.after.accuracy ?? 0) - best;
    console.log(
      `${set.name}: fused − the better sequential accuracy ${(100 * gain).toFixed(2)} points (goal ≥ 0): ${gain >= 0 ? 'met' : 'NOT met'}`,
    );
  }
  return rows;
}
