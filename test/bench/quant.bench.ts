/**
 * @file Benchmark: int8 QDQ (PTQ, ORT's recommended CPU config) against fp32, side by side in one process on this
 * machine, for resnet50 and mobilenet_v2 from the corpus (goal ≥ 3× for resnet50 on a VNNI CPU), and resnet50
 * pruned to 50 % channels (L1, auto dependency groups, real speedup) plus int8 against the dense fp32 model (goal
 * ≥ 10×). Corpus weights are seeded, not trained, so calibration uses seeded normal inputs: these rows measure
 * speed, not accuracy (accuracy is measured on the MNIST example in the tests). The CPU flags are printed beside
 * every figure. Also int8 vs fp32 at batch 1 and 64 (the example CNN, mobilenet_v2, resnet50; QUANT_BENCH_BATCH_MODELS picks the
 * corpus ones) and a QAT / LSQ / DoReFa (W2A4, 8-bit gradients) training step against a plain fp32 step on the example
 * (goal ≤ 1.3×; wall-clock and CPU-time ratios). Run alone with
 * `node --import tsx test/bench/quant.bench.ts`; `QUANT_BENCH_ONLY=train` runs only the training-step rows.
 */
import { pathToFileURL } from 'node:url';
import type { Model } from '../../src-main/core/ir/index.ts';
import { ORT_CPU_STATIC_CONFIG } from '../../src-main/core/compress/quantization/index.ts';
import {
  compareQuantizedSpeed,
  PTQQuantizer,
  wantsReduceRange,
  type QuantEvaluator,
} from '../../src-main/node/quantize/index.ts';
import { LsqQuantizer, QATQuantizer } from '../../src-main/core/compress/quantization/trained.ts';
import { DoReFaQuantizer } from '../../src-main/core/compress/quantization/dorefa-bnn.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { Evaluator, loadIdxDataset, type RunOptions } from '../../src-main/node/train/index.ts';
import { RESOURCES_DIR } from '../../src-main/node/train/mnist.ts';
import { join } from 'node:path';
import { compareLatency, cpuInfo, sampleInputs, trace } from '../../src-main/node/runtime/index.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';

const THREADS = Number(process.env.QUANT_BENCH_THREADS ?? 1);
const ROUNDS = Number(process.env.QUANT_BENCH_ROUNDS ?? 15);

function randomEvaluator(model: Model, batches = 4): QuantEvaluator {
  return {
    async *calibrationBatches() {
      for (let i = 0; i < batches; i++) yield sampleInputs(model, { seed: 100 + i });
    },
    evaluate: async () => Number.NaN,
  };
}

function flags(): string {
  const f = cpuInfo().flags;
  return `avx2=${f.avx2} avx512f=${f.avx512f} avx512_vnni=${f.avx512_vnni} avx_vnni=${f.avx_vnni}`;
}

/** PTQ with the ORT CPU config, auto fusion; the exported QDQ model and what ORT made of it. */
async function int8(model: Model): Promise<{ model: Model; integerOps: number; unfused: number; ms: number }> {
  const t0 = performance.now();
  const q = new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, randomEvaluator(model), { fuse: 'auto', threads: THREADS });
  await q.compress();
  const ex = await q.exportQDQ();
  return {
    model: ex.model,
    integerOps: ex.fusion!.integerOps,
    unfused: ex.fusion!.unfused.length,
    ms: performance.now() - t0,
  };
}

async function row(
  name: string,
  label: string,
  dense: Model,
  fast: Model,
  goal: number | null,
  extra: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const c = await compareLatency(dense, fast, { threads: THREADS, runs: ROUNDS, warmup: 3 });
  const speedup = 1 / c.roundRatio;
  return {
    name,
    variant: label,
    fp32_p50_ms: c.a.p50,
    fast_p50_ms: c.b.p50,
    speedup,
    goal: goal === null ? '—' : `≥${goal}× (VNNI)`,
    threads: THREADS,
    rounds: c.rounds,
    ...extra,
    cpu: flags(),
  };
}

