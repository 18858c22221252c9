/**
 * @file Before / after diff of a model and its compressed version, matched by node name: nodes removed (folded
 * BatchNormalizations named as such), nodes added (Q/DQ pairs named as such), and nodes whose parameters changed
 * width (pruned channels, read through a DequantizeLinear when the weight is quantized). Pure: imports only the IR.
 */
import type { Model, Node, Value } from '../ir/index.ts';

export interface WidthChange {
  /** Input position and the parameter's name in the original. */
  input: number;
  value: string;
  before: number[];
  after: number[];
}

export interface NodeChange {
  name: string;
  opType: string;
  /** removed | added | narrowed (a parameter lost elements) | quantized (a parameter now comes through Q/DQ) */
  kinds: ('removed' | 'added' | 'narrowed' | 'quantized' | 'folded-bn' | 'qdq')[];
  widths: WidthChange[];
}

export interface GraphDiff {
  nodesBefore: number;
  nodesAfter: number;
  removed: NodeChange[];
  added: NodeChange[];
  changed: NodeChange[];
  summary: { removed: number; added: number; narrowed: number; quantized: number; foldedBn: number; qdqPairs: number };
}

/** The static dims of a parameter input: an initializer's, or the quantized initializer behind a DequantizeLinear. */
function paramDims(v: Value | null): { dims: number[]; quantized: boolean } | null {
  if (!v) return null;
  if (v.initializer) return { dims: [...v.initializer.dims], quantized: false };
  const p = v.producer;
  if (p?.opType === 'DequantizeLinear' && p.inputs[0]?.initializer)
    return { dims: [...p.inputs[0].initializer.dims], quantized: true };
  return null;
}

const QDQ = new Set(['QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear']);

function change(n: Node, kinds: NodeChange['kinds'], widths: WidthChange[] = []): NodeChange {
  return { name: n.name, opType: n.opType, kinds, widths };
}

/**
 * Diff two graphs by node name.
 * @example const d = diffGraphs(original, compact); d.changed.filter((c) => c.kinds.includes('narrowed'))
 */
export function diffGraphs(before: Model, after: Model): GraphDiff {
  const afterByName = new Map(after.graph.nodes.map((n) => [n.name, n]));
  const beforeNames = new Set(before.graph.nodes.map((n) => n.name));
  const removed: NodeChange[] = [];
  const changed: NodeChange[] = [];
  for (const b of before.graph.nodes) {
    const a = afterByName.get(b.name);
    if (!a || a.opType !== b.opType) {
      removed.push(change(b, b.opType === 'BatchNormalization' ? ['removed', 'folded-bn'] : ['removed']));
      continue;
    }
    const widths: WidthChange[] = [];
    let quantized = false;
    b.inputs.forEach((v, i) => {
      const pb = paramDims(v);
      const pa = paramDims(a.inputs[i] ?? null);
      if (!pb || !pa) return;
      if (pa.quantized && !pb.quantized) quantized = true;
      if (pb.dims.join(',') !== pa.dims.join(','))
        widths.push({ input: i, value: v!.name, before: pb.dims, after: pa.dims });
    });
    const kinds: NodeChange['kinds'] = [];
    if (widths.length) kinds.push('narrowed');
    if (quantized) kinds.push('quantized');
    if (kinds.length) changed.push(change(b, kinds, widths));
  }
  const added = after.graph.nodes
    .filter((n) => !beforeNames.has(n.name))
    .map((n) => change(n, QDQ.has(n.opType) ? ['added', 'qdq'] : ['added']));
  return {
    nodesBefore: before.graph.nodes.length,
    nodesAfter: after.graph.nodes.length,
    removed,
    added,
    changed,
    summary: {
      removed: removed.length,
      added: added.length,
      narrowed: changed.filter((c) => c.kinds.includes('narrowed')).length,
      quantized: changed.filter((c) => c.kinds.includes('quantized')).length,
      foldedBn: removed.filter((c) => c.kinds.includes('folded-bn')).length,
      qdqPairs: added.filter((c) => c.opType === 'QuantizeLinear').length,
    },
  };
}
