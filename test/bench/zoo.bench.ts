/**
 * @file Benchmark: the torchvision zoo (test/zoo), every model through the recipe of test/zoo/zoo.ts — load
 * (normalized), trace, MACs vs torchvision's count, 50 % L1 with automatic groups, speedup verified against the
 * masked model, and latency before/after side by side (1 thread). Prints one row per model: pruned / MAC ratio /
 * latency ratio / max error / why not. Environment: ZOO_OPSETS (default "13,17"), ZOO_ONLY (comma-separated
 * model names), ZOO_MAX_GMACS (skip larger models, with the reason in the row), ZOO_MIN_GMACS (only models from
 * this size up), ZOO_LOG (each row as JSON on stderr as it finishes, and a line per stage of the recipe). Run alone with
 * `node --import tsx test/bench/zoo.bench.ts`.
 */
import { pathToFileURL } from 'node:url';
import { runZooModel, TORCHVISION_GFLOPS, zooManifest, type ZooRow } from '../zoo/zoo.ts';

const fmt = (x: number | null, digits = 3) =>
  x === null || Number.isNaN(x) ? '—' : x < 0.01 ? x.toExponential(1) : x.toFixed(digits);

/** With ZOO_LOG: a line per recipe stage (a 1 TMAC model spends minutes in each), with the time and memory so far. */
const progress = (name: string, t0: number) => (stage: string) =>
  console.error(
    `[${name}] ${stage} at ${((performance.now() - t0) / 1000).toFixed(0)} s, rss ${(process.memoryUsage.rss() / 2 ** 30).toFixed(1)} GiB`,
  );

/** Every zoo model (filtered by the environment), one row each. */
export async function benchZoo(): Promise<Record<string, unknown>[]> {
  const opsets = (process.env.ZOO_OPSETS ?? '13,17').split(',').map(Number);
  const only = process.env.ZOO_ONLY ? new Set(process.env.ZOO_ONLY.split(',')) : null;
  const maxGmacs = Number(process.env.ZOO_MAX_GMACS ?? Infinity);
  const minGmacs = Number(process.env.ZOO_MIN_GMACS ?? 0);
  const rows: Record<string, unknown>[] = [];
  for (const e of zooManifest()) {
    if (!opsets.includes(e.opset) || (only && !only.has(e.model)) || e.torchMacs / 1e9 < minGmacs) continue;
    const t0 = performance.now();
    const r: ZooRow =
      e.torchMacs / 1e9 > maxGmacs
        ? {
            model: e.name.replace('.onnx', ''),
            gmacs: e.torchMacs / 1e9,
            our_gmacs: null,
            macs_vs_doc: NaN,
            macs_vs_torch: NaN,
            pruned: 'no',
            mac_ratio: null,
            latency_ratio: null,
            max_err: null,
            why_not: `not run: ${(e.torchMacs / 1e9).toFixed(1)} GMACs > ZOO_MAX_GMACS`,
          }
        : await runZooModel(e, { benchmark: true, ...(process.env.ZOO_LOG ? { progress: progress(e.name, t0) } : {}) });
    const row = {
      model: r.model,
      gmacs: r.our_gmacs === null ? '—' : r.our_gmacs.toFixed(2),
      documented: TORCHVISION_GFLOPS[e.model]?.toFixed(2) ?? '—',
      macs_vs_doc: fmt(r.macs_vs_doc, 4),
      macs_vs_hooks: fmt(r.macs_vs_torch, 4),
      pruned: r.pruned,
      mac_ratio: fmt(r.mac_ratio),
      latency_ratio: fmt(r.latency_ratio),
      max_err: r.max_err === null ? '—' : r.max_err.toExponential(1),
      seconds: ((performance.now() - t0) / 1000).toFixed(0),
      why_not: r.why_not,
    };
    if (process.env.ZOO_LOG) console.error(JSON.stringify(row));
    rows.push(row);
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchZoo()) console.log(JSON.stringify(r));
}
