/**
 * @file Masked normalisation statistics: the masked-model form of a LayerNormalization or GroupNormalization whose
 * normalised channels lose positions to pruning. A compact norm over the kept channels computes its mean and
 * variance over those channels only, so the masked model must do the same for compact = masked to hold:
 *
 *   μ = Σ m·x / Σ m,  d = m·(x − μ),  σ² = Σ d² / Σ m,  y = m · (γ · d / √(σ² + ε) + β)
 *
 * (sums over the normalised axes; m is 1 on kept positions, 0 on removed ones). Kept positions then hold exactly
 * what the compact norm computes, removed positions hold 0 (as if the norm's output were masked there, so no reader
 * has a constant to fold).
 * GroupNormalization does this per group, with the same in-group positions kept in every group. Speedup's plan says
 * which norms lose which positions (`NormMask`s); `simulate` and speedup's masked model apply them.
 * Pure: imports only the IR.
 */
import { Tensor, type Graph, type Model, type Node, type Value } from '../../ir/index.ts';

/** What pruning removes along the normalised channel axes of one norm node (kept positions of each such axis). */
export interface NormMask {
  /** The norm node's name. */
  node: string;
  /** Rank of the norm's input. */
  rank: number;
  /** Normalised input axes that lose positions: their full size and kept positions (ascending). */
  axes: { axis: number; size: number; kept: number[] }[];
}

/** A norm node rewritten into masked statistics, or a fault naming what stops it. */
export class NormMaskError extends Error {
  constructor(
    readonly node: string,
    reason: string,
  ) {
    super(`cannot simulate masked statistics for norm node "${node}": ${reason}`);
    this.name = 'NormMaskError';
  }
}

/** One norm op type: which input axes its statistics run over, and its masked-statistics form. */
export interface NormStatistics {
  normalised(node: Node, rank: number): number[];
  rewrite(g: Graph, node: Node, mask: NormMask, opset: number): Value;
}

/** Norms whose normalised channels speedup prunes, keyed by ONNX op type (default domain). */
export const NORM_STATISTICS: Record<string, NormStatistics> = {
  LayerNormalization: {
    normalised(node, rank) {
      const axis = node.attrInt('axis', -1);
      const from = axis < 0 ? axis + rank : axis;
      return Array.from({ length: rank - from }, (_, i) => from + i);
    },
    rewrite: layerNorm,
  },
  GroupNormalization: {
    normalised: (_, rank) => Array.from({ length: rank - 1 }, (_, i) => i + 1),
    rewrite: groupNorm,
  },
};

/** The masked-statistics entry of a node, if its op type has one. */
export function normStatisticsOf(node: Node): NormStatistics | undefined {
  return node.domain === '' && Object.hasOwn(NORM_STATISTICS, node.opType) ? NORM_STATISTICS[node.opType] : undefined;
}

/**
 * Rewrite each named norm of `model` (in place) into its masked-statistics form.
 * @example applyNormMasks(simulated, result.normMasks)
 * @throws NormMaskError for a missing node, an op type with no rewrite, or a norm whose extra outputs are read
 */
export function applyNormMasks(model: Model, masks: readonly NormMask[]): void {
  const g = model.graph;
  for (const m of masks) {
    if (!m.axes.length) continue;
    const node = g.node(m.node);
    if (!node) throw new NormMaskError(m.node, 'the graph has no node of that name');
    const entry = normStatisticsOf(node);
    if (!entry) throw new NormMaskError(m.node, `no masked form for ${node.opType}`);
    if (node.outputs.slice(1).some((v) => v.uses.length > 0 || v.isGraphOutput))
      throw new NormMaskError(m.node, 'its Mean / InvStdDev outputs are read');
    const y = entry.rewrite(g, node, m, model.opset);
    replaceValue(g, node.outputs[0]!, y);
    g.removeNode(node, true);
  }
}

/** Point every reader of `from` at `to`; a graph output keeps its name. */
function replaceValue(g: Graph, from: Value, to: Value): void {
  const isOut = from.isGraphOutput;
  from.replaceAllUsesWith(to);
  if (isOut) {
    const name = from.name;
    g.renameValue(from, g.uniqueName(`${name}_unmasked`));
    g.renameValue(to, name);
    to.type = from.type;
  }
}

/** Emits nodes just before `anchor`, named after it. */
class Emitter {
  private at: number;
  constructor(
    readonly g: Graph,
    readonly anchor: Node,
    readonly opset: number,
  ) {
    this.at = g.nodes.indexOf(anchor);
  }
  op(opType: string, inputs: Value[], attributes?: Parameters<Graph['addNode']>[0]['attributes']): Value {
    const n = this.g.addNode({
      opType,
      inputs,
      attributes,
      at: this.at++,
    });
    return n.outputs[0]!;
  }
  const(tag: string, t: Tensor): Value {
    return this.g.addInitializer(`${this.anchor.name}/${tag}`, t, true);
  }
  reduceMean(x: Value, axes: number[]): Value {
    if (this.opset >= 18)
      return this.op('ReduceMean', [x, this.const('axes', Tensor.int64([axes.length], axes))], {
        keepdims: { type: 'int', value: 1 },
      });
    return this.op('ReduceMean', [x], {
      axes: { type: 'ints', value: axes },
      keepdims: { type: 'int', value: 1 },
    });
  }
  /** d / √(Σ d² / Σ m + ε) with d = m·(x − Σ m·x / Σ m): the normalised value over the kept positions. */
  maskedNormalise(x: Value, mv: Value, axes: number[], ratio: number, eps: number): Value {
    const r = this.const('ratio', Tensor.float32([], [ratio]));
    const mean = this.op('Mul', [this.reduceMean(this.op('Mul', [x, mv]), axes), r]);
    const d = this.op('Mul', [this.op('Sub', [x, mean]), mv]);
    const v = this.op('Mul', [this.reduceMean(this.op('Mul', [d, d]), axes), r]);
    const std = this.op('Sqrt', [this.op('Add', [v, this.const('epsilon', Tensor.float32([], [eps]))])]);
    return this.op('Div', [d, std]);
  }
}

