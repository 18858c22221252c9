/**
 * @file A sensitivity scan as the app shows it: accuracy vs ratio per group (one line per layer, NNI's plot), latency
 * saved vs accuracy lost per (group, ratio) as a scatter, the per-group table sortable by either, and the budget
 * form's text → an allocation target. Pure functions over src-shared's scan type; the charts use charts.ts's echarts.
 */
import type { AllocationTarget, SensitivityScan } from '../../src-shared/sensitivity.ts';
import { axis, base, type ChartOption } from './charts.ts';
import type { Palette } from './theme.ts';

/** The app's chart base with a scrolling legend (a scan draws one line per layer). */
const scanBase = (p: Palette) => {
  const b = base(p);
  return { ...b, legend: { ...b.legend, type: 'scroll' } };
};

/** A group's label: its first node's last two path parts (`/layer1/conv/Conv` → `conv/Conv`), +n for coupled ones. */
export function groupLabel(scan: SensitivityScan, groupId: string): string {
  const g = scan.groups.find((x) => x.id === groupId);
  const first = g?.nodes[0] ?? groupId;
  const parts = first.split('/').filter(Boolean);
  const short = parts.length > 2 ? parts.slice(-2).join('/') : first;
  return g && g.nodes.length > 1 ? `${short} +${g.nodes.length - 1}` : short;
}

/** One row per group: accuracy and latency saved at each scanned ratio, and the figures at the chosen ratio. */
export interface SensitivityRow {
  group: string;
  label: string;
  nodes: string[];
  channels: number;
  /** Accuracy (0–1) at each of `scan.ratios` (null when the point is missing). */
  accuracy: (number | null)[];
  /** Accuracy points lost at the chosen ratio (dense − pruned, ×100). */
  accuracyLost: number;
  /** ms saved at the chosen ratio (dense p50 × (1 − compact ÷ dense)). */
  latencySavedMs: number;
}

export type SensitivitySort = 'accuracyLost' | 'latencySavedMs' | 'label';

/**
 * The table's rows at `ratio` (default the middle scanned ratio), sorted by `sort` (accuracy lost ascending puts the
 * least sensitive first; latency saved descending puts the most rewarding first).
 */
export function sensitivityRows(
  scan: SensitivityScan,
  o: { ratio?: number; sort?: SensitivitySort; descending?: boolean } = {},
): SensitivityRow[] {
  const ratio = o.ratio ?? scan.ratios[Math.floor(scan.ratios.length / 2)]!;
  const rows = scan.groups.map((g) => {
    const pts = scan.points.filter((p) => p.group === g.id);
    const at = pts.find((p) => p.ratio === ratio);
    return {
      group: g.id,
      label: groupLabel(scan, g.id),
      nodes: g.nodes,
      channels: g.channels,
      accuracy: scan.ratios.map((r) => pts.find((p) => p.ratio === r)?.accuracy ?? null),
      accuracyLost: at ? (scan.baseline.accuracy - at.accuracy) * 100 : 0,
      latencySavedMs: at ? scan.baseline.latencyMs * (1 - at.latencyRatio) : 0,
    };
  });
  const key = o.sort ?? 'accuracyLost';
  const sign = o.descending ? -1 : 1;
  return rows.sort((a, b) =>
    key === 'label'
      ? sign * a.label.localeCompare(b.label)
      : sign * (a[key] - b[key]) || a.label.localeCompare(b.label),
  );
}

/** Accuracy (%) vs pruning ratio, one line per group, the dense model at ratio 0 as every line's start. */
export function accuracyLinesOption(scan: SensitivityScan, p: Palette): ChartOption {
  const dense = scan.baseline.accuracy * 100;
  return {
    ...scanBase(p),
    tooltip: {
      trigger: 'axis',
      backgroundColor: p.surface,
      borderColor: p.border,
      textStyle: { color: p.text, fontSize: 12 },
      valueFormatter: (v: number) => `${Number(v).toFixed(2)} %`,
    },
    grid: { left: 52, right: 20, top: 40, bottom: 40 },
    xAxis: {
      type: 'value',
      name: 'sparsity (share of output channels removed)',
      nameLocation: 'middle',
      nameGap: 26,
      min: 0,
      max: 1,
      ...axis(p),
    },
    yAxis: { type: 'value', name: 'accuracy %', scale: true, ...axis(p) },
    series: scan.groups.map((g) => ({
      name: groupLabel(scan, g.id),
      type: 'line',
      symbolSize: 6,
      lineStyle: { width: 2 },
      data: [
        [0, dense],
        ...scan.points
          .filter((pt) => pt.group === g.id)
          .sort((a, b) => a.ratio - b.ratio)
          .map((pt) => [pt.ratio, pt.accuracy * 100]),
      ],
    })),
  };
}

/** Each (group, ratio) point: latency saved (ms, x) against accuracy lost (points, y); one colour per group. */
export function tradeoffScatterOption(scan: SensitivityScan, p: Palette): ChartOption {
  const b = scan.baseline;
  return {
    ...scanBase(p),
    tooltip: {
      trigger: 'item',
      backgroundColor: p.surface,
      borderColor: p.border,
      textStyle: { color: p.text, fontSize: 12 },
      formatter: (x: { seriesName: string; value: number[] }) =>
        `${x.seriesName} at ${x.value[2]}: −${x.value[0]!.toFixed(3)} ms, −${x.value[1]!.toFixed(2)} points`,
    },
    grid: { left: 52, right: 20, top: 40, bottom: 40 },
    xAxis: {
      type: 'value',
      name: `latency saved, ms (dense ${b.latencyMs.toFixed(2)} ms at batch ${scan.eval.batchSize})`,
      nameLocation: 'middle',
      nameGap: 26,
      ...axis(p),
    },
    yAxis: { type: 'value', name: 'accuracy lost, points', ...axis(p) },
    series: scan.groups.map((g) => ({
      name: groupLabel(scan, g.id),
      type: 'scatter',
      symbolSize: 9,
      data: scan.points
        .filter((pt) => pt.group === g.id)
        .map((pt) => [b.latencyMs * (1 - pt.latencyRatio), (b.accuracy - pt.accuracy) * 100, pt.ratio]),
    })),
  };
}

export type BudgetKind = AllocationTarget['kind'];

/** The budget form's fields → a target; a message naming the field when it is not a valid budget. */
export function budgetTarget(kind: BudgetKind, value: number): AllocationTarget | string {
  if (!Number.isFinite(value) || value <= 0) return 'the budget must be a positive number';
  switch (kind) {
    case 'speedup':
      return value > 1 ? { kind, factor: value } : 'a speedup target must be above 1×';
    case 'latency':
      return { kind, ms: value };
    case 'size':
      return { kind, bytes: value };
    default:
      return { kind, value };
  }
}
