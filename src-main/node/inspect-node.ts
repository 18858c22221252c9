/**
 * @file The node inspector's data (Netron's properties panel, plus what compression adds): a node's attributes, its
 * inputs and outputs with traced shapes, producers and consumers, statistics and a histogram of each initializer,
 * the config-list entries that select it, and the quantization parameters of Q/DQ pairs around it. Plain JSON out,
 * for the CLI (`studio inspect --node`) and the app.
 */
import type { AttributeValue, Model, Node, Tensor, Value } from '../core/ir/index.ts';
import { StudioError } from '../core/ir/index.ts';
import { selectNodes, type SelectionKeys } from '../core/compress/targets/select.ts';
import type { Diagnostic } from '../../src-shared/config/index.ts';

export interface TensorStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Fraction of elements exactly 0. */
  sparsity: number;
  /** Equal-width bins over [min, max]. */
  histogram: { lo: number; hi: number; counts: number[] };
}

export interface PortDetails {
  name: string;
  dtype: string | null;
  /** Traced shape when a trace ran, else the static one (null: unknown). */
  shape: (number | string | null)[] | null;
  producer: string | null;
  consumers: string[];
  initializer?: TensorStats;
  /** When the value comes out of a DequantizeLinear (or goes into a QuantizeLinear): its scale and zero point. */
  quantization?: { node: string; opType: string; scale: number[]; zeroPoint: number[]; axis: number | null };
}

export interface NodeDetails {
  name: string;
  opType: string;
  domain: string;
  attributes: Record<string, unknown>;
  inputs: PortDetails[];
  outputs: PortDetails[];
  /** Config-list entries (index and JSON path) that select this node. */
  selectedBy: { index: number; path: string }[];
}

/** No node of that name; names a few that exist. */
export class NodeNotFoundError extends StudioError {
  constructor(name: string, graphNames: string[]) {
    const near = graphNames.filter((n) => n.toLowerCase().includes(name.toLowerCase())).slice(0, 8);
    super(
      `no node named ${JSON.stringify(name)} in the main graph${
        near.length
          ? `; similar: ${near.map((n) => JSON.stringify(n)).join(', ')}`
          : ` (${graphNames.length} nodes; e.g. ${graphNames
              .slice(0, 5)
              .map((n) => JSON.stringify(n))
              .join(', ')})`
      }`,
      'NODE_NOT_FOUND',
      { node: name },
    );
  }
}

/** min / max / mean / std / sparsity and a `bins`-bin histogram of a tensor's values (NaN skipped). */
export function tensorStats(t: Tensor, bins = 20): TensorStats {
  const x = t.toFloat32();
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let zeros = 0;
  let n = 0;
  for (const v of x) {
    if (Number.isNaN(v)) continue;
    n++;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    if (v === 0) zeros++;
  }
  const mean = n ? sum / n : 0;
  let sq = 0;
  for (const v of x) if (!Number.isNaN(v)) sq += (v - mean) ** 2;
  const counts = new Array<number>(bins).fill(0);
  const width = max > min ? (max - min) / bins : 1;
  for (const v of x) if (!Number.isNaN(v)) counts[Math.min(bins - 1, Math.floor((v - min) / width))]!++;
  return {
    count: n,
    min: n ? min : 0,
    max: n ? max : 0,
    mean,
    std: n > 1 ? Math.sqrt(sq / (n - 1)) : 0,
    sparsity: n ? zeros / n : 0,
    histogram: { lo: n ? min : 0, hi: n ? max : 0, counts },
  };
}

function attributeJson(a: AttributeValue): unknown {
  switch (a.type) {
    case 'tensor':
      return { tensor: { dtype: a.value.dtype, dims: [...a.value.dims] } };
    case 'tensors':
      return a.value.map((t) => ({ tensor: { dtype: t.dtype, dims: [...t.dims] } }));
    case 'graph':
      return { graph: { nodes: a.value.nodes.length } };
    case 'graphs':
      return a.value.map((g) => ({ graph: { nodes: g.nodes.length } }));
    case 'opaque':
      return '(opaque)';
    default:
      return a.value;
  }
}

const numbers = (t: Tensor | null | undefined): number[] => (t ? Array.from(t.toFloat32()).slice(0, 64) : []);

function quantOf(v: Value, side: 'in' | 'out'): PortDetails['quantization'] {
  const q =
    side === 'in'
      ? v.producer?.opType === 'DequantizeLinear'
        ? v.producer
        : null
      : (v.consumers().find((c) => c.opType === 'QuantizeLinear') ?? null);
  if (!q) return undefined;
  const scale = q.inputs[1]?.initializer;
  const zp = q.inputs[2]?.initializer;
  const axis = q.attributes.get('axis');
  return {
    node: q.name,
    opType: q.opType,
    scale: numbers(scale),
    zeroPoint: numbers(zp),
    axis: axis?.type === 'int' ? axis.value : null,
  };
}

function port(
  v: Value,
  shapes: Map<string, { dtype?: string; shape: number[] }> | undefined,
  side: 'in' | 'out',
): PortDetails {
  const traced = shapes?.get(v.name)?.shape;
  const p: PortDetails = {
    name: v.name,
    dtype: v.dtype ?? shapes?.get(v.name)?.dtype ?? null,
    shape: traced ? [...traced] : v.shape ? [...v.shape] : null,
    producer: v.producer?.name ?? null,
    consumers: v.consumers().map((c) => c.name),
  };
  if (v.initializer) p.initializer = tensorStats(v.initializer);
  const q = quantOf(v, side);
  if (q) p.quantization = q;
  return p;
}

/**
 * Everything the inspector shows for one node of the main graph.
 * @example nodeDetails(model, '/conv1/Conv', { shapes: trace.values, configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] })
 * @throws NodeNotFoundError naming similar nodes
 */
export function nodeDetails(
  model: Model,
  name: string,
  o: { shapes?: Map<string, { dtype?: string; shape: number[] }>; configList?: readonly unknown[] } = {},
): NodeDetails {
  const node: Node | undefined = model.graph.nodes.find((n) => n.name === name);
  if (!node)
    throw new NodeNotFoundError(
      name,
      model.graph.nodes.map((n) => n.name),
    );
  const selectedBy: NodeDetails['selectedBy'] = [];
  (o.configList ?? []).forEach((entry, index) => {
    const diagnostics: Diagnostic[] = [];
    if (
      entry &&
      typeof entry === 'object' &&
      selectNodes(model.graph, entry as SelectionKeys, index, diagnostics).some((s) => s.node === node)
    )
      selectedBy.push({ index, path: `$[${index}]` });
  });
  return {
    name: node.name,
    opType: node.opType,
    domain: node.domain || 'ai.onnx',
    attributes: Object.fromEntries([...node.attributes].map(([k, a]) => [k, attributeJson(a)])),
    inputs: node.inputs.filter((v): v is Value => v !== null).map((v) => port(v, o.shapes, 'in')),
    outputs: node.outputs.map((v) => port(v, o.shapes, 'out')),
    selectedBy,
  };
}
