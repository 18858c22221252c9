/**
 * @file `npm run bench`: every benchmark, side by side in one run on this machine, printing medians and ratios.
 * Sections: corpus (load, trace, latency per model), then the feature benchmarks (speedup, training, quantization,
 * jobs, distillation, sensitivity, allocation, pruning, fusion, the job queue; the torchvision zoo and distillation's accuracy side by
 * side only when named: `npm run bench -- zoo`, `npm run bench -- distill-accuracy`).
 * `npm run bench -- corpus` runs one section; `--quick` trims the corpus.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeModel } from '../../src-main/core/onnx/index.ts';
import { benchmark, cpuInfo, trace } from '../../src-main/node/runtime/index.ts';
import { corpusManifest, loadCorpusModel } from '../corpus/materialize.ts';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.filter((a) => !a.startsWith('--'));
const want = (s: string) => only.length === 0 || only.includes(s);

function printTable(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return;
  // every row's columns, in order of first appearance (sections mix row kinds: a later row's figures must show)
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v: unknown) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v ?? '');
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  console.log(cols.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  for (const r of rows) console.log(cols.map((c, i) => cell(r[c]).padEnd(widths[i]!)).join('  '));
}

async function benchCorpus(): Promise<void> {
  console.log(
    '\n## corpus: load (decode + materialize weights), trace (session + one run with every value exposed), latency (batch 1, 1 thread)',
  );
  const entries = corpusManifest().filter(
    (e) => !quick || (e.batch === 'static' && e.opset === 17 && !e.model.startsWith('vgg')),
  );
  const rows: Record<string, unknown>[] = [];
  for (const e of entries) {
    const t0 = performance.now();
    const model = loadCorpusModel(e.name, 0);
    const loadMs = performance.now() - t0;
    const bytes = encodeModel(model).bytes;
    const tr = await trace(model, { threads: 1, dimSizes: { batch: 1 } });
    const lat = await benchmark(bytes, { threads: 1, warmup: 3, runs: quick ? 5 : 20, dimSizes: { batch: 1 } });
    rows.push({
      model: e.name.replace('.onnx', ''),
      load_ms: loadMs,
      trace_ms: tr.ms + tr.sessionMs,
      p50_ms: lat.p50,
      p90_ms: lat.p90,
      runs: lat.runs,
    });
  }
  printTable(rows);
}

/** `optIn`: runs only when named (`npm run bench -- zoo`): the zoo takes hours on two cores. */
type Section = { name: string; file: string; fn: string; optIn?: boolean };
const FEATURE_BENCHES: Section[] = [
  { name: 'speedup', file: 'speedup.bench.ts', fn: 'benchSpeedup' },
  { name: 'train', file: 'train.bench.ts', fn: 'benchTraining' },
  { name: 'quant', file: 'quant.bench.ts', fn: 'benchQuantization' },
  { name: 'jobs', file: 'jobs.bench.ts', fn: 'benchEventLoop' },
  { name: 'distill', file: 'distill.bench.ts', fn: 'benchDistill' },
  { name: 'distill-accuracy', file: 'distill-accuracy.bench.ts', fn: 'benchDistillAccuracy', optIn: true },
  { name: 'sensitivity', file: 'sensitivity.bench.ts', fn: 'benchSensitivity' },
  { name: 'allocation', file: 'allocation.bench.ts', fn: 'benchAllocation' },
  { name: 'prune', file: 'prune.bench.ts', fn: 'benchPrune' },
  { name: 'fusion', file: 'fusion.bench.ts', fn: 'benchFusion' },
  { name: 'queue', file: 'queue.bench.ts', fn: 'benchQueue' },
  { name: 'zoo', file: 'zoo.bench.ts', fn: 'benchZoo', optIn: true },
];

async function main(): Promise<void> {
  const cpu = cpuInfo();
  console.log(`# Compression Studio benchmarks — ${new Date().toISOString()}`);
  console.log(
    `cpu: ${cpu.model}; logical cores ${cpu.logicalCores}; flags ${Object.entries(cpu.flags)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')}`,
  );
  if (want('corpus')) await benchCorpus();
  for (const s of FEATURE_BENCHES) {
    if (!want(s.name) || (s.optIn && !only.includes(s.name))) continue;
    const file = join(here, s.file);
    if (!existsSync(file)) continue;
    console.log(`\n## ${s.name}`);
    const mod = (await import(file)) as Record<string, () => Promise<unknown>>;
    const out = await mod[s.fn]!();
    const rows = Array.isArray(out) ? (out as Record<string, unknown>[]) : [out as Record<string, unknown>];
    printTable(rows);
  }
}

await main();
