/**
 * @file `studio sensitivity` (scan every prunable group at each ratio, over a worker pool) and `studio allocate`
 * (per-layer sparsities from a stored scan for a latency / MACs / params budget, refined by measuring the allocation
 * whole, written as an NNI config list, and optionally measured again after pruning + speedup). Files go through the path guard. May import node:* and the node layers.
 */
import { writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import type { Allocation, SensitivityScan } from '../../../src-shared/sensitivity.ts';
import { allocate, parseBudget } from '../../core/compress/pruning/index.ts';
import { prepareOutputDir } from '../io/guard.ts';
import { scanDispatcher } from '../queue/choose.ts';
import { ranOn } from '../../../src-shared/queue.ts';
import { readScan, sensitivityScan, type ScanOptions } from '../sensitivity/scan.ts';

export { readScan };
import { checkAllocation, type AllocationCheck } from '../sensitivity/verify.ts';
import { refineAllocation } from '../sensitivity/refine.ts';
import { table } from './format.ts';
import type { CommandIO } from './prune.ts';

const processIO: CommandIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export interface SensitivityCommandOptions extends ScanOptions {
  workers?: number;
  /** A PostgreSQL queue URL: the points run as jobs there (default: $STUDIO_QUEUE, else the local pool). */
  queue?: string;
  /** With a queue: a shared folder for artifacts instead of the database. */
  artifactsDir?: string;
  out?: string;
  json?: boolean;
}

/** The accuracy / latency table of a scan, one row per group × ratio. */
export function scanTable(scan: SensitivityScan): string {
  const rows = scan.points.map((p) => [
    p.group,
    scan.groups.find((g) => g.id === p.group)!.nodes.join(' '),
    p.ratio.toFixed(2),
    pct(p.accuracy),
    `${scan.baseline.accuracy - p.accuracy >= 0 ? '−' : '+'}${(Math.abs(scan.baseline.accuracy - p.accuracy) * 100).toFixed(2)}`,
    `×${p.latencyRatio.toFixed(3)}`,
    p.maxRelErr.toExponential(1),
  ]);
  return table([['group', 'nodes', 'ratio', 'accuracy', 'Δ points', 'latency', 'max rel err'], ...rows], {
    rule: true,
  });
}

/**
 * Scan and write `<out>/sensitivity.json`.
 * @example await sensitivityCommand({ model: 'resources/mnist-cnn.onnx', data: 'resources/mnist', ratios: [0.25, 0.5] });
 */
export async function sensitivityCommand(
  o: SensitivityCommandOptions,
  io: CommandIO = processIO,
): Promise<{ scan: SensitivityScan; path: string }> {
  const controller = new AbortController();
  const onSignal = () => controller.abort('interrupted');
  process.once('SIGINT', onSignal);
  try {
    const scan = await sensitivityScan(o, {
      dispatcher: scanDispatcher({
        queue: o.queue,
        workers: o.workers,
        queueOptions: { artifactsDir: o.artifactsDir, log: (line) => io.stderr(`${line}\n`) },
      }),
      signal: controller.signal,
      onProgress: (p) =>
        io.stderr(`[${p.done}/${p.total}]${p.etaMs === null ? '' : ` ETA ${secs(p.etaMs)}`} ${p.message}\n`),
    });
    const stem = basename(o.model, extname(o.model));
    const dir = prepareOutputDir(o.out ?? resolve(`${stem}-sensitivity`), { what: 'output folder' });
    const path = join(dir, 'sensitivity.json');
    writeFileSync(path, `${JSON.stringify(scan, null, 1)}\n`);
    if (o.json) io.stdout(`${JSON.stringify({ path, ...scan }, null, 2)}\n`);
    else {
      io.stdout(
        `dense: accuracy ${pct(scan.baseline.accuracy)} on ${scan.eval.count} samples, latency ${scan.baseline.latencyMs.toFixed(3)} ms p50 at batch ${scan.eval.batchSize} (${scan.ep})\n`,
      );
      io.stdout(`${scanTable(scan)}\n`);
      io.stdout(
        `${scan.points.length} points (${scan.groups.length} groups × ${scan.ratios.length} ratios) in ${secs(scan.wallMs)} on ${scan.workers} worker(s): ${ranOn(scan.points)}\nwrote ${path}\n`,
      );
    }
    return { scan, path };
  } finally {
    process.off('SIGINT', onSignal);
  }
}

export interface AllocateCommandOptions {
  /** Path of a sensitivity.json. */
  scan: string;
  budget: string;
  maxDrop: number;
  roundTo?: number;
  /** Largest ratio any one group may take (NNI's `max_sparse_ratio`); default: none. */
  maxSparseRatio?: number;
  /**
   * Measure the model's choice whole and correct (default true): rounds of allocate → prune + speed up → measure on
   * the target's axis; false keeps the scan-only prediction.
   */
  refine?: boolean;
  /** Allocations measured at most while refining (default 6). */
  refineRounds?: number;
  /** Short-term fine-tune steps per candidate meeting the budget (default 100; 0 keeps the least one-shot drop). */
  shortTermSteps?: number;
  /** Allocations the short-term fine-tune compares at most (default 6). */
  candidates?: number;
  /** Also prune + speed up with the allocation and measure it beside the prediction. */
  verify?: boolean;
  out?: string;
  json?: boolean;
}

/**
 * Allocate per-group sparsities for a budget; writes `<out>/config-list.json` (the prune step's config list) and
 * `<out>/allocation.json` (choices, prediction and, with `verify`, the measured figures).
 */
export async function allocateCommand(
  o: AllocateCommandOptions,
  io: CommandIO = processIO,
): Promise<{ allocation: Allocation; check?: AllocationCheck; configPath: string }> {
  const scan = readScan(o.scan);
  const options = {
    target: parseBudget(o.budget),
    maxAccuracyDrop: o.maxDrop,
    roundTo: o.roundTo,
    maxSparseRatio: o.maxSparseRatio,
  };
  const allocation =
    o.refine === false
      ? allocate(scan, options)
      : await refineAllocation(scan, options, {
          rounds: o.refineRounds,
          shortTermSteps: o.shortTermSteps,
          candidates: o.candidates,
          onCandidate: (c) => {
            if (!o.json)
              io.stderr(
                `short-term: ${c.source} ${c.sparseRatios.map((x) => x.toFixed(2)).join('/')} (measured ${c.measured.toFixed(3)} of dense) → held-out top-1 one-shot ${pct(c.oneShot)}, after the fine-tune ${pct(c.shortTerm)}\n`,
              );
          },
          onRound: (r, i) => {
            if (!o.json)
              io.stderr(
                `refine ${i + 1}: sparsities ${r.sparseRatios.map((x) => x.toFixed(2)).join('/')} → model ${r.modelled.toFixed(3)}, corrected ${r.predicted.toFixed(3)}, measured ${r.measured.toFixed(3)} (of dense)\n`,
              );
          },
        });
  const check = o.verify ? await checkAllocation(scan, allocation) : undefined;
  const dir = prepareOutputDir(o.out ?? resolve('allocation'), { what: 'output folder' });
  const configPath = join(dir, 'config-list.json');
  writeFileSync(configPath, `${JSON.stringify(allocation.configList, null, 2)}\n`);
  const { compact: _c, ...checkJson } = check ?? { compact: undefined };
  writeFileSync(
    join(dir, 'allocation.json'),
    `${JSON.stringify({ ...allocation, ...(check ? { check: checkJson } : {}) }, null, 2)}\n`,
  );
  if (o.json)
    io.stdout(
      `${JSON.stringify({ config: configPath, ...allocation, ...(check ? { check: checkJson } : {}) }, null, 2)}\n`,
    );
  else {
    const rows = allocation.choices.map((c) => [
      c.group,
      c.nodes.join(' '),
      c.ratio.toFixed(2),
      c.sparseRatio.toFixed(3),
      String(c.keptChannels),
      `−${(c.accuracyDrop * 100).toFixed(2)}`,
      `${c.latencySavedMs.toFixed(3)} ms`,
    ]);
    io.stdout(
      `${table([['group', 'nodes', 'scanned', 'sparse_ratio', 'kept', 'Δ points', 'saved alone'], ...rows], { rule: true })}\n`,
    );
    const p = allocation.predicted;
    const ref = allocation.refinement;
    if (ref) {
      const r = ref.rounds[ref.chosen]!;
      const what = ref.axis === 'latency' ? 'latency' : ref.axis === 'macs' ? 'MACs' : 'parameters';
      io.stdout(
        `${what} of dense: scan-only model ${r.modelled.toFixed(3)}, measured whole ${r.measured.toFixed(3)} (the prediction below; ${ref.rounds.length} allocation(s) measured)${ref.met ? '' : ' — NO measured allocation met the budget; this is the cheapest one measured'}\n`,
      );
      const st = ref.shortTerm;
      if (st)
        io.stdout(
          `chosen by a ${st.steps}-step fine-tune of each allocation meeting the budget (top-1 on ${st.heldOut} held-out training samples):\n${table(
            [
              ['', 'from', 'sparsities', `${what} of dense`, 'one-shot drop (scan)', 'one-shot', 'short-term'],
              ...st.candidates.map((c, i) => [
                i === st.chosen ? '→' : '',
                c.source,
                c.sparseRatios.map((x) => x.toFixed(2)).join('/'),
                c.measured.toFixed(3),
                `−${(c.predictedDrop * 100).toFixed(1)}`,
                pct(c.oneShot),
                pct(c.shortTerm),
              ]),
            ],
            { rule: true },
          )}\n`,
        );
    }
    const lines = [['', 'predicted', ...(check ? ['measured'] : [])]];
    lines.push(['speedup', `${p.speedup.toFixed(2)}×`, ...(check ? [`${check.measured.speedup.toFixed(2)}×`] : [])]);
    lines.push([
      'latency',
      `${p.latencyMs.toFixed(3)} ms`,
      ...(check
        ? [`${check.measured.latencyMs.toFixed(3)} ms (dense ${check.measured.denseLatencyMs.toFixed(3)})`]
        : []),
    ]);
    lines.push(['accuracy', pct(p.accuracy), ...(check ? [pct(check.measured.accuracy)] : [])]);
    io.stdout(`${table(lines)}\n`);
    if (check)
      io.stdout(
        `latency prediction off by ${pct(check.latencyError)}; compact = masked within ${check.measured.maxRelErr.toExponential(1)}\n`,
      );
    io.stdout(`wrote ${configPath}\n`);
  }
  return { allocation, check, configPath };
}
