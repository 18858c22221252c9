/**
 * @file Module fusion on ONNX graphs (NNI's `fuse_names`, NNI-SEMANTICS §6): BatchNormalization folded into the
 * Conv / ConvTranspose / Gemm before it, as a graph pass before quantization, so that quantization sees the weights
 * deployment runs. A trailing Relu / Clip stays a node (ONNX has no fused activation) but is recorded: the head's
 * `_output_` target is then read after the activation, as NNI's fused wrapper does. Groups come from `fuse_names`
 * (validated against the graph) or are found automatically. Pure: imports only the IR, the pass contract and the
 * shared diagnostic type.
 *
 * Folding, with σ = sqrt(var + ε) and f = γ / σ per output channel:  w' = w · f (along the output-channel axis),
 * b' = (b − μ) · f + β  (b = 0 when the head has no bias; Gemm: b = β_gemm · C and β_gemm becomes 1).
 */
import { Tensor, type Model, type Node, type Value } from '../../ir/index.ts';
import type { Pass, PassResult } from '../../passes/pass.ts';
import type { Diagnostic } from '../../../../src-shared/config/index.ts';
import { outputChannelCount, outputChannelOf } from '../targets/layout.ts';

/** Op types that can head a fusion group and absorb a BatchNormalization. */
export const FOLD_HEADS = ['Conv', 'ConvTranspose', 'Gemm'] as const;
/** Activations a group may end with (their output then carries the head's `_output_` target). */
export const FUSABLE_ACTIVATIONS = ['Relu', 'Clip'] as const;
/** Heads a bare activation may follow (`[conv, relu]`, `[bn, relu]`). */
const ACTIVATION_HEADS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization']);

/** One applied fusion group. */
export interface FusedGroup {
  /** The node that remains and carries the group's quantization (first name of the group). */
  head: string;
  /** BatchNormalization nodes folded into the head (now gone from the graph). */
  folded: string[];
  /** The trailing activation kept as a node, if any. */
  activation?: string;
  /** The value the head's `_output_` target reads: the activation's output, else the head's own output. */
  output: string;
  /** Where the group came from. */
  source: 'fuse_names' | 'auto';
  /** JSON path of the fuse_names entry (explicit groups). */
  path?: string;
}

export interface FuseOptions {
  /** Groups of node names, NNI's `fuse_names` (2 or 3 names each), with the JSON path of each. */
  groups?: { names: readonly string[]; path?: string }[];
  /** Also fold every Conv / ConvTranspose / Gemm → BatchNormalization pair found in the graph. */
  auto?: boolean;
}

export interface FuseResult extends PassResult {
  groups: FusedGroup[];
  /** Faults of explicit groups (errors) and pairs auto mode had to leave alone (infos). */
  diagnostics: Diagnostic[];
}

const isActivation = (n: Node) => (FUSABLE_ACTIVATIONS as readonly string[]).includes(n.opType);
const isHead = (n: Node) => (FOLD_HEADS as readonly string[]).includes(n.opType);

/**
 * Folds BatchNormalization into the preceding linear op, in place, for the given `fuse_names` groups and (with
 * `auto`) every other foldable pair.
 *
 * @example
 * const r = fuseModules(model, { groups: [{ names: ['/conv1/Conv', '/bn1/BatchNormalization', '/Relu'] }] });
 * r.groups[0] // { head: '/conv1/Conv', folded: ['/bn1/BatchNormalization'], activation: '/Relu', output: '/Relu_output_0', … }
 */
