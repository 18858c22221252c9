/**
 * @file Shrinking: run the replacer of every node whose channels change, add the constant maps replacers ask for,
 * fix the declared shapes of shrunk values, drop mask Muls that became all ones, merge constant Adds, and sweep
 * dead shape computations. In place, on the baked working copy. Pure: imports only the IR and sibling modules.
 */
import { Tensor, UnsupportedOpError, type Graph, type Model, type Node, type Value } from '../../ir/index.ts';
import { deadCode } from '../../passes/index.ts';
import type { ChannelPlan } from './plan.ts';
import { replacerOf } from '../dependency/registry.ts';
import type { IntValue } from '../dependency/shape-eval.ts';
import type { ReplaceCtx } from '../dependency/types.ts';

export interface ShrinkOptions {
  shapeOf(v: Value): readonly number[] | undefined;
  ints: ReadonlyMap<Value, IntValue>;
  opset: number;
  /** Mask Muls inserted by baking. */
  inserted: readonly Node[];
}

interface PendingAdd {
  value: Value;
  tensor: Tensor;
}

/** Shrink `model` (the baked working copy) by `plan`, in place. */
export function shrinkModel(model: Model, plan: ChannelPlan, opts: ShrinkOptions): void {
  const g = model.graph;
  const kept = new Map<Value, Map<number, number[]>>();
  for (const [v, axes] of plan.dg.axes) {
    for (const axis of axes.keys()) {
      const k = plan.kept(v, axis);
      if (!k) continue;
      if (!kept.has(v)) kept.set(v, new Map());
      kept.get(v)!.set(axis, k);
    }
  }
  const keptOf = (v: Value | null | undefined, axis: number) => (v ? kept.get(v)?.get(axis) : undefined);
  const changed = (v: Value | null | undefined) => (v ? [...(kept.get(v)?.keys() ?? [])] : []);
  const cache = new Map<string, Value>();
  const pending: PendingAdd[] = [];

  freezeShapeNumbers(g, opts.ints, (v, a) => !!keptOf(v, a));
  for (const node of [...g.nodes]) {
    const readsShrinkingDims = node.inputs.some((v) =>
      (v ? opts.ints.get(v) : undefined)?.deps.some((ds) => ds.some(([dv, a]) => !!keptOf(dv, a))),
    );
    if (
      !node.inputs.some((v) => changed(v).length) &&
      !node.outputs.some((v) => changed(v).length) &&
      !(readsShrinkingDims && node.opType === 'Reshape')
    )
      continue;
    const replacer = replacerOf(node);
    if (!replacer) {
      throw new UnsupportedOpError(
        node.opType,
        node.name,
        'pruning speedup',
        `its channels shrink but it has no replacer; register one with registerReplacer('${node.opType}', …)`,
      );
    }
    const ctx: ReplaceCtx = {
      node,
      graph: g,
      opset: opts.opset,
      inShape: (i) => shapeOrNone(node.input(i), opts),
      outShape: (i) => shapeOrNone(node.outputs[i], opts),
      keptIn: (i, axis) => keptOf(node.input(i), axis),
      keptOut: (j, axis) => keptOf(node.outputs[j], axis),
      changedIn: (i) => changed(node.input(i)),
      changedOut: (j) => changed(node.outputs[j]),
      removedConsts: (i, axis) => removedConsts(plan, node.input(i), axis),
      ints(i) {
        const v = node.input(i);
        const iv = v ? opts.ints.get(v) : undefined;
        return iv
          ? {
              values: iv.values,
              dynamic: iv.dynamic.some(Boolean),
              dynamicAt: iv.dynamic,
              follows: iv.deps.map((ds) => ds.some(([dv, a]) => !!keptOf(dv, a))),
            }
          : undefined;
      },
      tensor: (i) => node.input(i)?.initializer ?? undefined,
      setInput(i, t, key) {
        const old = node.input(i);
        const k = key !== undefined && old ? `${old.name}\u0000${key}` : undefined;
        let v = k ? cache.get(k) : undefined;
        if (!v) {
          v = g.addInitializer(`${old?.name ?? `${node.name}_in${i}`}_pruned`, t, true);
          if (k) cache.set(k, v);
        }
        node.setInput(i, v);
      },
      addAfter: (out, t) => pending.push({ value: node.outputs[out]!, tensor: t }),
    };
    replacer(ctx);
  }
  for (const [v, axes] of kept) updateType(v, axes);
  const added = pending.map((p) => insertAdd(g, p));
  dropUnitMasks(g, opts.inserted);
  for (const add of added) mergeAdds(g, add);
  deadCode.run(model);
}

/** Ops whose replacers rewrite the shape inputs they read (from the traced integers). */
const SHAPE_REWRITTEN = new Set(['Reshape', 'Split', 'Slice', 'Expand', 'Resize']);

/**
 * A number computed from a width that shrinks and used as a number, not a shape (Swin's attention scale
 * (C / heads)^-0.5, with C read from the block's input): the masked model computes it from the original width, so
 * the compact one reads it as a constant of its traced value. Entries following a dynamic dim are left as they are.
 */
