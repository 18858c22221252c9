/**
 * @file The quantization plan: resolved config-list targets (src-main/core/compress/targets) turned into what to
 * observe and how to quantize each target — integer range, scheme, granularity on the right ONNX axis, the value it
 * reads (after a fused activation), shared parameters for order-preserving ops, and ORT's int32 bias convention.
 * Pure: imports only the IR, sibling modules and the shared config layer.
 *
 * Granularity → ONNX axis:
 * | setting | parameters (weight / bias) | activations (`_input_k` / `_output_k`) |
 * |---|---|---|
 * | 'default' | per tensor (every quantizer, NNI's register_scalers) | per tensor |
 * | 'out_channel' | output-channel axis of the ONNX layout: Conv 0, ConvTranspose 1, Gemm transB=1 0 / transB=0 1, MatMul B 1 (last) | axis 1 |
 * | 'in_channel' | the input-channel axis (canonical axis 1 of the same layout) | axis 1 |
 * | 'per_channel' | as 'out_channel' | axis 1 (NCHW channels) |
 * | block list | one scale per block (NNI's Scaling kernel, canonical layout) | not supported (error) |
 */
import type { Model, Node } from '../../ir/index.ts';
import { isIoTarget, type Diagnostic, type QuantizationSetting } from '../../../../src-shared/config/index.ts';
import type { ResolvedTarget, TargetTable } from '../targets/index.ts';
import { followingActivation, type FusedGroup } from '../fusion/index.ts';
import { blockView, kernelFor } from '../pruning/granularity.ts';
import { narrowed, quantRange, type QuantRange } from './dtype.ts';
import type { QuantScheme } from './qparams.ts';

/** What a target is to the quantizer. */
export type QuantRole = 'weight' | 'bias' | 'activation';

/** Per tensor, per ONNX axis, or per block (kernel in the canonical out-first view, `perm` maps it to ONNX axes). */
export type QuantGranularity =
  { kind: 'tensor' } | { kind: 'axis'; axis: number } | { kind: 'blocks'; kernel: number[]; perm: number[] };

/** One target the quantizer acts on. */
export interface QuantTarget {
  node: string;
  opType: string;
  /** Normalised target name (`_input_0`, `weight`, …). */
  target: string;
  kind: 'parameter' | 'input' | 'output';
  /** Input index (parameters, inputs) or output index (outputs) on the node. */
  index: number;
  /** The value quantized: for a fused head's `_output_0`, the output of its activation. */
  value: string;
  role: QuantRole;
  /** The range quantized to (after reduce range). */
  range: QuantRange;
  /** The range the config asked for. */
  requested: QuantRange;
  scheme: QuantScheme;
  granularity: QuantGranularity;
  /** JSON path of the config entry. */
  path: string;
  /** ONNX axes in canonical out-first order (parameters; identity for activations). */
  perm: number[];
  /** Parameters copied from this target (`node`, `target`) instead of being observed. */
  shareWith?: { node: string; target: string };
  /** Bias quantized as int32 with scale = input scale × weight scale (ORT's convention). */
  int32Bias?: boolean;
}

export interface PlanOptions {
  /** Fusion groups applied to the model (their heads' `_output_` is read after the activation). */
  fused?: readonly FusedGroup[];
  /** Also read a quantized op's `_output_` after a Relu / Clip that is its only consumer and has no targets of its own. */
  autoActivations?: boolean;
  /** Quantize int8 weights with 7 bits (for CPUs without VNNI, see node/quantize). */
  reduceRange?: boolean;
}

export interface QuantPlan {
  targets: QuantTarget[];
  diagnostics: Diagnostic[];
  /** Fusion groups in effect, incl. activations absorbed automatically. */
  fused: FusedGroup[];
}

/** Ops whose output is an order-preserving selection of their input: they share their input's parameters (ORT drops their Q/DQ pair). */
export const SHARES_INPUT_PARAMS = new Set([
  'MaxPool',
  'Flatten',
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'GlobalMaxPool',
  'Identity',
]);

const INT32: QuantRange = { name: 'int32', signed: true, bits: 32, qmin: -(2 ** 31), qmax: 2 ** 31 - 1 };

/**
 * The plan of a resolved target table on a (fused) model.
 *
 * @example
 * const table = resolveTargets(model, parseConfigList(list, 'quantization').configs, 'quantization');
 * const { targets } = planQuantization(model, table, { fused });
 */
