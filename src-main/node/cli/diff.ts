/**
 * @file `studio diff <original.onnx> <compressed.onnx> [--json]`: the before / after graph diff — widths changed per
 * node (pruned channels), removed nodes (folded BatchNormalizations named), inserted Q/DQ nodes, quantized weights.
 */
import { diffGraphs, type GraphDiff } from '../../core/analysis/graph-diff.ts';
import { openModel } from '../io/open-model.ts';
import { formatShape } from '../../../src-shared/format.ts';
import { table } from './format.ts';

/** Text rendering: one row per changed or removed node, then the added nodes by op type. */
export function renderDiff(d: GraphDiff): string {
  const rows = [
    ...d.changed.map((c) => [
      c.name,
      c.opType,
      c.kinds.join(', '),
      c.widths.map((w) => `${w.value} ${formatShape(w.before)} → ${formatShape(w.after)}`).join('; '),
    ]),
    ...d.removed.map((c) => [c.name, c.opType, c.kinds.join(', '), '']),
  ];
  const added = new Map<string, number>();
  for (const a of d.added) added.set(a.opType, (added.get(a.opType) ?? 0) + 1);
  const s = d.summary;
  return [
    `nodes ${d.nodesBefore} → ${d.nodesAfter}: ${s.narrowed} narrowed, ${s.quantized} with quantized weights, ${s.removed} removed (${s.foldedBn} BatchNormalization folded), ${s.added} added (${s.qdqPairs} QuantizeLinear)`,
    ...(rows.length ? [table([['node', 'op', 'change', 'widths'], ...rows], { rule: true })] : []),
    ...(added.size ? [`added: ${[...added].map(([k, v]) => `${k}×${v}`).join(' ')}`] : []),
  ].join('\n');
}

export function diffCommand(before: string, after: string, o: { json?: boolean } = {}): GraphDiff {
  const d = diffGraphs(openModel(before).model, openModel(after).model);
  process.stdout.write(o.json ? `${JSON.stringify(d, null, 2)}\n` : `${renderDiff(d)}\n`);
  return d;
}
