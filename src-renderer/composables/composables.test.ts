/** @file The renderer's pure logic: graph layout (and its speed on thousands of nodes), Pareto flags, parameter diffs, plan building, routes, series cleaning, formatting. */
import { describe, expect, it } from 'vitest';
import type { GraphView } from '../../src-shared/ipc/dto.ts';
import { cleanSeries, paretoOption } from './charts.ts';
import {
  formatBytes,
  formatCount,
  formatDelta,
  formatChange,
  formatDuration,
  formatFactor,
} from '../../src-shared/format.ts';
import { layoutGraph, nodeWidth } from './graph-layout.ts';
import { paramRows, flattenPlan } from './param-diff.ts';
import { paretoFlags } from './pareto.ts';
import { describeSummary } from './step-summary.ts';
import { minimap, useViewport } from './viewport.ts';
import { comparability } from './comparability.ts';
import { computeFactors, emptySnapshot } from '../../src-shared/experiment.ts';
import type { RunDetail } from '../../src-shared/ipc/dto.ts';
import {
  buildPlan,
  describeStep,
  hasAutoGroups,
  newDraft,
  parseJsonText,
  reviveDraft,
  setAutoGroups,
} from './plan-builder.ts';
import { parseHash, routeHash, type Route } from './route.ts';
import { parsePlan } from '../../src-shared/experiment.ts';

function chain(n: number, branchEvery = 0): GraphView {
  const nodes: GraphView['nodes'] = [];
  const edges: GraphView['edges'] = [];
  for (let i = 0; i < n; i++)
    nodes.push({
      id: i,
      kind: i === 0 ? 'input' : 'op',
      name: `n${i}`,
      opType: i % 3 ? 'Relu' : 'Conv',
      params: 0,
      weightShape: null,
      shape: null,
    });
  for (let i = 1; i < n; i++) {
    edges.push({ from: i - 1, to: i, value: `v${i}`, shape: null });
    if (branchEvery && i % branchEvery === 0 && i >= 3) edges.push({ from: i - 3, to: i, value: `s${i}`, shape: null });
  }
  return { nodes, edges };
}

describe('graph layout', () => {
  it('puts every node below its producers and keeps nodes of a layer apart', () => {
    const view = chain(40, 4);
    const lay = layoutGraph(view, (n) => nodeWidth(n.opType));
    for (const e of view.edges) expect(lay.byId.get(e.to)!.layer).toBeGreaterThan(lay.byId.get(e.from)!.layer);
    const byLayer = new Map<number, typeof lay.nodes>();
    for (const n of lay.nodes) byLayer.set(n.layer, [...(byLayer.get(n.layer) ?? []), n]);
    for (const ns of byLayer.values()) {
      const sorted = [...ns].sort((a, b) => a.x - b.x);
      for (let i = 1; i < sorted.length; i++)
        expect(sorted[i]!.x).toBeGreaterThanOrEqual(sorted[i - 1]!.x + sorted[i - 1]!.w);
    }
  });

  it('pulls a source (a weight-less input) next to its first consumer', () => {
    const view = chain(10);
    view.nodes.push({
      id: 10,
      kind: 'input',
      name: 'late',
      opType: 'Input',
      params: 0,
      weightShape: null,
      shape: null,
    });
    view.edges.push({ from: 10, to: 8, value: 'late', shape: null });
    const lay = layoutGraph(view, () => 100);
    expect(lay.byId.get(10)!.layer).toBe(lay.byId.get(8)!.layer - 1);
  });

  it('lays out a graph of 5,000 nodes quickly', () => {
    const view = chain(5000, 5);
    const t0 = performance.now();
    const lay = layoutGraph(view, (n) => nodeWidth(n.opType));
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(lay.nodes).toHaveLength(5000);
    expect(lay.layers).toBe(5000);
  });
});

