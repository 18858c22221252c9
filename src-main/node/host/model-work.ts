/**
 * @file What the models service does with a model, run on a worker thread (model-worker.ts) so that a long or
 * hostile decode never stalls the host: open a source (host path, dropped bytes saved under the app data folder, a
 * bundled example), the graph view, a config list checked on the model, a node's details for the inspector, the
 * before / after diff of two model files, and the model-reading checks of a plan.
 * Imports core, node/io, node/inspect and src-shared; never Electron or the transports.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import type { Model, Node, Value } from '../../core/ir/index.ts';
import { resolveTargets } from '../../core/compress/targets/index.ts';
import { ConfigListError, parseConfigList, type Mode } from '../../../src-shared/config/index.ts';
import { CONFIG_LIST_MODE, type Plan, type PlanIssue } from '../../../src-shared/experiment.ts';
import type {
  Examples,
  GraphEdge,
  GraphNode,
  GraphView,
  ModelSource,
  TargetsReply,
} from '../../../src-shared/ipc/dto.ts';
import { IpcError } from '../../../src-shared/ipc/errors.ts';
import type { ModelInfo } from '../../../src-shared/model-info.ts';
import { diffGraphs, type GraphDiff } from '../../core/analysis/graph-diff.ts';
import { inspectModel, openModel } from '../inspect.ts';
import { nodeDetails, type NodeDetails } from '../inspect-node.ts';
import { isWithin, READ_LIMITS, readInputFile } from '../io/guard.ts';
import { openModelBytes, type OpenedModelFile } from '../io/open-model.ts';
import { writeFileAtomic } from '../store/files.ts';
import { modelChannels, preprocessFault } from '../train/data.ts';

/** The folder POST /upload streams models into (the browser mode's drops). */
export const uploadsDir = (home: string) => join(home, 'uploads');

/** The content-hash prefix POST /upload gives each file's name. */
const UPLOAD_PREFIX = /^[0-9a-f]{12}-/;

/** Whether a path is a file POST /upload wrote (compared by real paths: the app data folder may be a link). */
export function isUpload(path: string, home: string): boolean {
  const real = (p: string) => (existsSync(p) ? realpathSync(p) : resolve(p));
  return isWithin(real(path), real(uploadsDir(home)));
}

/** Reads a model source: a bundled example, a host path, or dropped bytes (saved under `home/models`). */
export function loadSource(
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
    if (!isUpload(path, home)) return { path, name: basename(path), ...openModel(path) };
    // A file the browser streamed to POST /upload: opened as the bytes it is (its weights cannot be in other files
    // of the uploads folder), under the name the user gave it.
    const bytes = readInputFile(path, { what: 'uploaded model', maxBytes: READ_LIMITS.model });
    return { path, name: basename(path).replace(UPLOAD_PREFIX, ''), ...openModelBytes(bytes) };
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

/** Data splits whose preprocess mean / std do not fit the model's input channels. */
function preprocessMismatches(plan: Plan, model: Model): PlanIssue[] {
  const splits = preprocessed(plan);
  if (splits.length === 0) return [];
  const channels = modelChannels(model);
  return splits.flatMap(([name, split]) => {
    const fault = preprocessFault(split!, channels, `$.dataset.${name}`);
    return fault ? [{ path: `$.dataset.${name}.preprocess`, message: fault }] : [];
  });
}

/**
 * Pruning and quantization config lists (steps, and a fused step's blocks) that select no target on the plan's model: such a step would run,
 * change nothing and report success, so the plan is refused with the names the list could have used. (Checked on
 * the input model: the steps before keep node names.)
 */
function emptySelections(plan: Plan, model: Model): PlanIssue[] {
  const issues: PlanIssue[] = [];
  for (const { list, path, mode } of selectingLists(plan)) {
    const reply = checkTargets(model, mode, list);
    for (const d of reply.diagnostics) if (d.code === 'no-targets') issues.push({ path, message: d.message });
  }
  return issues;
}

const preprocessed = (plan: Plan) =>
  Object.entries(plan.dataset ?? {}).filter(([, split]) => split?.preprocess?.mean || split?.preprocess?.std);

/**
 * The pruning and quantization config lists of a plan with their JSON paths: a prune / quantize step's own, and the
 * `pruning` / `quantization` blocks of a fused `compress` step.
 */
const selectingLists = (plan: Plan) =>
  plan.steps.flatMap((s, i) => {
    const mode = CONFIG_LIST_MODE[s.kind as keyof typeof CONFIG_LIST_MODE];
    if (mode === 'pruning' || mode === 'quantization')
      return [{ list: (s as { configList: unknown }).configList, path: `$.steps[${i}].configList`, mode }];
    if (s.kind !== 'compress') return [];
    const blocks = s as unknown as Record<string, { configList?: unknown } | undefined>;
    return (['pruning', 'quantization'] as const).flatMap((mode) =>
      blocks[mode]?.configList === undefined
        ? []
        : [{ list: blocks[mode]!.configList, path: `$.steps[${i}].${mode}.configList`, mode }],
    );
  });

/**
 * The checks of a plan that read its model (opened once): pruning / quantization steps that select nothing, and
 * preprocessing that does not fit the input channels. A model that does not open adds nothing here: the plan's
 * file checks and the run report the model's own fault, with its location.
 */
export function planModelIssues(plan: Plan): PlanIssue[] {
  if (selectingLists(plan).length === 0 && preprocessed(plan).length === 0) return [];
  let model: Model;
  try {
    model = openModel(plan.model).model;
  } catch {
    return [];
  }
  return [...emptySelections(plan, model), ...preprocessMismatches(plan, model)];
}

/** The inspector's details of one node of an opened model, shapes from its trace (NodeNotFoundError names similar nodes). */
export function inspectNode(open: { model: Model; info: ModelInfo }, node: string, configList: unknown): NodeDetails {
  const shapes = new Map((open.info.values ?? []).map((v) => [v.name, { dtype: v.dtype, shape: v.shape }]));
  return nodeDetails(open.model, node, { shapes, configList: Array.isArray(configList) ? configList : [] });
}

/** A model's graph view with traced shapes (static shapes when the trace fails). */
async function tracedView(model: Model): Promise<GraphView> {
  try {
    return graphView(model, await inspectModel(model, { values: true }));
  } catch {
    return graphView(model, await inspectModel(model, {}));
  }
}

/** Two model files diffed by node name, with both graph views (the run's before / after view). */
export async function graphDiffOf(
  beforePath: string,
  afterPath: string,
): Promise<{ diff: GraphDiff; before: GraphView; compressed: GraphView }> {
  const before = openModel(beforePath).model;
  const after = openModel(afterPath).model;
  return { diff: diffGraphs(before, after), before: await tracedView(before), compressed: await tracedView(after) };
}
