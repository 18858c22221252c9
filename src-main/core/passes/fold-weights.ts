/**
 * @file Fold layout and type ops applied to constants: `Cast`, `Reshape`, `Transpose`, `Squeeze`, `Unsqueeze`,
 * `Flatten` whose inputs are all initializers become one initializer (named by the node's output). Exporters
 * write weights this way (fp16 weights cast up, tf2onnx's transposed kernels, constant folding turned off), and
 * compression must see the weight a Conv / Gemm / MatMul reads as a parameter. One fold rule per op type in
 * `FOLD_RULES`; weightless tensors (a committed graph without its data) fold to weightless tensors of the right
 * type and dims. In place. Pure: imports only the IR.
 */
import {
  allocData,
  numel,
  Tensor,
  dtypeFromCode,
  isFloatType,
  type DataType,
  type Graph,
  type Model,
  type Node,
} from '../ir/index.ts';
import { floatToBf16, floatToHalf } from '../util/half.ts';
import type { Pass, PassChange, PassResult } from './pass.ts';

/** Computes a node's output from its constant inputs; null when this instance cannot be folded. */
export type FoldRule = (node: Node, inputs: readonly Tensor[]) => Tensor | null;

const shapeOf = (t: Tensor | undefined): number[] | null => (t?.data ? t.toNumbers() : null);

/** Same elements, new dims (Reshape, Squeeze, Unsqueeze, Flatten): the data is shared, never copied. */
const withDims = (t: Tensor, dims: number[]): Tensor | null =>
  numel(dims) === t.size ? new Tensor(t.dtype, dims, t.data) : null;

function reshapeDims(input: readonly number[], shape: readonly number[], allowZero: boolean): number[] | null {
  const dims = shape.map((d, i) => (d === 0 && !allowZero ? (input[i] ?? -1) : d));
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const inferred = dims.filter((d) => d === -1).length;
  if (inferred > 1 || (inferred === 1 && known === 0)) return null;
  return dims.map((d) => (d === -1 ? numel(input) / known : d));
}

function axesOf(node: Node, inputs: readonly Tensor[], rank: number): number[] | null {
  const axes = node.attrInts('axes') ?? shapeOf(inputs[1]);
  return axes ? axes.map((a) => (a < 0 ? a + rank : a)) : null;
}

function transpose(t: Tensor, perm: readonly number[]): Tensor {
  const dims = perm.map((p) => t.dims[p]!);
  if (t.data === null) return new Tensor(t.dtype, dims, null);
  const src = t.data;
  const out = allocData(t.dtype, t.size);
  if (Array.isArray(src) || Array.isArray(out)) throw new TypeError('string tensors are not transposed');
  const inStrides = t.dims.map((_, i) => numel(t.dims.slice(i + 1)));
  const stridesOut = perm.map((p) => inStrides[p]!);
  const idx = new Array<number>(dims.length).fill(0);
  for (let o = 0; o < t.size; o++) {
    let s = 0;
    for (let k = 0; k < dims.length; k++) s += idx[k]! * stridesOut[k]!;
    (out as Float32Array)[o] = (src as Float32Array)[s]!;
    for (let k = dims.length - 1; k >= 0 && ++idx[k]! === dims[k]; k--) idx[k] = 0;
  }
  return new Tensor(t.dtype, dims, out);
}

const CASTABLE: ReadonlySet<DataType> = new Set([
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
]);

function cast(t: Tensor, to: DataType): Tensor | null {
  if (!CASTABLE.has(t.dtype) && !(t.dtype === 'int64' && to === 'int64')) return null;
  if (!CASTABLE.has(to) && to !== 'int64') return null;
  if (t.data === null) return new Tensor(to, t.dims, null);
  const values = t.toNumbers();
  const out = allocData(to, t.size);
  if (to === 'int64') values.forEach((v, i) => ((out as BigInt64Array)[i] = BigInt(Math.trunc(v))));
  else if (to === 'float16') values.forEach((v, i) => ((out as Uint16Array)[i] = floatToHalf(v)));
  else if (to === 'bfloat16') values.forEach((v, i) => ((out as Uint16Array)[i] = floatToBf16(v)));
  else if (isFloatType(to)) (out as Float32Array).set(values);
  else values.forEach((v, i) => ((out as Int32Array)[i] = Math.trunc(v)));
  return new Tensor(to, t.dims, out);
}