describe('pareto', () => {
  it('keeps the runs no other run beats everywhere', () => {
    const runs = [
      { acc: 0.99, ms: 2.0 },
      { acc: 0.98, ms: 1.0 },
      { acc: 0.97, ms: 1.5 }, // beaten by the second
      { acc: null, ms: 0.5 }, // not measured: never on the front
    ];
    expect(
      paretoFlags(runs, [
        { value: (r) => r.acc, goal: 'max' },
        { value: (r) => r.ms, goal: 'min' },
      ]),
    ).toEqual([true, true, false, false]);
  });

  it('the accuracy / latency chart draws the front of what it plots: a smaller but slower and worse run is dominated', () => {
    // The three runs: the middle one is the smallest model, which once put it on a 3-objective front.
    const points = [
      { name: 'a', accuracy: 0.9799, latencyMs: 0.219, sizeBytes: 36_000 },
      { name: 'b', accuracy: 0.926, latencyMs: 0.45, sizeBytes: 20_000 },
      { name: 'c', accuracy: 0.984, latencyMs: 0.822, sizeBytes: 90_000 },
    ];
    const palette = {
      accent: '#0a0',
      muted: '#888',
      surface: '#fff',
      text: '#000',
      border: '#ccc',
      series: ['#00f'],
    } as unknown as Parameters<typeof paretoOption>[1];
    const series = paretoOption(points, palette).series as {
      name: string;
      data: unknown[];
      itemStyle?: { color?: string };
      lineStyle?: { color?: string };
    }[];
    const byName = (n: string) => series.find((x) => x.name === n)!;
    expect((byName('Pareto front').data as number[][]).map(([x, y]) => [x, +y!.toFixed(2)])).toEqual([
      [0.219, 97.99],
      [0.822, 98.4],
    ]);
    expect(byName('on the front').data.map((d) => (d as { name: string }).name)).toEqual(['a', 'c']);
    expect(byName('dominated').data.map((d) => (d as { name: string }).name)).toEqual(['b']);
    // The legend's swatch is the series' item colour: each series says its own.
    expect(byName('Pareto front').itemStyle?.color).toBe('#0a0');
    expect(byName('dominated').itemStyle?.color).toBe('#888');
  });
});

describe('parameter diff', () => {
  it('flattens config lists entry by entry and marks differences', () => {
    const a = {
      model: 'm.onnx',
      seed: 0,
      steps: [{ kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] }],
    };
    const b = {
      model: 'm.onnx',
      seed: 0,
      steps: [
        { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.7 }] },
        { kind: 'speedup' },
      ],
    };
    expect(flattenPlan(a)['steps[0].configList[0].op_types']).toBe('["Conv"]');
    const rows = paramRows([a, b]);
    expect(rows.filter((r) => r.differs).map((r) => [r.path, ...r.values])).toEqual([
      ['steps[0].configList[0].sparse_ratio', '0.5', '0.7'],
      ['steps[1].kind', '—', 'speedup'],
    ]);
  });
});

