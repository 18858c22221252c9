/**
 * @file The node inspector's chart and the graph diff's marks: a weight histogram as bars over equal-width bins,
 * and a run's graph diff as the per-node labels both graph views highlight. Pure functions.
 */
import type { RunDiff } from '../../src-shared/ipc/analysis-dto.ts';
import { formatShape } from '../../src-shared/format.ts';
import type { ChartOption } from './charts.ts';
import type { Palette } from './theme.ts';

/** Bars over the histogram's bins, labelled by each bin's lower edge. */
export function histogramOption(h: { lo: number; hi: number; counts: number[] }, p: Palette): ChartOption {
  const w = h.counts.length ? (h.hi - h.lo) / h.counts.length : 0;
  const edge = (i: number) => (h.lo + i * w).toPrecision(3);
  return {
    aria: { enabled: true },
    animationDuration: 150,
    tooltip: {
      trigger: 'axis',
      backgroundColor: p.surface,
      borderColor: p.border,
      textStyle: { color: p.text, fontSize: 12 },
    },
    grid: { left: 40, right: 8, top: 8, bottom: 22 },
    xAxis: {
      type: 'category',
      data: h.counts.map((_, i) => `${edge(i)} … ${edge(i + 1)}`),
      axisLabel: { show: false },
      axisTick: { show: false },
      axisLine: { lineStyle: { color: p.border } },
    },
    yAxis: {
      type: 'value',
      axisLabel: { color: p.muted, fontSize: 10 },
      splitLine: { lineStyle: { color: p.border, opacity: 0.5 } },
    },
    series: [{ name: 'values', type: 'bar', barCategoryGap: '8%', itemStyle: { color: p.accent }, data: h.counts }],
  };
}

/** What happened to one node of either graph, as a short label. */
export interface DiffMark {
  node: string;
  opType: string;
  kind: 'narrowed' | 'quantized' | 'removed' | 'folded-bn' | 'added' | 'qdq';
  text: string;
}

/** The diff as marks: changed and removed nodes on the original graph, changed and added nodes on the compressed one. */
export function diffMarks(d: RunDiff['diff']): {
  before: Map<string, string>;
  after: Map<string, string>;
  rows: DiffMark[];
} {
  const rows: DiffMark[] = [];
  for (const c of d.changed) {
    const widths = c.widths.map((w) => `${formatShape(w.before)} → ${formatShape(w.after)}`).join('; ');
    if (c.kinds.includes('narrowed')) rows.push({ node: c.name, opType: c.opType, kind: 'narrowed', text: widths });
    if (c.kinds.includes('quantized'))
      rows.push({ node: c.name, opType: c.opType, kind: 'quantized', text: 'weights through Q/DQ' });
  }
  for (const r of d.removed)
    rows.push({
      node: r.name,
      opType: r.opType,
      kind: r.kinds.includes('folded-bn') ? 'folded-bn' : 'removed',
      text: r.kinds.includes('folded-bn') ? 'BatchNormalization folded into the layer before' : 'removed',
    });
  for (const a of d.added)
    rows.push({ node: a.name, opType: a.opType, kind: a.kinds.includes('qdq') ? 'qdq' : 'added', text: 'inserted' });
  const before = new Map<string, string>();
  const after = new Map<string, string>();
  for (const r of rows) {
    const label = `${r.kind}: ${r.text}`;
    if (r.kind !== 'added' && r.kind !== 'qdq') before.set(r.node, label);
    if (r.kind !== 'removed' && r.kind !== 'folded-bn') after.set(r.node, label);
  }
  return { before, after, rows };
}
