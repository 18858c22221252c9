/**
 * @file Group-aware one-shot pruning (Torch-Pruning's group importance): score every channel class of a dependency
 * group by the L1 norms of all its members' weight slices, prune the weakest classes, and write masks every member
 * agrees on, biases included. Unlike NNI's `dependency_group_id` (index-aligned channels only) this also handles
 * groups coupled through an index mapping: attention heads (q, k and v slices of one in-projection), channel
 * shuffles. Pure: imports only the IR and sibling modules.
 */
import type { Model, Node } from '../../ir/index.ts';
import type { ShapeMap } from '../../analysis/stats.ts';
import { setMask, type Masks } from '../masks.ts';
import type { Member } from '../dependency/depgraph.ts';
import { groupsOf } from '../dependency/groups.ts';
import { analyse } from '../dependency/analyse.ts';
import { l1Along } from '../dependency/tensor-ops.ts';

export interface GroupPruningOptions {
  /** Fraction of each group's removable channel classes to prune. */
  sparsity: number;
  /** Op types whose weights are scored and masked (default Conv, ConvTranspose, Gemm, MatMul). */
  opTypes?: readonly string[];
  /** Leave out groups any of whose members this rejects (e.g. by node name). */
  include?(node: Node): boolean;
}

const DEFAULT_TYPES = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'];

/**
 * Masks that prune `sparsity` of the removable channel classes of every dependency group, consistently across
 * the group's members (weight slices, their biases, and the bias Add after a MatMul).
 * @example
 * const masks = groupPruningMasks(model, shapes, { sparsity: 0.5 });
 * const { model: compact } = compactModel(model, masks, { shapes });
 */
export function groupPruningMasks(model: Model, shapes: ShapeMap, opts: GroupPruningOptions): Masks {
  const types = new Set(opts.opTypes ?? DEFAULT_TYPES);
  const { dg } = analyse(model, new Map(), { shapes });
  const { memberGroup } = groupsOf(dg);
  const byGroup = new Map<unknown, Member[]>();
  for (const [m, g] of memberGroup) byGroup.set(g, [...(byGroup.get(g) ?? []), m]);
  const blocked = new Set<number>();
  for (const b of dg.blocks) for (const a of b.atoms) blocked.add(dg.find(a));
  const masks: Masks = new Map();
  for (const members of byGroup.values()) {
    const scored = members.filter((m) => types.has(m.node.opType));
    if (scored.length === 0 || (opts.include && !members.every((m) => opts.include!(m.node)))) continue;
    const score = new Map<number, number>();
    const count = new Map<number, number>();
    for (const m of scored) {
      const l1 = l1Along(m.node.input(m.param)!.initializer!, m.paramAxis);
      const mean = l1.reduce((a, b) => a + b, 0) / Math.max(1, l1.length) || 1;
      m.atoms.forEach((a, p) => {
        const r = dg.find(a);
        score.set(r, (score.get(r) ?? 0) + l1[p]! / mean);
        count.set(r, (count.get(r) ?? 0) + 1);
      });
    }
    const classes = [...score.keys()].filter((r) => !blocked.has(r));
    const k = Math.floor(classes.length * opts.sparsity);
    classes.sort((x, y) => score.get(x)! / count.get(x)! - score.get(y)! / count.get(y)!);
    const pruned = new Set(classes.slice(0, k));
    // never empty a layer
    if (scored.some((m) => Array.from(m.atoms).every((a) => pruned.has(dg.find(a))))) continue;
    if (pruned.size) for (const m of scored) writeMasks(masks, m, (p) => !pruned.has(dg.find(m.atoms[p]!)));
  }
  return masks;
}

/** Weight mask along the channel axis, plus the bias (input 2, or the constant operand of a following Add). */
function writeMasks(masks: Masks, m: Member, keep: (p: number) => boolean): void {
  const w = m.node.input(m.param)!.initializer!;
  const n = w.dims[m.paramAxis]!;
  const data = Uint8Array.from({ length: n }, (_, p) => (keep(p) ? 1 : 0));
  setMask(masks, m.node.name, 'weight', { dims: w.dims.map((d, i) => (i === m.paramAxis ? d : 1)), data });
  const bias = m.node.input(2);
  if (bias?.isInitializer && m.node.opType !== 'MatMul' && bias.initializer!.dims.at(-1) === n) {
    setMask(masks, m.node.name, 'bias', {
      dims: bias.initializer!.dims.map((d, i, all) => (i === all.length - 1 ? d : 1)),
      data,
    });
  }
  if (m.node.opType !== 'MatMul') return;
  const out = m.node.outputs[0]!;
  const add = out.uses.length === 1 && out.uses[0]!.node.opType === 'Add' ? out.uses[0]!.node : undefined;
  const j = add ? 1 - out.uses[0]!.index : -1;
  const c = add?.input(j);
  if (add && c?.isInitializer && c.initializer!.dims.length === 1 && c.initializer!.dims[0] === n)
    setMask(masks, add.name, `_input_${j}`, { dims: [n], data });
}
