/**
 * @file The vocabulary of pruning speedup: channel atoms, the contexts rules see, and the two rule kinds
 * (propagation rules and replacers). Types only. Pure: imports only the IR.
 *
 * The model. Every position along a *tracked* axis of a value (a conv's output channels, a linear layer's output
 * features, attention heads after a reshape) is an *atom*. Rules say, op by op, how atoms flow from inputs to
 * outputs (pass-through, index mapping through Concat / Slice / Reshape / Transpose) and which atoms must go
 * together (a residual Add unites position i of both operands; a shared weight unites its users). Atoms united
 * this way form a *class*: a class is removed everywhere or nowhere. Members (layers whose parameters hold one
 * slice per atom) and consumers (layers that read the atoms and reduce them away) decide whether a class may go.
 */
import type { Graph, Node, Tensor } from '../../ir/index.ts';

/** One atom id per index along an axis. */
export type Atoms = Int32Array;

/** A layer whose parameter holds one slice per channel of one of its outputs. */
export interface MemberSpec {
  /** 'source': the op creates these channels (Conv, Gemm, MatMul); 'pass': it maps input channel i to output channel i (depthwise Conv, BN). */
  kind: 'source' | 'pass';
  output: number;
  axis: number;
  atoms: Atoms;
  /** Input index of the parameter and its channel axis. */
  param: number;
  paramAxis: number;
}

/** A layer that reads channels and reduces them away (Conv input channels, Gemm / MatMul K). */
export interface ConsumerSpec {
  input: number;
  axis: number;
  atoms: Atoms;
  /** Parameter carrying the input-channel slices (for shared-weight coupling and reports). */
  param?: number;
  paramAxis?: number;
  /** Whether input position p contributes nothing (its parameter slice is all zero under the masks). */
  ignores(p: number): boolean;
  /** Whether the op can absorb a non-zero constant arriving on a removed position into its bias. */
  folds: boolean;
}

/** What a propagation rule sees and does for one node. */
export interface PropagateCtx {
  readonly node: Node;
  /** The model's default-domain opset. */
  readonly opset: number;
  /** Concrete shape of input i / output i (from the trace); undefined when absent. */
  inShape(i: number): readonly number[] | undefined;
  outShape(i: number): readonly number[] | undefined;
  /** Tracked axes of input i: axis → atoms (empty when untracked or absent). */
  axes(i: number): ReadonlyMap<number, Atoms>;
  /** Input i is an initializer. */
  isConst(i: number): boolean;
  /** Integer contents of input i (an initializer, or a shape computation evaluated on the trace). */
  ints(i: number): number[] | undefined;
  /** Output `out` carries `atoms` along `axis`. */
  setAxis(out: number, axis: number, atoms: Atoms): void;
  /** `n` new atoms. */
  fresh(n: number): Atoms;
  /** Unite a[i] with b[i] for every i (equal lengths). */
  unite(a: Atoms, b: Atoms): void;
  /** Unite all atoms of a list; returns one of them (the class). */
  uniteAll(atoms: Iterable<number>): number;
  /** These atoms can never be removed, with the reason (shown in reports). */
  block(atoms: Iterable<number>, why: string): void;
  /** Block every atom on every input (the op cannot keep their channel structure). */
  blockInputs(why: string): void;
  member(m: MemberSpec): void;
  consumer(c: ConsumerSpec): void;
  /** Nodes reading output `out` (to look ahead, e.g. for attention structure). */
  readers(out: number): readonly Node[];
  /**
   * Per entry of integer input i (a shape computed on the trace): the tracked atoms of each dim it was computed
   * from (via Shape / Size), and whether it follows a dynamic input dim; undefined when the input is not such a
   * computation.
   */
  shapeDeps(i: number): { dims: readonly Atoms[]; dynamic: boolean }[] | undefined;
  /** The class (representative atom) of an atom, as united so far. */
  classOf(atom: number): number;
}

/** What a constant rule sees: per-position constants of the masked model (NaN: varies with the input). */
export interface ConstantCtx {
  readonly node: Node;
  readonly opset: number;
  inShape(i: number): readonly number[] | undefined;
  outShape(i: number): readonly number[] | undefined;
  axes(i: number): ReadonlyMap<number, Atoms>;
  outAxes(out: number): ReadonlyMap<number, Atoms>;
  /**
   * Constants of input i along its tracked `axis`: entry p is the value every element at position p holds
   * whatever the model input is, NaN when it varies. Undefined when the axis is not tracked.
   */
  consts(i: number, axis: number): Float64Array | undefined;
  /** Contents of a constant (initializer) input as floats; undefined otherwise. */
  floats(i: number): Float32Array | undefined;
  /** Integer contents of input i, as in propagation. */
  ints(i: number): number[] | undefined;
  setConst(out: number, axis: number, values: Float64Array): void;
}

/**
 * A propagation rule: how channels flow through one op type. `constant` says what removed channels hold in the
 * masked model (so a constant can be folded into the next layer's bias); without it, outputs count as varying.
 */
export interface PropagationRule {
  propagate(ctx: PropagateCtx): void;
  constant?(ctx: ConstantCtx): void;
}

/** What a replacer sees when shrinking one node. Shapes are the original (traced) ones. */
export interface ReplaceCtx {
  readonly node: Node;
  readonly opset: number;
  readonly graph: Graph;
  inShape(i: number): readonly number[] | undefined;
  outShape(i: number): readonly number[] | undefined;
  /** Kept positions (ascending) of input i / output j along `axis`; undefined when nothing is removed there. */
  keptIn(i: number, axis: number): number[] | undefined;
  keptOut(out: number, axis: number): number[] | undefined;
  /** Axes of input i / output j that lose positions. */
  changedIn(i: number): number[];
  changedOut(out: number): number[];
  /** Removed positions of input i along `axis` whose masked-model value is a non-zero constant: position → value. */
  removedConsts(i: number, axis: number): Map<number, number>;
  /**
   * Integer contents of input i on the trace; `dynamic` when some entry follows a dynamic input dim; `follows[e]`
   * when entry e is computed from a dim that shrinks (it adapts by itself).
   */
  ints(i: number): { values: number[]; dynamic: boolean; dynamicAt: boolean[]; follows: boolean[] } | undefined;
  /** The initializer behind input i, if any. */
  tensor(i: number): Tensor | undefined;
  /** Point input i at a new constant (reused for every node that gives the same old value and key). */
  setInput(i: number, t: Tensor, key?: string): void;
  /** Add a constant to output `out` (a new Add node, inserted once all replacers ran). */
  addAfter(out: number, t: Tensor): void;
}

/** Shrinks one op type: slices parameters, rewrites attributes and shape constants, folds removed constants. */
export type Replacer = (ctx: ReplaceCtx) => void;
