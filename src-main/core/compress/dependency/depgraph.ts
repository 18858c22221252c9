/**
 * @file The channel dependency graph (Torch-Pruning's DepGraph, on ONNX): atoms per tracked axis of every value,
 * their classes (union-find), the members and consumers of each class and what blocks it; built by running the
 * propagation rule of every node, then the constant rules (what a removed channel holds in the masked model).
 * Pure: imports only the IR and sibling modules.
 */
import { externalInputs, isFloatType, type Graph, type Node, type Value } from '../../ir/index.ts';
import type { IntValue } from './shape-eval.ts';
import type { Atoms, ConstantCtx, ConsumerSpec, MemberSpec, PropagateCtx, PropagationRule } from './types.ts';

export interface Member extends MemberSpec {
  node: Node;
}

export interface Consumer extends ConsumerSpec {
  node: Node;
}

export interface Block {
  atoms: number[];
  why: string;
  node: Node | null;
  /** Blocked because the op has no propagation rule (an error if a plan wants these channels gone). */
  noRule: boolean;
}

/** Atoms, classes, members, consumers, blocks and constants of one graph. */
export class DepGraph {
  private readonly parent: number[] = [];
  /** Tracked axes of every value: axis → atom per index. */
  readonly axes = new Map<Value, Map<number, Atoms>>();
  readonly members: Member[] = [];
  readonly consumers: Consumer[] = [];
  readonly blocks: Block[] = [];
  /** Per value and tracked axis: the constant each position holds in the masked model (NaN: varies). */
  readonly consts = new Map<Value, Map<number, Float64Array>>();

  constructor(readonly graph: Graph) {}

  get atomCount(): number {
    return this.parent.length;
  }

  fresh(n: number): Atoms {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = this.parent.length;
      this.parent.push(this.parent.length);
    }
    return out;
  }

  /** The class (representative atom) of an atom. */
  find(a: number): number {
    let r = a;
    while (this.parent[r] !== r) r = this.parent[r]!;
    while (this.parent[a] !== r) {
      const next = this.parent[a]!;
      this.parent[a] = r;
      a = next;
    }
    return r;
  }

  union(a: number, b: number): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }

  /** Tracked axes of a value (empty when untracked). */
  axesOf(v: Value | null | undefined): ReadonlyMap<number, Atoms> {
    return (v && this.axes.get(v)) ?? EMPTY;
  }

  constOf(v: Value | null | undefined, axis: number): Float64Array | undefined {
    return v ? this.consts.get(v)?.get(axis) : undefined;
  }
}

const EMPTY: ReadonlyMap<number, Atoms> = new Map();

export interface BuildOptions {
  opset: number;
  shapeOf(v: Value): readonly number[] | undefined;
  ints: ReadonlyMap<Value, IntValue>;
  rule(node: Node): PropagationRule | undefined;
}

/** What both rule contexts read of a node: its shapes, the axes its inputs carry, its traced integer inputs. */
function nodeView(dg: DepGraph, node: Node, opts: BuildOptions) {
  const shape = (v: Value | null | undefined) => (v ? opts.shapeOf(v) : undefined);
  return {
    node,
    opset: opts.opset,
    inShape: (i: number) => shape(node.input(i)),
    outShape: (i: number) => shape(node.outputs[i]),
    axes: (i: number) => dg.axesOf(node.input(i)),
    ints: (i: number) => {
      const v = node.input(i);
      return v ? opts.ints.get(v)?.values : undefined;
    },
  };
}

function makePropagateCtx(dg: DepGraph, node: Node, opts: BuildOptions): PropagateCtx {
  return {
    ...nodeView(dg, node, opts),
    isConst: (i) => node.input(i)?.isInitializer ?? false,
    setAxis(out, axis, atoms) {
      const v = node.outputs[out];
      if (!v) return;
      let m = dg.axes.get(v);
      if (!m) dg.axes.set(v, (m = new Map()));
      m.set(axis, atoms);
    },
    fresh: (n) => dg.fresh(n),
    unite(a, b) {
      const n = Math.min(a.length, b.length);
      for (let i = 0; i < n; i++) dg.union(a[i]!, b[i]!);
    },
    uniteAll(atoms) {
      let first = -1;
      for (const a of atoms) {
        if (first < 0) first = a;
        else dg.union(first, a);
      }
      return first;
    },
    block(atoms, why) {
      dg.blocks.push({ atoms: [...atoms], why, node, noRule: false });
    },
    blockInputs(why) {
      for (const v of node.inputs)
        for (const atoms of dg.axesOf(v).values()) dg.blocks.push({ atoms: [...atoms], why, node, noRule: false });
    },
    member: (m) => dg.members.push({ ...m, node }),
    consumer: (c) => dg.consumers.push({ ...c, node }),
    readers: (out) => node.outputs[out]?.consumers() ?? [],
    shapeDeps(i) {
      const v = node.input(i);
      const iv = v ? opts.ints.get(v) : undefined;
      return iv?.deps.map((ds, e) => ({
        dims: ds.flatMap(([dv, axis]) => dg.axesOf(dv).get(axis) ?? []),
        dynamic: iv.dynamic[e]!,
      }));
    },
    classOf: (a) => dg.find(a),
  };
}

