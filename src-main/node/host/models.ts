/**
 * @file The models service: open a model (host path, dropped bytes saved under the app data folder, or a bundled
 * example), summarise it with one trace, give the graph view, and check a config list against it (the targets it
 * selects, for highlighting). Each open model lives on its own worker thread (model-worker.ts), so decoding and
 * tracing a huge or hostile file never blocks the host's event loop, and every call is bounded in time: past it the
 * thread is stopped and the model closed. Imports node/io, the off-loop threads and src-shared; never Electron or
 * the transports.
 */
import { probePath } from '../io/guard.ts';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceImpl, Contract } from '../../../src-shared/ipc/contract.ts';
import type { Examples, GraphView, OpenedModel, TargetsReply } from '../../../src-shared/ipc/dto.ts';
import type { NodeDetailsDto } from '../../../src-shared/ipc/analysis-dto.ts';
import { IpcError } from '../../../src-shared/ipc/errors.ts';
import type { ModelInfo } from '../../../src-shared/model-info.ts';
import { isUpload } from './model-work.ts';
import { HOST_DIR, offLoopThreads, type OffLoopThread } from './off-loop.ts';

export interface ModelsServiceOptions {
  /** The app data folder; dropped models are saved under `models/` in it. */
  home: string;
  /** Folder of the bundled example model and data. */
  resourcesDir: string;
  /** Called with each model file opened (recent files). */
  onOpened?: (path: string) => void;
  /** Opened models kept in memory (default 6), each on its own worker thread. */
  cacheSize?: number;
  /** Longest time one call on a model may take (open, graph, targets) before its thread is stopped. */
  timeoutMs?: number;
  /** The worker thread's module (default: model-worker.ts beside this file; the packaged app's bundled one). */
  workerEntry?: string;
}

/** Default bound of one model call: a 200,000-node chain opens in ~7 s on an idle 2-core box, ~30 s on a busy one. */
export const MODEL_CALL_TIMEOUT_MS = 300_000;

/** The model worker's module in development and tests. */
export const MODEL_WORKER = join(HOST_DIR, 'model-worker.ts');

interface OpenModelEntry {
  path: string;
  name: string;
  thread: OffLoopThread;
}

/** A model handle that is not (or no longer) open on the host. */
export class UnknownModelError extends IpcError {
  constructor(modelId: string) {
    super({
      name: 'UnknownModelError',
      code: 'MODEL_NOT_OPEN',
      message: `model ${modelId} is not open on the host (it was closed, stopped after a timeout, or the host restarted); open it again`,
      details: { modelId },
    });
  }
}

const EXAMPLE_MODEL = 'mnist-cnn';

/** The bundled examples: the MNIST CNN and its data split three ways. */
export function bundledExamples(resourcesDir: string): Examples {
  const mnist = (f: string) => join(resourcesDir, 'mnist', f);
  const train = [mnist('train-images-idx3-ubyte.gz'), mnist('train-labels-idx1-ubyte.gz')];
  const test = [mnist('t10k-images-idx3-ubyte.gz'), mnist('t10k-labels-idx1-ubyte.gz')];
  return {
    models: [
      {
        id: EXAMPLE_MODEL,
        name: 'MNIST CNN',
        description: 'Three Conv + BatchNorm + ReLU blocks and a Gemm classifier (opset 17, 99.1 % test accuracy).',
        path: join(resourcesDir, 'mnist-cnn.onnx'),
      },
    ],
    datasets: [
      {
        id: 'mnist-quick',
        name: 'MNIST (quick)',
        description:
          '2,000 training images for scoring and fine-tuning, 512 for calibration, 2,000 test images for evaluation.',
        dataset: {
          train: { kind: 'idx', paths: train, limit: 2000 },
          calibration: { kind: 'idx', paths: train, limit: 512 },
          evaluation: { kind: 'idx', paths: test, limit: 2000 },
        },
        inputShape: [1, 1, 28, 28],
      },
      {
        id: 'mnist-full',
        name: 'MNIST (full bundled split)',
        description: '10,000 training images and the full 10,000-image test set.',
        dataset: {
          train: { kind: 'idx', paths: train },
          calibration: { kind: 'idx', paths: train, limit: 1024 },
          evaluation: { kind: 'idx', paths: test },
        },
        inputShape: [1, 1, 28, 28],
      },
    ],
  };
}

