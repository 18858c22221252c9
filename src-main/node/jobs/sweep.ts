/**
 * @file Running a sweep (issue 22): every point of the grid is a whole run submitted to a runner, recorded in the
 * store like any run and tagged with the sweep id and its parameters; one progress figure and ETA for the sweep.
 * Where the runs execute is the runner's spawner: worker processes here, or queue jobs (src-main/node/queue/
 * run-spawner.ts) — the one dispatch choice is made by the caller. Imports the runner and src-shared only.
 */
import { randomBytes } from 'node:crypto';
import type { RunStatus } from '../../../src-shared/experiment.ts';
import { sweepTags, type SweepPoint } from '../../../src-shared/sweep.ts';
import type { Job, JobOutcome, Runner } from './runner.ts';

/** One point as the sweep's progress shows it. */
export interface SweepPointState {
  index: number;
  label: string;
  runId: string;
  status: RunStatus;
  /** The run's own progress, 0…1. */
  overall: number;
}

/** The sweep's one progress figure: points done, the mean progress over all points, and the time left. */
export interface SweepProgress {
  sweepId: string;
  total: number;
  succeeded: number;
  failed: number;
  running: number;
  /** Mean progress over every point (a point not started counts 0, a finished one 1), 0…1. */
  overall: number;
  /** Milliseconds left at the sweep's pace so far; null until it has one. */
  etaMs: number | null;
  elapsedMs: number;
  points: SweepPointState[];
}

export interface SweepOutcome {
  sweepId: string;
  outcomes: (JobOutcome & { index: number; label: string; params: Record<string, unknown> })[];
}

export interface SweepRunOptions {
  /** Names the sweep (default: 8 random hex digits). */
  sweepId?: string;
  /** The experiment its runs are filed under (default: "sweep <id>"). */
  experiment?: string;
  /** Called whenever a point reports progress or changes status (at most every `progressMs`, default 200 ms). */
  onProgress?: (p: SweepProgress) => void;
  progressMs?: number;
  /** Called once every point is submitted, with their run ids in point order. */
  onSubmitted?: (runIds: string[]) => void;
  signal?: AbortSignal;
}

/** A new sweep id. */
export function newSweepId(): string {
  return randomBytes(4).toString('hex');
}

/** The sweep's pace-based ETA: elapsed × (1 − f) / f once 2 % is done. */
export function sweepEta(overall: number, elapsedMs: number): number | null {
  if (overall < 0.02 || elapsedMs < 500) return null;
  return Math.round((elapsedMs * (1 - overall)) / overall);
}

/**
 * Submit every point to the runner and wait for all of them. A failed point does not stop the others; an abort
 * cancels every point still queued or running.
 * @example const { outcomes } = await runSweep(expandSweep(plan, grid), runner, { onProgress: (p) => bar(p.overall) });
 */
export async function runSweep(
  points: readonly SweepPoint[],
  runner: Runner,
  opts: SweepRunOptions = {},
): Promise<SweepOutcome> {
  const sweepId = opts.sweepId ?? newSweepId();
  const experiment = opts.experiment ?? `sweep ${sweepId}`;
  const t0 = Date.now();
  const jobs: Job[] = [];
  const states: SweepPointState[] = [];
  for (const p of points) {
    const job = runner.submit(p.plan, { experiment, tags: sweepTags(sweepId, p) });
    jobs.push(job);
    states.push({ index: p.index, label: p.label, runId: job.runId, status: 'queued', overall: 0 });
  }
  opts.onSubmitted?.(jobs.map((j) => j.runId));
  let last = 0;
  const report = (force = false) => {
    const now = Date.now();
    if (!opts.onProgress || (!force && now - last < (opts.progressMs ?? 200))) return;
    last = now;
    opts.onProgress(progressOf(sweepId, states, now - t0));
  };
  jobs.forEach((job, i) => {
    job.on('progress', (e) => {
      states[i]!.overall = e.overall;
      report();
    });
    job.on('status', (s) => {
      states[i]!.status = s;
      if (s === 'succeeded') states[i]!.overall = 1;
      report(true);
    });
  });
  const abort = () => {
    for (const j of jobs) j.cancel(String(opts.signal?.reason ?? 'sweep cancelled'));
  };
  opts.signal?.addEventListener('abort', abort, { once: true });
  if (opts.signal?.aborted) abort();
  try {
    const done = await Promise.all(jobs.map((j) => j.done));
    report(true);
    return {
      sweepId,
      outcomes: done.map((o, i) => ({
        ...o,
        index: points[i]!.index,
        label: points[i]!.label,
        params: points[i]!.params,
      })),
    };
  } finally {
    opts.signal?.removeEventListener('abort', abort);
  }
}

function progressOf(sweepId: string, states: readonly SweepPointState[], elapsedMs: number): SweepProgress {
  const finished = (s: RunStatus) => s !== 'queued' && s !== 'running';
  const overall = states.reduce((a, s) => a + (finished(s.status) ? 1 : s.overall), 0) / Math.max(1, states.length);
  return {
    sweepId,
    total: states.length,
    succeeded: states.filter((s) => s.status === 'succeeded').length,
    failed: states.filter((s) => finished(s.status) && s.status !== 'succeeded').length,
    running: states.filter((s) => s.status === 'running').length,
    overall,
    etaMs: overall >= 1 ? 0 : sweepEta(overall, elapsedMs),
    elapsedMs,
    points: states.map((s) => ({ ...s })),
  };
}