export function fuseModules(model: Model, opts: FuseOptions = {}): FuseResult {
  const diagnostics: Diagnostic[] = [];
  const groups: FusedGroup[] = [];
  for (const g of opts.groups ?? []) {
    const fused = fuseNamed(model, g.names, g.path, diagnostics);
    if (fused) groups.push(fused);
  }
  if (opts.auto) {
    for (const bn of [...model.graph.nodes]) {
      if (bn.opType !== 'BatchNormalization' || !model.graph.nodes.includes(bn)) continue;
      const moved = moveConstantAddPast(bn);
      const head = bn.input(0)?.producer;
      if (!head || !isHead(head)) continue;
      if (moved)
        diagnostics.push({
          level: 'info',
          code: 'fusion-add-moved',
          node: bn.name,
          message: `the constant Add between ${head.label} and ${bn.label} now follows ${bn.label} (scaled by γ/σ), so they fold`,
        });
      const why = foldBlocker(head, bn);
      if (why) {
        diagnostics.push({
          level: 'info',
          code: 'fusion-skipped',
          node: bn.name,
          message: `${bn.label} not folded into ${head.label}: ${why}`,
        });
        continue;
      }
      foldBatchNorm(head, bn);
      groups.push({ head: head.name, folded: [bn.name], output: head.outputs[0]!.name, source: 'auto' });
    }
  }
  return { model, modified: groups.some((g) => g.folded.length > 0), groups, diagnostics };
}

/** A pass folding every foldable BatchNormalization (auto mode), in place. */
export const foldBatchNormsPass: Pass = {
  name: 'fold-batchnorm',
  inPlace: true,
  run: (model) => {
    const r = fuseModules(model, { auto: true });
    return { model: r.model, modified: r.modified };
  },
};

/** Validate and apply one explicit group; faults become error diagnostics naming the node. */
function fuseNamed(
  model: Model,
  names: readonly string[],
  path: string | undefined,
  diagnostics: Diagnostic[],
): FusedGroup | null {
  const fail = (message: string, node?: string) => {
    diagnostics.push({
      level: 'error',
      code: 'bad-fusion-group',
      message: `fuse_names [${names.join(', ')}]: ${message}`,
      ...(path ? { path } : {}),
      ...(node ? { node } : {}),
    });
    return null;
  };
  const nodes: Node[] = [];
  for (const name of names) {
    const matches = model.graph.nodes.filter((n) => n.name === name);
    if (matches.length !== 1)
      return fail(
        matches.length === 0 ? `no node named "${name}"` : `${matches.length} nodes are named "${name}"`,
        name,
      );
    nodes.push(matches[0]!);
  }
  const shape = nodes.map((n) => n.opType).join(' + ');
  const [head, second, third] = nodes as [Node, Node, Node | undefined];
  const withBn = second.opType === 'BatchNormalization';
  const valid = withBn
    ? isHead(head) && (!third || isActivation(third))
    : !third && isActivation(second) && ACTIVATION_HEADS.has(head.opType);
  if (!valid) {
    return fail(
      `${shape} cannot be fused; supported: Conv / ConvTranspose / Gemm + BatchNormalization (+ Relu / Clip), ` +
        'Conv / ConvTranspose / Gemm / MatMul / BatchNormalization + Relu / Clip',
      head.name,
    );
  }
  for (let i = 1; i < nodes.length; i++) {
    const prev = nodes[i - 1]!;
    const cur = nodes[i]!;
    const out = prev.outputs[0]!;
    if (cur.input(0) !== out) return fail(`${cur.label} does not consume the output of ${prev.label}`, cur.name);
    if (out.uses.length !== 1 || out.isGraphOutput)
      return fail(
        `the output of ${prev.label} also feeds other nodes or the graph outputs, so it cannot disappear into a fused op`,
        prev.name,
      );
  }
  if (withBn) {
    const why = foldBlocker(head, second);
    if (why) return fail(`${second.label} cannot be folded into ${head.label}: ${why}`, second.name);
    foldBatchNorm(head, second);
  }
  const last = third ?? (withBn ? undefined : second);
  return {
    head: head.name,
    folded: withBn ? [second.name] : [],
    ...(last ? { activation: last.name } : {}),
    output: (last ?? head).outputs[0]!.name,
    source: 'fuse_names',
    ...(path ? { path } : {}),
  };
}

/**
 * head → Add(·, c) → BatchNormalization, with c constant per channel or per position (speedup's fold-forward map of
 * removed channels) and the sum read only by the BN → head → BN → Add(·, c·γ/σ): BN is affine per channel, so the
 * numbers are the same (in inference; with batch statistics they would not be, so training-mode BNs are left).
 * Returns whether it moved the Add.
 */