/**
 * The models service over a cache of opened models, each held by a worker thread.
 *
 * @example const models = createModelsService({ home, resourcesDir });
 */
export function createModelsService(opts: ModelsServiceOptions): ServiceImpl<Contract['models']> & {
  /** Stops every model thread. */
  close(): void;
} {
  const cache = new Map<string, OpenModelEntry>();
  const limit = opts.cacheSize ?? 6;
  const timeoutMs = opts.timeoutMs ?? MODEL_CALL_TIMEOUT_MS;
  const entryFile = opts.workerEntry ?? MODEL_WORKER;
  const examples = bundledExamples(opts.resourcesDir);

  const call = async <T>(modelId: string, method: string, args: unknown = {}): Promise<T> => {
    const e = cache.get(modelId);
    if (!e?.thread.alive) {
      cache.delete(modelId);
      throw new UnknownModelError(modelId);
    }
    try {
      return await e.thread.call<T>(method, args, { timeoutMs, what: `${method} on ${e.name}` });
    } finally {
      if (!e.thread.alive) cache.delete(modelId);
    }
  };

  return {
    async open({ source }, ctx): Promise<OpenedModel> {
      ctx.progress({ phase: 'reading', fraction: 0 });
      // The first touch of a client's path happens off the event loop, bounded in time.
      if (source.kind === 'path') await probeModelPath(source.path);
      const thread = offLoopThreads(entryFile).take();
      const what = `opening ${source.kind === 'example' ? `the example ${source.id}` : source.kind === 'path' ? source.path : source.name}`;
      let opened: { path: string; name: string; info: ModelInfo };
      try {
        opened = await thread.call(
          'open',
          { source, home: opts.home, examples },
          { timeoutMs, what, signal: ctx.signal, onProgress: (p) => ctx.progress(p as never) },
        );
      } catch (e) {
        thread.terminate();
        // An upload that does not open is the host's own copy: removed, so refused files do not pile up.
        if (source.kind === 'path' && isUpload(source.path, opts.home)) rmSync(source.path, { force: true });
        throw e;
      }
      const modelId = randomBytes(6).toString('hex');
      cache.set(modelId, { path: opened.path, name: opened.name, thread });
      while (cache.size > limit) {
        const [oldest, e] = cache.entries().next().value!;
        e.thread.terminate('the model was closed');
        cache.delete(oldest);
      }
      if (source.kind !== 'bytes') opts.onOpened?.(opened.path);
      ctx.progress({ phase: 'done', fraction: 1 });
      return { modelId, ...opened };
    },
    inspect: ({ modelId }) => call<ModelInfo>(modelId, 'inspect'),
    graph: ({ modelId }) => call<GraphView>(modelId, 'graph'),
    targets: ({ modelId, mode, configList }) => call<TargetsReply>(modelId, 'targets', { mode, configList }),
    examples: () => examples,
    node: ({ modelId, node, configList }) => call<NodeDetailsDto>(modelId, 'node', { node, configList }),
    close() {
      for (const e of cache.values()) e.thread.terminate('the host is closing');
      cache.clear();
      offLoopThreads(entryFile).close();
    },
  };
}

/**
 * One call on a fresh worker thread, stopped afterwards: the host's other model-reading work (a plan's model checks,
 * a run's layer widths), bounded in time like the models service's calls.
 *
 * @example const issues = await offLoopOnce<PlanIssue[]>('planIssues', { plan }, { what: 'checking the plan' });
 */
export async function offLoopOnce<T>(
  method: string,
  args: unknown,
  opts: { what: string; timeoutMs?: number; workerEntry?: string },
): Promise<T> {
  const thread = offLoopThreads(opts.workerEntry ?? MODEL_WORKER).take();
  try {
    return await thread.call<T>(method, args, { what: opts.what, timeoutMs: opts.timeoutMs ?? MODEL_CALL_TIMEOUT_MS });
  } finally {
    thread.terminate();
  }
}

async function probeModelPath(path: string): Promise<void> {
  try {
    await probePath(path, { what: 'model file' });
  } catch (e) {
    throw new IpcError({
      name: 'ModelFileError',
      code: 'MODEL_FILE',
      message: (e as Error).message,
      details: { path },
    });
  }
}
