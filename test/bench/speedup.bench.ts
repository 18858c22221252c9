/**
 * @file Benchmark: pruning speedup on resnet50 at 50 % L1 channel sparsity (auto dependency groups, roundTo 8).
 * Reports the MAC speedup beside the measured ORT latency speedup (side by side, same thread count) and their
 * quotient (goal ≥ 0.95 on CPU: the real speedup delivers what the MACs promise), and the time of the speedup
 * pass itself (analysis + shrink; goal < 1 s). Run alone with `node --import tsx test/bench/speedup.bench.ts`.
 */
import { pathToFileURL } from 'node:url';
import { L1NormPruner, resolveAutoDependencyGroups } from '../../src-main/core/compress/pruning/index.ts';
import { compactModel } from '../../src-main/core/compress/speedup/index.ts';
import { cpuInfo, trace } from '../../src-main/node/runtime/index.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';

const THREADS = Number(process.env.SPEEDUP_BENCH_THREADS ?? 1);
const ROUNDS = Number(process.env.SPEEDUP_BENCH_ROUNDS ?? 20);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * One row for resnet50 (50 %, roundTo 8).
 * @example const row = await benchSpeedup(); // { name: 'speedup.resnet50', latency_speedup: 3.6, mac_speedup: 3.9, … }
 */
export async function benchSpeedup(): Promise<Record<string, unknown>> {
  const model = loadCorpusModel('resnet50_op17_b1', 0);
  const t = await trace(model, {});
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
  const auto = resolveAutoDependencyGroups(
    [{ op_types: ['Conv', 'Gemm'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
    model,
    shapes,
  );
  const { masks, applyMethods } = await new L1NormPruner(model, auto.configList, undefined, { shapes }).compress();
  // the speedup pass alone (analysis + plan + shrink), median of three
  const passMs = [0, 1, 2].map(() => {
    const t0 = performance.now();
    compactModel(model, masks, { shapes, roundTo: 8 });
    return performance.now() - t0;
  });
  const { report } = await new ModelSpeedup(model, masks, {
    applyMethods,
    roundTo: 8,
    session: { threads: THREADS },
    benchmark: { runs: ROUNDS, maxMs: 120_000 },
  }).speedupModel();
  const macSpeedup = report.before.macs / report.after.macs;
  const latencySpeedup = 1 / report.latency!.roundRatio;
  const f = cpuInfo().flags;
  return {
    name: 'speedup.resnet50.l1-50.round8',
    mac_speedup: macSpeedup,
    latency_speedup: latencySpeedup,
    'latency÷mac (goal≥0.95)': latencySpeedup / macSpeedup,
    speedup_pass_ms: median(passMs),
    'pass<1s': median(passMs) < 1000,
    p50_before_ms: report.latency!.before.p50,
    p50_after_ms: report.latency!.after.p50,
    rounds: report.latency!.rounds,
    threads: report.latency!.threads,
    max_rel_err: report.verification.maxRelErr,
    params: `${report.before.params}→${report.after.params}`,
    cpu: `avx2=${f.avx2} avx512f=${f.avx512f}`,
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(await benchSpeedup());
}
