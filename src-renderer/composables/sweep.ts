/**
 * @file Sweeps in the app (issue 22): the parameters a plan offers to sweep (JSON paths the sweep form suggests),
 * reading a value list as typed, and one progress figure and ETA over a sweep's runs. Pure; imports src-shared only.
 */
import type { ProgressEvent, RunStatus } from '../../src-shared/experiment.ts';
import { parseGridArgs, SweepError } from '../../src-shared/sweep.ts';

/** A parameter the sweep form offers: its JSON path and what it is. */
export interface SweepChoice {
  path: string;
  label: string;
}

/** The most parameters one sweep from the app varies. */
export const MAX_SWEEP_PARAMS = 3;

const STEP_KEYS = ['pruner', 'quantizer', 'distiller', 'epochs', 'lr', 'batchSize', 'temperature', 'alpha'] as const;
const CONFIG_KEYS = ['sparse_ratio', 'quant_dtype', 'granularity'] as const;

/**
 * The JSON paths worth sweeping in a plan: each step's compressor choice and training knobs, each config list
 * entry's sparsity / quantization keys (those the plan sets), and the seed.
 * @example sweepChoices(plan)[0] // { path: '$.steps[0].pruner', label: 'step 1 prune: pruner' }
 */
export function sweepChoices(plan: { steps: readonly Record<string, unknown>[] }): SweepChoice[] {
  const out: SweepChoice[] = [];
  plan.steps.forEach((step, i) => {
    const at = `$.steps[${i}]`;
    const name = `step ${i + 1} ${String(step.kind)}`;
    for (const k of STEP_KEYS) if (k in step) out.push({ path: `${at}.${k}`, label: `${name}: ${k}` });
    const blocks: [string, unknown][] = [['', step.configList]];
    for (const b of ['pruning', 'quantization'] as const) {
      const block = step[b] as Record<string, unknown> | undefined;
      if (block) {
        for (const k of STEP_KEYS) if (k in block) out.push({ path: `${at}.${b}.${k}`, label: `${name}: ${b} ${k}` });
        blocks.push([`.${b}`, block.configList]);
      }
    }
    for (const [prefix, list] of blocks)
      if (Array.isArray(list))
        list.forEach((entry: Record<string, unknown>, j) => {
          for (const k of CONFIG_KEYS)
            if (k in entry)
              out.push({ path: `${at}${prefix}.configList[${j}].${k}`, label: `${name}: config ${j + 1} ${k}` });
        });
  });
  out.push({ path: '$.seed', label: 'seed' });
  return out;
}

/**
 * Read a parameter's values as the user typed them (`0.3, 0.5`, `l1, fpgm`, or a JSON array).
 * @throws SweepError naming the path
 */
export function sweepValues(path: string, text: string): unknown[] {
  if (!text.trim()) throw new SweepError(`give ${path} at least one value`, path);
  return parseGridArgs([`${path}=${text}`])[path]!;
}

/** The sweep's progress over its runs, as `runSweep` reports it on the command line. */
export interface SweepView {
  total: number;
  done: number;
  failed: number;
  running: number;
  overall: number;
  etaMs: number | null;
}

const FINISHED: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

/**
 * One progress figure over a sweep's runs: a finished run counts 1, a running one its own progress; the ETA is the
 * sweep's pace so far (elapsed × (1 − f) / f once 2 % is done).
 * @example sweepView([{ status: 'succeeded' }, { status: 'running', progress }], 30_000)
 */
export function sweepView(
  runs: readonly { status: RunStatus; progress: ProgressEvent | null }[],
  elapsedMs: number,
): SweepView {
  const finished = runs.filter((r) => FINISHED.includes(r.status));
  const overall =
    runs.reduce(
      (a, r) => a + (FINISHED.includes(r.status) ? 1 : r.status === 'running' ? (r.progress?.overall ?? 0) : 0),
      0,
    ) / Math.max(1, runs.length);
  return {
    total: runs.length,
    done: finished.length,
    failed: finished.filter((r) => r.status !== 'succeeded').length,
    running: runs.filter((r) => r.status === 'running').length,
    overall,
    etaMs:
      overall >= 1 ? 0 : overall < 0.02 || elapsedMs < 500 ? null : Math.round((elapsedMs * (1 - overall)) / overall),
  };
}
