/**
 * @file Fuse a decomposed layer norm into one `LayerNormalization`. Before opset 17 ONNX had no LayerNormalization,
 * so torch (and other exporters) write it as
 *
 *   μ = ReduceMean(x, axes)   d = x − μ   σ² = ReduceMean(d², axes)   y = d / √(σ² + ε)   [· γ]  [+ β]
 *
 * (d² as `Pow(d, 2)` or `Mul(d, d)`). Compression cannot see a norm there — a ReduceMean over the channel axis keeps
 * its channels — so this pass recognises the pattern exactly and writes `LayerNormalization(x, γ, β, axis, ε)`
 * in its place: every intermediate read only inside the pattern, both ReduceMeans over the same trailing axes with
 * keepdims, the exponent exactly 2, ε a float32 scalar constant, γ and β initializers shaped like the normalised
 * axes. Anything else is left as it was. A model below opset 17 is moved to opset 17 when a norm is fused (the
 * ops torch writes mean the same at 13–17; RoiAlign, whose default changed at 16, keeps its old mode explicitly);
 * below opset 13 nothing is fused (Squeeze / Unsqueeze / Reduce* / Split changed form at 13).
 * In place. Pure: imports only the IR.
 */
import { Tensor, type Graph, type Model, type Node, type Value } from '../ir/index.ts';
import type { Pass, PassChange, PassResult } from './pass.ts';

/** The opset that has LayerNormalization, and the lowest one this pass moves up to it. */
const LAYER_NORM_OPSET = 17;
const MIN_OPSET = 13;

/** The single node reading `v` (every use of it), or null when several nodes read it or it is a graph output. */
function soleReader(v: Value): Node | null {
  if (v.isGraphOutput) return null;
  const readers = v.consumers();
  return readers.length === 1 ? readers[0]! : null;
}

/** A float32 scalar (one element) held by an initializer that is not an overridable graph input. */
function scalarConstant(v: Value | null): number | null {
  const t = v?.initializer;
  if (!v || !t || v.isGraphInput || t.dtype !== 'float32' || t.size !== 1 || !t.hasData) return null;
  return t.toNumbers()[0]!;
}

/** The other input of a binary node, given one of its inputs. */
function other(node: Node, v: Value): Value | null {
  if (node.inputs.length !== 2) return null;
  if (node.input(0) === v && node.input(1) !== v) return node.input(1);
  if (node.input(1) === v && node.input(0) !== v) return node.input(0);
  return null;
}

/** ReduceMean's axes (attribute before opset 18, constant input from 18), or null when keepdims is off or unknown. */
function reduceAxes(node: Node, opset: number): number[] | null {
  if (node.opType !== 'ReduceMean' || node.domain !== '' || node.attrInt('keepdims', 1) !== 1) return null;
  if (opset < 18) return node.inputs.length === 1 ? (node.attrInts('axes') ?? null) : null;
  const t = node.input(1)?.initializer;
  return t && t.hasData && !node.input(1)!.isGraphInput ? t.toNumbers() : null;
}

/** The LayerNormalization axis for reduce axes that are exactly the trailing axes of a rank-`rank` input. */
function trailingAxis(axes: number[], rank: number | undefined): number | null {
  if (axes.length === 0) return null;
  const sorted = [...axes].sort((a, b) => a - b);
  const k = sorted.length;
  if (sorted.every((a) => a < 0)) return sorted.every((a, i) => a === -k + i) ? -k : null;
  if (rank === undefined || sorted.some((a) => a < 0)) return null;
  return sorted.every((a, i) => a === rank - k + i) ? rank - k : null;
}

/** A γ / β initializer whose dims are exactly the normalised dims (known ones compared; a 1 only where x has 1). */
function affine(v: Value | null, normalised: (number | string | null)[]): boolean {
  const t = v?.initializer;
  if (!v || !t || v.isGraphInput || t.dtype !== 'float32' || t.dims.length !== normalised.length) return false;
  return t.dims.every((d, i) => {
    const x = normalised[i];
    return typeof x === 'number' ? d === x : d > 1;
  });
}