export function planQuantization(model: Model, table: TargetTable<'quantization'>, opts: PlanOptions = {}): QuantPlan {
  const diagnostics: Diagnostic[] = [];
  const fused = [...(opts.fused ?? [])];
  checkFusedMembers(table, fused, diagnostics);
  const configured = new Set(table.targets.map((t) => t.nodeName));
  if (opts.autoActivations) absorbActivations(table, fused, configured);
  const outputAfter = new Map(fused.filter((g) => g.activation).map((g) => [g.head, g.output]));

  const targets: QuantTarget[] = [];
  for (const t of table.targets) {
    const setting = t.setting as QuantizationSetting;
    if (setting.apply_method === 'bypass') {
      diagnostics.push({
        level: 'info',
        code: 'bypass',
        node: t.nodeName,
        path: t.path,
        message: `${t.name} of ${t.node.label} has apply_method 'bypass': not quantized`,
      });
      continue;
    }
    const q = planTarget(t, setting, outputAfter, opts, diagnostics);
    if (q) targets.push(q);
  }
  shareOrderPreserving(targets);
  markInt32Biases(model, targets, diagnostics);
  return { targets, diagnostics, fused };
}

function planTarget(
  t: ResolvedTarget<'quantization'>,
  s: QuantizationSetting,
  outputAfter: Map<string, string>,
  opts: PlanOptions,
  diagnostics: Diagnostic[],
): QuantTarget | null {
  const requested = quantRange(s.quant_dtype);
  const role: QuantRole = isIoTarget(t.name) ? 'activation' : t.name === 'bias' ? 'bias' : 'weight';
  const reduce = opts.reduceRange && role === 'weight' && requested.signed && requested.bits === 8;
  const range = reduce ? narrowed(requested, 7) : requested;
  const granularity = granularityOf(t, s, role);
  if ('fault' in granularity) {
    diagnostics.push({
      level: 'error',
      code: 'bad-granularity',
      node: t.nodeName,
      path: t.path,
      message: `${t.name} of ${t.node.label}: ${granularity.fault}`,
    });
    return null;
  }
  const value = t.kind === 'output' && t.index === 0 ? (outputAfter.get(t.nodeName) ?? t.value.name) : t.value.name;
  return {
    node: t.nodeName,
    opType: t.opType,
    target: t.name,
    kind: t.kind,
    index: t.index,
    value,
    role,
    range,
    requested,
    scheme: s.quant_scheme === 'affine' ? 'affine' : 'symmetric',
    granularity,
    path: t.path,
    perm: t.perm,
  };
}

function granularityOf(
  t: ResolvedTarget<'quantization'>,
  s: QuantizationSetting,
  role: QuantRole,
): QuantGranularity | { fault: string } {
  const g = s.granularity ?? 'default';
  if (g === 'default') return { kind: 'tensor' };
  const rank = t.value.shape?.length ?? 0;
  if (role === 'activation') {
    if (Array.isArray(g)) return { fault: 'block granularity is supported on weights and biases only' };
    if (rank !== 0 && rank < 2) return { fault: `'${g}' needs channels on axis 1, but the value has rank ${rank}` };
    return { kind: 'axis', axis: 1 };
  }
  if (Array.isArray(g)) {
    try {
      const kernel = kernelFor(g, rank);
      const dims = t.value.shape ?? [];
      blockView(
        t.perm.map((p) => dims[p] ?? null),
        kernel,
      ); // throws when a block does not divide its dim
      return { kind: 'blocks', kernel, perm: t.perm };
    } catch (e) {
      return { fault: (e as Error).message };
    }
  }
  if (rank === 0) return { kind: 'tensor' };
  if (g === 'in_channel') {
    if (rank < 2) return { fault: `'in_channel' needs a tensor of rank ≥ 2, this one has rank ${rank}` };
    return { kind: 'axis', axis: t.perm[1]! };
  }
  return { kind: 'axis', axis: t.perm[0]! };
}

/** NNI: modules after the first of a fusion group must not be configured themselves. */
function checkFusedMembers(
  table: TargetTable<'quantization'>,
  fused: readonly FusedGroup[],
  diagnostics: Diagnostic[],
): void {
  const members = new Map<string, FusedGroup>();
  for (const g of fused) if (g.activation && g.source === 'fuse_names') members.set(g.activation, g);
  for (const t of table.targets) {
    const g = members.get(t.nodeName);
    if (!g) continue;
    diagnostics.push({
      level: 'error',
      code: 'fused-node-configured',
      node: t.nodeName,
      path: t.path,
      message: `${t.node.label} is fused into "${g.head}" (${g.path ?? 'fuse_names'}) and must not have its own quantization config; quantize "${g.head}"'s _output_ instead`,
    });
  }
  for (const g of fused) {
    if (g.source !== 'fuse_names' || !g.activation) continue;
    if (!table.get(g.head, '_output_0')) {
      diagnostics.push({
        level: 'error',
        code: 'fused-activation-needs-output',
        node: g.head,
        ...(g.path ? { path: g.path } : {}),
        message: `"${g.head}" is fused with the activation "${g.activation}", so its config must include _output_ in target_names`,
      });
    }
  }
}

