/**
 * @file The pure core of pruning speedup: masks × model × traced shapes → the compact model, with the plan that
 * made it (layers, groups, lost sparsity). Steps: copy the model and lift Constant nodes; bake the masks in (so
 * the copy is the masked model); evaluate shape computations; build the channel dependency graph and the
 * constants of removed channels; decide which classes go; shrink. The ORT side (tracing, verification, latency)
 * lives in src-main/node/speedup. Pure: imports only the IR, passes and sibling modules.
 */
import { Tensor, cloneModel, type Graph, type Model, type Value } from '../../ir/index.ts';
import { liftConstants } from '../../passes/index.ts';
import type { ShapeMap } from '../../analysis/stats.ts';
import type { SpeedupGroupReport, SpeedupLayerReport } from '../../../../src-shared/speedup-report.ts';
import type { Masks } from '../masks.ts';
import { bakeMasks } from './bake.ts';
import { buildDepGraph, computeConstants, type DepGraph, type Member } from './depgraph.ts';
import { groupsOf } from './groups.ts';
import { planRemoval, type ChannelPlan } from './plan.ts';
import { ruleOf } from './registry.ts';
import { evalShapeInts, type IntValue } from './shape-eval.ts';
import { shrinkModel } from './shrink.ts';
import type { Node } from '../../ir/index.ts';

export interface AnalyseOptions {
  /** Concrete shape of every value by name (a trace of the model). */
  shapes: ShapeMap;
  /**
   * Whether dim `axis` of value `name` follows a dynamic input dim (such entries are never baked into rewritten
   * shape constants). Default: the value's declared type has a symbolic or unknown dim there.
   */
  isDynamic?(name: string, axis: number): boolean;
}

export interface Analysis {
  /** The working copy: Constant nodes lifted, masks baked in. */
  model: Model;
  dg: DepGraph;
  /** Shape of a value of the working copy (traced, or an initializer's dims). */
  shapeOf(v: Value): readonly number[] | undefined;
  ints: Map<Value, IntValue>;
  /** Mask Muls baking inserted for activation masks. */
  inserted: Node[];
  /** The unmasked initializer each node read at each input, keyed `node#input`. */
  originals: Map<string, Tensor>;
}

/** Copy, bake and analyse (no decisions). */
export function analyse(model: Model, masks: Masks, opts: AnalyseOptions): Analysis {
  const work = cloneModel(model);
  liftConstants.run(work);
  const g = work.graph;
  const shapes = new Map<Value, readonly number[]>();
  for (const v of g.values()) {
    const s = opts.shapes.get(v.name) ?? (v.initializer ? v.initializer.dims : staticShape(v));
    if (s) shapes.set(v, s);
  }
  const originals = new Map<string, Tensor>();
  for (const n of g.nodes) n.inputs.forEach((v, i) => v?.initializer && originals.set(`${n.name}#${i}`, v.initializer));
  const { inserted } = bakeMasks(work, masks, shapes);
  const shapeOf = (v: Value) => shapes.get(v) ?? v.initializer?.dims;
  const isDynamic = (v: Value, axis: number) => (opts.isDynamic ? opts.isDynamic(v.name, axis) : declaredDynamic(v, axis));
  const ints = evalShapeInts(g, shapeOf, isDynamic);
  foldConstantOfShape(g, ints);
  const build = { opset: work.opset, shapeOf, ints, rule: ruleOf };
  const dg = buildDepGraph(g, build);
  addMaskMembers(dg, inserted, shapeOf);
  computeConstants(dg, build);
  return { model: work, dg, shapeOf, ints, inserted, originals };
}

/**
 * ConstantOfShape with a static, known shape becomes an initializer, so that where it meets channels its constant
 * is sliced like any other (its shape input would otherwise pin them). Small tensors only (≤ 64k elements).
 */
function foldConstantOfShape(g: Graph, ints: ReadonlyMap<Value, IntValue>): void {
  for (const n of [...g.nodes]) {
    if (n.opType !== 'ConstantOfShape' || n.domain !== '') continue;
    const shape = n.input(0) ? ints.get(n.input(0)!) : undefined;
    if (!shape || shape.dynamic.some(Boolean) || shape.values.reduce((a, b) => a * b, 1) > 65536) continue;
    const fill = n.attr('value');
    const like = fill?.type === 'tensor' ? fill.value : Tensor.float32([1], [0]);
    const out = n.outputs[0]!;
    if (like.data === null || !['float32', 'float64', 'int32', 'int64', 'bool'].includes(like.dtype) || out.isGraphOutput) continue;
    const v = like.toNumbers()[0]!;
    const t = Tensor.zeros(like.dtype, shape.values);
    if (like.dtype === 'int64') (t.data as BigInt64Array).fill(BigInt(v));
    else (t.data as Float32Array).fill(v);
    const init = g.addInitializer(`${out.name}_const`, t, true);
    out.replaceAllUsesWith(init);
    g.removeNode(n);
  }
}