describe('plan builder', () => {
  const examples = {
    models: [],
    datasets: [
      {
        id: 'mnist-quick',
        name: 'q',
        description: '',
        dataset: { train: { kind: 'idx', paths: ['a', 'b'] }, evaluation: { kind: 'idx', paths: ['c', 'd'] } },
      },
    ],
  };

  /** The sequential recipe (one step per compression), as a user who chose it gets it. */
  const sequential = () => ({
    ...newDraft(),
    combine: 'sequential' as const,
    model: { path: '/m.onnx', name: 'm.onnx' },
  });

  it('builds prune → speedup → finetune → quantize with an evaluator', () => {
    const d = sequential();
    const { plan, faults } = buildPlan(d, examples);
    expect(faults).toEqual([]);
    expect((plan!.steps as { kind: string }[]).map((s) => s.kind)).toEqual([
      'prune',
      'speedup',
      'finetune',
      'quantize',
    ]);
    expect(plan!.evaluator).toMatchObject({ metric: 'top1' });
  });

  it('defaults to the demo recipe: Adam, cosine decay, lr 0.003, whole epochs, automatic dependency groups; roundTo when given', () => {
    const d = sequential();
    const steps = buildPlan(d, examples).plan!.steps as Record<string, unknown>[];
    expect(steps[2]).toEqual({
      kind: 'finetune',
      epochs: 8,
      lr: 0.003,
      optimizer: { kind: 'adam' },
      schedule: { kind: 'cosine' },
      batchSize: 64,
    });
    expect(steps[0]!.configList).toEqual([{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }]);
    expect(steps[1]).toEqual({ kind: 'speedup' });
    d.prune.roundTo = 8;
    expect((buildPlan(d, examples).plan!.steps as Record<string, unknown>[])[1]).toEqual({
      kind: 'speedup',
      roundTo: 8,
    });
    expect(hasAutoGroups(d.configText.pruning)).toBe(true);
    const off = setAutoGroups(d.configText.pruning, false);
    expect(JSON.parse(off)).toEqual([{ op_types: ['Conv'], sparse_ratio: 0.5 }]);
    expect(hasAutoGroups(off)).toBe(false);
    // A global group keeps its own grouping.
    expect(JSON.parse(setAutoGroups('[{"op_types":["Conv"],"sparse_ratio":0.5,"global_group_id":"g"}]', true))).toEqual(
      [{ op_types: ['Conv'], sparse_ratio: 0.5, global_group_id: 'g' }],
    );
  });

  it('builds a distill step the plan schema accepts: logits with T and α, layer-wise with its config list, an optional teacher', () => {
    const d = sequential();
    d.distill.enabled = true;
    const step = () =>
      (buildPlan(d, examples).plan!.steps as Record<string, unknown>[]).find((s) => s.kind === 'distill')!;
    expect(step()).toEqual({
      kind: 'distill',
      distiller: 'logits',
      temperature: 2,
      alpha: 0.5,
      epochs: 2,
      lr: 0.003,
      optimizer: { kind: 'adam' },
      schedule: { kind: 'cosine' },
      batchSize: 64,
    });
    expect(() => parsePlan(buildPlan(d, examples).plan)).not.toThrow();
    expect(describeStep(step() as never)).toBe('distill from the original model: logits (T = 2, α = 0.5), 2 epochs');
    d.distill.distiller = 'adaptive1d_layerwise';
    d.configText.distillation = '[{ "op_types": ["Conv"] }]';
    d.distill.teacher = '/big.onnx';
    expect(step()).toMatchObject({
      distiller: 'adaptive1d_layerwise',
      teacher: '/big.onnx',
      configList: [{ op_types: ['Conv'] }],
    });
    expect(step().temperature).toBeUndefined();
    expect(parsePlan(buildPlan(d, examples).plan).steps.map((s) => s.kind)).toEqual([
      'prune',
      'speedup',
      'finetune',
      'distill',
      'quantize',
    ]);
  });

  it('names what is missing or malformed', () => {
    const d = newDraft();
    d.configText.pruning = '[{ "op_types": ["Conv"] ';
    const { plan, faults } = buildPlan(d, examples);
    expect(plan).toBeNull();
    expect(faults.map((f) => f.where)).toEqual(['model', 'pruning config list']);
  });

  it('parses JSON with the line of a fault and revives old drafts safely', () => {
    const r = parseJsonText('[\n  1,\n  2,\n]');
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.fault.line, r.fault.column]).toEqual([4, 1]);
    const o = parseJsonText('[{"a": 1,}]');
    expect(o.ok ? null : o.fault.message).toMatch(/line 1, column 10\)$/);
    expect(reviveDraft({ version: 1, step: 'review', prune: { enabled: false }, bogus: 1 })).toMatchObject({
      step: 'review',
      prune: { enabled: false, pruner: 'l1' },
    });
    expect(reviveDraft({ version: 99 }).step).toBe('model');
  });
});

