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
import type { Node } from '../../ir/index.ts';
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
 * conservatively). A bare op type applies in every domain; `'com.example.MyOp'` only in that domain.
 *
 * @example
 * // MyGelu maps every element on its own: channels pass through.
 * registerPropagationRule('MyGelu', { propagate: (ctx) => ctx.axes(0).forEach((atoms, axis) => ctx.setAxis(0, axis, atoms)) });
 * registerReplacer('MyGelu', () => {});
 */
export function registerPropagationRule(opType: string, rule: PropagationRule): void {
  PROPAGATION_RULES[opType] = rule;
  registered.add(opType);
}

/**
 * Add or replace the replacer of an op type: it slices the op's parameters and rewrites its attributes when the
 * channels of its inputs or outputs shrink.
 *
 * @example registerReplacer('MyScale', (ctx) => { const k = ctx.keptIn(0, 1); if (k) ctx.setInput(1, sliceAxis(ctx.tensor(1)!, 0, k)); });
 */
export function registerReplacer(opType: string, replacer: Replacer): void {
  REPLACERS[opType] = replacer;
  registered.add(opType);
}

/** Op types registered by users: they apply in any domain (custom ops usually live in their own). */
const registered = new Set<string>();

/**
 * The key a node is looked up by: its op type in the default domain; for other domains `domain.opType` when so
 * registered, else the bare op type only if a user registered it (a `com.example.Gelu` is not ONNX's Gelu).
 */
function keyOf(node: Node, table: Record<string, unknown>): string | undefined {
  if (node.domain === '' || node.domain === 'ai.onnx') return node.opType;
  const qualified = `${node.domain}.${node.opType}`;
  if (Object.hasOwn(table, qualified)) return qualified;
  return registered.has(node.opType) ? node.opType : undefined;
}

export function ruleOf(node: Node): PropagationRule | undefined {
  const k = keyOf(node, PROPAGATION_RULES);
  return k !== undefined && Object.hasOwn(PROPAGATION_RULES, k) ? PROPAGATION_RULES[k] : undefined;
}

export function replacerOf(node: Node): Replacer | undefined {
  const k = keyOf(node, REPLACERS);
  return k !== undefined && Object.hasOwn(REPLACERS, k) ? REPLACERS[k] : undefined;
}
