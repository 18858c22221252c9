/**
 * @file Kept-channel links: a student pruned and sped up from its teacher keeps a subset of the teacher's channels,
 * in order, so its value at a node compares with the teacher's value at the same node gathered at the surviving
 * channel indices (axis 1) — no projection, no extra multiply-adds. The indices come from speedup's record
 * (`CompactResult.kept`) when the caller has it, or are recovered from the two models' weights: walking the student
 * in order, each Conv (group 1) / Gemm whose output is narrower than the teacher's has its rows matched to the teacher's rows
 * (over the input channels already known to survive) by least squared distance; channel-wise ops (normalization,
 * activations, pooling, quantize-dequantize, a per-channel Mul / Add) pass the indices through. Pure: imports the IR.
 */
import type { Model, Node, Value } from '../../ir/index.ts';
import type { KeptChannels } from '../speedup/index.ts';

/** The channel axis a kept-channel link gathers on (NCHW values and [N, C] features alike). */
export const KEPT_AXIS = 1;

/** Ops whose output channel c depends on input channel c alone (so the kept indices pass through). */
const CHANNELWISE = new Set([
  'BatchNormalization',
  'InstanceNormalization',
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Clip',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Elu',
  'Selu',
  'Gelu',
  'Softplus',
  'Mish',
  'Identity',
  'Dropout',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'LpPool',
  'QuantizeLinear',
  'DequantizeLinear',
  'Mul',
  'Add',
  'Sub',
  'Div',
  'Neg',
  'Abs',
  'Sqrt',
  'Exp',
  'Resize',
  'Upsample',
  'Pad',
]);

/** Ops that keep axis 1 as the channel axis: the channel-wise ones, and Flatten (axis 1) of a global pool's [N, C, 1, 1]. */
function keepsAxis1(node: Node): boolean {
  if (node.opType === 'Flatten') {
    const p = node.input(0)?.producer?.opType;
    return node.attrInt('axis', 1) === 1 && (p === 'GlobalAveragePool' || p === 'GlobalMaxPool');
  }
  return CHANNELWISE.has(node.opType);
}

function floatData(v: Value | null | undefined): { dims: readonly number[]; data: ArrayLike<number> } | null {
  const t = v?.initializer;
  if (!t || !t.data || Array.isArray(t.data) || (t.dtype !== 'float32' && t.dtype !== 'float64')) return null;
  return { dims: t.dims, data: t.data as ArrayLike<number> };
}

/**
 * Which teacher row each student row is: rows of `s` ([Os, Is·k]) against rows of `t` ([Ot, It·k]) restricted to the
 * kept input channels `inKept` (null: all). The match must be strictly increasing (speedup keeps the order) and
 * each student row's nearest teacher row; otherwise null (not a pruned copy of this teacher).
 */
function matchRows(
  s: { dims: readonly number[]; data: ArrayLike<number> },
  t: { dims: readonly number[]; data: ArrayLike<number> },
  inKept: readonly number[] | null,
  transposed: boolean,
): number[] | null {
  // row r of a weight: [out, in, …k] (Conv, Gemm transB=1) or [in, out] (transposed: Gemm transB=0)
  const [os, is] = transposed ? [s.dims[1]!, s.dims[0]!] : [s.dims[0]!, s.dims[1]!];
  const [ot, it] = transposed ? [t.dims[1]!, t.dims[0]!] : [t.dims[0]!, t.dims[1]!];
  const k = transposed ? 1 : s.dims.slice(2).reduce((a, b) => a * b, 1);
  const ins = inKept ?? Array.from({ length: it }, (_, i) => i);
  if (ins.length !== is || os > ot || ins.some((i) => i >= it)) return null;
  const at = (w: ArrayLike<number>, outs: number, ins2: number, r: number, c: number, j: number) =>
    transposed ? w[c * outs + r]! : w[(r * ins2 + c) * k + j]!;
  const out: number[] = [];
  for (let r = 0; r < os; r++) {
    let best = -1;
    let bestD = Infinity;
    for (let q = 0; q < ot; q++) {
      let d = 0;
      for (let c = 0; c < is; c++)
        for (let j = 0; j < k; j++) {
          const x = at(s.data, os, is, r, c, j) - at(t.data, ot, it, q, ins[c]!, j);
          d += x * x;
        }
      if (d < bestD) [best, bestD] = [q, d];
    }
    if (out.length && best <= out[out.length - 1]!) return null;
    out.push(best);
  }
  return out;
}

/** The weight of a Conv / Gemm node and whether its rows are on axis 1 (`[in, out]`, Gemm with transB 0). */
function weightOf(node: Node): { w: Value | null; transposed: boolean } | null {
  if (node.opType === 'Conv') return node.attrInt('group', 1) === 1 ? { w: node.input(1), transposed: false } : null;
  if (node.opType === 'Gemm')
    return node.attrInt('transA', 0) === 0 ? { w: node.input(1), transposed: node.attrInt('transB', 0) === 0 } : null;
  return null;
}

/**
 * Recover the channels a pruned, sped-up student keeps of its teacher, from their weights (for when speedup's
 * record is not at hand: a student read from a file). Values the walk cannot follow are left out; values whose
 * width did not change are left out too (as in speedup's record).
 * @example const kept = recoverKeptChannels(student, teacher); kept.get('/conv2/Conv_output_0')?.get(1) // [0, 3, 4, …]
 */
export function recoverKeptChannels(student: Model, teacher: Model): KeptChannels {
  // value name → kept channel indices on axis 1 (null: all kept, same width); absent: unknown
  const known = new Map<string, number[] | null>();
  for (const v of student.graph.inputs) known.set(v.name, null);
  for (const node of student.graph.nodes) {
    const out = node.outputs[0];
    if (!out || node.outputs.length !== 1) continue;
    const data = node.inputs.filter((v): v is Value => !!v && !v.isInitializer);
    const wk = weightOf(node);
    if (wk) {
      const tnode = teacher.graph.node(node.name);
      const tw = tnode && tnode.opType === node.opType ? weightOf(tnode) : null;
      const sw = floatData(wk.w);
      const twd = floatData(tw?.w);
      const x = node.input(0);
      if (!sw || !twd || !x || !known.has(x.name) || sw.dims.length !== twd.dims.length) continue;
      const inKept = known.get(x.name)!;
      const [os, ot] = wk.transposed ? [sw.dims[1]!, twd.dims[1]!] : [sw.dims[0]!, twd.dims[0]!];
      if (os === ot && !inKept) {
        known.set(out.name, null);
        continue;
      }
      const rows = os === ot ? Array.from({ length: os }, (_, i) => i) : matchRows(sw, twd, inKept, wk.transposed);
      if (rows) known.set(out.name, os === ot ? null : rows);
      continue;
    }
    if (!keepsAxis1(node) || data.length === 0) continue;
    const ins = data.map((v) => (known.has(v.name) ? known.get(v.name)! : undefined));
    if (ins.some((k) => k === undefined)) continue;
    const first = ins[0]!;
    const same = ins.every((k) => (k === null ? first === null : first !== null && k!.join() === first.join()));
    if (same) known.set(out.name, first);
  }
  const kept: KeptChannels = new Map();
  for (const [name, k] of known) if (k) kept.set(name, new Map([[KEPT_AXIS, k]]));
  return kept;
}
