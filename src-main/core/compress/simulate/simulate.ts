/**
 * @file Simulation: masks written into a copy of the graph (NNI's "simulated compression"). Parameter targets get
 * a new masked initializer (the original Tensor is never touched); `_input_k` / `_output_k` targets get an inserted
 * `Mul` by the mask (`apply_method: 'mul'`) or `Add` of −1000·(1 − mask) (`'add'`, for pre-softmax logits, so masked
 * positions get ~0 probability rather than exp(0)); `'bypass'` leaves the target as is. The result runs in any ONNX
 * runtime. Pure: imports only the IR, the mask contract, target binding and the half-float helpers.
 */
import {
  Tensor,
  cloneModel,
  numel,
  type DataType,
  type Graph,
  type Model,
  type Node,
  type TensorData,
  type Value,
} from '../../ir/index.ts';
import { bf16ToFloat, halfToFloat } from '../../ir/index.ts';
import { floatToBf16, floatToHalf } from '../../util/half.ts';
import { expandMask, type Masks, type TargetMask } from '../masks.ts';
import { bindTarget, isBindingFault, type TargetBinding } from '../targets/index.ts';
import { normaliseTargetNames } from '../../../../src-shared/config/index.ts';
import { MaskApplyError } from '../errors.ts';
import { applyNormMasks, type NormMask } from './norm-stats.ts';

/** How a mask acts on its target (NNI's apply methods that make sense outside training). */
export type ApplyMethod = 'mul' | 'add' | 'bypass';
export const APPLY_METHODS: readonly ApplyMethod[] = ['mul', 'add', 'bypass'];

/** node name → target name → apply method; absent = 'mul'. */
export type ApplyMethods = Readonly<Record<string, Readonly<Record<string, string>>>>;

export interface SimulateOptions {
  /** Per-target apply method (a pruner's `compress()` returns them); default 'mul' everywhere. */
  applyMethods?: ApplyMethods;
  /**
   * Norms whose normalised channels pruning removes (speedup's `normMasks`): each computes its statistics over the
   * kept positions only, as the compact norm does (norm-stats.ts).
   */
  normMasks?: readonly NormMask[];
}

/** The value NNI's 'add' method adds at masked positions. */
export const MASKED_LOGIT = -1000;

/**
 * A copy of `model` with every mask applied; `model` itself is left untouched.
 *
 * @example
 * const { masks, applyMethods } = await new L1NormPruner(model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }]).compress();
 * const simulated = simulate(model, masks, { applyMethods });
 * @throws MaskApplyError naming the node and target when a mask does not fit
 */
export function simulate(model: Model, masks: Masks, opts: SimulateOptions = {}): Model {
  const copy = cloneModel(model);
  const g = copy.graph;
  const nodes = new Map(g.nodes.map((n) => [n.name, n] as const));
  for (const [nodeName, targets] of masks) {
    const node = nodes.get(nodeName);
    if (!node) throw new MaskApplyError(nodeName, [...targets.keys()].join(', '), 'the graph has no node of that name');
    for (const [rawName, mask] of targets) {
      const name = normaliseTargetNames([rawName])[0]!;
      const method = opts.applyMethods?.[nodeName]?.[rawName] ?? opts.applyMethods?.[nodeName]?.[name] ?? 'mul';
      if (!(APPLY_METHODS as readonly string[]).includes(method))
        throw new MaskApplyError(
          nodeName,
          name,
          `apply method '${method}' cannot be simulated (use ${APPLY_METHODS.join(', ')})`,
        );
      if (method === 'bypass') continue;
      const b = bindTarget(node, name);
      if (isBindingFault(b)) throw new MaskApplyError(nodeName, name, b.fault);
      if (!b.value) throw new MaskApplyError(nodeName, name, `${node.label} has no ${name}`);
      checkFits(nodeName, name, mask, b.value);
      if (b.kind === 'parameter') maskParameter(g, node, b, name, mask, method as 'mul' | 'add');
      else insertMaskNode(g, node, b, name, mask, method as 'mul' | 'add');
    }
  }
  if (opts.normMasks?.length) applyNormMasks(copy, opts.normMasks);
  return copy;
}

/** Same rank; every mask dim equals the target's dim or is 1. */
function checkFits(node: string, target: string, mask: TargetMask, value: Value): void {
  const shape = value.shape;
  if (!shape) return;
  if (shape.length !== mask.dims.length)
    throw new MaskApplyError(
      node,
      target,
      `mask rank ${mask.dims.length} ≠ target rank ${shape.length} (shape [${shape.join(', ')}])`,
    );
  mask.dims.forEach((d, i) => {
    const s = shape[i];
    if (d !== 1 && typeof s === 'number' && d !== s)
      throw new MaskApplyError(
        node,
        target,
        `mask dims [${mask.dims.join(', ')}] do not broadcast to [${shape.join(', ')}]`,
      );
  });
}