function checkFloat32(node: Node, i: number): void {
  const v = node.input(i);
  const t = v?.initializer;
  if (t && t.dtype !== 'float32') throw new NormMaskError(node.name, `input ${i} is ${t.dtype}, not float32`);
}

/** Indicator of the kept positions of one axis. */
function indicator(size: number, kept: readonly number[]): Float32Array {
  const out = new Float32Array(size);
  for (const k of kept) out[k] = 1;
  return out;
}

/** LayerNormalization over axes [axis, rank): one mask over those axes (the product of each axis' indicator). */
function layerNorm(g: Graph, node: Node, mask: NormMask, opset: number): Value {
  checkFloat32(node, 1);
  checkFloat32(node, 2);
  const r = mask.rank;
  const axis = node.attrInt('axis', -1);
  const from = axis < 0 ? axis + r : axis;
  const axes = Array.from({ length: r - from }, (_, i) => from + i);
  const dims = axes.map((a) => mask.axes.find((e) => e.axis === a)?.size ?? 1);
  for (const e of mask.axes)
    if (e.axis < from || e.axis >= r) throw new NormMaskError(node.name, `axis ${e.axis} is not normalised`);
  let data = Float32Array.of(1);
  let ratio = 1;
  for (const a of axes) {
    const e = mask.axes.find((x) => x.axis === a);
    const ind = e ? indicator(e.size, e.kept) : Float32Array.of(1);
    if (e) ratio *= e.size / e.kept.length;
    const next = new Float32Array(data.length * ind.length);
    for (let p = 0; p < data.length; p++)
      for (let q = 0; q < ind.length; q++) next[p * ind.length + q] = data[p]! * ind[q]!;
    data = next;
  }
  const e = new Emitter(g, node, opset);
  const m = e.const('mask', new Tensor('float32', dims, data));
  const xhat = e.maskedNormalise(node.input(0)!, m, axes, ratio, node.attrFloat('epsilon', 1e-5));
  let y = e.op('Mul', [xhat, node.input(1)!]);
  if (node.input(2)) y = e.op('Mul', [e.op('Add', [y, node.input(2)!]), m]);
  return y;
}

/**
 * GroupNormalization over [N, C, …]: viewed as [N, G, C/G, S], statistics over (C/G, S) with the in-group mask
 * (the same kept in-group positions in every group); scale and bias per channel (opset 21) or per group (18).
 */
function groupNorm(g: Graph, node: Node, mask: NormMask, opset: number): Value {
  checkFloat32(node, 1);
  checkFloat32(node, 2);
  const ch = mask.axes.find((a) => a.axis === 1);
  if (!ch || mask.axes.length !== 1) throw new NormMaskError(node.name, 'only the channel axis (1) can lose positions');
  const G = node.attrInt('num_groups', 1);
  const C = ch.size;
  const s = C / G;
  const inGroup = ch.kept.filter((k) => k < s);
  const same = ch.kept.length === inGroup.length * G && ch.kept.every((k) => inGroup.includes(k % s));
  if (!Number.isInteger(s) || !same)
    throw new NormMaskError(node.name, 'kept channels differ between groups (each group must keep the same positions)');
  const e = new Emitter(g, node, opset);
  const x = node.input(0)!;
  const grouped = e.op('Reshape', [x, e.const('group_shape', Tensor.int64([4], [0, G, s, -1]))]);
  const xhat = e.maskedNormalise(
    grouped,
    e.const('mask', new Tensor('float32', [1, 1, s, 1], indicator(s, inGroup))),
    [2, 3],
    s / inGroup.length,
    node.attrFloat('epsilon', 1e-5),
  );
  const back = e.op('Reshape', [xhat, e.op('Shape', [x])]);
  // per-channel parameters; the bias zero on removed channels
  const kept = indicator(C, ch.kept);
  const perChannel = (i: number, tag: string, masked: boolean): Value => {
    const t = node.input(i)!.initializer;
    if (!t) throw new NormMaskError(node.name, `input ${i} (${tag}) is not an initializer`);
    const v = t.toFloat32();
    const c = Float32Array.from(
      { length: C },
      (_, k) => (opset >= 21 ? v[k]! : v[Math.floor(k / s)]!) * (masked ? kept[k]! : 1),
    );
    return e.const(tag, new Tensor('float32', [C, ...Array<number>(mask.rank - 2).fill(1)], c));
  };
  return e.op('Add', [e.op('Mul', [back, perChannel(1, 'scale', false)]), perChannel(2, 'bias', true)]);
}
