/**
 * @file echarts, registered once with only the charts and components the views use (line, bar, scatter,
 * parallel), and the option builders shared by the run and comparison views: curves, per-layer widths, the Pareto
 * scatter and the parallel-coordinates plot, all coloured from the theme palette.
 */
import { BarChart, LineChart, ParallelChart, ScatterChart } from 'echarts/charts';
import {
  AriaComponent,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  ParallelComponent,
  TitleComponent,
  TooltipComponent,
} from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { paretoFlags } from './pareto.ts';
import type { Palette } from './theme.ts';

echarts.use([
  LineChart,
  BarChart,
  ScatterChart,
  ParallelChart,
  GridComponent,
  TooltipComponent,
  LegendComponent,
  DataZoomComponent,
  ParallelComponent,
  MarkLineComponent,
  TitleComponent,
  AriaComponent,
  CanvasRenderer,
]);

export { echarts };
export type ChartOption = echarts.EChartsCoreOption;

/** Axis styling shared by every chart of the app. */
export const axis = (p: Palette) => ({
  axisLine: { lineStyle: { color: p.border } },
  axisLabel: { color: p.muted, fontSize: 11 },
  splitLine: { lineStyle: { color: p.border, opacity: 0.6 } },
  nameTextStyle: { color: p.muted, fontSize: 11 },
});

/** What every chart of the app starts from: aria, fonts, the palette's series colours, tooltip and legend. */
export const base = (p: Palette) => ({
  aria: { enabled: true },
  textStyle: { fontFamily: 'Inter, system-ui, sans-serif', color: p.text },
  color: p.series,
  animationDuration: 250,
  tooltip: {
    trigger: 'axis',
    backgroundColor: p.surface,
    borderColor: p.border,
    textStyle: { color: p.text, fontSize: 12 },
  },
  legend: { top: 0, textStyle: { color: p.muted, fontSize: 11 }, icon: 'roundRect', itemWidth: 12, itemHeight: 4 },
});

export interface Curve {
  name: string;
  points: { x: number; value: number }[];
}

/** Loss / metric curves (several runs overlaid in the comparison). */
export function curvesOption(curves: Curve[], p: Palette, opts: { xName?: string; yName?: string } = {}): ChartOption {
  return {
    ...base(p),
    grid: { left: 52, right: 20, top: 34, bottom: 36 },
    xAxis: {
      type: 'value',
      name: opts.xName ?? 'batch',
      nameLocation: 'middle',
      nameGap: 24,
      minInterval: 1,
      ...axis(p),
    },
    yAxis: { type: 'value', name: opts.yName ?? 'loss', scale: true, ...axis(p) },
    series: curves.map((c) => ({
      name: c.name,
      type: 'line',
      showSymbol: c.points.length < 30,
      symbolSize: 5,
      lineStyle: { width: 2 },
      data: c.points.map((pt) => [pt.x, pt.value]),
    })),
  };
}

/** Per-layer widths: bars per layer, one series per model (before, after / each run); a series may fix its colour. */
export function widthsOption(
  layers: string[],
  series: { name: string; values: (number | null)[]; color?: string }[],
  p: Palette,
): ChartOption {
  return {
    ...base(p),
    tooltip: { ...base(p).tooltip, axisPointer: { type: 'shadow' } },
    grid: { left: 44, right: 16, top: 34, bottom: layers.some((l) => l.length > 10) ? 70 : 40 },
    xAxis: {
      type: 'category',
      data: layers,
      ...axis(p),
      axisLabel: { ...axis(p).axisLabel, rotate: layers.length > 4 ? 25 : 0, interval: 0 },
    },
    yAxis: { type: 'value', name: 'channels', ...axis(p) },
    series: series.map((s) => ({
      name: s.name,
      type: 'bar',
      barMaxWidth: 26,
      itemStyle: { borderRadius: [3, 3, 0, 0], ...(s.color ? { color: s.color } : {}) },
      data: s.values,
    })),
  };
}

export interface ParetoPoint {
  name: string;
  accuracy: number;
  latencyMs: number;
  sizeBytes: number;
}

/**
 * Accuracy against latency; point size = model size; Pareto runs bold and joined, the others kept visible, dimmer.
 * The front is the one of the two objectives drawn (higher accuracy, lower latency): a front over size as well would
 * put runs on the dashed line that the chart shows to be beaten.
 */
