/**
 * @file How scan points get run, behind one small dispatch interface: `inProcessDispatcher` (one at a time, here)
 * and `localPool` (worker processes, one point each at a time, default cores − 1). A queue-backed dispatcher for
 * many machines implements the same interface. Cancellation through an AbortSignal kills the workers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { ScanPointJob, ScanPointResult } from '../../../src-shared/sensitivity.ts';
import { StudioError } from '../../core/ir/index.ts';
import { CancelledError } from '../jobs/cancel.ts';
import { PointCache, runScanPoint } from './point.ts';

export interface DispatchHooks {
  /** Called as each point finishes (in completion order). */
  onResult?: (r: ScanPointResult) => void;
  signal?: AbortSignal;
}

/** Runs scan points; results come back in job order. */
export interface ScanDispatcher {
  readonly workers: number;
  run(jobs: readonly ScanPointJob[], hooks?: DispatchHooks): Promise<ScanPointResult[]>;
}

/** A point that failed in a worker, with the worker's error name, code and message. */
export class ScanPointError extends StudioError {
  constructor(index: number, err: { name: string; message: string; code?: string }) {
    super(`scan point ${index} failed: ${err.name}: ${err.message}`, err.code ?? 'SCAN_POINT', {
      index,
      cause: err.name,
    });
    this.name = err.name === 'Error' ? 'ScanPointError' : err.name;
  }
}

/** Default pool size: one core left for the host (at least one worker). */
export function defaultWorkers(): number {
  return Math.max(1, availableParallelism() - 1);
}

/** Runs every point in this process, one after another (tests, and the reference the pool is compared with). */
export function inProcessDispatcher(): ScanDispatcher {
  const cache = new PointCache();
  return {
    workers: 1,
    async run(jobs, hooks = {}) {
      const out: ScanPointResult[] = [];
      for (const job of jobs) {
        if (hooks.signal?.aborted) throw new CancelledError(String(hooks.signal.reason ?? 'cancelled'));
        const r = await runScanPoint(job, cache);
        hooks.onResult?.(r);
        out.push(r);
      }
      return out;
    },
  };
}

const WORKER_ENTRY = fileURLToPath(new URL('./worker.ts', import.meta.url));

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'result'; result: ScanPointResult }
  | { type: 'error'; index: number; error: { name: string; message: string; code?: string } };

/**
 * Worker processes pulling points from one queue. A worker that dies or a point that throws fails the scan (the
 * other workers are stopped); an abort kills them all at once.
 * @example const results = await localPool(3).run(jobs, { onResult: (r) => console.log(r.group, r.ratio) });
 */
export function localPool(workers = defaultWorkers()): ScanDispatcher {
  const n = Math.max(1, Math.floor(workers));
  return {
    workers: n,
    run(jobs, hooks = {}) {
      return new Promise<ScanPointResult[]>((resolvePromise, reject) => {
        const results: ScanPointResult[] = new Array(jobs.length);
        const children: ChildProcess[] = [];
        let next = 0;
        let done = 0;
        let settled = false;
        const stopAll = () => {
          for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        };
        const finish = (err?: Error) => {
          if (settled) return;
          settled = true;
          hooks.signal?.removeEventListener('abort', onAbort);
          if (err) {
            stopAll();
            reject(err);
          } else {
            for (const c of children) if (c.connected) c.send({ type: 'exit' });
            resolvePromise(results);
          }
        };
        const onAbort = () => finish(new CancelledError(String(hooks.signal?.reason ?? 'cancelled')));
        if (hooks.signal?.aborted) return onAbort();
        hooks.signal?.addEventListener('abort', onAbort);
        if (jobs.length === 0) return finish();
        const feed = (c: ChildProcess) => {
          if (settled || next >= jobs.length) return;
          c.send({ type: 'job', job: jobs[next++] });
        };
        for (let i = 0; i < Math.min(n, jobs.length); i++) {
          const c = fork(WORKER_ENTRY, [], {
            execArgv: ['--import', 'tsx'],
            stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
            serialization: 'json',
          });
          let stderr = '';
          c.stderr?.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-2000)));
          children.push(c);
          c.on('message', (raw: unknown) => {
            const m = raw as WorkerMessage;
            if (m.type === 'ready') return feed(c);
            if (m.type === 'error') return finish(new ScanPointError(m.index, m.error));
            results[m.result.index] = m.result;
            done++;
            hooks.onResult?.(m.result);
            if (done === jobs.length) finish();
            else feed(c);
          });
          c.on('exit', (code, signal) => {
            if (!settled)
              finish(
                new StudioError(
                  `scan worker ${c.pid} exited (${signal ?? `code ${code}`}) before the scan finished${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`,
                  'SCAN_WORKER_EXIT',
                  { code, signal },
                ),
              );
          });
        }
      });
    },
  };
}
