/**
 * @file Which channel classes go. A class goes when some member or consumer asked for it (a masked weight slice),
 * nothing blocks it, and every consumer can let it go: the consumer ignores it (its weights for it are masked) or
 * receives a constant it can fold into its bias. As in NNI, a member's request is lost when its group disagrees;
 * unlike NNI, the loss is counted and the result stays exact. `roundTo` keeps the most important pruned channels to
 * reach hardware-friendly widths. Pure: imports only the IR and sibling modules.
 */
import { UnsupportedOpError, type Tensor, type Value } from '../../ir/index.ts';
import type { Block, DepGraph, Member } from '../dependency/depgraph.ts';
import { EmptyLayerError } from './errors.ts';
import { l1Along, zeroAlong } from '../dependency/tensor-ops.ts';

export interface PlanOptions {
  /** Keep widths of pruned layers at multiples of this (un-pruning the most important channels). */
  roundTo?: number;
  /** The unmasked parameter behind a member (for importance); defaults to the masked one. */
  original?(m: Member): Tensor | undefined;
}

export interface ChannelPlan {
  dg: DepGraph;
  /** Class roots that go. */
  removed: Set<number>;
  /** Requested classes that stay, with why. */
  keptBecause: Map<number, string>;
  /** Per member: positions its own mask asked to remove. */
  requested: Map<Member, boolean[]>;
  warnings: string[];
  isRemoved(atom: number): boolean;
  /** Kept indices of `v` along `axis`, or undefined when nothing goes there. */
  kept(v: Value, axis: number): number[] | undefined;
}

/**
 * Decide the removal of every class.
 * @throws UnsupportedOpError when a requested class reaches an op with no propagation rule
 * @throws EmptyLayerError when a layer or tensor would lose every channel
 */
export function planRemoval(dg: DepGraph, opts: PlanOptions = {}): ChannelPlan {
  const root = (a: number) => dg.find(a);
  const blocks = blocksByClass(dg);
  const requested = new Map<Member, boolean[]>();
  const voted = new Set<number>();
  for (const m of dg.members) {
    const p = m.node.input(m.param)?.initializer;
    const zero = p && p.data !== null ? zeroAlong(p, m.paramAxis) : [];
    requested.set(m, zero);
    zero.forEach((z, i) => z && voted.add(root(m.atoms[i]!)));
  }
  for (const c of dg.consumers) c.atoms.forEach((a, p) => c.ignores(p) && voted.add(root(a)));

  const rejected = new Map<number, string>();
  for (const c of dg.consumers) {
    const ks = dg.constOf(c.node.input(c.input), c.axis);
    c.atoms.forEach((a, p) => {
      const r = root(a);
      if (!voted.has(r) || rejected.has(r) || c.ignores(p)) return;
      const k = ks?.[p];
      if (k === undefined || Number.isNaN(k))
        rejected.set(r, `${c.node.label} reads it and a member of its group keeps computing it`);
      else if (k !== 0 && !c.folds) rejected.set(r, `${c.node.label} cannot fold the constant it holds`);
    });
  }

  const removed = new Set<number>();
  const keptBecause = new Map<number, string>();
  for (const r of voted) {
    const bs = blocks.get(r);
    const noRule = bs?.find((b) => b.noRule);
    if (noRule && !rejected.has(r)) {
      const n = noRule.node!;
      throw new UnsupportedOpError(
        n.opType,
        n.name,
        'pruning speedup',
        `pruned channels reach it; register how channels pass through it with registerPropagationRule('${n.opType}', …) and registerReplacer('${n.opType}', …), or exclude the layers feeding it from pruning`,
      );
    }
    if (bs) keptBecause.set(r, bs[0]!.why);
    else if (rejected.has(r)) keptBecause.set(r, rejected.get(r)!);
    else removed.add(r);
  }
  const plan = makePlan(dg, removed, keptBecause, requested);
  refuseEmpty(plan);
  if (opts.roundTo && opts.roundTo > 1) roundWidths(plan, opts.roundTo, opts.original);
  else warnUnaligned(plan, ALIGNED_WIDTH);
  return plan;
}

function blocksByClass(dg: DepGraph): Map<number, Block[]> {
  const out = new Map<number, Block[]>();
  for (const b of dg.blocks) {
    for (const a of b.atoms) {
      const r = dg.find(a);
      const list = out.get(r) ?? [];
      if (list[list.length - 1] !== b) list.push(b);
      out.set(r, list);
    }
  }
  // rule-less blocks first: they decide between an error and a silent keep
  for (const list of out.values()) list.sort((x, y) => Number(y.noRule) - Number(x.noRule));
  return out;
}

