/**
 * @file Model statistics: parameters, size, and multiply-accumulates per node from one table keyed by op type.
 * Shapes come from a concrete trace (or static value types). Pure: imports only the IR.
 *
 * Convention: `macs` counts the multiply-accumulates of the linear layers (Conv, ConvTranspose, Gemm,
 * MatMul, recurrent cells) — the convention of torchvision's and papers' tables, so ResNet-18 is 1.82 G.
 * Everything else (normalization, activations, pooling, elementwise) is counted separately as `otherOps`.
 *
 * | op | count (MACs for linear layers, ops otherwise) |
 * |---|---|
 * | Conv | out_numel · (C_in / group) · ∏kernel |
 * | ConvTranspose | in_numel · (C_out / group) · ∏kernel |
 * | Gemm | M · N · K (the bias add is not a MAC, as for Conv) |
 * | MatMul | out_numel · K (K = last dim of A) |
 * | Einsum (two or more operands) | out_numel · ∏ sizes of the contracted letters (one operand: 0) |
 * | LSTM / GRU | seq · batch · dirs · gates · hidden · (input + hidden), gates 4 / 3 |
 * | MaxPool, AveragePool, LpPool | out_numel · ∏kernel |
 * | GlobalAveragePool, GlobalMaxPool, ReduceMean/Sum/Max/Min | in_numel |
 * | BatchNormalization, InstanceNormalization | out_numel (scale and shift fold into one MAC) |
 * | LayerNormalization, GroupNormalization | 2 · out_numel (statistics, then scale and shift) |
 * | Softmax, LogSoftmax | 3 · out_numel (exp, sum, divide) |
 * | elementwise (Add, Mul, Relu, Sigmoid, Clip, Erf, …) | out_numel |
 * | data movement (Reshape, Transpose, Concat, Slice, Gather, Pad, Cast, …) | 0 |
 * | control flow (If, Loop, Scan) | 0 here; their subgraphs are not counted (reported as uncounted) |
 */
import { isFloatType, numel, rawByteLength, type Graph, type Model, type Node, type Value } from '../ir/index.ts';

/** Shapes of values by name, e.g. from a concrete trace. */
export type ShapeMap = ReadonlyMap<string, readonly number[]>;

export interface MacContext {
  node: Node;
  /** Shape of input i (undefined when unknown or absent). */
  inShape(i: number): readonly number[] | undefined;
  outShape(i: number): readonly number[] | undefined;
}

/** Work of one node (MACs for linear layers, ops otherwise); undefined when a needed shape is unknown. */
export type MacRule = (ctx: MacContext) => number | undefined;

/** Op types whose work is multiply-accumulates of a linear layer (counted in `macs`). */
export const LINEAR_OPS = new Set([
  'Conv',
  'ConvInteger',
  'QLinearConv',
  'ConvTranspose',
  'Gemm',
  'MatMul',
  'MatMulInteger',
  'QLinearMatMul',
  'Einsum',
  'LSTM',
  'GRU',
  'RNN',
]);

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

function kernelOf(ctx: MacContext, weightIndex: number | null): number[] | undefined {
  const ks = ctx.node.attrInts('kernel_shape');
  if (ks) return ks;
  if (weightIndex === null) return undefined;
  return ctx.inShape(weightIndex)?.slice(2) as number[] | undefined;
}

const perOutput =
  (factor: number): MacRule =>
  (c) => {
    const s = c.outShape(0);
    return s ? factor * numel(s) : undefined;
  };
const perInput: MacRule = (c) => {
  const s = c.inShape(0);
  return s ? numel(s) : undefined;
};
const free: MacRule = () => 0;

const conv: MacRule = (c) => {
  const out = c.outShape(0);
  const w = c.inShape(1);
  if (!out || !w) return undefined;
  return numel(out) * w[1]! * prod(w.slice(2));
};

