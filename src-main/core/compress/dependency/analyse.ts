/**
 * @file Channel dependency analysis of a masked model: copy the model and lift Constant nodes, bake the masks in (so
 * the copy is the masked model), evaluate shape computations, build the channel dependency graph and the constants
 * of removed channels. No decisions: speedup plans and shrinks from it, pruning groups channels with it.
 * Pure: imports only the IR, passes and sibling modules.
 */
import { Tensor, cloneModel, type Graph, type Model, type Node, type Value } from '../../ir/index.ts';
import { liftConstants } from '../../passes/index.ts';
import type { ShapeMap } from '../../analysis/stats.ts';
import type { Masks } from '../masks.ts';
import { bakeMasks } from './bake.ts';
import { buildDepGraph, computeConstants, type DepGraph } from './depgraph.ts';
import { ruleOf } from './registry.ts';
import { evalShapeInts, type IntValue } from './shape-eval.ts';

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
  const isDynamic = (v: Value, axis: number) =>
    opts.isDynamic ? opts.isDynamic(v.name, axis) : declaredDynamic(v, axis);
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
    if (
      like.data === null ||
      !['float32', 'float64', 'int32', 'int64', 'bool'].includes(like.dtype) ||
      out.isGraphOutput
    )
      continue;
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
function addMaskMembers(
  dg: DepGraph,
  inserted: readonly Node[],
  shapeOf: (v: Value) => readonly number[] | undefined,
): void {
  for (const mul of inserted) {
    const m = mul.input(1)?.initializer?.dims;
    const out = shapeOf(mul.outputs[0]!);
    if (!m || !out) continue;
    for (const [axis, atoms] of dg.axesOf(mul.outputs[0])) {
      const a = axis - (out.length - m.length);
      if (a >= 0 && m[a] === atoms.length)
        dg.members.push({ node: mul, kind: 'pass', output: 0, axis, atoms, param: 1, paramAxis: a });
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