interface Match {
  nodes: Node[];
  x: Value;
  axis: number;
  epsilon: number;
  scale: Value | null;
  bias: Value | null;
  out: Value;
  pattern: string;
}

/** The decomposed norm starting at ReduceMean `rm1`, or null when any part differs from the pattern. */
function match(rm1: Node, opset: number): Match | null {
  const axes = reduceAxes(rm1, opset);
  const x = rm1.input(0);
  if (!axes || !x || (x.dtype !== undefined && x.dtype !== 'float32')) return null;
  const shape = x.shape;
  const axis = trailingAxis(axes, shape?.length);
  if (axis === null) return null;
  const mean = rm1.outputs[0]!;
  const sub = soleReader(mean);
  if (!sub || sub.opType !== 'Sub' || sub.domain !== '' || sub.input(0) !== x || sub.input(1) !== mean) return null;
  const d = sub.outputs[0]!;
  if (d.isGraphOutput) return null;
  const readers = d.consumers();
  if (readers.length !== 2) return null;
  const sq = readers.find((n) => n.opType === 'Pow' || (n.opType === 'Mul' && n.input(0) === d && n.input(1) === d));
  const div = readers.find((n) => n !== sq);
  if (!sq || !div || sq.domain !== '' || div.opType !== 'Div' || div.domain !== '' || div.input(0) !== d) return null;
  if (sq.opType === 'Pow' && (sq.input(0) !== d || scalarConstant(sq.input(1)) !== 2)) return null;
  const rm2 = soleReader(sq.outputs[0]!);
  const axes2 = rm2 ? reduceAxes(rm2, opset) : null;
  if (!rm2 || !axes2 || rm2.input(0) !== sq.outputs[0] || [...axes2].sort().join() !== [...axes].sort().join())
    return null;
  const add = soleReader(rm2.outputs[0]!);
  if (!add || add.opType !== 'Add' || add.domain !== '') return null;
  const epsilon = scalarConstant(other(add, rm2.outputs[0]!));
  if (epsilon === null || !(epsilon >= 0)) return null;
  const sqrt = soleReader(add.outputs[0]!);
  if (!sqrt || sqrt.opType !== 'Sqrt' || sqrt.domain !== '') return null;
  if (soleReader(sqrt.outputs[0]!) !== div || div.input(1) !== sqrt.outputs[0]) return null;
  const nodes = [rm1, sub, sq, rm2, add, sqrt, div];
  const normalised = shape ? shape.slice(axis < 0 ? shape.length + axis : axis) : axes.map(() => null);
  let out = div.outputs[0]!;
  let scale: Value | null = null;
  let bias: Value | null = null;
  const next = (v: Value, op: string): Node | null => {
    const n = soleReader(v);
    return n && n.opType === op && n.domain === '' && affine(other(n, v), normalised) ? n : null;
  };
  const mul = next(out, 'Mul');
  if (mul) {
    scale = other(mul, out);
    nodes.push(mul);
    out = mul.outputs[0]!;
  }
  const addBias = next(out, 'Add');
  if (addBias) {
    bias = other(addBias, out);
    nodes.push(addBias);
    out = addBias.outputs[0]!;
  }
  // LayerNormalization needs a scale: ones where the pattern has none (only when the normalised dims are known)
  if (!scale && !normalised.every((n) => typeof n === 'number')) return null;
  const square = sq.opType === 'Pow' ? 'Pow(·, 2)' : 'Mul(d, d)';
  const pattern = `ReduceMean / Sub / ${square} / ReduceMean / Add(ε) / Sqrt / Div${scale ? ' / Mul(γ)' : ''}${bias ? ' / Add(β)' : ''} over axes [${axes.join(', ')}]`;
  return { nodes, x, axis, epsilon, scale, bias, out, pattern };
}

