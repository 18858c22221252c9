/**
 * @file The host: the store, the runner and every service of the contract behind one `RpcServer`, ready to be
 * connected to transports (Electron IPC, WebSocket, an in-memory pair). The Electron shell and the web host both
 * start exactly this. Imports jobs, store, steps and src-shared; never Electron.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { RpcServer, type RpcServerOptions } from '../../../src-shared/ipc/rpc.ts';
import type { StudioImpl } from '../../../src-shared/ipc/contract.ts';
import type { Settings } from '../../../src-shared/ipc/dto.ts';
import { Runner, type RunnerOptions } from '../jobs/index.ts';
import { STEP_MODULES } from '../steps/index.ts';
import { openStore, studioHome, type Store } from '../store/index.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { createAnalysisService } from './analysis.ts';
import { createModelsService } from './models.ts';
import { createRunServices } from './runs.ts';
import { createSettingsService, type Dialogs, type SettingsService } from './settings.ts';
import { createQueueService } from './queue.ts';
import { configuredQueue, dispatchingSpawner } from '../queue/choose.ts';
import { reattachQueueRuns, type QueueRunOptions } from '../queue/run-spawner.ts';

/** With a queue, this many of the app's runs may be out at once (the queue's workers decide how many really run). */
const QUEUED_RUNS_AT_ONCE = 32;
import { QUEUE_ENV } from '../../../src-shared/queue.ts';

export interface StudioHostOptions {
  /** App data folder (default `$STUDIO_HOME` or `~/.compression-studio`). */
  home?: string;
  /** Bundled example model and data (default: the repository's resources/). */
  resourcesDir?: string;
  shell: Settings['shell'];
  /** Native dialogs (the Electron shell passes Electron's). */
  dialogs?: Dialogs;
  /** Modules that register step executors, imported here and by every worker (default: the product's steps). */
  stepModules?: readonly string[];
  /** Extra runner options (spawner, concurrency, grace). */
  runner?: Partial<Omit<RunnerOptions, 'store' | 'stepModules'>>;
  /** Options of runs sent to a queue (tests shorten the time a silent worker is given). */
  queueRuns?: QueueRunOptions;
  onFault?: RpcServerOptions['onFault'];
  /**
   * Folders exports may be written into. The browser mode always confines exports (default: `exports/` in the app
   * data folder plus the `exportRoots` of settings.json, `studio web --export-root`); the desktop app, whose user picks
   * folders in native dialogs, does not unless this is given.
   */
  exportRoots?: readonly string[];
  /**
   * Model-reading work off the event loop: the worker thread's module (the packaged app passes its bundled
   * model-worker.js) and the longest time one call may take (default MODEL_CALL_TIMEOUT_MS).
   */
  offLoop?: { workerEntry?: string; timeoutMs?: number };
  /** Called after the settings change (the Electron shell rebuilds its recent-files menu). */
  onSettingsChanged?: (settings: Settings) => void;
}

export interface StudioHost {
  server: RpcServer;
  impl: StudioImpl;
  store: Store;
  runner: Runner;
  settings: SettingsService;
  /** Cancels running jobs, waits for them, closes the store. */
  close(): Promise<void>;
}

/** The app's version from package.json. */
export function appVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string })
      .version;
  } catch {
    return '0.0.0';
  }
}

/**
 * Starts the host: opens the store, imports the step modules (so plans are validated against the executors this
 * build has), and builds the services.
 *
 * @example
 * const host = await createStudioHost({ shell: 'web' });
 * host.server.connect(transport, { id: 'ws-1', kind: 'websocket' });
 */
export async function createStudioHost(opts: StudioHostOptions): Promise<StudioHost> {
  const home = opts.home ?? studioHome();
  const stepModules = [...(opts.stepModules ?? STEP_MODULES)];
  for (const m of stepModules) await import(/^(file|data|node):/.test(m) ? m : pathToFileURL(m).href);
  const store = openStore(home);
  // The server is created first so the services can broadcast through it.
  let server: RpcServer | null = null;
  const emit = (service: 'runs' | 'settings', event: string, data: unknown) => {
    server?.emit(service, event as never, data);
    if (service === 'settings') opts.onSettingsChanged?.(data as Settings);
  };
  const settings = createSettingsService({
    home,
    shell: opts.shell,
    version: appVersion(),
    dialogs: opts.dialogs,
    emit,
  });
  // the one place the app's queue is chosen: settings.json `queue`, else STUDIO_QUEUE; run workers inherit it
  const queueUrl = () => configuredQueue({ setting: settings.queue() });
  const configured = (() => {
    try {
      return queueUrl();
    } catch {
      return undefined; // a malformed URL: the Workers panel names the fault, runs stay local
    }
  })();
  const queueNow = () => {
    try {
      return queueUrl();
    } catch {
      return undefined;
    }
  };
  const asked = opts.runner?.concurrency;
  const localRuns = () => (typeof asked === 'function' ? asked() : (asked ?? 1));
  const runner = new Runner({
    ...opts.runner,
    store,
    stepModules,
    // whole runs (a start, a resume, a sweep's points) go to the queue when one is configured, else run here as before
    spawner: dispatchingSpawner(queueNow, opts.runner?.spawner, opts.queueRuns),
    concurrency: () => (queueNow() ? Math.max(localRuns(), QUEUED_RUNS_AT_ONCE) : localRuns()),
    env: { ...opts.runner?.env, ...(configured ? { [QUEUE_ENV]: configured } : {}) },
    // with a queue, runs still out as queue jobs are re-attached first; the rest are then marked interrupted
    recover: configured ? false : opts.runner?.recover,
  });
  if (configured) {
    if (opts.runner?.recover !== false) {
      await reattachQueueRuns(configured, runner, opts.queueRuns).catch(() => []);
      runner.recoverInterrupted();
    }
  }
  const queue = createQueueService(queueUrl);
  const models = createModelsService({
    home,
    resourcesDir: opts.resourcesDir ?? RESOURCES_DIR,
    onOpened: (p) => settings.addRecent(p),
    ...opts.offLoop,
  });
  const exportRoots = (): readonly string[] | undefined =>
    opts.exportRoots ?? (opts.shell === 'web' ? [join(home, 'exports'), ...settings.exportRoots()] : undefined);
  const { experiments, runs, exports } = createRunServices({
    store,
    runner,
    emit,
    exportRoots,
    offLoop: opts.offLoop,
  });
  const analysis = createAnalysisService(store, opts.offLoop);
  const impl: StudioImpl = { models, experiments, runs, analysis, exports, queue, settings };
  server = new RpcServer(impl, { onFault: opts.onFault });
  let closing: Promise<void> | null = null;
  return {
    server,
    impl,
    store,
    runner,
    settings,
    close: () =>
      (closing ??= (async () => {
        await runner.shutdown('the host is closing');
        models.close();
        await queue.close();
        store.close();
      })()),
  };
}