/**
 * Run every node's propagation rule, in graph order. Nodes without a rule block the channels reaching them (and
 * say so: a plan that needs those channels gone fails with UnsupportedOpError). Graph outputs block theirs, and
 * layers sharing a parameter are united slice by slice.
 */
export function buildDepGraph(graph: Graph, opts: BuildOptions): DepGraph {
  const dg = new DepGraph(graph);
  for (const node of graph.nodes) {
    // values read by subgraphs (If / Loop bodies) count as inputs: their widths are fixed inside
    const reads = node.subgraphs().length > 0 ? externalInputs(node) : node.inputs;
    const tracked = reads.some((v) => dg.axesOf(v).size > 0);
    const rule = opts.rule(node);
    if (!rule || node.subgraphs().length > 0) {
      if (tracked) {
        for (const v of reads) {
          for (const atoms of dg.axesOf(v).values()) {
            dg.blocks.push({
              atoms: [...atoms],
              why: `${node.label} has no channel propagation rule`,
              node,
              noRule: true,
            });
          }
        }
      }
      continue;
    }
    rule.propagate(makePropagateCtx(dg, node, opts));
  }
  for (const v of graph.outputs) {
    for (const atoms of dg.axesOf(v).values())
      dg.blocks.push({ atoms: [...atoms], why: `graph output "${v.name}" keeps its width`, node: null, noRule: false });
  }
  uniteShared(dg);
  return dg;
}

/** Layers reading the same initializer slice by slice must keep the same slices (one tensor, one shape). */
function uniteShared(dg: DepGraph): void {
  const groups = new Map<string, Atoms[]>();
  const add = (key: string, atoms: Atoms) => groups.set(key, [...(groups.get(key) ?? []), atoms]);
  const ids = new Map<Value, number>();
  const id = (v: Value) => ids.get(v) ?? (ids.set(v, ids.size), ids.size - 1);
  for (const m of dg.members) {
    const p = m.node.input(m.param);
    if (p?.isInitializer) add(`m${id(p)}:${m.paramAxis}`, m.atoms);
  }
  for (const c of dg.consumers) {
    const p = c.param === undefined ? null : c.node.input(c.param);
    if (p?.isInitializer && c.paramAxis !== undefined) add(`c${id(p)}:${c.paramAxis}`, c.atoms);
  }
  for (const list of groups.values()) {
    for (const other of list.slice(1)) {
      if (other.length !== list[0]!.length) continue;
      for (let i = 0; i < other.length; i++) dg.union(list[0]![i]!, other[i]!);
    }
  }
}

/** Run the constant rules in graph order; outputs a rule leaves unset count as varying. */
export function computeConstants(dg: DepGraph, opts: BuildOptions): void {
  for (const node of dg.graph.nodes) {
    const rule = opts.rule(node);
    if (rule?.constant && node.subgraphs().length === 0) rule.constant(makeConstantCtx(dg, node, opts));
    for (const out of node.outputs) {
      const axes = dg.axes.get(out);
      if (!axes) continue;
      let m = dg.consts.get(out);
      if (!m) dg.consts.set(out, (m = new Map()));
      for (const [axis, atoms] of axes) if (!m.has(axis)) m.set(axis, new Float64Array(atoms.length).fill(Number.NaN));
    }
  }
}

function makeConstantCtx(dg: DepGraph, node: Node, opts: BuildOptions): ConstantCtx {
  return {
    ...nodeView(dg, node, opts),
    outAxes: (out) => dg.axesOf(node.outputs[out]),
    consts: (i, axis) => dg.constOf(node.input(i), axis),
    floats(i) {
      const t = node.input(i)?.initializer;
      return t && t.data !== null && isFloatType(t.dtype)
        ? t.toFloat32()
        : t && t.data !== null && t.dtype !== 'string'
          ? Float32Array.from(t.toNumbers())
          : undefined;
    },
    setConst(out, axis, values) {
      const v = node.outputs[out];
      if (!v || !dg.axes.get(v)?.has(axis)) return;
      let m = dg.consts.get(v);
      if (!m) dg.consts.set(v, (m = new Map()));
      m.set(axis, values);
    },
  };
}