/** Auto mode: a quantized op's `_output_` moves after the Relu / Clip that alone consumes it, if that has no targets. */
function absorbActivations(table: TargetTable<'quantization'>, fused: FusedGroup[], configured: Set<string>): void {
  const byHead = new Map(fused.map((g) => [g.head, g]));
  for (const t of table.targets) {
    if (t.name !== '_output_0') continue;
    const g = byHead.get(t.nodeName);
    if (g?.activation) continue;
    const act = followingActivation(t.node);
    if (!act || configured.has(act.name) || act.name === '') continue;
    if (g) {
      g.activation = act.name;
      g.output = act.outputs[0]!.name;
    } else {
      const ng: FusedGroup = {
        head: t.nodeName,
        folded: [],
        activation: act.name,
        output: act.outputs[0]!.name,
        source: 'auto',
      };
      fused.push(ng);
      byHead.set(ng.head, ng);
    }
  }
}

/**
 * MaxPool & co.: the output target takes the input target's parameters (same values, same order), and so does
 * every other target reading that output with the same settings (one value, one set of parameters, so consumers
 * see no requantization and ORT can drop the pair around the op).
 */
function shareOrderPreserving(targets: QuantTarget[]): void {
  const byKey = new Map(targets.map((t) => [`${t.node}\u0000${t.target}`, t]));
  const same = (a: QuantTarget, b: QuantTarget) =>
    a.range.name === b.range.name &&
    a.scheme === b.scheme &&
    a.granularity.kind === 'tensor' &&
    b.granularity.kind === 'tensor';
  const sharedValues = new Map<string, QuantTarget>();
  for (const t of targets) {
    if (t.kind !== 'output' || !SHARES_INPUT_PARAMS.has(t.opType)) continue;
    const input = byKey.get(`${t.node}\u0000_input_0`);
    if (!input || !same(input, t)) continue;
    t.shareWith = { node: input.node, target: input.target };
    sharedValues.set(t.value, t);
  }
  for (const t of targets) {
    const out = sharedValues.get(t.value);
    if (!out || t === out || t.role !== 'activation' || t.shareWith || !same(out, t)) continue;
    t.shareWith = out.shareWith;
  }
}

/**
 * A bias on a node whose input 0 and weight are both quantized is stored as ORT's integer kernels expect it:
 * int32, scale = input scale × weight scale, zero point 0 (per channel when the weight is). Its own setting is
 * replaced, with an info diagnostic.
 */
function markInt32Biases(model: Model, targets: QuantTarget[], diagnostics: Diagnostic[]): void {
  const byNode = new Map<string, QuantTarget[]>();
  for (const t of targets) byNode.set(t.node, [...(byNode.get(t.node) ?? []), t]);
  for (const [node, list] of byNode) {
    const bias = list.find((t) => t.role === 'bias');
    const weight = list.find((t) => t.role === 'weight');
    if (!bias || !weight || !['Conv', 'ConvTranspose', 'Gemm'].includes(bias.opType)) continue;
    const input = inputQuantizer(model, targets, node);
    if (!input || input.granularity.kind !== 'tensor') continue;
    if (weight.granularity.kind === 'blocks') continue;
    if (weight.granularity.kind === 'axis' && weight.granularity.axis !== weight.perm[0]) continue;
    bias.int32Bias = true;
    bias.range = INT32;
    bias.scheme = 'symmetric';
    bias.granularity = weight.granularity.kind === 'axis' ? { kind: 'axis', axis: 0 } : { kind: 'tensor' };
    diagnostics.push({
      level: 'info',
      code: 'int32-bias',
      node,
      path: bias.path,
      message: `bias of "${node}" is quantized to int32 with scale = input scale × weight scale and zero point 0 (ORT's integer kernels), not as ${bias.requested.name}`,
    });
  }
}

/**
 * The target whose quantization feeds input 0 of `node`: its own `_input_0`, else an output target (of the
 * producer, or a fused activation) on that value.
 */
export function inputQuantizer(model: Model, targets: readonly QuantTarget[], node: string): QuantTarget | undefined {
  const own = targets.find((t) => t.node === node && t.kind === 'input' && t.index === 0);
  if (own) return own;
  const name = model.graph.node(node)?.input(0)?.name;
  return name === undefined ? undefined : targets.find((t) => t.kind === 'output' && t.value === name);
}

/** The node a target belongs to. */
export function targetNode(model: Model, t: Pick<QuantTarget, 'node'>): Node {
  const n = model.graph.node(t.node);
  if (!n) throw new RangeError(`no node "${t.node}" in the model`);
  return n;
}
