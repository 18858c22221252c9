/**
 * @file Which nodes one config entry selects, by NNI's formula
 * `(op_names ∪ match(op_names_re)) ∩ by_type(op_types) − exclude_op_names − match(exclude_op_names_re) − by_type(exclude_op_types)`,
 * with `op_names_re` a prefix match (Python `re.match`: anchored at the start only). Names and types that match
 * nothing give warnings. Pure: imports only the IR and the shared config layer.
 */
import type { Graph, Node } from '../../ir/index.ts';
import { jsonPath, type Diagnostic } from '../../../../src-shared/config/index.ts';

/** The selection keys of any mode's config entry. */
export interface SelectionKeys {
  op_types?: string[];
  op_names?: string[];
  op_names_re?: string[];
  exclude_op_names?: string[];
  exclude_op_names_re?: string[];
  exclude_op_types?: string[];
}

/** A selected node and how the entry reached it (errors are louder for what the user named outright). */
export interface Selected {
  node: Node;
  /** Position in `op_names` when named there, else -1. */
  nameIndex: number;
  /** The entry's `op_types` lists this node's type. */
  byType: boolean;
}

/** Python `re.match` semantics: anchored at the start, not at the end. */
function prefixRegex(pattern: string): RegExp {
  return new RegExp(`^(?:${pattern})`);
}

/**
 * The nodes of the main graph that config `index` selects, in graph order, pushing a warning per name, pattern or
 * type that matches nothing.
 *
 * @example selectNodes(graph, { op_names_re: ['layer1'], op_types: ['Conv'] }, 0, diagnostics) // Conv nodes whose name starts with "layer1"
 */
export function selectNodes(graph: Graph, entry: SelectionKeys, index: number, diagnostics: Diagnostic[]): Selected[] {
  const nodes = graph.nodes;
  const warn = (segments: PropertyKey[], code: string, message: string) =>
    diagnostics.push({ level: 'warning', code, path: jsonPath([index, ...segments]), message });

  const byName = new Map<string, Node[]>();
  for (const n of nodes) byName.set(n.name, [...(byName.get(n.name) ?? []), n]);
  const types = new Set(nodes.map((n) => n.opType));

  let chosen: Set<Node>;
  if (entry.op_names === undefined && entry.op_names_re === undefined) {
    chosen = new Set(nodes);
  } else {
    chosen = new Set();
    entry.op_names?.forEach((name, k) => {
      const found = byName.get(name);
      if (found) found.forEach((n) => chosen.add(n));
      else warn(['op_names', k], 'unmatched-op-name', `no node is named '${name}'${suggest(name, byName)}`);
    });
    entry.op_names_re?.forEach((pattern, k) => {
      const re = prefixRegex(pattern);
      const hits = nodes.filter((n) => re.test(n.name));
      if (hits.length === 0)
        warn(['op_names_re', k], 'unmatched-op-name-re', `no node name starts with a match of /${pattern}/`);
      hits.forEach((n) => chosen.add(n));
    });
  }
  if (entry.op_types !== undefined) {
    const wanted = new Set(entry.op_types);
    entry.op_types.forEach((t, k) => {
      if (!types.has(t)) warn(['op_types', k], 'unmatched-op-type', `the graph has no ${t} node`);
    });
    entry.op_names?.forEach((name, k) => {
      const off = (byName.get(name) ?? []).filter((n) => !wanted.has(n.opType));
      for (const n of off)
        warn(
          ['op_names', k],
          'filtered-by-op-types',
          `'${name}' is a ${n.opType}, not one of op_types (${entry.op_types!.join(', ')}): not selected`,
        );
    });
    chosen = new Set([...chosen].filter((n) => wanted.has(n.opType)));
  }
  chosen = exclude(chosen, entry, nodes, byName, warn);
  const nameIndex = new Map((entry.op_names ?? []).map((n, k) => [n, k] as const).reverse());
  const typeSet = new Set(entry.op_types ?? []);
  return nodes
    .filter((n) => chosen.has(n))
    .map((node) => ({ node, nameIndex: nameIndex.get(node.name) ?? -1, byType: typeSet.has(node.opType) }));
}

function exclude(
  chosen: Set<Node>,
  entry: SelectionKeys,
  nodes: readonly Node[],
  byName: ReadonlyMap<string, Node[]>,
  warn: (segments: PropertyKey[], code: string, message: string) => void,
): Set<Node> {
  const out = new Set(chosen);
  entry.exclude_op_names?.forEach((name, k) => {
    const found = byName.get(name);
    if (!found)
      warn(
        ['exclude_op_names', k],
        'unmatched-exclude',
        `no node is named '${name}'; it excludes nothing${suggest(name, byName)}`,
      );
    found?.forEach((n) => out.delete(n));
  });
  entry.exclude_op_names_re?.forEach((pattern, k) => {
    const re = prefixRegex(pattern);
    const hits = nodes.filter((n) => re.test(n.name));
    if (hits.length === 0)
      warn(
        ['exclude_op_names_re', k],
        'unmatched-exclude',
        `no node name starts with a match of /${pattern}/; it excludes nothing`,
      );
    hits.forEach((n) => out.delete(n));
  });
  if (entry.exclude_op_types !== undefined) {
    const banned = new Set(entry.exclude_op_types);
    for (const n of [...out]) if (banned.has(n.opType)) out.delete(n);
  }
  return out;
}

/** "; did you mean '/conv1/Conv'?" when exactly one node name ends with or contains the given name. */
function suggest(name: string, byName: ReadonlyMap<string, Node[]>): string {
  const close = [...byName.keys()].filter(
    (n) => n !== name && name.length > 0 && (n.endsWith(name) || n.includes(`/${name}/`)),
  );
  return close.length === 1 ? `; did you mean '${close[0]}'?` : '';
}