function moveConstantAddPast(bn: Node): boolean {
  const add = bn.input(0)?.producer;
  if (!add || add.opType !== 'Add' || add.inputs.length !== 2 || bn.attrInt('training_mode', 0) === 1) return false;
  const sum = add.outputs[0]!;
  if (
    sum.uses.length !== 1 ||
    sum.isGraphOutput ||
    bn.outputs.slice(1).some((v) => v.uses.length > 0 || v.isGraphOutput)
  )
    return false;
  const k = add.input(1)?.initializer ? 1 : add.input(0)?.initializer ? 0 : -1;
  const head = add.input(1 - k)?.producer;
  if (k < 0 || !head || !isHead(head) || !floatConstant(add.input(k)) || !floatConstant(head.input(1))) return false;
  // only where the fold can follow: the head's output feeds nothing but this Add
  const headOut = head.outputs[0]!;
  if (headOut.uses.length !== 1 || headOut.isGraphOutput || add.input(1 - k) !== headOut) return false;
  for (let i = 1; i <= 4; i++) if (!floatConstant(bn.input(i))) return false;
  const c = add.input(k)!.initializer!;
  // c broadcasts against the head's output from the right; data axis 1 is the channel axis
  const rank = head.opType === 'Gemm' ? 2 : head.input(1)!.initializer!.dims.length;
  const axis = 1 - (rank - c.dims.length);
  const { f } = bnFactors(bn);
  if (c.dims.length > rank || axis < 0 || c.dims[axis] !== f.length) return false;
  const inner = c.dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const scaled = Float32Array.from(c.toFloat32(), (x, i) => x * f[Math.floor(i / inner) % f.length]!);
  const g = bn.graph;
  const out = bn.outputs[0]!;
  const readers = [...out.uses];
  const keepName = out.isGraphOutput ? out.name : null;
  bn.setInput(0, add.input(1 - k)!);
  add.setInput(1 - k, out);
  installConstant(add, k, new Tensor('float32', [...c.dims], scaled), `${add.input(k)!.name}_bn`);
  sum.type = out.type ?? sum.type;
  for (const u of readers) u.node.setInput(u.index, sum);
  if (keepName) {
    const gi = g.outputs.indexOf(out);
    g.renameValue(out, g.uniqueName(`${keepName}_pre_add`));
    g.renameValue(sum, keepName);
    g.setOutput(gi, sum);
  }
  g.moveNodeAfter(add, bn);
  return true;
}

/** Why `bn` cannot be folded into `head`, or undefined when it can. */
export function foldBlocker(head: Node, bn: Node): string | undefined {
  const out = head.outputs[0]!;
  if (bn.input(0) !== out) return 'it does not read the head output';
  if (out.uses.length !== 1 || out.isGraphOutput) return `the output of ${head.label} has other uses`;
  if (bn.attrInt('training_mode', 0) === 1) return 'it runs in training mode';
  if (bn.outputs.slice(1).some((v) => v.uses.length > 0 || v.isGraphOutput))
    return 'its running-statistics outputs are used';
  for (let i = 1; i <= 4; i++) if (!floatConstant(bn.input(i))) return `its input ${i} is not a float32 initializer`;
  const w = head.input(1);
  if (!floatConstant(w)) return `the weight of ${head.label} is not a float32 initializer`;
  const bias = head.input(2);
  if (bias && !floatConstant(bias)) return `the bias of ${head.label} is not a float32 initializer`;
  const c = bn.input(1)!.initializer!.size;
  if (outChannels(head) !== c) return `${head.label} has ${outChannels(head)} output channels, ${bn.label} ${c}`;
  return undefined;
}

const floatConstant = (v: Value | null): boolean =>
  !!v?.initializer && v.initializer.dtype === 'float32' && v.initializer.hasData;

/** Output channels of the head (the layout rule of targets/layout.ts). */
function outChannels(head: Node): number {
  return outputChannelCount(head, 1, head.input(1)!.initializer!.dims)!;
}