const convTranspose: MacRule = (c) => {
  const x = c.inShape(0);
  const w = c.inShape(1);
  if (!x || !w) return undefined;
  // weight is [C_in, C_out/group, k…]: every input element feeds C_out/group · ∏kernel outputs
  return numel(x) * w[1]! * prod(w.slice(2));
};

const gemm: MacRule = (c) => {
  const a = c.inShape(0);
  const out = c.outShape(0);
  if (!a || !out) return undefined;
  const k = c.node.attrInt('transA', 0) ? a[0]! : a[1]!;
  return numel(out) * k;
};

const matmul: MacRule = (c) => {
  const a = c.inShape(0);
  const out = c.outShape(0);
  if (!a || !out) return undefined;
  return numel(out) * a[a.length - 1]!;
};

/**
 * Einsum: every output element sums the product of the operands over the letters the output lacks, so
 * out_numel · ∏ contracted sizes (MaxViT's attention, `bhij,bhjd->bhid`). A single operand only sums or permutes.
 */
const einsum: MacRule = (c) => {
  const eq = c.node.attrString('equation')?.replace(/\s/g, '');
  const out = c.outShape(0);
  if (!eq || !out) return undefined;
  const [lhs, rhs] = eq.split('->') as [string, string | undefined];
  const terms = lhs.split(',');
  if (terms.length < 2) return 0;
  const letters = (t: string) => t.replace('...', '').split('');
  const counts = new Map<string, number>();
  for (const t of terms) for (const l of letters(t)) counts.set(l, (counts.get(l) ?? 0) + 1);
  const kept = new Set(rhs !== undefined ? letters(rhs) : [...counts].filter(([, n]) => n === 1).map(([l]) => l));
  const size = new Map<string, number>();
  for (let i = 0; i < terms.length; i++) {
    const shape = c.inShape(i);
    if (!shape) return undefined;
    const t = terms[i]!;
    const dots = t.indexOf('...');
    const head = letters(dots < 0 ? t : t.slice(0, dots));
    const tail = dots < 0 ? [] : letters(t.slice(dots + 3));
    head.forEach((l, k) => size.set(l, Math.max(size.get(l) ?? 1, shape[k]!)));
    tail.forEach((l, k) => size.set(l, Math.max(size.get(l) ?? 1, shape[shape.length - tail.length + k]!)));
  }
  let contracted = 1;
  for (const l of counts.keys()) if (!kept.has(l)) contracted *= size.get(l) ?? 1;
  return numel(out) * contracted;
};

const pool: MacRule = (c) => {
  const out = c.outShape(0);
  const k = kernelOf(c, null);
  return out && k ? numel(out) * prod(k) : undefined;
};

const recurrent =
  (gates: number): MacRule =>
  (c) => {
    const x = c.inShape(0);
    const w = c.inShape(1); // [dirs, gates·hidden, input]
    if (!x || !w) return undefined;
    const hidden = w[1]! / gates;
    const layout = c.node.attrInt('layout', 0);
    const [seq, batch] = layout ? [x[1]!, x[0]!] : [x[0]!, x[1]!];
    return seq * batch * w[0]! * gates * hidden * (w[2]! + hidden);
  };