export function paretoOption(points: ParetoPoint[], p: Palette): ChartOption {
  const maxSize = Math.max(1, ...points.map((pt) => pt.sizeBytes));
  const sym = (s: number) => 10 + 26 * Math.sqrt(s / maxSize);
  const flags = paretoFlags(points, [
    { value: (pt) => pt.accuracy, goal: 'max' },
    { value: (pt) => pt.latencyMs, goal: 'min' },
  ]);
  const front = points.filter((_, i) => flags[i]).sort((a, b) => a.latencyMs - b.latencyMs);
  const dominated = points.filter((_, i) => !flags[i]);
  const row = (pt: ParetoPoint) => ({ value: [pt.latencyMs, pt.accuracy * 100, pt.sizeBytes], name: pt.name });
  return {
    ...base(p),
    tooltip: {
      ...base(p).tooltip,
      trigger: 'item',
      formatter: (it: { data: { name: string; value: number[] } }) =>
        `<b>${escapeHtml(it.data.name)}</b><br/>accuracy ${it.data.value[1]!.toFixed(2)} %<br/>latency ${it.data.value[0]!.toFixed(3)} ms<br/>size ${(it.data.value[2]! / 1024).toFixed(1)} KiB`,
    },
    grid: { left: 56, right: 36, top: 34, bottom: 44 },
    xAxis: {
      type: 'value',
      name: 'latency p50 (ms) — lower is better',
      nameLocation: 'middle',
      nameGap: 28,
      ...padded(points.map((pt) => pt.latencyMs)),
      ...axis(p),
    },
    yAxis: { type: 'value', name: 'accuracy (%)', ...padded(points.map((pt) => pt.accuracy * 100)), ...axis(p) },
    series: [
      {
        name: 'Pareto front',
        type: 'line',
        data: front.map((pt) => [pt.latencyMs, pt.accuracy * 100]),
        showSymbol: false,
        itemStyle: { color: p.accent },
        lineStyle: { type: 'dashed', color: p.accent, width: 1.5 },
        z: 1,
        tooltip: { show: false },
      },
      {
        name: 'on the front',
        type: 'scatter',
        data: front.map(row),
        symbolSize: (v: number[]) => sym(v[2]!),
        itemStyle: { color: p.accent, borderColor: p.surface, borderWidth: 1.5 },
        label: { show: true, position: 'top', distance: 8, formatter: '{b}', color: p.text, fontSize: 11 },
        z: 3,
      },
      {
        name: 'dominated',
        type: 'scatter',
        data: dominated.map(row),
        symbolSize: (v: number[]) => sym(v[2]!),
        itemStyle: { color: p.muted, opacity: 0.55 },
        label: { show: true, position: 'top', distance: 8, formatter: '{b}', color: p.muted, fontSize: 11 },
        z: 2,
      },
    ],
  };
}

/** Parallel coordinates: one line per run across accuracy, latency, size, params and MACs. */
export function parallelOption(
  runs: { name: string; values: (number | null)[] }[],
  dims: string[],
  p: Palette,
): ChartOption {
  return {
    ...base(p),
    tooltip: { ...base(p).tooltip, trigger: 'item' },
    parallel: {
      left: 40,
      right: 90,
      top: 40,
      bottom: 28,
      parallelAxisDefault: { ...axis(p), nameTextStyle: { color: p.text, fontSize: 11 }, scale: true },
    },
    parallelAxis: dims.map((name, dim) => ({ dim, name })),
    series: runs.map((r) => ({
      name: r.name,
      type: 'parallel',
      lineStyle: { width: 2.5, opacity: 0.9 },
      data: [r.values],
    })),
  };
}

/** Value-axis bounds with room on both sides (so points and their labels stay inside); echarts rounds the ticks. */
function padded(values: number[]): { scale: true; boundaryGap: [string, string] } {
  return { scale: true, boundaryGap: values.length > 1 ? ['18%', '18%'] : ['50%', '50%'] };
}

/**
 * A metric series cleaned for drawing: the same point reported twice (once through a step's progress, once as an
 * explicit metric, a few ms apart) is kept once, with the larger x; then x order.
 */
export function cleanSeries<P extends { x: number; value: number; t: number }>(points: readonly P[]): P[] {
  const byTime = [...points].sort((a, b) => a.t - b.t);
  const out: P[] = [];
  for (const p of byTime) {
    const last = out.at(-1);
    if (last && last.value === p.value && Math.abs(last.t - p.t) < 1000) {
      if (p.x > last.x) out[out.length - 1] = p;
      continue;
    }
    out.push(p);
  }
  return out.sort((a, b) => a.x - b.x);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** One point of a pruning schedule as the prune step reports it (summary.trajectory). */
interface TrajectoryPointJson {
  step: number;
  ratio: number;
  sparsity: Record<string, number>;
}

/**
 * The sparsity trajectory of a training-aware prune step (summary.trajectory: step → sparsity per target) as
 * curves: the mean over targets first, then each target (weights only, at most `limit`), in percent.
 * @example trajectoryCurves({ trajectory: [{ step: 10, ratio: 0.7, sparsity: { 'conv1.weight': 0.5 } }] })
 * // [{ name: 'mean', points: [{ x: 10, value: 50 }] }, { name: 'conv1.weight', points: [{ x: 10, value: 50 }] }]
 */
export function trajectoryCurves(summary: Record<string, unknown> | null | undefined, limit = 8): Curve[] {
  const t = summary?.trajectory;
  if (!Array.isArray(t) || t.length === 0) return [];
  const points = t.filter(
    (p): p is TrajectoryPointJson =>
      typeof p?.step === 'number' && typeof p?.sparsity === 'object' && p.sparsity !== null,
  );
  const keys = [...new Set(points.flatMap((p) => Object.keys(p.sparsity)))].filter((k) => !k.endsWith('.bias'));
  const mean = points.map((p) => {
    const vs = keys.map((k) => p.sparsity[k]).filter((v): v is number => typeof v === 'number');
    return { x: p.step, value: vs.length ? (100 * vs.reduce((a, b) => a + b, 0)) / vs.length : 0 };
  });
  const each = keys.slice(0, limit).map((k) => ({
    name: k,
    points: points
      .filter((p) => typeof p.sparsity[k] === 'number')
      .map((p) => ({ x: p.step, value: 100 * p.sparsity[k]! })),
  }));
  return [{ name: 'mean', points: mean }, ...each];
}
