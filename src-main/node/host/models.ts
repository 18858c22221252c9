/**
 * @file The models service: open a model (host path, dropped bytes saved under the app data folder, or a bundled
 * example), summarise it with one trace, give the graph view, and check a config list against it (the targets it
 * selects, for highlighting). Imports core, node/inspect and src-shared; never Electron or the transports.
 */
import { probePath } from '../io/guard.ts';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Model, Node, Value } from '../../core/ir/index.ts';
import { resolveTargets } from '../../core/compress/targets/index.ts';
import { ConfigListError, parseConfigList, type Mode } from '../../../src-shared/config/index.ts';
import type { ServiceImpl, Contract } from '../../../src-shared/ipc/contract.ts';
import type {
  Examples,
  GraphEdge,
  GraphNode,
  GraphView,
  ModelSource,
  OpenedModel,
  TargetsReply,
} from '../../../src-shared/ipc/dto.ts';
import { IpcError } from '../../../src-shared/ipc/errors.ts';
import type { ModelInfo } from '../../../src-shared/model-info.ts';
import { inspectModel, openModel } from '../inspect.ts';
import { openModelBytes, type OpenedModelFile } from '../io/open-model.ts';
import { writeFileAtomic } from '../store/files.ts';

export interface ModelsServiceOptions {
  /** The app data folder; dropped models are saved under `models/` in it. */
  home: string;
  /** Folder of the bundled example model and data. */
  resourcesDir: string;
  /** Called with each model file opened (recent files). */
  onOpened?: (path: string) => void;
  /** Opened models kept in memory (default 6). */
  cacheSize?: number;
}

interface OpenModelEntry {
  path: string;
  name: string;
  model: Model;
  info: ModelInfo;
  graph: GraphView | null;
}