/** An activation mask (a baked Mul) asks for the channels it zeroes, like a weight mask does: make it a member. */
function addMaskMembers(dg: DepGraph, inserted: readonly Node[], shapeOf: (v: Value) => readonly number[] | undefined): void {
  for (const mul of inserted) {
    const m = mul.input(1)?.initializer?.dims;
    const out = shapeOf(mul.outputs[0]!);
    if (!m || !out) continue;
    for (const [axis, atoms] of dg.axesOf(mul.outputs[0])) {
      const a = axis - (out.length - m.length);
      if (a >= 0 && m[a] === atoms.length) dg.members.push({ node: mul, kind: 'pass', output: 0, axis, atoms, param: 1, paramAxis: a });
    }
  }
}

function staticShape(v: Value): number[] | undefined {
  const s = v.shape;
  return s && s.every((d): d is number => typeof d === 'number' && d >= 0) ? s : undefined;
}

function declaredDynamic(v: Value, axis: number): boolean {
  const d = v.shape?.[axis];
  return d !== undefined && (typeof d !== 'number' || d < 0);
}

export interface CompactOptions extends AnalyseOptions {
  /** Keep pruned widths at multiples of this (e.g. 8). */
  roundTo?: number;
}

export interface CompactResult {
  /** The compact model. */
  model: Model;
  /** The masked model the compact one must match (masks baked into the weights, activation masks as Mul). */
  masked: Model;
  layers: SpeedupLayerReport[];
  groups: SpeedupGroupReport[];
  sparsity: { requestedChannels: number; removedChannels: number; lost: number };
  warnings: string[];
}

/**
 * Remove the channels the masks prune, exactly: the compact model computes what the masked model computes.
 * @example
 * const { model: compact, layers } = compactModel(model, masks, { shapes: traceShapes, roundTo: 8 });
 * @throws UnsupportedOpError, EmptyLayerError, MaskApplyError
 */
export function compactModel(model: Model, masks: Masks, opts: CompactOptions): CompactResult {
  const a = analyse(model, masks, opts);
  const plan = planRemoval(a.dg, { roundTo: opts.roundTo, original: (m) => a.originals.get(`${m.node.name}#${m.param}`) });
  const masked = cloneModel(a.model);
  const { layers, groups, sparsity } = summarise(plan, new Set(a.inserted));
  shrinkModel(a.model, plan, { shapeOf: a.shapeOf, ints: a.ints, opset: a.model.opset, inserted: a.inserted });
  return { model: a.model, masked, layers, groups, sparsity, warnings: plan.warnings };
}

function summarise(plan: ChannelPlan, maskNodes: ReadonlySet<Node>): Pick<CompactResult, 'layers' | 'groups' | 'sparsity'> {
  const { dg } = plan;
  const { groups, memberGroup } = groupsOf(dg);
  const layerMembers = dg.members.filter((m) => !maskNodes.has(m.node));
  const count = (m: Member, pred: (a: number, p: number) => boolean) => Array.from(m.atoms).filter(pred).length;
  const layers: SpeedupLayerReport[] = layerMembers.map((m) => {
    const req = plan.requested.get(m) ?? [];
    return {
      node: m.node.name,
      opType: m.node.opType,
      kind: m.kind,
      channelsBefore: m.atoms.length,
      channelsAfter: count(m, (a) => !plan.isRemoved(a)),
      requested: req.filter(Boolean).length,
      removedRequested: count(m, (a, p) => !!req[p] && plan.isRemoved(a)),
      group: memberGroup.get(m)!.id,
    };
  });
  const groupReports: SpeedupGroupReport[] = groups.map((g) => {
    const members = layerMembers.filter((m) => memberGroup.get(m) === g);
    const roots = new Set(members.flatMap((m) => Array.from(m.atoms, (a) => dg.find(a))));
    const kept = [...roots].filter((r) => plan.keptBecause.has(r));
    return {
      id: g.id,
      members: members.map((m) => m.node.name),
      aligned: g.aligned,
      classes: roots.size,
      removed: [...roots].filter((r) => plan.removed.has(r)).length,
      keptRequested: kept.length,
      reasons: [...new Set(kept.map((r) => plan.keptBecause.get(r)!))],
    };
  });
  const requestedChannels = layers.reduce((s, l) => s + l.requested, 0);
  const removedChannels = layers.reduce((s, l) => s + l.removedRequested, 0);
  return { layers, groups: groupReports, sparsity: { requestedChannels, removedChannels, lost: requestedChannels ? 1 - removedChannels / requestedChannels : 0 } };
}
