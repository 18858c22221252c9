/**
 * @file The two registries of pruning speedup, keyed by ONNX op type: channel propagation rules (how channels
 * flow, unite and hold constants through an op) and replacers (how an op is shrunk). Built from the rule families;
 * users extend both for custom ops. Pure: imports only the IR and sibling modules.
 *
 * An op with no propagation rule keeps every channel reaching it; if a pruning plan needs such a channel gone,
 * speedup fails with UnsupportedOpError naming the node and `registerPropagationRule`. An op whose channels
 * change but that has no replacer fails the same way, naming `registerReplacer`.
 */
import { ELEMENTWISE_REPLACERS, ELEMENTWISE_RULES } from './rules-elementwise.ts';
import { LAYOUT_REPLACERS, LAYOUT_RULES } from './rules-layout.ts';
import { LINEAR_REPLACERS, LINEAR_RULES } from './rules-linear.ts';
import type { PropagationRule, Replacer } from './types.ts';

/** Channel propagation rules by op type. */
export const PROPAGATION_RULES: Record<string, PropagationRule> = {
  ...ELEMENTWISE_RULES,
  ...LINEAR_RULES,
  ...LAYOUT_RULES,
};

/** Replacers by op type. */
export const REPLACERS: Record<string, Replacer> = {
  ...ELEMENTWISE_REPLACERS,
  ...LINEAR_REPLACERS,
  ...LAYOUT_REPLACERS,
};

/**
 * Add or replace the channel propagation rule of an op type (custom ops, or ops the table treats too
 * conservatively).
 *
 * @example
 * // MyGelu maps every element on its own: channels pass through.
 * registerPropagationRule('MyGelu', { propagate: (ctx) => ctx.axes(0).forEach((atoms, axis) => ctx.setAxis(0, axis, atoms)) });
 * registerReplacer('MyGelu', () => {});
 */
export function registerPropagationRule(opType: string, rule: PropagationRule): void {
  PROPAGATION_RULES[opType] = rule;
}

/**
 * Add or replace the replacer of an op type: it slices the op's parameters and rewrites its attributes when the
 * channels of its inputs or outputs shrink.
 *
 * @example registerReplacer('MyScale', (ctx) => { const k = ctx.keptIn(0, 1); if (k) ctx.setInput(1, sliceAxis(ctx.tensor(1)!, 0, k)); });
 */
export function registerReplacer(opType: string, replacer: Replacer): void {
  REPLACERS[opType] = replacer;
}

export const ruleOf = (opType: string): PropagationRule | undefined => (Object.hasOwn(PROPAGATION_RULES, opType) ? PROPAGATION_RULES[opType] : undefined);
export const replacerOf = (opType: string): Replacer | undefined => (Object.hasOwn(REPLACERS, opType) ? REPLACERS[opType] : undefined);