const ELEMENTWISE = [
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Neg',
  'Abs',
  'Sqrt',
  'Reciprocal',
  'Exp',
  'Log',
  'Erf',
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softplus',
  'Softsign',
  'Clip',
  'Min',
  'Max',
  'Sum',
  'Mean',
  'Where',
  'Equal',
  'Less',
  'Greater',
  'LessOrEqual',
  'GreaterOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Mod',
  'Sin',
  'Cos',
  'Mish',
  'ThresholdedRelu',
  'Shrink',
  'QuantizeLinear',
  'DequantizeLinear',
  'DynamicQuantizeLinear',
  'IsNaN',
  'IsInf',
  'BitShift',
];
const FREE = [
  'Reshape',
  'Flatten',
  'Transpose',
  'Concat',
  'Split',
  'Slice',
  'Gather',
  'GatherElements',
  'GatherND',
  'Squeeze',
  'Unsqueeze',
  'Shape',
  'Size',
  'Constant',
  'ConstantOfShape',
  'Identity',
  'Cast',
  'CastLike',
  'Dropout',
  'Pad',
  'Expand',
  'Tile',
  'Range',
  'NonZero',
  'ScatterElements',
  'ScatterND',
  'DepthToSpace',
  'SpaceToDepth',
  'Resize',
  'Upsample',
  'OneHot',
  'TopK',
  'ArgMax',
  'ArgMin',
  'EyeLike',
  'Trilu',
  'If',
  'Loop',
  'Scan',
  'SequenceConstruct',
  'SplitToSequence',
  'ConcatFromSequence',
  'SequenceAt',
  'SequenceEmpty',
  'SequenceInsert',
  'SequenceLength',
  'Optional',
  'OptionalGetElement',
  'OptionalHasElement',
];

/** The MAC table, keyed by ONNX op type. Extend with registerMacRule. */
export const MAC_RULES: Record<string, MacRule> = {
  Conv: conv,
  ConvInteger: conv,
  QLinearConv: (c) => {
    const out = c.outShape(0);
    const w = c.inShape(3);
    return out && w ? numel(out) * w[1]! * prod(w.slice(2)) : undefined;
  },
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matmul,
  MatMulInteger: matmul,
  Einsum: einsum,
  QLinearMatMul: (c) => {
    const a = c.inShape(0);
    const out = c.outShape(0);
    return a && out ? numel(out) * a[a.length - 1]! : undefined;
  },
  LSTM: recurrent(4),
  GRU: recurrent(3),
  RNN: recurrent(1),
  MaxPool: pool,
  AveragePool: pool,
  LpPool: pool,
  GlobalAveragePool: perInput,
  GlobalMaxPool: perInput,
  GlobalLpPool: perInput,
  ReduceMean: perInput,
  ReduceSum: perInput,
  ReduceMax: perInput,
  ReduceMin: perInput,
  ReduceProd: perInput,
  ReduceL1: perInput,
  ReduceL2: perInput,
  ReduceSumSquare: perInput,
  BatchNormalization: perOutput(1),
  InstanceNormalization: perOutput(1),
  LayerNormalization: perOutput(2),
  GroupNormalization: perOutput(2),
  LpNormalization: perOutput(2),
  Softmax: perOutput(3),
  LogSoftmax: perOutput(3),
  ...Object.fromEntries(ELEMENTWISE.map((op) => [op, perOutput(1)])),
  ...Object.fromEntries(FREE.map((op) => [op, free])),
};

/** How the MAC table counts an op type: linear-layer MACs, other ops (normalization, activations, pooling…), free (layout, shape), or not at all. */
export function macKind(opType: string): 'macs' | 'other' | 'free' | undefined {
  if (!Object.hasOwn(MAC_RULES, opType)) return undefined;
  if (LINEAR_OPS.has(opType)) return 'macs';
  return MAC_RULES[opType] === free ? 'free' : 'other';
}

/** Add or replace the MAC rule of an op type (custom ops). */
export function registerMacRule(opType: string, rule: MacRule): void {
  MAC_RULES[opType] = rule;
}

export interface NodeStats {
  name: string;
  opType: string;
  /** Linear-layer MACs of this node (0 for other ops). */
  macs: number;
  /** Non-linear-layer work of this node (normalization, activations, pooling, elementwise). */
  ops: number;
  /** Parameters (float initializer elements) this node reads. */
  params: number;
}

export interface ModelStats {
  params: number;
  /** Multiply-accumulates of the linear layers. */
  macs: number;
  /** Other work: normalization, activations, pooling, elementwise (see the table above). */
  otherOps: number;
  /** Bytes of all initializers (the weight payload of the file). */
  sizeBytes: number;
  nodes: NodeStats[];
  opTypes: Record<string, number>;
  /** Op types with no MAC rule, or whose shapes were unknown: their MACs are not in the total. */
  uncounted: { node: string; opType: string; reason: 'no-rule' | 'unknown-shape' | 'control-flow' }[];
}

