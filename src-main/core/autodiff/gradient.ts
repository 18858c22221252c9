/**
 * @file The reverse-mode driver: replays the tape backwards, sums gradients that fan in, asks the rule table
 * for each entry's vector-Jacobian product, and names the node when a rule is missing. Pure: imports the IR.
 */
import type { Value } from '../ir/index.ts';
import type { Emitter, TapeEntry } from './emitter.ts';
import { NotDifferentiableError } from './errors.ts';
import { VjpContext } from './rule.ts';
import { gradientRule, isNonDifferentiable } from './rules/index.ts';

/** Values that depend on `sources` through ops that pass gradients. */
export function dependents(tape: readonly TapeEntry[], sources: Iterable<Value>): Set<Value> {
  const req = new Set(sources);
  for (const t of tape) {
    if (t.vjp === undefined && isNonDifferentiable(t.opType)) continue;
    if (t.inputs.some((v) => v && req.has(v))) for (const o of t.outputs) req.add(o);
  }
  return req;
}

/**
 * Emit the backward pass of `loss` (a scalar) with respect to `wrt`.
 * Returns each requested value's gradient, or null where the loss does not depend on it.
 * Throws NotDifferentiableError naming the first node without a rule that lies on a path from `wrt` to the loss.
 */
export function backward(
  e: Emitter,
  tape: readonly TapeEntry[],
  loss: Value,
  wrt: readonly Value[],
  seed?: Value,
): Map<Value, Value | null> {
  const req = dependents(tape, wrt);
  const pending = new Map<Value, Value[]>();
  const push = (v: Value, g: Value) => {
    const list = pending.get(v);
    if (list) list.push(g);
    else pending.set(v, [g]);
  };
  /** The summed gradient of v (fan-in resolved once, then cached). */
  const total = (v: Value): Value | null => {
    const list = pending.get(v);
    if (!list || list.length === 0) return null;
    const g = e.sum(list);
    pending.set(v, [g]);
    return g;
  };
  push(loss, seed ?? e.scalarLike(1, loss));
  for (let i = tape.length - 1; i >= 0; i--) {
    const t = tape[i]!;
    const needs = t.inputs.map((v) => v !== null && req.has(v));
    if (!needs.some(Boolean)) continue;
    const dys = t.outputs.map(total);
    if (dys.every((d) => d === null)) continue;
    if (!t.vjp && isNonDifferentiable(t.opType)) continue;
    const dxs = t.vjp ? t.vjp(dys, needs) : ruleFor(t)(new VjpContext(t.node!, e, dys, needs));
    t.inputs.forEach((v, k) => {
      const g = dxs[k];
      if (v && needs[k] && g) push(v, g);
    });
  }
  return new Map(wrt.map((w) => [w, total(w)]));
}

function ruleFor(t: TapeEntry) {
  const rule = gradientRule(t.opType);
  if (!rule || !t.node) throw new NotDifferentiableError(t.opType, t.node?.name ?? t.label);
  return rule;
}
