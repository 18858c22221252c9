/**
 * @file Benchmark: int8 QDQ (PTQ, ORT's recommended CPU config) against fp32, side by side in one process on this
 * machine, for resnet50 and mobilenet_v2 from the corpus (goal ≥ 3× for resnet50 on a VNNI CPU), and resnet50
 * pruned to 50 % channels (L1, auto dependency groups, real speedup) plus int8 against the dense fp32 model (goal
 * ≥ 10×). Corpus weights are seeded, not trained, so calibration uses seeded normal inputs: these rows measure
 * speed, not accuracy (accuracy is measured on the MNIST example in the tests). The CPU flags are printed beside
 * every figure. Run alone with `node --import tsx test/bench/quant.bench.ts`.
 */
import { pathToFileURL } from 'node:url';
import type { Model } from '../../src-main/core/ir/index.ts';
import { ORT_CPU_STATIC_CONFIG } from '../../src-main/core/compress/quantization/index.ts';
import { PTQQuantizer, wantsReduceRange, type QuantEvaluator } from '../../src-main/node/quantize/index.ts';
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
  return { model: ex.model, integerOps: ex.fusion!.integerOps, unfused: ex.fusion!.unfused.length, ms: performance.now() - t0 };
}

async function row(name: string, label: string, dense: Model, fast: Model, goal: number | null, extra: Record<string, unknown>): Promise<Record<string, unknown>> {
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
    return { name: 'quant.resnet50.pruned50+int8', status: `pending (speedup module not available: ${(e as Error).message.split('\n')[0]})`, cpu: flags() };
  }
  const t = await trace(dense, {});
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
  const auto = speedup.resolveAutoDependencyGroups([{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }], dense, shapes);
  const { masks, applyMethods } = await new pruning.L1NormPruner(dense, auto.configList, undefined, { shapes }).compress();
  const { model: compact } = await new speedup.ModelSpeedup(dense, masks, { applyMethods, benchmark: false }).speedupModel();
  const q = await int8(compact);
  return row('quant.resnet50.pruned50+int8', 'pruned 50 % + int8 vs dense fp32', dense, q.model, 10, { integer_ops: q.integerOps, not_fused: q.unfused });
}

/**
 * Rows: int8 vs fp32 for resnet50 and mobilenet_v2, and pruned-50 %-plus-int8 resnet50 vs dense fp32.
 *
 * @example const rows = await benchQuantization(); // [{ name: 'quant.resnet50', speedup: 1.9, cpu: 'avx2=true …' }, …]
 */
export async function benchQuantization(): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  const reduce = wantsReduceRange();
  for (const name of ['resnet50_op17_b1', 'mobilenet_v2_op17_b1']) {
    const dense = loadCorpusModel(name, 0);
    const q = await int8(dense);
    const short = name.replace('_op17_b1', '');
    rows.push(await row(`quant.${short}`, `int8 QDQ (U8S8${reduce ? ', 7-bit weights' : ''}) vs fp32`, dense, q.model, short === 'resnet50' ? 3 : null, { integer_ops: q.integerOps, not_fused: q.unfused, quantize_ms: Math.round(q.ms) }));
  }
  try {
    rows.push(await prunedInt8(loadCorpusModel('resnet50_op17_b1', 0)));
  } catch (e) {
    rows.push({ name: 'quant.resnet50.pruned50+int8', status: `failed: ${(e as Error).message.split('\n')[0]}`, cpu: flags() });
  }
  return rows;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(`cpu: ${cpuInfo().model}; ${flags()}`);
  for (const r of await benchQuantization()) console.log(JSON.stringify(r));
}
