/**
 * @file Long or risky file work off the host's event loop: a worker thread (node:worker_threads) answers calls by
 * method name, each call bounded in time. When a call runs past its time the thread is terminated (a decode of a
 * hostile file cannot be interrupted any other way) and every call still waiting on it fails with a named error, so
 * one request can never stall the host for its other clients. The thread side is `serveOffLoop`. Imports node:* and
 * src-shared only.
 */
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parentPort, Worker } from 'node:worker_threads';
import { IpcError, toSerializedError, type SerializedError } from '../../../src-shared/ipc/errors.ts';

/** A call that ran past its time: the thread doing it was stopped. */
export class OffLoopTimeoutError extends IpcError {
  constructor(what: string, ms: number) {
    super({
      name: 'OffLoopTimeoutError',
      code: 'TIMEOUT',
      message: `${what} took longer than ${formatSeconds(ms)} and was stopped (the host keeps serving other requests)`,
      details: { timeoutMs: ms },
    });
  }
}

/** The thread ended (crashed, ran out of memory, was stopped) before it answered. */
export class OffLoopGoneError extends IpcError {
  constructor(what: string, why: string) {
    super({ name: 'OffLoopGoneError', code: 'WORKER_GONE', message: `${what} failed: ${why}` });
  }
}

const formatSeconds = (ms: number) => (ms >= 10_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`);

type Reply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedError }
  | { id: number; progress: unknown };

interface Pending {
  what: string;
  resolve(v: unknown): void;
  reject(e: Error): void;
  onProgress?: (p: unknown) => void;
  timer: NodeJS.Timeout;
}

export interface CallOptions {
  /** Longest time the call may take; past it the thread is terminated. */
  timeoutMs: number;
  /** What the call does, for messages ("opening model.onnx"). */
  what: string;
  signal?: AbortSignal;
  onProgress?: (progress: unknown) => void;
}

/** A thread's memory cap: a decode that tries to hold more fails by itself instead of starving the host. */
const DEFAULT_HEAP_MB = 4096;

/**
 * One worker thread serving calls by method name.
 *
 * @example
 * const t = OffLoopThread.start(MODEL_WORKER);
 * const info = await t.call('open', { source }, { timeoutMs: 60_000, what: 'opening a.onnx' });
 * t.terminate();
 */
export class OffLoopThread {
  private readonly pending = new Map<number, Pending>();
  private next = 1;
  private gone: string | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (m: Reply) => this.receive(m));
    worker.on('error', (e) => this.fail(`the worker thread failed: ${e.message.split('\n')[0]}`));
    worker.on('exit', (code) => this.fail(`the worker thread exited (code ${code})`));
    worker.unref();
  }

  /**
   * Starts a thread on `entry`, a module that calls `serveOffLoop`. A `.ts` entry (development, tests) is loaded
   * through tsx; a bundled `.js` entry (the packaged app) directly.
   */
  static start(entry: string, opts: { heapMb?: number } = {}): OffLoopThread {
    const resourceLimits = { maxOldGenerationSizeMb: opts.heapMb ?? DEFAULT_HEAP_MB };
    if (!entry.endsWith('.ts')) return new OffLoopThread(new Worker(entry, { resourceLimits }));
    const workerData = { tsEntry: pathToFileURL(entry).href };
    return new OffLoopThread(new Worker(new URL('./tsx-thread.mjs', import.meta.url), { workerData, resourceLimits }));
  }

  /** False once the thread ended or was terminated. */
  get alive(): boolean {
    return this.gone === null;
  }

  /** Calls `method` on the thread; rejects with OffLoopTimeoutError past `timeoutMs` (and the thread is stopped). */
  call<T>(method: string, args: unknown, opts: CallOptions): Promise<T> {
    if (this.gone) return Promise.reject(new OffLoopGoneError(opts.what, this.gone));
    if (opts.signal?.aborted) return Promise.reject(opts.signal.reason as Error);
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.terminate(
          `it was stopped after ${formatSeconds(opts.timeoutMs)}`,
          new OffLoopTimeoutError(opts.what, opts.timeoutMs),
        );
      }, opts.timeoutMs);
      const onAbort = () => this.terminate('the request was cancelled', opts.signal!.reason as Error);
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => {
        clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      this.pending.set(id, {
        what: opts.what,
        timer,
        onProgress: opts.onProgress,
        resolve: (v) => (done(), resolve(v as T)),
        reject: (e) => (done(), reject(e)),
      });
      this.worker.postMessage({ id, method, args });
    });
  }

  /** Stops the thread; calls still waiting fail with `error` (or an OffLoopGoneError saying `why`). */
  terminate(why = 'the thread was stopped', error?: Error): void {
    if (this.gone) return;
    this.fail(why, error);
    void this.worker.terminate();
  }

  private receive(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if ('progress' in m) p.onProgress?.(m.progress);
    else if (m.ok) p.resolve(m.value);
    else p.reject(new IpcError(m.error));
  }

  private fail(why: string, error?: Error): void {
    if (this.gone) return;
    this.gone = why;
    for (const p of [...this.pending.values()]) p.reject(error ?? new OffLoopGoneError(p.what, why));
  }
}

/**
 * Threads on one entry with one kept started ahead, so a call does not wait for a thread's start-up (loading the
 * modules and onnxruntime takes about 0.5 s here, more under load).
 */
export class OffLoopThreads {
  private spare: OffLoopThread | null = null;

  constructor(private readonly entry: string) {}

  /** A started thread (the spare when there is one) for the caller to own; a new spare starts behind it. */
  take(): OffLoopThread {
    const thread = this.spare?.alive ? this.spare : OffLoopThread.start(this.entry);
    this.spare = OffLoopThread.start(this.entry);
    return thread;
  }

  /** Stops the spare. */
  close(): void {
    this.spare?.terminate('the host is closing');
    this.spare = null;
  }
}

const pools = new Map<string, OffLoopThreads>();

/** The shared threads of an entry module. */
export function offLoopThreads(entry: string): OffLoopThreads {
  let p = pools.get(entry);
  if (!p) pools.set(entry, (p = new OffLoopThreads(entry)));
  return p;
}

/** The handlers a thread serves: each gets the call's arguments and a progress callback. */
export type OffLoopHandlers = Record<string, (args: never, progress: (p: unknown) => void) => unknown>;

/**
 * The thread side: answers the parent's calls with `handlers`, one at a time, errors as `{ name, code, message }`.
 * Does nothing outside a worker thread.
 */
export function serveOffLoop(handlers: OffLoopHandlers): void {
  const port = parentPort;
  if (!port) return;
  let queue = Promise.resolve();
  port.on('message', (m: { id: number; method: string; args: unknown }) => {
    queue = queue.then(async () => {
      try {
        const handler = handlers[m.method] as ((a: unknown, p: (x: unknown) => void) => unknown) | undefined;
        if (!handler) throw new Error(`the worker thread has no method "${m.method}"`);
        const value = await handler(m.args, (progress) => port.postMessage({ id: m.id, progress }));
        port.postMessage({ id: m.id, ok: true, value });
      } catch (e) {
        port.postMessage({ id: m.id, ok: false, error: toSerializedError(e) });
      }
    });
  });
}

/** This module's folder, for entries beside it. */
export const HOST_DIR = fileURLToPath(new URL('.', import.meta.url));