function freezeShapeNumbers(
  g: Graph,
  ints: ReadonlyMap<Value, IntValue>,
  shrinks: (v: Value, axis: number) => boolean,
): void {
  const frozen = new Map<Value, Value>();
  for (const node of [...g.nodes]) {
    if (SHAPE_REWRITTEN.has(node.opType) || (node.outputs[0] && ints.has(node.outputs[0]))) continue;
    node.inputs.forEach((v, i) => {
      const iv = v && !v.isInitializer ? ints.get(v) : undefined;
      if (!v || !iv || iv.dynamic.some(Boolean) || !iv.deps.some((ds) => ds.some(([dv, a]) => shrinks(dv, a)))) return;
      let c = frozen.get(v);
      if (!c) {
        const cast = v.producer?.opType === 'Cast' ? v.producer.attrInt('to', 0) : 0;
        const dtype =
          v.type?.kind === 'tensor' && v.type.dtype ? v.type.dtype : iv.float || cast === 1 ? 'float32' : 'int64';
        if (dtype !== 'float32' && dtype !== 'int64') return;
        const t = dtype === 'float32' ? Tensor.float32(iv.dims, iv.values) : Tensor.int64(iv.dims, iv.values);
        c = g.addInitializer(`${v.name}_traced`, t, true);
        frozen.set(v, c);
      }
      node.setInput(i, c);
    });
  }
}

function shapeOrNone(v: Value | null | undefined, opts: ShrinkOptions): readonly number[] | undefined {
  return v ? opts.shapeOf(v) : undefined;
}

/** Removed positions whose masked-model value is a finite non-zero constant. */
function removedConsts(plan: ChannelPlan, v: Value | null, axis: number): Map<number, number> {
  const out = new Map<number, number>();
  const atoms = v ? plan.dg.axes.get(v)?.get(axis) : undefined;
  const ks = plan.dg.constOf(v, axis);
  if (!atoms || !ks) return out;
  atoms.forEach((a, p) => {
    const k = ks[p]!;
    if (plan.isRemoved(a) && Number.isFinite(k) && k !== 0) out.set(p, k);
  });
  return out;
}

function updateType(v: Value, axes: Map<number, number[]>): void {
  if (v.type?.kind !== 'tensor' || !v.type.shape) return;
  const shape = [...v.type.shape];
  for (const [axis, k] of axes) if (typeof shape[axis] === 'number') shape[axis] = k.length;
  v.type = { ...v.type, shape };
}

/** Insert `value + tensor` after the producer of `value`, moving every reader (and the graph output name) over. */
function insertAdd(g: Graph, p: PendingAdd): Node {
  const v = p.value;
  const uses = [...v.uses];
  const at = v.producer ? g.nodes.indexOf(v.producer) + 1 : 0;
  const add = g.addNode({ opType: 'Add', inputs: [v, g.addInitializer(`${v.name}_folded`, p.tensor, true)], at });
  const out = add.outputs[0]!;
  out.type = v.type;
  for (const u of uses) u.node.setInput(u.index, out);
  const gi = g.outputs.indexOf(v);
  if (gi >= 0) {
    const name = v.name;
    g.renameValue(v, g.uniqueName(`${name}_pre_fold`));
    g.renameValue(out, name);
    g.setOutput(gi, out);
  }
  return add;
}

/** Bypass a Mul by an all-ones constant (a mask whose zeros were all removed). */
function dropUnitMasks(g: Graph, inserted: readonly Node[]): void {
  for (const mul of inserted) {
    if (!g.nodes.includes(mul)) continue;
    const m = mul.input(1)?.initializer;
    if (!m || !m.toFloat32().every((x) => x === 1)) continue;
    bypass(g, mul, mul.input(0)!);
  }
}

/** Route readers of `node`'s output to `to` and remove the node (graph output names stay). */
function bypass(g: Graph, node: Node, to: Value): void {
  const out = node.outputs[0]!;
  const gi = g.outputs.indexOf(out);
  if (gi >= 0 && (to.isGraphInput || to.isInitializer || to.isGraphOutput)) return; // cannot carry the output name
  for (const u of [...out.uses]) u.node.setInput(u.index, to);
  if (gi >= 0) {
    const name = out.name;
    g.removeNode(node, true);
    g.renameValue(to, name);
    g.setOutput(gi, to);
    return;
  }
  g.removeNode(node, true);
}

/** Add(Add(x, a), b) with constant a and b of one shape, the inner sum read once → Add(x, a + b). */
function mergeAdds(g: Graph, inner: Node): void {
  const out = inner.outputs[0]!;
  const a = inner.input(1)?.initializer;
  if (!a || out.uses.length !== 1 || out.isGraphOutput) return;
  const { node: outer, index } = out.uses[0]!;
  const j = 1 - index;
  const b = outer.opType === 'Add' && outer.inputs.length === 2 ? outer.input(j)?.initializer : undefined;
  if (!b || b.dims.join() !== a.dims.join() || b.dtype !== 'float32' || a.dtype !== 'float32') return;
  const fa = a.toFloat32();
  const sum = new Tensor(
    'float32',
    [...b.dims],
    Float32Array.from(b.toFloat32(), (x, i) => x + fa[i]!),
  );
  outer.setInput(j, g.addInitializer(`${outer.input(j)!.name}_folded`, sum, true));
  outer.setInput(index, inner.input(0)!);
  g.removeNode(inner);
}
