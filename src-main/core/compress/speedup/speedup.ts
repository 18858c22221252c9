/**
 * @file The pure core of pruning speedup: masks × model × traced shapes → the compact model, with the plan that
 * made it (layers, groups, lost sparsity). Steps: analyse the masked model (src-main/core/compress/dependency);
 * decide which classes go; shrink. The ORT side (tracing, verification, latency) lives in src-main/node/speedup.
 * Pure: imports only the IR, the dependency analysis and sibling modules.
 */
import { cloneModel, type Model, type Node, type Value } from '../../ir/index.ts';
import { applyNormMasks, normStatisticsOf, type NormMask } from '../simulate/norm-stats.ts';
import type { SpeedupGroupReport, SpeedupLayerReport } from '../../../../src-shared/speedup-report.ts';
import type { Masks } from '../masks.ts';
import { analyse, type AnalyseOptions } from '../dependency/analyse.ts';
import type { Member } from '../dependency/depgraph.ts';
import { groupsOf } from '../dependency/groups.ts';
import { planRemoval, type ChannelPlan } from './plan.ts';
import { shrinkModel } from './shrink.ts';

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
  /**
   * Norms (LayerNormalization, GroupNormalization) whose normalised channels lose positions: the masked model
   * computes their statistics over the kept positions (pass to `simulate(…, { normMasks })` for the reference).
   */
  normMasks: NormMask[];
  /**
   * The channels that survive, by value name and axis (only where some went): NNI's `node_infos` masks, so that
   * per-channel data of the model before (quantization scales, statistics) can be sliced to the compact one.
   */
  kept: KeptChannels;
}

/** Value name → axis → the indices (in the model before) that the compact model keeps. */
export type KeptChannels = Map<string, Map<number, number[]>>;

/**
 * Remove the channels the masks prune, exactly: the compact model computes what the masked model computes.
 * @example
 * const { model: compact, layers } = compactModel(model, masks, { shapes: traceShapes, roundTo: 8 });
 * @throws UnsupportedOpError, EmptyLayerError, MaskApplyError
 */
export function compactModel(model: Model, masks: Masks, opts: CompactOptions): CompactResult {
  const a = analyse(model, masks, opts);
  const plan = planRemoval(a.dg, {
    roundTo: opts.roundTo,
    original: (m) => a.originals.get(`${m.node.name}#${m.param}`),
  });
  const normMasks = normMasksOf(a.model, plan, a.shapeOf);
  const masked = cloneModel(a.model);
  applyNormMasks(masked, normMasks);
  const { layers, groups, sparsity } = summarise(plan, new Set(a.inserted));
  const kept = keptChannels(plan, model);
  shrinkModel(a.model, plan, { shapeOf: a.shapeOf, ints: a.ints, opset: a.model.opset, inserted: a.inserted });
  const nothing = layers.every((l) => l.channelsAfter === l.channelsBefore)
    ? [nothingRemoved(sparsity.requestedChannels, groups)]
    : [];
  return {
    model: a.model,
    masked,
    layers,
    groups,
    sparsity,
    warnings: [...nothing, ...plan.warnings],
    normMasks,
    kept,
  };
}

/**
 * The norms whose normalised channels `masks` remove — what `compactModel` records as `normMasks` — without
 * shrinking anything: pass them to `simulate(…, { normMasks })` for the masked model that the compact one computes.
 * @example const normMasks = planNormMasks(model, masks, { shapes: traceShapes });
 * @throws UnsupportedOpError, MaskApplyError (as compactModel)
 */
export function planNormMasks(model: Model, masks: Masks, opts: CompactOptions): NormMask[] {
  if (!model.graph.nodes.some((n) => normStatisticsOf(n))) return [];
  const a = analyse(model, masks, opts);
  const plan = planRemoval(a.dg, {
    roundTo: opts.roundTo,
    original: (m) => a.originals.get(`${m.node.name}#${m.param}`),
  });
  return normMasksOf(a.model, plan, a.shapeOf);
}

/** The norms whose normalised axes lose positions under `plan`, with what each axis keeps. */
function normMasksOf(
  model: Model,
  plan: ChannelPlan,
  shapeOf: (v: Value) => readonly number[] | undefined,
): NormMask[] {
  const out: NormMask[] = [];
  for (const node of model.graph.nodes) {
    const entry = normStatisticsOf(node);
    const x = node.input(0);
    const shape = x ? shapeOf(x) : undefined;
    if (!entry || !x || !shape) continue;
    const axes = entry.normalised(node, shape.length).flatMap((axis) => {
      const kept = plan.kept(x, axis);
      return kept ? [{ axis, size: shape[axis]!, kept }] : [];
    });
    if (axes.length) out.push({ node: node.name, rank: shape.length, axes });
  }
  return out;
}

/** The surviving channels of every tracked value and of every member's / consumer's parameter, where some went. */
function keptChannels(plan: ChannelPlan, original: Model): KeptChannels {
  const kept: KeptChannels = new Map();
  const put = (name: string | undefined, axis: number, atoms: ArrayLike<number>) => {
    if (name === undefined) return;
    const k: number[] = [];
    for (let i = 0; i < atoms.length; i++) if (!plan.isRemoved(atoms[i]!)) k.push(i);
    if (k.length === atoms.length) return;
    let byAxis = kept.get(name);
    if (!byAxis) kept.set(name, (byAxis = new Map()));
    byAxis.set(axis, k);
  };
  for (const [v, axes] of plan.dg.axes) for (const [axis, atoms] of axes) put(v.name, axis, atoms);
  // parameters under their names in the model given (baking a mask renames the masked copy)
  const param = (node: Node, i: number) => original.graph.node(node.name)?.input(i)?.name ?? node.input(i)?.name;
  for (const m of plan.dg.members) put(param(m.node, m.param), m.paramAxis, m.atoms);
  for (const c of plan.dg.consumers)
    if (c.param !== undefined && c.paramAxis !== undefined) put(param(c.node, c.param), c.paramAxis, c.atoms);
  return kept;
}

/** The warning of a speedup that removed no channel: never a silent success. Names the groups left alone and why. */
export function nothingRemoved(requested: number, groups: readonly SpeedupGroupReport[]): string {
  if (requested === 0)
    return 'nothing was removed: the masks ask to remove no channel (every layer was left out or kept whole; see the pruning diagnostics for why)';
  const kept = groups.filter((g) => g.keptRequested > 0);
  const listed = kept
    .slice(0, 8)
    .map(
      (g) =>
        `group ${g.id} (${g.members.slice(0, 3).join(', ')}${g.members.length > 3 ? ', …' : ''}): ${g.reasons.join('; ') || 'kept'}`,
    );
  return `nothing was removed: the ${requested} channels the masks ask to remove all stay — ${listed.join(' | ')}${kept.length > 8 ? ` | and ${kept.length - 8} more groups` : ''}`;
}

function summarise(
  plan: ChannelPlan,
  maskNodes: ReadonlySet<Node>,
): Pick<CompactResult, 'layers' | 'groups' | 'sparsity'> {
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
  return {
    layers,
    groups: groupReports,
    sparsity: {
      requestedChannels,
      removedChannels,
      lost: requestedChannels ? 1 - removedChannels / requestedChannels : 0,
    },
  };
}