/** A model handle that is not (or no longer) open on the host. */
export class UnknownModelError extends IpcError {
  constructor(modelId: string) {
    super({
      name: 'UnknownModelError',
      code: 'MODEL_NOT_OPEN',
      message: `model ${modelId} is not open on the host (it was closed or the host restarted); open it again`,
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
 * The models service over an in-memory cache of opened models.
 *
 * @example const models = createModelsService({ home, resourcesDir });
 */
export function createModelsService(opts: ModelsServiceOptions): ServiceImpl<Contract['models']> {
  const cache = new Map<string, OpenModelEntry>();
  const limit = opts.cacheSize ?? 6;
  const examples = bundledExamples(opts.resourcesDir);

  const entry = (modelId: string): OpenModelEntry => {
    const e = cache.get(modelId);
    if (!e) throw new UnknownModelError(modelId);
    return e;
  };

  return {
    async open({ source }, ctx): Promise<OpenedModel> {
      ctx.progress({ phase: 'reading', fraction: 0 });
      // The first touch of a client's path happens off the event loop, bounded in time.
      if (source.kind === 'path') await probeModelPath(source.path);
      const { path, name, model, lifted, normalization, fileNodes, liftedConstantNodes } = loadSource(
        source,
        opts.home,
        examples,
      );
      ctx.signal.throwIfAborted();
      ctx.progress({ phase: 'tracing', fraction: 0.3 });
      const info = await inspectModel(model, {
        file: path,
        lifted,
        normalized: normalization.summary,
        values: true,
        fileNodes,
        liftedConstantNodes,
      });
      ctx.signal.throwIfAborted();
      const modelId = randomBytes(6).toString('hex');
      cache.set(modelId, { path, name, model, info, graph: null });
      while (cache.size > limit) cache.delete(cache.keys().next().value!);
      if (source.kind !== 'bytes') opts.onOpened?.(path);
      ctx.progress({ phase: 'done', fraction: 1 });
      return { modelId, path, name, info: { ...info, values: undefined } };
    },
    inspect: ({ modelId }) => entry(modelId).info,
    graph({ modelId }) {
      const e = entry(modelId);
      e.graph ??= graphView(e.model, e.info);
      return e.graph;
    },
    targets: ({ modelId, mode, configList }) => checkTargets(entry(modelId).model, mode, configList),
    examples: () => examples,
  };
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

function loadSource(
  source: ModelSource,
  home: string,
  examples: Examples,
): { path: string; name: string } & OpenedModelFile {
  if (source.kind === 'example') {
    const ex = examples.models.find((m) => m.id === source.id);
    if (!ex)
      throw new IpcError({
        name: 'UnknownExampleError',
        code: 'EXAMPLE_NOT_FOUND',
        message: `no bundled example "${source.id}"`,
      });
    return { path: ex.path, name: basename(ex.path), ...openModel(ex.path) };
  }
  if (source.kind === 'path') {
    const path = resolve(source.path);
    return { path, name: basename(path), ...openModel(path) };
  }
  // Decode first: a file that is not ONNX is refused before anything is written.
  const opened = openModelBytes(source.bytes);
  const dir = join(home, 'models');
  mkdirSync(dir, { recursive: true });
  const safe = source.name.replace(/[^\w.-]+/g, '_').replace(/^\.+/, '') || 'model.onnx';
  const sha = createHash('sha256').update(source.bytes).digest('hex').slice(0, 12);
  const path = join(dir, `${sha}-${safe.endsWith('.onnx') ? safe : `${safe}.onnx`}`);
  if (!existsSync(path) || statSync(path).size !== source.bytes.byteLength) writeFileAtomic(path, source.bytes);
  return { path, name: source.name, ...opened };
}

/** Float parameters a node reads from initializers, and the dims of its first weight. */
function nodeParams(node: Node): { params: number; weightShape: number[] | null } {
  let params = 0;
  let weightShape: number[] | null = null;
  for (const v of node.inputs) {
    const t = weightTensorOf(v);
    if (!t) continue;
    if (
      t.dtype.startsWith('float') ||
      t.dtype.startsWith('bfloat') ||
      t.dtype.startsWith('int8') ||
      t.dtype.startsWith('uint8')
    )
      params += t.size;
    if (weightShape === null && t.dims.length >= 1) weightShape = [...t.dims];
  }
  return { params, weightShape };
}

/** The stored tensor behind an input: an initializer, or the initializer a DequantizeLinear reads (QDQ models). */
function weightTensorOf(v: Value | null) {
  if (!v) return null;
  if (v.isInitializer) return v.initializer;
  const p = v.producer;
  if (p?.opType === 'DequantizeLinear' && p.inputs[0]?.isInitializer) return p.inputs[0].initializer;
  return null;
}

/**
 * The graph view: graph inputs, operators and graph outputs as nodes; values as edges (initializers are folded
 * into their node's parameter count). Shapes come from the trace.
 */
export function graphView(model: Model, info: ModelInfo): GraphView {
  const g = model.graph;
  const traced = new Map((info.values ?? []).map((v) => [v.name, v.shape]));
  const shapeOf = (v: Value) => traced.get(v.name) ?? v.shape ?? null;
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const producerId = new Map<Value, number>();
  for (const v of g.inputs) {
    if (v.isInitializer) continue;
    producerId.set(v, nodes.length);
    nodes.push({
      id: nodes.length,
      kind: 'input',
      name: v.name,
      opType: 'Input',
      params: 0,
      weightShape: null,
      shape: shapeOf(v),
    });
  }
  const opIds = new Map<Node, number>();
  for (const n of g.nodes) {
    opIds.set(n, nodes.length);
    const { params, weightShape } = nodeParams(n);
    nodes.push({
      id: nodes.length,
      kind: 'op',
      name: n.name || `${n.opType}_${nodes.length}`,
      opType: n.opType,
      params,
      weightShape,
      shape: n.outputs[0] ? shapeOf(n.outputs[0]) : null,
    });
    for (const o of n.outputs) producerId.set(o, nodes.length - 1);
  }
  for (const n of g.nodes) {
    const to = opIds.get(n)!;
    const seen = new Set<number>();
    for (const v of n.inputs) {
      if (!v) continue;
      const from = producerId.get(v);
      if (from === undefined || seen.has(from)) continue;
      seen.add(from);
      edges.push({ from, to, value: v.name, shape: shapeOf(v) });
    }
  }
  for (const v of g.outputs) {
    const id = nodes.length;
    nodes.push({ id, kind: 'output', name: v.name, opType: 'Output', params: 0, weightShape: null, shape: shapeOf(v) });
    const from = producerId.get(v);
    if (from !== undefined) edges.push({ from, to: id, value: v.name, shape: shapeOf(v) });
  }
  return { nodes, edges };
}

/** A config list checked on the model: faults with JSON paths, else the selected targets and diagnostics. */
export function checkTargets(model: Model, mode: Mode, configList: unknown): TargetsReply {
  let parsed;
  try {
    parsed = parseConfigList(configList, mode);
  } catch (e) {
    if (e instanceof ConfigListError) return { ok: false, issues: [...e.issues], diagnostics: [], targets: [] };
    throw e;
  }
  const table = resolveTargets(model, parsed.configs, mode);
  const diagnostics = [...parsed.diagnostics, ...table.diagnostics];
  const errors = diagnostics.filter((d) => d.level === 'error');
  return {
    ok: errors.length === 0,
    issues: errors.map((d) => ({ path: d.path ?? '$', message: d.message })),
    diagnostics,
    targets: table.targets.map((t) => ({
      node: t.nodeName,
      opType: t.opType,
      target: t.name,
      kind: t.kind,
      configIndex: t.configIndex,
      path: t.path,
      setting: JSON.parse(JSON.stringify(t.setting ?? {})) as Record<string, unknown>,
    })),
  };
}