/** A node name for the fused norm, from the first ReduceMean's scope (torch: "/…/norm/ReduceMean"). */
function fusedName(rm1: Node, taken: Set<string>): string {
  const base = /ReduceMean(_\d+)?$/.test(rm1.name)
    ? rm1.name.replace(/ReduceMean(_\d+)?$/, 'LayerNormalization')
    : `${rm1.name}/LayerNormalization`;
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

function fuse(g: Graph, m: Match, taken: Set<string>, removed: Set<Node>): PassChange {
  const last = m.nodes[m.nodes.length - 1]!;
  const scale =
    m.scale ??
    g.addInitializer(
      `${m.nodes[0]!.name}/scale`,
      new Tensor(
        'float32',
        m.x.shape!.slice(m.axis).map(Number),
        new Float32Array(m.x.shape!.slice(m.axis).reduce<number>((a, b) => a * Number(b), 1)).fill(1),
      ),
      true,
    );
  const name = fusedName(m.nodes[0]!, taken);
  const ln = g.addNode({
    opType: 'LayerNormalization',
    name,
    inputs: m.bias ? [m.x, scale, m.bias] : [m.x, scale],
    outputs: [g.uniqueName(`${name}_out`)],
    attributes: { axis: { type: 'int', value: m.axis }, epsilon: { type: 'float', value: m.epsilon } },
    at: g.nodes.indexOf(last) + 1,
  });
  const y = ln.outputs[0]!;
  const outName = m.out.name;
  y.type = m.out.type;
  m.out.replaceAllUsesWith(y);
  const consts = m.nodes.flatMap((n) => n.inputs).filter((v): v is Value => !!v?.initializer && v !== m.scale);
  for (const n of [...m.nodes].reverse()) {
    g.removeNode(n, true);
    removed.add(n);
  }
  g.renameValue(y, outName);
  for (const c of new Set(consts))
    if (c.uses.length === 0 && !c.isGraphOutput && !c.isGraphInput && c.graph === g) g.removeInitializer(c);
  return {
    node: name,
    pattern: m.pattern,
    result: `LayerNormalization "${name}" (axis ${m.axis}, epsilon ${m.epsilon})`,
  };
}

function fuseGraph(g: Graph, opset: number, changes: PassChange[]): void {
  const taken = new Set(g.nodes.map((n) => n.name));
  const removed = new Set<Node>();
  for (const node of [...g.nodes]) {
    for (const sg of node.subgraphs()) fuseGraph(sg, opset, changes);
    if (removed.has(node) || node.opType !== 'ReduceMean') continue;
    const m = match(node, opset);
    if (m) changes.push(fuse(g, m, taken, removed));
  }
}

/** Set RoiAlign's pre-16 default explicitly before a model moves to opset ≥ 16 (the default changed there). */
function keepRoiAlignMode(g: Graph): void {
  for (const n of g.allNodes())
    if (n.opType === 'RoiAlign' && n.domain === '' && !n.attr('coordinate_transformation_mode'))
      n.setAttr('coordinate_transformation_mode', { type: 'string', value: 'output_half_pixel' });
}

/** Fuse every decomposed layer norm (main graph and subgraphs) into LayerNormalization. */
export const fuseLayerNorm: Pass = {
  name: 'fuse-layernorm',
  inPlace: true,
  run(model: Model): PassResult {
    const opset = model.opset;
    const changes: PassChange[] = [];
    if (opset < MIN_OPSET) return { model, modified: false, changes };
    fuseGraph(model.graph, opset, changes);
    if (changes.length > 0 && opset < LAYER_NORM_OPSET) {
      if (opset < 16) keepRoiAlignMode(model.graph);
      model.opsetImports.set(model.opsetImports.has('') ? '' : 'ai.onnx', LAYER_NORM_OPSET);
      model.irVersion = Math.max(model.irVersion, 8);
      changes[0]!.result += ` (model opset ${opset} → ${LAYER_NORM_OPSET}, which has LayerNormalization)`;
    }
    return { model, modified: changes.length > 0, changes };
  },
};
