/**
 * @file The gradient-rule contract: what a vector-Jacobian product rule sees (the forward node, its output
 * gradients, which input gradients are wanted, an Emitter) and small helpers rules share. Pure: imports the IR.
 */
import { Tensor, type Node, type Value } from '../ir/index.ts';
import { constantValue } from '../passes/index.ts';
import type { Emitter } from './emitter.ts';
import { UnsupportedGradientError } from './errors.ts';

/** Gradients per forward input: null/undefined where none flows (integer inputs, constants, unneeded ones). */
export type Grads = (Value | null | undefined)[];

/** A vector-Jacobian product rule: emits ONNX nodes computing input gradients from output gradients. */
export type VjpRule = (c: VjpContext) => Grads;

/** What a rule sees. Shapes of all inputs and outputs are static and known. */
export class VjpContext {
  constructor(
    readonly node: Node,
    readonly e: Emitter,
    /** Gradient of each output (null when none flows back into it). */
    readonly dys: (Value | null)[],
    /** Per input: whether its gradient is wanted. */
    readonly needs: boolean[],
  ) {}

  /** Input `i` (throws when the optional input is absent). */
  x(i: number): Value {
    const v = this.node.inputs[i];
    if (!v) throw this.fail(`missing input ${i}`);
    return v;
  }
  /** Input `i` or null when omitted. */
  maybe(i: number): Value | null {
    return this.node.inputs[i] ?? null;
  }
  y(i = 0): Value {
    return this.node.outputs[i]!;
  }
  /** The gradient of output 0 (a single-output rule is only called when it exists). */
  get dy(): Value {
    const d = this.dys[0];
    if (!d) throw this.fail('no gradient for output 0');
    return d;
  }
  shape(v: Value): number[] {
    return this.e.shape(v);
  }
  /** Shape of input `i`. */
  xs(i: number): number[] {
    return this.e.shape(this.x(i));
  }
  need(i: number): boolean {
    return this.needs[i] === true;
  }
  int(name: string, fallback: number): number {
    return this.node.attrInt(name, fallback);
  }
  float(name: string, fallback: number): number {
    return this.node.attrFloat(name, fallback);
  }
  ints(name: string): number[] | undefined {
    return this.node.attrInts(name);
  }
  /** The constant data of input `i` as numbers (initializer or Constant node), or undefined. */
  constInts(i: number): number[] | undefined {
    const v = this.node.inputs[i];
    if (!v) return undefined;
    const t = constantOf(v);
    return t && t.data ? t.toNumbers() : this.e.knownInts.get(v);
  }
  /** An error naming this node. */
  fail(what: string): UnsupportedGradientError {
    return new UnsupportedGradientError(this.node.opType, this.node.name, what);
  }
}

/** The constant tensor behind a value: an initializer or a Constant node's output. */
export function constantOf(v: Value): Tensor | null {
  if (v.initializer) return v.initializer;
  if (v.producer?.opType === 'Constant') return constantValue(v.producer);
  return null;
}

/** Normalize a possibly negative axis. */
export function normAxis(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}

/** Shape of `shape` with `axes` set to 1 (a keepdims reduction's shape). */
export function keepShape(shape: readonly number[], axes: readonly number[]): number[] {
  return shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

/** Every axis except `keep` (e.g. all but the channel axis). */
export function axesExcept(rank: number, keep: number): number[] {
  return Array.from({ length: rank }, (_, i) => i).filter((i) => i !== keep);
}

/** Broadcast a per-channel vector [C] to [1, C, 1, …] for an NC… tensor of rank `rank`. */
export function channelShape(c: number, rank: number): number[] {
  return Array.from({ length: rank }, (_, i) => (i === 1 ? c : 1));
}