/** Per-output-channel factor f = γ/σ and shift (b' = (b − μ)·f + β is applied by the caller). */
function bnFactors(bn: Node): { f: Float64Array; mean: Float32Array; beta: Float32Array } {
  const [gamma, beta, mean, variance] = [1, 2, 3, 4].map((i) => bn.input(i)!.initializer!.toFloat32()) as [
    Float32Array,
    Float32Array,
    Float32Array,
    Float32Array,
  ];
  const eps = bn.attrFloat('epsilon', 1e-5);
  const f = Float64Array.from(gamma, (g, c) => g / Math.sqrt(variance[c]! + eps));
  return { f, mean, beta };
}

/** Output channel of each element of the head's weight (the layout rule of targets/layout.ts). */
function weightChannel(head: Node, dims: readonly number[]): (i: number) => number {
  return outputChannelOf(head, 1, dims);
}

/** Fold `bn` into `head` and remove it (checked by `foldBlocker` first). */
export function foldBatchNorm(head: Node, bn: Node): void {
  const g = head.graph;
  const { f, mean, beta } = bnFactors(bn);
  const wv = head.input(1)!;
  const w = wv.initializer!;
  const wd = w.toFloat32();
  const channel = weightChannel(head, w.dims);
  const nw = new Float32Array(wd.length);
  for (let i = 0; i < wd.length; i++) nw[i] = wd[i]! * f[channel(i)]!;
  installConstant(head, 1, new Tensor('float32', w.dims, nw), `${wv.name}_fused`);

  const c = f.length;
  const biasValue = head.input(2);
  const isGemm = head.opType === 'Gemm';
  const gemmBeta = isGemm ? head.attrFloat('beta', 1) : 1;
  const old = biasValue?.initializer?.toFloat32();
  // Gemm's C may be [N], [M, N], [1] or a scalar: fold per column, broadcasting C where it is smaller
  const dims = old && isGemm && old.length !== c ? (old.length === 1 ? [c] : [...biasValue!.initializer!.dims]) : [c];
  const n = dims.reduce((a, b) => a * b, 1);
  const nb = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const ch = i % c;
    const b = old ? old[old.length === 1 ? 0 : i]! * gemmBeta : 0;
    nb[i] = (b - mean[ch]!) * f[ch]! + beta[ch]!;
  }
  installConstant(
    head,
    2,
    new Tensor('float32', dims, nb),
    biasValue ? `${biasValue.name}_fused` : `${head.name}.bias_fused`,
  );
  if (isGemm) head.setAttr('beta', { type: 'float', value: 1 });

  const headOut = head.outputs[0]!;
  const bnOut = bn.outputs[0]!;
  const keepName = bnOut.isGraphOutput ? bnOut.name : null;
  const bnInputs = [...bn.inputs];
  bnOut.replaceAllUsesWith(headOut);
  headOut.type = bnOut.type ?? headOut.type;
  g.removeNode(bn, true);
  for (const v of bnInputs)
    if (v?.isInitializer && v.uses.length === 0 && !v.isGraphOutput && !v.isGraphInput) g.removeInitializer(v);
  if (keepName) g.renameValue(headOut, keepName);
}

/** Put `t` at input `i` of `node`: replace the initializer when only this node reads it, else add a new one. */
function installConstant(node: Node, i: number, t: Tensor, name: string): void {
  const g = node.graph;
  const v = node.input(i);
  if (v && v.isInitializer && v.uses.length === 1 && !v.isGraphInput && !v.isGraphOutput) {
    g.setInitializer(v, t);
    return;
  }
  const nv = g.addInitializer(name, t, true);
  node.setInput(i, nv);
  if (v && v.isInitializer && v.uses.length === 0 && !v.isGraphInput && !v.isGraphOutput) g.removeInitializer(v);
}

/**
 * The Relu / Clip that is the only consumer of `node`'s first output, if any (the activation a quantized op's
 * output can be read after).
 */
export function followingActivation(node: Node): Node | undefined {
  const out = node.outputs[0];
  if (!out || out.uses.length !== 1 || out.isGraphOutput) return undefined;
  const next = out.uses[0]!.node;
  return isActivation(next) && next.input(0) === out ? next : undefined;
}