function makePlan(
  dg: DepGraph,
  removed: Set<number>,
  keptBecause: Map<number, string>,
  requested: Map<Member, boolean[]>,
): ChannelPlan {
  const isRemoved = (a: number) => removed.size > 0 && removed.has(dg.find(a));
  return {
    dg,
    removed,
    keptBecause,
    requested,
    warnings: [],
    isRemoved,
    kept(v, axis) {
      const atoms = dg.axes.get(v)?.get(axis);
      if (!atoms) return undefined;
      const kept: number[] = [];
      atoms.forEach((a, i) => !isRemoved(a) && kept.push(i));
      return kept.length === atoms.length ? undefined : kept;
    },
  };
}

/** A layer (or any tensor on a pruned path) losing every channel is refused, naming the layer. */
function refuseEmpty(plan: ChannelPlan): void {
  for (const m of plan.dg.members) {
    if (m.atoms.length > 0 && Array.from(m.atoms).every((a) => plan.isRemoved(a))) {
      throw new EmptyLayerError(m.node.name, m.node.opType, 'every output channel');
    }
  }
  for (const [v, axes] of plan.dg.axes) {
    for (const atoms of axes.values()) {
      if (atoms.length > 0 && Array.from(atoms).every((a) => plan.isRemoved(a))) {
        const p = v.producer;
        throw new EmptyLayerError(p?.name ?? v.name, p?.opType ?? 'value', `every channel of tensor "${v.name}"`);
      }
    }
  }
}

/** Channel counts CPU and GPU kernels handle best come in multiples of this (SIMD width / NCHWc blocks). */
export const ALIGNED_WIDTH = 8;

/** Without roundTo: one warning naming the pruned layers whose width is not a multiple of n (suggesting roundTo). */
function warnUnaligned(plan: ChannelPlan, n: number): void {
  const odd: string[] = [];
  for (const m of plan.dg.members) {
    if (m.kind !== 'source') continue;
    const kept = Array.from(m.atoms).filter((a) => !plan.isRemoved(a)).length;
    if (kept < m.atoms.length && kept % n !== 0) odd.push(`${m.node.name} (${kept})`);
  }
  if (odd.length) {
    plan.warnings.push(
      `${odd.length} pruned layer(s) have widths that are not multiples of ${n}, which kernels run less efficiently: ${odd.slice(0, 6).join(', ')}${odd.length > 6 ? ', …' : ''}; use roundTo: ${n}`,
    );
  }
}

/** Un-prune the most important classes of each pruned source layer until its width is a multiple of n. */
function roundWidths(plan: ChannelPlan, n: number, original: PlanOptions['original']): void {
  const { dg } = plan;
  // importance of a class: L1 of the unmasked slices of every member holding it (computed on first need)
  const holders = new Map<number, [Member, number][]>();
  for (const m of dg.members) {
    m.atoms.forEach((a, p) => {
      const r = dg.find(a);
      if (!holders.has(r)) holders.set(r, []);
      holders.get(r)!.push([m, p]);
    });
  }
  const l1 = new Map<Member, Float64Array | null>();
  const norms = (m: Member) => {
    if (!l1.has(m)) {
      const t = original?.(m) ?? m.node.input(m.param)?.initializer;
      l1.set(m, t && t.data !== null ? l1Along(t, m.paramAxis) : null);
    }
    return l1.get(m);
  };
  const importanceCache = new Map<number, number>();
  const importance = (r: number) => {
    if (!importanceCache.has(r))
      importanceCache.set(
        r,
        (holders.get(r) ?? []).reduce((s, [m, p]) => s + (norms(m)?.[p] ?? 0), 0),
      );
    return importanceCache.get(r)!;
  };
  const sources = dg.members.filter((m) => m.kind === 'source');
  const counts = new Map<Member, Map<number, number>>();
  for (const m of sources) {
    const c = new Map<number, number>();
    for (const a of m.atoms) c.set(dg.find(a), (c.get(dg.find(a)) ?? 0) + 1);
    counts.set(m, c);
  }
  for (let pass = 0; pass < 4; pass++) {
    let changed = false;
    for (const m of sources) {
      const total = m.atoms.length;
      const c = counts.get(m)!;
      let kept = 0;
      for (const [r, k] of c) if (!plan.removed.has(r)) kept += k;
      if (kept === total || kept % n === 0) continue;
      const goal = Math.min(total, Math.ceil(kept / n) * n);
      const cands = [...c.keys()].filter((r) => plan.removed.has(r));
      cands.sort((x, y) => importance(y) - importance(x));
      for (const r of cands) {
        if (kept >= goal) break;
        plan.removed.delete(r);
        plan.keptBecause.set(r, `kept to round ${m.node.label} to a multiple of ${n}`);
        kept += c.get(r)!;
        changed = true;
      }
    }
    if (!changed) break;
  }
  for (const m of sources) {
    const kept = Array.from(m.atoms).filter((a) => !plan.isRemoved(a)).length;
    if (kept < m.atoms.length && kept % n !== 0)
      plan.warnings.push(
        `${m.node.label}: ${kept} output channels, not a multiple of ${n} (coupled channels prevent rounding)`,
      );
  }
}
