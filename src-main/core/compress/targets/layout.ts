/**
 * @file Where a compression target lives on an ONNX node (which input or output), and the ONNX layout rule that
 * says which axis of a parameter holds the output channels. Pure: imports only the IR and the shared config tables.
 *
 * ONNX layout rule. NNI's granularities ('out_channel', 'in_channel', block lists) are written for PyTorch's
 * out-first weight layout. ONNX stores some weights the other way round, so every parameter is read through a
 * *canonical out-first view*: the output-channel axis moved to the front, the other axes kept in order. Metrics,
 * blocks, groups and align are computed in that view; masks are written back in the real ONNX layout.
 *
 * | op | parameter | ONNX layout | output-channel axis |
 * |---|---|---|---|
 * | Conv | weight (input 1) | [C_out, C_in/g, k…] | 0 |
 * | ConvTranspose | weight (input 1) | [C_in, C_out/g, k…] | 1 |
 * | Gemm | B (input 1) | transB=1: [N, K]; transB=0: [K, N] | 0 when transB=1, else 1 |
 * | MatMul | the constant operand | B (input 1): [K, N]; A (input 0): [M, K] | B: last axis; A: the row axis (rank−2) |
 * | Conv, ConvTranspose, BatchNormalization, LayerNormalization | bias (input 2) | [C] | 0 |
 * | Gemm | C (input 2) | [N] or [M, N] | last axis |
 * | BatchNormalization, LayerNormalization | weight = scale (input 1) | [C] | 0 |
 * | Gather (embedding) | weight = data (input 0) | [V, D] | 0 |
 *
 * Activations (`_input_k` / `_output_k`) are read in their ONNX layout as is (NCHW: channels on axis 1).
 */
import type { Node, Value } from '../../ir/index.ts';
import {
  PARAM_OP_TYPES,
  paramRoles,
  INPUT_PREFIX,
  OUTPUT_PREFIX,
  type ParamOpType,
} from '../../../../src-shared/config/index.ts';

/** What kind of tensor a target is. */
export type TargetKind = 'parameter' | 'input' | 'output';

/** A target bound to its node. */
export interface TargetBinding {
  kind: TargetKind;
  /** Node input index (parameters, inputs) or output index (outputs); -1 when the op has no such parameter. */
  index: number;
  /** The tensor; null when an optional input is absent or the op has no such parameter. */
  value: Value | null;
}

/** Why a target name cannot be bound on a node (an unknown parameter, an index past the node's inputs…). */
export interface BindingFault {
  fault: string;
}

/** Output-channel axis of a parameter, per op type: `(node, input index, rank) → axis`. */
type OutAxisRule = (node: Node, inputIndex: number, rank: number) => number;

const first: OutAxisRule = () => 0;

/** The layout table (see the file comment); one rule per op type with parameter targets. */
export const OUT_AXIS: Readonly<Record<ParamOpType, OutAxisRule>> = {
  Conv: first,
  ConvTranspose: (_n, i) => (i === 1 ? 1 : 0),
  Gemm: (n, i, rank) => (i === 1 ? (n.attrInt('transB', 0) ? 0 : 1) : rank - 1),
  MatMul: (_n, i, rank) => (i === 1 ? rank - 1 : rank - 2),
  BatchNormalization: first,
  LayerNormalization: first,
  Gather: first,
};

const isParamOpType = (t: string): t is ParamOpType => (PARAM_OP_TYPES as readonly string[]).includes(t);

/**
 * Output channels (features) of `node` held by its parameter at `inputIndex` with `dims`: the size of the
 * output-channel axis, times the groups for a ConvTranspose weight (which holds C_out / group per input channel).
 * Undefined for op types without a layout rule. The one place this fact is stated (fusion and the app read it here).
 *
 * @example outputChannelCount(gemmTransB0, 1, [512, 10]) // 10
 */
export function outputChannelCount(node: Node, inputIndex: number, dims: readonly number[]): number | undefined {
  if (!isParamOpType(node.opType)) return undefined;
  const n = dims[OUT_AXIS[node.opType](node, inputIndex, dims.length)];
  return n !== undefined && node.opType === 'ConvTranspose' && inputIndex === 1 ? n * node.attrInt('group', 1) : n;
}