function maskParameter(
  g: Graph,
  node: Node,
  b: TargetBinding,
  name: string,
  mask: TargetMask,
  method: 'mul' | 'add',
): void {
  const v = b.value!;
  const init = v.initializer;
  if (!init) throw new MaskApplyError(node.name, name, `"${v.name}" is not an initializer`);
  const masked = applyToTensor(init, expandMask(mask, init.dims), method, node.name, name);
  const shared = v.uses.some((u) => u.node !== node) || v.isGraphOutput || v.isGraphInput;
  if (shared) node.setInput(b.index, g.addInitializer(`${v.name}_masked`, masked, true));
  else g.setInitializer(v, masked);
}

/** A new tensor: `t · mask` (mul) or `t + MASKED_LOGIT · (1 − mask)` (add), element-wise over the full shape. */
function applyToTensor(t: Tensor, full: Uint8Array, method: 'mul' | 'add', node: string, target: string): Tensor {
  const src = t.require(`${target} of "${node}"`);
  const codec = FLOAT_CODECS[t.dtype];
  if (!codec) {
    if (method === 'add' || Array.isArray(src))
      throw new MaskApplyError(node, target, `cannot apply '${method}' to a ${t.dtype} tensor`);
    const out = src.slice() as Exclude<TensorData, string[]>;
    const zero = out instanceof BigInt64Array || out instanceof BigUint64Array ? 0n : 0;
    for (let i = 0; i < full.length; i++) if (!full[i]) (out as { [i: number]: number | bigint })[i] = zero;
    return new Tensor(t.dtype, t.dims, out);
  }
  const out = codec.alloc(full.length);
  for (let i = 0; i < full.length; i++) {
    const x = codec.read(src, i);
    out[i] = codec.write(full[i] ? x : method === 'mul' ? 0 : x + MASKED_LOGIT);
  }
  return new Tensor(t.dtype, t.dims, out);
}

interface FloatCodec {
  alloc(n: number): Float32Array | Float64Array | Uint16Array;
  read(d: TensorData, i: number): number;
  write(x: number): number;
}

const FLOAT_CODECS: Partial<Record<DataType, FloatCodec>> = {
  float32: { alloc: (n) => new Float32Array(n), read: (d, i) => (d as Float32Array)[i]!, write: (x) => x },
  float64: { alloc: (n) => new Float64Array(n), read: (d, i) => (d as Float64Array)[i]!, write: (x) => x },
  float16: {
    alloc: (n) => new Uint16Array(n),
    read: (d, i) => halfToFloat((d as Uint16Array)[i]!),
    write: floatToHalf,
  },
  bfloat16: {
    alloc: (n) => new Uint16Array(n),
    read: (d, i) => bf16ToFloat((d as Uint16Array)[i]!),
    write: floatToBf16,
  },
};

/** The constant a Mul / Add node applies: the mask (mul) or MASKED_LOGIT·(1 − mask) (add), in the activation's dtype. */
function maskConstant(mask: TargetMask, dtype: DataType, method: 'mul' | 'add', node: string, target: string): Tensor {
  const codec = FLOAT_CODECS[dtype];
  if (!codec)
    throw new MaskApplyError(node, target, `activations of type ${dtype} cannot be masked (float types only)`);
  const out = codec.alloc(numel(mask.dims));
  for (let i = 0; i < out.length; i++)
    out[i] = codec.write(method === 'mul' ? mask.data[i]! : mask.data[i] ? 0 : MASKED_LOGIT);
  return new Tensor(dtype, mask.dims, out);
}

function freeNodeName(g: Graph, base: string): string {
  let name = base;
  for (let i = 1; g.node(name); i++) name = `${base}_${i}`;
  return name;
}

/** `_input_k`: a Mul/Add feeding only this node. `_output_k`: a Mul/Add after it that takes over the output's name and uses. */
function insertMaskNode(
  g: Graph,
  node: Node,
  b: TargetBinding,
  name: string,
  mask: TargetMask,
  method: 'mul' | 'add',
): void {
  const v = b.value!;
  const constant = g.addInitializer(
    `${node.name}/${name}_mask`,
    maskConstant(mask, v.dtype ?? 'float32', method, node.name, name),
    true,
  );
  const opType = method === 'mul' ? 'Mul' : 'Add';
  const nodeName = freeNodeName(g, `${node.name}/${name}_${method}_mask`);
  if (b.kind === 'input') {
    const at = g.nodes.indexOf(node);
    const m = g.addNode({
      opType,
      name: nodeName,
      inputs: [v, constant],
      outputs: [g.uniqueName(`${v.name}_masked`)],
      at,
    });
    m.outputs[0]!.type = v.type;
    node.setInput(b.index, m.outputs[0]!);
    return;
  }
  const uses = [...v.uses];
  const wasOutput = g.outputs.map((o, i) => (o === v ? i : -1)).filter((i) => i >= 0);
  const original = v.name;
  g.renameValue(v, g.uniqueName(`${original}_unmasked`));
  const m = g.addNode({
    opType,
    name: nodeName,
    inputs: [v, constant],
    outputs: [original],
    at: g.nodes.indexOf(node) + 1,
  });
  const out = m.outputs[0]!;
  out.type = v.type;
  for (const u of uses) u.node.setInput(u.index, out);
  for (const i of wasOutput) g.setOutput(i, out);
}