describe('routes, series, formats', () => {
  it('routes round-trip through the hash', () => {
    const routes: Route[] = [
      { name: 'run', id: 'abc123', ids: [] },
      { name: 'compare', id: null, ids: ['a', 'b'] },
      { name: 'history', id: null, ids: [] },
      { name: 'export', id: 'x1', ids: [] },
    ];
    for (const r of routes) {
      expect(parseHash(routeHash(r))).toEqual(r);
    }
    expect(parseHash('#/nowhere').name).toBe('wizard');
  });

  it('drops a point reported twice', () => {
    const pts = [
      { x: 0, value: 2, t: 100 },
      { x: 5, value: 2, t: 101 },
      { x: 1, value: 1.5, t: 200 },
      { x: 10, value: 1.5, t: 201 },
    ];
    expect(cleanSeries(pts).map((p) => p.x)).toEqual([5, 10]);
  });

  it('formats numbers for people', () => {
    expect(formatCount(24170)).toBe('24.2 k');
    expect(formatBytes(100_352)).toBe('98.0 KiB');
    expect(formatFactor(2.944)).toBe('2.94×');
    expect(formatChange(2.19, 'fewer', 'more')).toBe('2.19× fewer');
    expect(formatChange(0.8, 'faster', 'slower')).toBe('1.25× slower');
    expect(formatDelta(-0.0042)).toBe('−0.42 pt');
    expect(formatDuration(65_000)).toBe('1 m 05 s');
  });
});