/** The fold rules, keyed by ONNX op type (default domain). Extend with `registerFoldRule`. */
export const FOLD_RULES = new Map<string, FoldRule>([
  ['Identity', (_n, [x]) => x!],
  [
    'Cast',
    (n, [x]) => {
      const to = dtypeFromCode(n.attrInt('to') ?? -1);
      return to ? cast(x!, to) : null;
    },
  ],
  [
    'Reshape',
    (n, [x, shape]) => {
      const s = shapeOf(shape);
      const dims = s && reshapeDims(x!.dims, s, n.attrInt('allowzero', 0) === 1);
      return dims ? withDims(x!, dims) : null;
    },
  ],
  ['Transpose', (n, [x]) => transpose(x!, n.attrInts('perm') ?? x!.dims.map((_, i) => x!.dims.length - 1 - i))],
  [
    'Squeeze',
    (n, inputs) => {
      const x = inputs[0]!;
      const axes = axesOf(n, inputs, x.dims.length);
      return withDims(
        x,
        x.dims.filter((d, i) => (axes ? !axes.includes(i) : d !== 1)),
      );
    },
  ],
  [
    'Unsqueeze',
    (n, inputs) => {
      const x = inputs[0]!;
      const axes = axesOf(n, inputs, x.dims.length + (n.attrInts('axes') ?? shapeOf(inputs[1]) ?? []).length);
      if (!axes) return null;
      const dims = [...x.dims];
      for (const a of [...axes].sort((p, q) => p - q)) dims.splice(a, 0, 1);
      return withDims(x, dims);
    },
  ],
  [
    'Flatten',
    (n, [x]) => {
      const r = x!.dims.length;
      const a = n.attrInt('axis', 1)!;
      const axis = a < 0 ? a + r : a;
      return withDims(x!, [numel(x!.dims.slice(0, axis)), numel(x!.dims.slice(axis))]);
    },
  ],
]);

/** Teach the folder another op (custom exporters). */
export function registerFoldRule(opType: string, rule: FoldRule): void {
  FOLD_RULES.set(opType, rule);
}

/** Inputs that must carry data for the rule to read them (shapes, axes); weights may be weightless. */
const needsData = (node: Node, i: number) => i > 0 && node.opType !== 'Identity';

function foldGraph(g: Graph, changes: PassChange[]): void {
  for (const node of [...g.nodes]) {
    for (const sg of node.subgraphs()) foldGraph(sg, changes);
    const rule = node.domain === '' && node.opType !== 'Identity' ? FOLD_RULES.get(node.opType) : undefined;
    if (!rule || node.outputs.length !== 1 || node.outputs[0]!.isGraphOutput) continue;
    const inputs = node.inputs.filter((v) => v !== null);
    // an initializer that is also a graph input is an overridable default, not a constant
    if (inputs.length === 0 || !inputs.every((v) => v.initializer && !v.isGraphInput)) continue;
    if (inputs.some((v, i) => needsData(node, i) && !v.initializer!.hasData)) continue;
    const tensor = rule(
      node,
      inputs.map((v) => v.initializer!),
    );
    if (!tensor) continue;
    const out = node.outputs[0]!;
    const users = [...out.uses];
    const name = out.name;
    g.removeNode(node, true);
    const init = g.addInitializer(name, tensor);
    for (const u of users) u.node.setInput(u.index, init);
    changes.push({
      node: node.name,
      pattern: `${node.opType}(${inputs.map((v) => `initializer "${v.name}"`).join(', ')})`,
      result: `initializer "${name}" [${tensor.dims.join('×')}] ${tensor.dtype}`,
    });
    for (const v of inputs)
      if (v.uses.length === 0 && !v.isGraphOutput && !v.isGraphInput && v.initializer) v.graph.removeInitializer(v);
  }
}

/** Fold every Cast / Reshape / Transpose / Squeeze / Unsqueeze / Flatten over initializers (front to back, so chains fold). */
export const foldWeights: Pass = {
  name: 'fold-weights',
  inPlace: true,
  run(model: Model): PassResult {
    const changes: PassChange[] = [];
    foldGraph(model.graph, changes);
    return { model, modified: changes.length > 0, changes };
  },
};
