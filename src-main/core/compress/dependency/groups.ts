/**
 * @file Dependency groups: layers whose channels are coupled (a residual stream, a depthwise conv and its
 * producer, an SE gate and its block, the heads of one attention), as NNI's `dependency_group_id` wants them.
 * Pure: imports only sibling modules.
 */
import type { DepGraph, Member } from './depgraph.ts';

export interface GroupMember {
  node: string;
  opType: string;
  kind: 'source' | 'pass';
  /** Channel axis of the weight (ONNX layout). */
  weightAxis: number;
  channels: number;
}

export interface DependencyGroup {
  /** Stable id: `g0`, `g1`, … in graph order of the first member. */
  id: string;
  members: GroupMember[];
  /** Every member has the same width and channel i of each is one class. */
  aligned: boolean;
  /** Number of channel classes. */
  classes: number;
  /** Per member: class index (0 … classes−1) of each channel. */
  channelClasses: number[][];
  /** Classes that can never be removed, and why. */
  blocked: number[];
  reasons: string[];
  /** Grouped convs read or write these channels: widths must stay divisible by this. */
  internalMetricBlock?: number;
}

const gcd = (a: number, b: number): number => (b ? gcd(b, a % b) : a);
const lcm = (a: number, b: number) => (a / gcd(a, b)) * b;

/** Group the members of a dependency graph by shared channel classes. */
export function groupsOf(dg: DepGraph): { groups: DependencyGroup[]; memberGroup: Map<Member, DependencyGroup> } {
  const owner = new Map<number, number>();
  const parent = dg.members.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  dg.members.forEach((m, i) => {
    for (const a of m.atoms) {
      const r = dg.find(a);
      const o = owner.get(r);
      if (o === undefined) owner.set(r, i);
      else parent[find(i)] = find(o);
    }
  });
  const blockedBy = new Map<number, string>();
  for (const b of dg.blocks) for (const a of b.atoms) if (!blockedBy.has(dg.find(a))) blockedBy.set(dg.find(a), b.why);
  const imb = new Map<number, number>();
  const widen = (r: number, g: number) => imb.set(r, lcm(imb.get(r) ?? 1, g));
  for (const c of dg.consumers) {
    const g = c.node.opType === 'Conv' ? c.node.attrInt('group', 1) : 1;
    if (g > 1) for (const a of c.atoms) widen(dg.find(a), g);
  }
  const byRoot = new Map<number, Member[]>();
  dg.members.forEach((m, i) => byRoot.set(find(i), [...(byRoot.get(find(i)) ?? []), m]));
  const groups: DependencyGroup[] = [];
  const memberGroup = new Map<Member, DependencyGroup>();
  for (const members of byRoot.values()) {
    const classIndex = new Map<number, number>();
    const channelClasses = members.map((m) =>
      Array.from(m.atoms, (a) => {
        const r = dg.find(a);
        if (!classIndex.has(r)) classIndex.set(r, classIndex.size);
        return classIndex.get(r)!;
      }),
    );
    const n = members[0]!.atoms.length;
    const aligned =
      classIndex.size === n && channelClasses.every((cc) => cc.length === n && cc.every((c, p) => c === p));
    const roots = [...classIndex.keys()];
    let block = 1;
    for (const m of members)
      if (m.node.opType === 'Conv' && m.kind === 'source') block = lcm(block, m.node.attrInt('group', 1));
    for (const r of roots) block = lcm(block, imb.get(r) ?? 1);
    const group: DependencyGroup = {
      id: `g${groups.length}`,
      members: members.map((m) => ({
        node: m.node.name,
        opType: m.node.opType,
        kind: m.kind,
        weightAxis: m.paramAxis,
        channels: m.atoms.length,
      })),
      aligned,
      classes: classIndex.size,
      channelClasses,
      blocked: roots.map((r, i) => (blockedBy.has(r) ? i : -1)).filter((i) => i >= 0),
      reasons: [...new Set(roots.map((r) => blockedBy.get(r)).filter((w): w is string => w !== undefined))],
      ...(block > 1 ? { internalMetricBlock: block } : {}),
    };
    groups.push(group);
    for (const m of members) memberGroup.set(m, group);
  }
  return { groups, memberGroup };
}