describe('words for steps', () => {
  it('says what a step did instead of its raw keys', () => {
    expect(describeSummary({ steps: 930, seconds: 7.1192, keptMasks: false })).toBe('930 steps in 7.1 s');
    expect(describeSummary({ macRatio: 0.2648, maxRelErr: 3.2e-7, paramsBefore: 24170, paramsAfter: 10946 })).toBe(
      '3.78× fewer MACs · verified (max rel. error 3.2e-7) · params 24.2 k → 10.9 k',
    );
    expect(describeSummary({ pruner: 'l1', targets: 3, maskedFraction: 0.5, autoGroups: 0 })).toBe(
      'L1 pruner · 3 targets · 50.0 % of the weights masked',
    );
    expect(describeSummary({ sleptMs: 12 })).toBe('slept ms 12');
    expect(
      describeSummary({
        targets: 4,
        mixedPrecision: { floatLayers: [{ node: '/conv2/Conv', gain: 1.2 }], wholeModelFloat: false, slowerAt: [1] },
      }),
    ).toBe('4 targets · 1 layer kept fp32 (int8 slower at batch 1): /conv2/Conv');
    expect(describeSummary({ mixedPrecision: { floatLayers: [], wholeModelFloat: true, slowerAt: [1, 64] } })).toBe(
      'kept fp32: int8 measured slower at batch 1 and 64',
    );
  });

  it('the review names the sparsity a pruning step asks for, and the fine-tune recipe', () => {
    expect(
      describeStep({
        kind: 'prune',
        pruner: 'l1',
        configList: [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
      }),
    ).toBe('L1 pruner at 50 % sparsity, 1 config entry, coupled channels pruned together');
    expect(
      describeStep({ kind: 'prune', pruner: 'l2', configList: [{ sparse_ratio: 0.3 }, { sparse_ratio: 0.7 }] }),
    ).toBe('L2 pruner at 30 %–70 % sparsity, 2 config entries');
    expect(
      describeStep({
        kind: 'finetune',
        epochs: 4,
        lr: 0.003,
        optimizer: { kind: 'adam' },
        schedule: { kind: 'cosine' },
      }),
    ).toBe('4 epochs, Adam at lr 0.003 with cosine decay');
    expect(describeStep({ kind: 'speedup', roundTo: 8 })).toContain('rounded to multiples of 8');
  });
});

describe('comparability', () => {
  const run = (
    id: string,
    opts: { limit?: number; offset?: number; baseline: number; params: number; acc: number },
  ): RunDetail => {
    const before = {
      ...emptySnapshot(),
      params: 100,
      macs: 100,
      sizeBytes: 400,
      accuracy: 0.99,
      latencyMs: { p50: opts.baseline },
    };
    const after = {
      ...emptySnapshot(),
      params: opts.params,
      macs: opts.params,
      sizeBytes: opts.params * 4,
      accuracy: opts.acc,
      latencyMs: { p50: 0.1, baselineP50: opts.baseline },
    };
    const evaluation = {
      kind: 'idx',
      paths: ['/r/mnist/t10k-images-idx3-ubyte.gz', '/r/mnist/t10k-labels-idx1-ubyte.gz'],
      ...(opts.limit ? { limit: opts.limit } : {}),
      ...(opts.offset ? { offset: opts.offset } : {}),
    };
    return {
      id,
      name: id,
      plan: { model: '/m.onnx', dataset: { evaluation }, steps: [] },
      before,
      after,
      report: { factors: computeFactors(before, after) },
    } as unknown as RunDetail;
  };

  it('flags accuracies on different test sets, latencies under different load, and unchanged models', () => {
    const c = comparability([
      run('a', { limit: 2000, baseline: 0.213, params: 50, acc: 0.98 }),
      run('b', { baseline: 0.399, params: 40, acc: 0.97 }),
      run('c', { limit: 2000, baseline: 0.384, params: 100, acc: 0.99 }),
    ]);
    expect(c.evalLabels).toEqual([
      '2,000 images of t10k-images-idx3-ubyte.gz',
      'all of t10k-images-idx3-ubyte.gz',
      '2,000 images of t10k-images-idx3-ubyte.gz',
    ]);
    expect(c.accuracyNote).toContain('different test sets');
    expect(c.latencyNote).toContain('0.213 ms, 0.399 ms, 0.384 ms');
    expect(c.unchanged).toEqual([false, false, true]);
    const same = comparability([
      run('a', { limit: 2000, baseline: 0.2, params: 50, acc: 0.98 }),
      run('b', { limit: 2000, baseline: 0.21, params: 40, acc: 0.97 }),
    ]);
    expect([same.accuracyNote, same.latencyNote]).toEqual([null, null]);
    // the same count of images from another place in the file is another test set
    const held = comparability([
      run('a', { limit: 2000, baseline: 0.2, params: 50, acc: 0.98 }),
      run('b', { limit: 2000, offset: 8000, baseline: 0.2, params: 40, acc: 0.97 }),
    ]);
    expect(held.evalLabels[1]).toBe('2,000 images of t10k-images-idx3-ubyte.gz from image 8,001');
    expect(held.accuracyNote).toContain('different test sets');
  });
});

describe('viewport fit', () => {
  it('Fit shows the whole graph, even a tall narrow one; the first view of a huge one stays legible from the top', () => {
    const vp = useViewport();
    const view = { width: 600, height: 400 };
    // The MNIST CNN's graph: 16 nodes in one column, far taller than wide.
    vp.fit({ width: 200, height: 1200 }, view);
    expect(1200 * vp.state.scale).toBeLessThanOrEqual(400 - 48 + 1e-9);
    expect(vp.state.ty + 1200 * vp.state.scale).toBeLessThanOrEqual(400);
    vp.fit({ width: 200, height: 1200 }, view, 24, { readable: true });
    expect(1200 * vp.state.scale).toBeLessThanOrEqual(400); // still whole: legible at this size
    vp.fit({ width: 400, height: 60_000 }, view, 24, { readable: true });
    expect(vp.state.scale).toBeCloseTo(Math.min(1.2, (600 - 48) / 400));
    expect(vp.state.ty).toBe(24);
  });
});

describe('minimap', () => {
  it('maps the whole graph into its box and shows where the main view is; a click there goes back to content', () => {
    const content = { width: 400, height: 4000 };
    const view = { width: 600, height: 400 };
    const vp = useViewport();
    vp.fit(content, view, 24, { readable: true }); // a tall graph's first view: the top, by width
    const m = minimap(content, { width: 140, height: 110 }, vp.state, view);
    expect(m.scale).toBeCloseTo(110 / 4000);
    expect(m.view.y).toBeLessThan(2); // the view is at the top of the graph
    expect(m.view.height).toBeLessThan(110 / 4); // and shows a small part of it
    const p = m.toContent(70, 55); // the box's center is the graph's center
    expect(p.x).toBeCloseTo(200);
    expect(p.y).toBeCloseTo(2000);
  });
});
