/**
 * @file Building blocks the rule families share: pass-through of channel axes, per-position constant maps, and
 * the no-op replacer. Pure: imports only the IR and sibling modules.
 */
import type { Atoms, ConstantCtx, PropagateCtx, PropagationRule, Replacer } from './types.ts';

/** Normalise a possibly negative axis. */
export const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Output `out` carries input `from`'s tracked axes unchanged. */
export function passAxes(ctx: PropagateCtx, from = 0, out = 0): void {
  for (const [axis, atoms] of ctx.axes(from)) ctx.setAxis(out, axis, atoms);
}

/** Pass axis `keep` of input 0 through; block every other tracked axis (the op mixes positions along them). */
export function passOnly(ctx: PropagateCtx, keep: (axis: number) => boolean, why: string): void {
  for (const [axis, atoms] of ctx.axes(0)) {
    if (keep(axis)) ctx.setAxis(0, axis, atoms);
    else ctx.block(atoms, why);
  }
}

/** Apply `f` to every constant of input `from` and set it on output `out` (same axes). */
export function mapConsts(ctx: ConstantCtx, f: (k: number) => number, from = 0, out = 0): void {
  for (const axis of ctx.outAxes(out).keys()) {
    const ks = ctx.consts(from, axis);
    if (ks)
      ctx.setConst(
        out,
        axis,
        ks.map((k) => (Number.isNaN(k) ? Number.NaN : f(k))),
      );
  }
}

/** A rule for ops that map every element on its own (activations, Identity, Dropout, Cast): channels pass as they are. */
export function unaryRule(f: ((x: number, ctx: ConstantCtx) => number) | null): PropagationRule {
  return {
    propagate: (ctx) => passAxes(ctx),
    constant: f ? (ctx) => mapConsts(ctx, (k) => f(k, ctx)) : undefined,
  };
}

/** A rule that keeps every channel reaching it, with a reason (ops that mix positions along every axis). */
export function blockingRule(why: string): PropagationRule {
  return { propagate: (ctx) => ctx.blockInputs(`${ctx.node.label} ${why}`) };
}

/** Replacer of ops with nothing to shrink (their output shapes follow their inputs). */
export const noChange: Replacer = () => {};

/** Atoms as a plain list. */
export const list = (atoms: Atoms): number[] => Array.from(atoms);