/** resnet50 at 50 % L1 channel sparsity, compacted by ModelSpeedup, then int8. */
async function prunedInt8(dense: Model): Promise<Record<string, unknown>> {
  let speedup: typeof import('../../src-main/node/speedup/index.ts');
  let pruning: typeof import('../../src-main/core/compress/pruning/index.ts');
  try {
    speedup = await import('../../src-main/node/speedup/index.ts');
    pruning = await import('../../src-main/core/compress/pruning/index.ts');
  } catch (e) {
    return {
      name: 'quant.resnet50.pruned50+int8',
      status: `pending (speedup module not available: ${(e as Error).message.split('\n')[0]})`,
      cpu: flags(),
    };
  }
  const t = await trace(dense, {});
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
  const auto = speedup.resolveAutoDependencyGroups(
    [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
    dense,
    shapes,
  );
  const { masks, applyMethods } = await new pruning.L1NormPruner(dense, auto.configList, undefined, {
    shapes,
  }).compress();
  const { model: compact } = await new speedup.ModelSpeedup(dense, masks, {
    applyMethods,
    benchmark: false,
  }).speedupModel();
  const q = await int8(compact);
  return row('quant.resnet50.pruned50+int8', 'pruned 50 % + int8 vs dense fp32', dense, q.model, 10, {
    integer_ops: q.integerOps,
    not_fused: q.unfused,
  });
}

/** int8 vs fp32 at batch 1 and 64 on a dynamic-batch model (the quantize step's never-slower check, measured). */
async function batchRows(name: string, model: Model, sample: number[]): Promise<Record<string, unknown>[]> {
  const q = await int8(model);
  const rounds = Number(process.env.QUANT_BENCH_ROUNDS_64 ?? 5);
  const s = await compareQuantizedSpeed(model, q.model, undefined, {
    batches: [1, 64],
    threads: THREADS,
    runs: rounds,
    sampleShape: sample,
  });
  return s.batches.map((b) => ({
    name: `quant.${name}.batch${b.batch}`,
    variant: 'int8 QDQ vs fp32',
    fp32_p50_ms: b.floatMs,
    fast_p50_ms: b.quantizedMs,
    speedup: b.speedup,
    goal: '≥1 (never slower)',
    threads: THREADS,
    rounds: s.rounds,
    cpu: flags(),
  }));
}

/**
 * One training step with fake quantization (QAT / LSQ on the ORT recipe, W4A8 for LSQ) against a plain fp32 step on
 * the example CNN at batch 64, both one step per ORT call through the Evaluator, alternating in rounds; step time =
 * the median gap between consecutive step events after 5 warm-up steps (goal ≤ 1.3×). Also the process CPU time per
 * step (mean over the same steps): on a shared, loaded machine the wall-clock gaps include waiting for a core, the
 * CPU time does not, so `ratio_cpu` is the steadier of the two ratios there.
 */
async function trainingStepRows(): Promise<Record<string, unknown>[]> {
  const model = loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
  const data = loadIdxDataset(
    join(RESOURCES_DIR, 'mnist', 'train-images-idx3-ubyte.gz'),
    join(RESOURCES_DIR, 'mnist', 'train-labels-idx1-ubyte.gz'),
  );
  const steps = 40;
  const ev = () =>
    new Evaluator(model, {
      train: data,
      optimizer: { type: 'adam', lr: 1e-4 },
      batchSize: 64,
      epochs: 1,
      seed: 0,
      threads: THREADS,
      stepsPerRun: 1,
    });
  const timed = async (go: (run: RunOptions) => Promise<unknown>): Promise<{ wall: number; cpu: number }> => {
    const at: number[] = [];
    const cpu: number[] = [];
    await go({
      maxSteps: steps,
      progressEvery: 1,
      onProgress: (e) => {
        if (e.type !== 'step') return;
        at.push(performance.now());
        const u = process.cpuUsage();
        cpu.push((u.user + u.system) / 1000);
      },
    });
    const gaps = at.slice(6).map((t, i) => t - at[i + 5]!);
    return {
      wall: gaps.sort((a, b) => a - b)[gaps.length >> 1]!,
      cpu: (cpu[cpu.length - 1]! - cpu[5]!) / (cpu.length - 6),
    };
  };
  const w4a8 = [
    {
      op_types: ['Conv'],
      target_names: ['_input_', 'weight', '_output_'],
      quant_dtype: 'uint8',
      quant_scheme: 'symmetric',
      target_settings: { weight: { quant_dtype: 'int4', granularity: 'out_channel' } },
    },
    {
      op_types: ['Gemm'],
      target_names: ['_input_', 'weight'],
      quant_dtype: 'uint8',
      quant_scheme: 'symmetric',
      target_settings: { weight: { quant_dtype: 'int4', granularity: 'out_channel' } },
    },
  ];
  const dorefa = [
    { op_names: ['/conv2/Conv', '/conv3/Conv'], target_names: ['weight'], quant_dtype: 'int2' },
    { op_types: ['Relu'], target_names: ['_output_'], quant_dtype: 'uint4' },
    { op_names: ['/fc/Gemm'], target_names: ['_input_'], quant_dtype: 'uint8', quant_scheme: 'affine' },
  ];
  const variants = {
    qat: () =>
      timed((run) =>
        new QATQuantizer(model, ORT_CPU_STATIC_CONFIG, ev(), { reduceRange: wantsReduceRange() }).compress(run),
      ),
    lsq: () => timed((run) => new LsqQuantizer(model, w4a8, ev()).compress(run)),
    // 2-bit weights, 4-bit Relu outputs, a uint8 input with batch ranges, 8-bit stochastic gradients
    dorefa: () => timed((run) => new DoReFaQuantizer(model, dorefa, ev(), { gradientBits: 8 }).compress(run)),
  };
  const rounds = Number(process.env.QUANT_BENCH_TRAIN_ROUNDS ?? 3);
  const out: Record<string, unknown>[] = [];
  for (const [name, run] of Object.entries(variants)) {
    const ratios: number[] = [];
    const cpuRatios: number[] = [];
    const fp: number[] = [];
    const qt: number[] = [];
    const fpCpu: number[] = [];
    const qtCpu: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = await timed((o) => ev().train(o));
      const b = await run();
      fp.push(a.wall);
      qt.push(b.wall);
      ratios.push(b.wall / a.wall);
      fpCpu.push(a.cpu);
      qtCpu.push(b.cpu);
      cpuRatios.push(b.cpu / a.cpu);
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    out.push({
      name: `quant.train.${name}`,
      variant: `${name} training step vs fp32 step (example CNN, batch 64, 1 step per call)`,
      fp32_step_ms: med(fp),
      quant_step_ms: med(qt),
      ratio: med(ratios),
      fp32_step_cpu_ms: med(fpCpu),
      quant_step_cpu_ms: med(qtCpu),
      ratio_cpu: med(cpuRatios),
      goal: '≤1.3×',
      threads: THREADS,
      rounds,
      cpu: flags(),
    });
  }
  return out;
}

/**
 * Rows: int8 vs fp32 for resnet50 and mobilenet_v2, and pruned-50 %-plus-int8 resnet50 vs dense fp32; int8 vs fp32
 * at batch 1 and 64 (the example CNN, mobilenet_v2, resnet50); QAT / LSQ training steps vs fp32 steps.
 *
 * @example const rows = await benchQuantization(); // [{ name: 'quant.resnet50', speedup: 1.9, cpu: 'avx2=true …' }, …]
 */
export async function benchQuantization(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  // QUANT_BENCH_ONLY=train: only the training-step rows (the latency rows take most of the bench's time)
  if (process.env.QUANT_BENCH_ONLY === 'train') return trainingStepRows();
  const reduce = wantsReduceRange();
  for (const name of ['resnet50_op17_b1', 'mobilenet_v2_op17_b1']) {
    const dense = loadCorpusModel(name, 0);
    const q = await int8(dense);
    const short = name.replace('_op17_b1', '');
    rows.push(
      await row(
        `quant.${short}`,
        `int8 QDQ (U8S8${reduce ? ', 7-bit weights' : ''}) vs fp32`,
        dense,
        q.model,
        short === 'resnet50' ? 3 : null,
        { integer_ops: q.integerOps, not_fused: q.unfused, quantize_ms: Math.round(q.ms) },
      ),
    );
  }
  try {
    rows.push(await prunedInt8(loadCorpusModel('resnet50_op17_b1', 0)));
  } catch (e) {
    rows.push({
      name: 'quant.resnet50.pruned50+int8',
      status: `failed: ${(e as Error).message.split('\n')[0]}`,
      cpu: flags(),
    });
  }
  rows.push(...(await batchRows('mnist_cnn', loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx')), [1, 28, 28])));
  for (const name of (process.env.QUANT_BENCH_BATCH_MODELS ?? 'mobilenet_v2,resnet50').split(',').filter(Boolean)) {
    rows.push(...(await batchRows(name, loadCorpusModel(`${name}_op17_dyn`, 0), [3, 224, 224])));
  }
  rows.push(...(await trainingStepRows()));
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`cpu: ${cpuInfo().model}; ${flags()}`);
  for (const r of await benchQuantization()) console.log(JSON.stringify(r));
}