/**
 * The output channel of each element (row-major over `dims`) of `node`'s parameter at `inputIndex`; for a grouped
 * ConvTranspose weight [C_in, C_out/g, k…], element (ci, j, …) feeds channel group(ci)·C_out/g + j.
 */
export function outputChannelOf(node: Node, inputIndex: number, dims: readonly number[]): (i: number) => number {
  const axis = isParamOpType(node.opType) ? OUT_AXIS[node.opType](node, inputIndex, dims.length) : 0;
  const stride = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const size = dims[axis]!;
  const along = (i: number) => Math.floor(i / stride) % size;
  if (node.opType !== 'ConvTranspose' || inputIndex !== 1) return along;
  const perGroupIn = dims[0]! / node.attrInt('group', 1);
  const inStride = dims.slice(1).reduce((a, b) => a * b, 1);
  return (i) => Math.floor(Math.floor(i / inStride) / perGroupIn) * size + along(i);
}

/** Input index of MatMul's constant operand: input 1 when it is an initializer, else input 0 when that is, else 1. */
function constantOperand(node: Node): number {
  if (node.input(1)?.isInitializer) return 1;
  if (node.input(0)?.isInitializer) return 0;
  return 1;
}

/** `_input_3` → 3; bare prefixes mean 0; anything else after the prefix → NaN. */
function ioIndex(name: string, prefix: string): number {
  const rest = name.slice(prefix.length);
  if (rest === '') return 0;
  return /^\d+$/.test(rest) ? Number(rest) : Number.NaN;
}

/**
 * Binds a target name on a node: `weight` / `bias` by the op type's parameter roles, `_input_k` / `_output_k` by
 * position.
 *
 * @example bindTarget(gemm, 'weight') // { kind: 'parameter', index: 1, value: <B> }
 */
export function bindTarget(node: Node, name: string): TargetBinding | BindingFault {
  for (const [prefix, kind] of [
    [INPUT_PREFIX, 'input'],
    [OUTPUT_PREFIX, 'output'],
  ] as const) {
    if (!name.startsWith(prefix)) continue;
    const k = ioIndex(name, prefix);
    const list = kind === 'input' ? node.inputs : node.outputs;
    if (Number.isNaN(k))
      return { fault: `'${name}' names no ${kind}: use ${prefix}<index> (argument names are not kept in ONNX)` };
    if (k >= list.length) return { fault: `${node.label} has ${list.length} ${kind}s, so '${name}' does not exist` };
    const value = list[k] ?? null;
    return { kind, index: k, value };
  }
  const roles = paramRoles(node.opType);
  if (name !== 'weight' && name !== 'bias') {
    return {
      fault: `'${name}' is not a target of ONNX nodes: use weight, bias, ${INPUT_PREFIX}<k> or ${OUTPUT_PREFIX}<k>`,
    };
  }
  const role = roles?.[name];
  if (role === undefined) return { kind: 'parameter', index: -1, value: null };
  const index = role === 'constant-operand' ? constantOperand(node) : role;
  return { kind: 'parameter', index, value: node.input(index) };
}

export function isBindingFault(b: TargetBinding | BindingFault): b is BindingFault {
  return 'fault' in b;
}

/**
 * The permutation taking ONNX axes to the canonical out-first view: `perm[c]` is the ONNX axis shown at canonical
 * axis c. Identity for activations, scalars and vectors.
 *
 * @example canonicalPerm(gemmWithTransB0, { kind: 'parameter', index: 1, value }, 2) // [1, 0]
 */
export function canonicalPerm(node: Node, binding: TargetBinding, rank: number): number[] {
  const identity = Array.from({ length: rank }, (_, i) => i);
  if (binding.kind !== 'parameter' || rank < 2 || !isParamOpType(node.opType)) return identity;
  const out = OUT_AXIS[node.opType](node, binding.index, rank);
  if (out <= 0 || out >= rank) return identity;
  return [out, ...identity.filter((a) => a !== out)];
}