/** Shape of a value: from the map, else its static type when fully known. */
function shapeOf(v: Value | null | undefined, shapes: ShapeMap | undefined): readonly number[] | undefined {
  if (!v) return undefined;
  const s = shapes?.get(v.name);
  if (s) return s;
  const st = v.shape;
  return st && st.every((d) => typeof d === 'number') ? (st as number[]) : undefined;
}

/** Parameters, size and MACs of a model's main graph. */
export function modelStats(model: Model, shapes?: ShapeMap): ModelStats {
  const g = model.graph;
  const nodes: NodeStats[] = [];
  const uncounted: ModelStats['uncounted'] = [];
  const opTypes: Record<string, number> = {};
  let macs = 0;
  let otherOps = 0;
  for (const node of g.nodes) {
    opTypes[node.opType] = (opTypes[node.opType] ?? 0) + 1;
    const rule = MAC_RULES[node.opType];
    let m = 0;
    if (!rule) uncounted.push({ node: node.name, opType: node.opType, reason: 'no-rule' });
    else {
      const r = rule({
        node,
        inShape: (i) => shapeOf(node.inputs[i], shapes),
        outShape: (i) => shapeOf(node.outputs[i], shapes),
      });
      if (r === undefined) uncounted.push({ node: node.name, opType: node.opType, reason: 'unknown-shape' });
      else m = r;
      if (node.subgraphs().length > 0) uncounted.push({ node: node.name, opType: node.opType, reason: 'control-flow' });
    }
    const linear = LINEAR_OPS.has(node.opType);
    if (linear) macs += m;
    else otherOps += m;
    nodes.push({
      name: node.name,
      opType: node.opType,
      macs: linear ? m : 0,
      ops: linear ? 0 : m,
      params: nodeParams(node),
    });
  }
  const { params, sizeBytes } = graphParams(g);
  return { params, macs, otherOps, sizeBytes, nodes, opTypes, uncounted };
}

function nodeParams(node: Node): number {
  let p = 0;
  for (const v of node.inputs) if (v && isParam(v)) p += v.initializer!.size;
  return p;
}

/** BatchNormalization running statistics are buffers, not parameters (as in torch's parameter counts). */
function isBuffer(v: Value): boolean {
  return v.uses.length > 0 && v.uses.every((u) => u.node.opType === 'BatchNormalization' && u.index >= 3);
}

/** Quantized weights (integer data behind a DequantizeLinear) are parameters too; scales and zero points are not. */
function isQuantizedWeight(v: Value): boolean {
  return v.uses.length > 0 && v.uses.every((u) => u.node.opType === 'DequantizeLinear' && u.index === 0);
}

/** A learnable parameter: a float initializer (BN running statistics excepted) or a quantized weight. */
function isParam(v: Value): boolean {
  const t = v.initializer;
  if (!t) return false;
  if (isFloatType(t.dtype))
    return (
      !isBuffer(v) &&
      !v.uses.every((u) => (u.node.opType === 'DequantizeLinear' || u.node.opType === 'QuantizeLinear') && u.index > 0)
    );
  return isQuantizedWeight(v);
}

/** Float parameters (buffers excluded) and initializer bytes of a graph and its subgraphs. */
export function graphParams(g: Graph): { params: number; sizeBytes: number } {
  let params = 0;
  let sizeBytes = 0;
  const visit = (gr: Graph) => {
    for (const v of gr.initializers) {
      const t = v.initializer!;
      if (isParam(v)) params += t.size;
      sizeBytes += t.dtype === 'string' ? 0 : rawByteLength(t.dtype, t.size);
    }
    for (const n of gr.nodes) for (const sg of n.subgraphs()) visit(sg);
  };
  visit(g);
  return { params, sizeBytes };
}
