/**
 * @file The one place that chooses how independent units of work run: on the local worker pool (the default, as
 * before), or as pg-boss jobs when a queue is configured — by `--queue`, by the app's setting, or by the
 * STUDIO_QUEUE environment variable, in that order. May import node:*.
 */
import { QUEUE_ENV, parseQueueUrl } from '../../../src-shared/queue.ts';
import { localPool, type ScanDispatcher } from '../sensitivity/pool.ts';
import { forkSpawner, type WorkerSpawner } from '../jobs/spawn.ts';
import { queueDispatcher, type QueueDispatchOptions } from './dispatcher.ts';
import { queueRunSpawner, type QueueRunOptions } from './run-spawner.ts';

export interface DispatchChoice {
  /** `--queue` (or a step's own setting). */
  queue?: string;
  /** The app's setting (settings.json `queue`). */
  setting?: string;
  /** Local pool size when no queue is configured. */
  workers?: number;
  /** Options of the queue implementation. */
  queueOptions?: QueueDispatchOptions;
  env?: NodeJS.ProcessEnv;
}

/** The configured queue URL, if any (validated; an empty value means none). @throws QueueUrlError */
export function configuredQueue(c: Pick<DispatchChoice, 'queue' | 'setting' | 'env'> = {}): string | undefined {
  const url = [c.queue, c.setting, (c.env ?? process.env)[QUEUE_ENV]].find((u) => u !== undefined && u.trim() !== '');
  if (url === undefined) return undefined;
  parseQueueUrl(url.trim());
  return url.trim();
}

/**
 * The scan dispatcher for a configuration: the queue when one is configured, else the local pool exactly as today.
 * @example const dispatcher = scanDispatcher({ queue: opts.queue, workers: opts.workers });
 */
export function scanDispatcher(c: DispatchChoice = {}): ScanDispatcher {
  const url = configuredQueue(c);
  return url ? queueDispatcher(url, c.queueOptions) : localPool(c.workers);
}

/**
 * A spawner that decides at each run's start: the queue named by `url()` now, else `local`. The app's host uses it,
 * so a queue set in the settings applies to the next run without a restart.
 * @example new Runner({ store, spawner: dispatchingSpawner(() => configuredQueue({ setting: settings.queue() })) });
 */
export function dispatchingSpawner(
  url: () => string | undefined,
  local: WorkerSpawner = forkSpawner,
  runOptions?: QueueRunOptions,
): WorkerSpawner {
  const remote = new Map<string, WorkerSpawner>();
  return {
    spawn(entry, o) {
      let u: string | undefined;
      try {
        u = url();
      } catch {
        u = undefined; // a malformed URL: the Workers panel names the fault, runs stay local
      }
      if (!u) return local.spawn(entry, o);
      if (!remote.has(u)) remote.set(u, queueRunSpawner(u, runOptions));
      return remote.get(u)!.spawn(entry, o);
    },
  };
}

/**
 * Where whole runs execute (sweep points, the history's "run again"): queue jobs when a queue is configured, else
 * worker processes here exactly as before. `queue` is the redacted URL, for messages.
 * @example const { spawner } = runDispatch({ queue: opts.queue }); new Runner({ store, spawner, concurrency });
 */
export function runDispatch(
  c: Pick<DispatchChoice, 'queue' | 'setting' | 'env'> & { runOptions?: QueueRunOptions } = {},
): { spawner: WorkerSpawner; queue: string | null } {
  const url = configuredQueue(c);
  return url
    ? { spawner: queueRunSpawner(url, c.runOptions), queue: parseQueueUrl(url).redacted }
    : { spawner: forkSpawner, queue: null };
}
