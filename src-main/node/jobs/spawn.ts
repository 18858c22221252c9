/**
 * @file How the host starts a worker process, behind one interface: `forkSpawner` (node:child_process `fork` with
 * tsx) and `utilityProcessSpawner` (Electron's utilityProcess, supplied by the shell — this file never imports
 * Electron). Imports node:* and the protocol types only.
 */
import { fork } from 'node:child_process';
import type { HostMessage } from './protocol.ts';

export interface WorkerExit {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started or its channel failed. */
  error?: Error;
}

/** A running worker as the host sees it. */
export interface WorkerHandle {
  readonly pid: number | undefined;
  /** Sends a message; false when the channel is already closed. */
  send(message: HostMessage): boolean;
  onMessage(listener: (raw: unknown) => void): void;
  /** Called once, when the process is gone (or failed to start). */
  onExit(listener: (exit: WorkerExit) => void): void;
  /** Text the worker wrote to stdout / stderr (kept for crash reports). */
  onOutput(listener: (text: string) => void): void;
  kill(signal?: NodeJS.Signals): void;
  /** Present when the work goes on without this host (a queue job): stop following it, leaving it running. */
  detach?(): void;
}

export interface SpawnOptions {
  env: NodeJS.ProcessEnv;
  /** A name for the process (shown by Electron's task manager). */
  name: string;
}

export interface WorkerSpawner {
  spawn(entry: string, opts: SpawnOptions): WorkerHandle;
}

/** Starts workers with `child_process.fork` and `--import tsx`, talking over the IPC channel. */
/** Exit listeners that also fire for a listener added after the exit; the first exit wins. */
function exitLatch() {
  const listeners: ((e: WorkerExit) => void)[] = [];
  let exited: WorkerExit | null = null;
  return {
    get exited() {
      return exited;
    },
    fire(e: WorkerExit) {
      if (exited) return;
      exited = e;
      for (const l of listeners) l(e);
    },
    on(l: (e: WorkerExit) => void) {
      if (exited) l(exited);
      else listeners.push(l);
    },
  };
}

function pipeOutput(streams: (NodeJS.ReadableStream | null)[], l: (text: string) => void): void {
  for (const s of streams) s?.on('data', (d: Buffer) => l(d.toString()));
}

export const forkSpawner: WorkerSpawner = {
  spawn(entry, opts) {
    const child = fork(entry, [], {
      execArgv: ['--import', 'tsx'],
      env: opts.env,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const exit = exitLatch();
    child.on('exit', (code, signal) => exit.fire({ code, signal }));
    child.on('error', (error) => {
      // 'error' without 'exit' means the process never started (or could not be signalled).
      if (child.pid === undefined || child.exitCode !== null) exit.fire({ code: null, signal: null, error });
    });
    return {
      get pid() {
        return child.pid;
      },
      send(message) {
        if (!child.connected) return false;
        try {
          return child.send(message);
        } catch {
          return false;
        }
      },
      onMessage: (l) => void child.on('message', l),
      onExit: exit.on,
      onOutput: (l) => pipeOutput([child.stdout, child.stderr], l),
      kill: (signal = 'SIGTERM') => {
        if (exit.exited) return;
        try {
          child.kill(signal);
        } catch {
          /* already gone */
        }
      },
    };
  },
};

/** The part of Electron's `UtilityProcess` the runner uses (structural, so this file needs no Electron import). */
export interface UtilityProcessLike {
  readonly pid: number | undefined;
  readonly stdout: NodeJS.ReadableStream | null;
  readonly stderr: NodeJS.ReadableStream | null;
  postMessage(message: unknown): void;
  kill(): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  on(event: 'exit', listener: (code: number) => void): unknown;
}

export type UtilityForkFn = (
  modulePath: string,
  args: string[],
  options: { execArgv: string[]; env: NodeJS.ProcessEnv; stdio: 'pipe'; serviceName: string },
) => UtilityProcessLike;

/**
 * Starts workers as Electron utility processes. The shell passes `utilityProcess.fork`.
 *
 * @example new Runner({ store, spawner: utilityProcessSpawner((...a) => utilityProcess.fork(...a)) })
 */
export function utilityProcessSpawner(forkUtility: UtilityForkFn): WorkerSpawner {
  return {
    spawn(entry, opts) {
      const child = forkUtility(entry, [], {
        execArgv: ['--import', 'tsx'],
        env: opts.env,
        stdio: 'pipe',
        serviceName: opts.name,
      });
      const exit = exitLatch();
      let killedWith: string | null = null;
      child.on('exit', (code) => exit.fire({ code, signal: killedWith }));
      return {
        get pid() {
          return child.pid;
        },
        send(message) {
          if (exit.exited) return false;
          child.postMessage(message);
          return true;
        },
        onMessage: (l) => void child.on('message', l),
        onExit: exit.on,
        onOutput: (l) => pipeOutput([child.stdout, child.stderr], l),
        kill: (signal = 'SIGTERM') => {
          if (exit.exited) return;
          killedWith = signal;
          // utilityProcess.kill() sends SIGTERM; a hard kill needs the pid.
          if (signal === 'SIGKILL' && child.pid !== undefined) {
            try {
              process.kill(child.pid, 'SIGKILL');
              return;
            } catch {
              /* fall back */
            }
          }
          child.kill();
        },
      };
    },
  };
}
