/**
 * @file Tests of the concrete trace: every intermediate's shape and dtype, kept data, control flow, annotation, and
 * the trace in slices (bounded memory) giving the values of the one-run trace.
 */
import { describe, expect, it } from 'vitest';
import { Graph, Model, Tensor, printModel } from '../../core/ir/index.ts';
import { loadCorpusModel } from '../../../test/corpus/materialize.ts';
import { sampleInputs } from './inputs.ts';
import { runModel } from './run.ts';
import { exposeIntermediates, trace, type TraceResult } from './trace.ts';
import { graphAttr, init, input, int, ints, op, output, smallCnn } from './testing/models.ts';

describe('trace of a small CNN', () => {
  it('gives the right dtype and shape for every value', async () => {
    const t = await trace(smallCnn(), { dimSizes: { N: 2 }, threads: 1 });
    const shapes = Object.fromEntries([...t.values].map(([k, v]) => [k, v.shape]));
    expect(shapes).toMatchObject({
      x: [2, 3, 8, 8],
      w1: [4, 3, 3, 3],
      conv1: [2, 4, 8, 8],
      relu1: [2, 4, 8, 8],
      pool1: [2, 4, 4, 4],
      conv2: [2, 6, 2, 2],
      relu2: [2, 6, 2, 2],
      gap: [2, 6, 1, 1],
      flat: [2, 6],
      y: [2, 5],
      s: [4],
      sf: [4],
    });
    expect(t.values.get('s')!.dtype).toBe('int64');
    expect(t.values.get('sf')!.dtype).toBe('float32');
    expect(t.values.get('conv1')!.kind).toBe('node');
    expect(t.values.get('w1')!.kind).toBe('initializer');
    expect(t.values.get('x')!.kind).toBe('input');
    expect(t.skipped).toEqual([]);
    expect(t.ep).toBe('cpu');
    expect(t.ms).toBeGreaterThan(0);
    expect([...t.values.values()].every((v) => v.data === undefined)).toBe(true);
  });

  it('returns the same outputs as a plain run on the same inputs', async () => {
    const m = smallCnn();
    const t = await trace(m, { seed: 3 });
    const plain = await runModel(m, t.inputs);
    // the trace runs unoptimized (every value is an output anyway); kernels differ in rounding only
    const p = plain.y!.toNumbers();
    t.outputs.y!.toNumbers().forEach((v, i) => expect(v).toBeCloseTo(p[i]!, 5));
    const same = await runModel(m, t.inputs, { optimization: 'disabled' });
    expect(t.outputs.y!.toNumbers()).toEqual(same.y!.toNumbers());
    expect(t.outputs.sf!.toNumbers()).toEqual([1, 4, 8, 8]);
  });

  it('keeps data on request, and the kept values agree with each other', async () => {
    const t = await trace(smallCnn(), { keep: ['conv1', 'relu1', 'relu2', 'gap'] });
    expect(t.values.get('pool1')!.data).toBeUndefined();
    const conv = t.values.get('conv1')!.data!.toNumbers();
    expect(t.values.get('relu1')!.data!.toNumbers()).toEqual(conv.map((v) => Math.max(v, 0)));
    // GlobalAveragePool: the mean of each 2×2 channel
    const r2 = t.values.get('relu2')!.data!.toNumbers();
    const gap = t.values.get('gap')!.data!.toNumbers();
    gap.forEach((g, c) =>
      expect(g).toBeCloseTo((r2[4 * c]! + r2[4 * c + 1]! + r2[4 * c + 2]! + r2[4 * c + 3]!) / 4, 5),
    );
    const all = await trace(smallCnn(), { keepData: true });
    expect([...all.values.values()].every((v) => v.data !== undefined)).toBe(true);
  });

  it('leaves the model untouched unless asked to annotate', async () => {
    const m = smallCnn();
    const before = printModel(m);
    await trace(m);
    expect(printModel(m)).toBe(before);
    const t = await trace(m, { annotate: true, dimSizes: { N: 2 } });
    expect(t.annotated).toBe(10);
    // a second run with another N tells which dims follow it
    expect(t.notes).toEqual([]);
    expect(m.graph.get('conv2')!.type).toEqual({ kind: 'tensor', dtype: 'float32', shape: ['N', 6, 2, 2] });
    expect(m.graph.get('flat')!.shape).toEqual(['N', 6]);
    expect(m.graph.get('s')!.shape).toEqual([4]);
    expect(m.graph.get('y')!.shape).toEqual(['N', 5]);
    const { y } = await runModel(m, sampleInputs(m, { dimSizes: { N: 3 } })); // still runs at another batch size
    expect(y!.dims).toEqual([3, 5]);
  });

  it('annotates traced sizes as fixed without the dynamic probe, keeping declared symbols', async () => {
    const m = smallCnn();
    await trace(m, { annotate: true, dynamic: false, dimSizes: { N: 2 } });
    expect(m.graph.get('conv2')!.shape).toEqual([2, 6, 2, 2]);
    expect(m.graph.get('y')!.shape).toEqual(['N', 5]); // the declared symbol survives
  });

  it('labels dims derived from several symbols as unknown', async () => {
    const m = new Model();
    const g = m.graph;
    const a = input(g, 'a', 'float32', ['B', 'T', 4]);
    const flat = op(g, 'Reshape', [a, g.addInitializer('to', Tensor.int64([2], [-1, 4]))], 'flat');
    output(g, op(g, 'Relu', [flat], 'y'));
    await trace(m, { annotate: true, dimSizes: { B: 2, T: 3 } });
    expect(m.graph.get('flat')!.shape).toEqual([null, 4]);
  });

  it('exposes node outputs but not omitted optional ones', () => {
    const m = new Model();
    const g = m.graph;
    const x = input(g, 'x', 'float32', [1, 1, 4, 4]);
    const pool = g.addNode({
      opType: 'MaxPool',
      inputs: [x],
      outputs: ['p', ''],
      name: 'pool',
      attributes: { kernel_shape: ints(2, 2) },
    });
    output(g, op(g, 'Relu', [pool.outputs[0]!], 'y'));
    const { exposed, added } = exposeIntermediates(m);
    expect(added).toEqual(['p']);
    expect(exposed.graph.outputs.map((v) => v.name)).toEqual(['y', 'p']);
    expect(m.graph.outputs.map((v) => v.name)).toEqual(['y']);
  });
});

/** out = If(sum(x) > 0, then: Relu(x), else: Neg(x)) · 2 — the branches read x from the outer scope. */
function ifModel(): Model {
  const m = new Model();
  const g = m.graph;
  const x = input(g, 'x', 'float32', [2, 3]);
  const sum = op(g, 'ReduceSum', [x], 'sum', { keepdims: int(0) });
  const cond = op(g, 'Greater', [sum, init(g, 'zero', [], [0])], 'cond');
  const branch = (name: string, opType: string) => {
    const sg = new Graph(name, g);
    const v = op(sg, opType, [x], `${name}_out`);
    output(sg, v, 'float32', [2, 3]);
    return sg;
  };
  const iff = g.addNode({
    opType: 'If',
    inputs: [cond],
    outputs: ['branch'],
    name: 'if',
    attributes: { then_branch: graphAttr(branch('then', 'Relu')), else_branch: graphAttr(branch('else', 'Neg')) },
  });
  output(g, op(g, 'Mul', [iff.outputs[0]!, init(g, 'two', [], [2])], 'out'), 'float32', [2, 3]);
  return m;
}

/** Loop 3 times: acc += x; outputs the final acc and every step's acc (a scan output). */
function loopModel(): Model {
  const m = new Model();
  const g = m.graph;
  const x = input(g, 'x', 'float32', [2]);
  const trip = g.addInitializer('trip', Tensor.int64([], [3]));
  const go = g.addInitializer('go', new Tensor('bool', [], Uint8Array.from([1])));
  const acc0 = init(g, 'acc0', [2], [0, 0]);
  const body = new Graph('body', g);
  body.addInput('i', { kind: 'tensor', dtype: 'int64', shape: [] });
  const cin = body.addInput('cond_in', { kind: 'tensor', dtype: 'bool', shape: [] });
  const acc = body.addInput('acc', { kind: 'tensor', dtype: 'float32', shape: [2] });
  output(body, op(body, 'Identity', [cin], 'cond_out'), 'bool', []);
  const next = op(body, 'Add', [acc, x], 'acc_next');
  output(body, next, 'float32', [2]);
  output(body, op(body, 'Identity', [next], 'step'), 'float32', [2]);
  const loop = g.addNode({
    opType: 'Loop',
    inputs: [trip, go, acc0],
    outputs: ['final', 'steps'],
    name: 'loop',
    attributes: { body: graphAttr(body) },
  });
  output(g, op(g, 'Relu', [loop.outputs[0]!], 'y'));
  output(g, loop.outputs[1]!);
  return m;
}

describe('trace with control flow', () => {
  it('traces If: its output is exposed, the branch values are not', async () => {
    const pos = await trace(ifModel(), { inputs: { x: Tensor.float32([2, 3], [1, -2, 3, 4, -5, 6]) }, keepData: true });
    expect(pos.values.get('cond')).toMatchObject({ dtype: 'bool', shape: [] });
    expect(pos.values.get('branch')!.data!.toNumbers()).toEqual([1, 0, 3, 4, 0, 6]);
    expect(pos.outputs.out!.toNumbers()).toEqual([2, 0, 6, 8, 0, 12]);
    expect(pos.values.has('then_out')).toBe(false);
    const neg = await trace(ifModel(), { inputs: { x: Tensor.float32([2, 3], [-1, -2, -3, 4, -5, 6]) } });
    expect(neg.outputs.out!.toNumbers()).toEqual([2, 4, 6, -8, 10, -12]);
  });

  it('traces Loop with a carried value and a scan output', async () => {
    const t = await trace(loopModel(), { inputs: { x: Tensor.float32([2], [1, 2]) }, keep: ['final'] });
    expect(t.values.get('final')!.data!.toNumbers()).toEqual([3, 6]);
    expect(t.values.get('steps')).toMatchObject({ dtype: 'float32', shape: [3, 2] });
    expect(t.outputs.steps!.toNumbers()).toEqual([1, 2, 2, 4, 3, 6]);
    expect(t.values.has('acc_next')).toBe(false);
  });

  it('skips sequence values, which ORT-node cannot return, and says so', async () => {
    const m = new Model();
    const g = m.graph;
    const x = input(g, 'x', 'float32', [2]);
    const seq = op(g, 'SequenceConstruct', [x, x], 'seq');
    output(g, op(g, 'ConcatFromSequence', [seq], 'y', { axis: int(0) }));
    const t = await trace(m);
    expect(t.skipped).toEqual([{ name: 'seq', reason: expect.stringMatching(/not a tensor/) }]);
    expect(t.values.get('y')!.shape).toEqual([4]);
  });
});

/** Every traced value of `a` is in `b` with the same kind, dtype, shape and (kept) data, and nothing more. */
function expectSameTrace(a: TraceResult, b: TraceResult): void {
  expect([...b.values.keys()].sort()).toEqual([...a.values.keys()].sort());
  for (const [name, v] of a.values) {
    const w = b.values.get(name)!;
    expect({ name, kind: w.kind, dtype: w.dtype, shape: w.shape }).toEqual({
      name,
      kind: v.kind,
      dtype: v.dtype,
      shape: v.shape,
    });
    if (v.data) expect(w.data!.toNumbers(), name).toEqual(v.data.toNumbers());
  }
  expect(Object.keys(b.outputs).sort()).toEqual(Object.keys(a.outputs).sort());
  for (const [name, t] of Object.entries(a.outputs)) expect(b.outputs[name]!.toNumbers()).toEqual(t.toNumbers());
}

/** h = Relu(x); out = If(sum(h) > 0, then: Neg(h), else: Exp(h)) + h — the branches read h, a node output, from outside. */
function ifReadsIntermediate(): Model {
  const m = new Model();
  const g = m.graph;
  const x = input(g, 'x', 'float32', [2, 3]);
  const h = op(g, 'Relu', [x], 'h');
  const sum = op(g, 'ReduceSum', [h], 'sum', { keepdims: int(0) });
  const cond = op(g, 'Greater', [sum, init(g, 'zero', [], [0])], 'cond');
  const branch = (name: string, opType: string) => {
    const sg = new Graph(name, g);
    output(sg, op(sg, opType, [h], `${name}_out`), 'float32', [2, 3]);
    return sg;
  };
  const iff = g.addNode({
    opType: 'If',
    inputs: [cond],
    outputs: ['branch'],
    name: 'if',
    attributes: { then_branch: graphAttr(branch('then', 'Neg')), else_branch: graphAttr(branch('else', 'Exp')) },
  });
  output(g, op(g, 'Add', [iff.outputs[0]!, h], 'out'), 'float32', [2, 3]);
  return m;
}

describe('trace in slices (bounded memory)', () => {
  it.each([
    ['mobilenet_v3_small_op17_dyn', 4],
    ['transformer_op13_dyn', 8],
  ])('gives %s the values, shapes and outputs of the one-run trace (budget 1/%i of its values)', async (name, part) => {
    const model = loadCorpusModel(name);
    const whole = await trace(model, { keepData: true, threads: 1 });
    expect(whole.slices).toBe(1);
    // a budget of a part of the values' bytes: several slices, each fed the values it reads from earlier ones
    let bytes = 0;
    for (const v of whole.values.values()) if (v.kind === 'node') bytes += v.data!.size * 4;
    const sliced = await trace(model, { keepData: true, threads: 1, maxBytes: Math.ceil(bytes / part) });
    expect(sliced.slices).toBeGreaterThanOrEqual(3);
    expect(sliced.notes.join()).toMatch(/traced in \d+ slices/);
    expectSameTrace(whole, sliced);
  });

  it('annotates the same dynamic dims in slices as in one run', async () => {
    const a = loadCorpusModel('resnet18_op17_dyn');
    const b = loadCorpusModel('resnet18_op17_dyn');
    await trace(a, { annotate: true, threads: 1 });
    const t = await trace(b, { annotate: true, threads: 1, maxBytes: 2 ** 20 });
    expect(t.slices).toBeGreaterThan(4);
    const types = (m: Model) => m.graph.nodes.flatMap((n) => n.outputs.map((v) => [v.name, v.type]));
    expect(types(b)).toEqual(types(a));
    expect(types(a).some(([, ty]) => JSON.stringify(ty).includes('"batch"'))).toBe(true);
  });

  it('feeds a subgraph the outer value it reads from an earlier slice', async () => {
    for (const xs of [
      [1, -2, 3, 4, -5, 6],
      [-1, -2, -3, -4, -5, -6],
    ]) {
      const x = Tensor.float32([2, 3], xs);
      const whole = await trace(ifReadsIntermediate(), { inputs: { x }, keepData: true });
      // 1 byte: every node a slice of its own, so the If's slice reads h (through its branches) as an input
      const sliced = await trace(ifReadsIntermediate(), { inputs: { x }, keepData: true, maxBytes: 1 });
      expect(sliced.slices).toBe(5);
      expectSameTrace(whole, sliced);
    }
  });

  it('sizes the slice after one of shape arithmetic alone by the first guess, not by its scalars', async () => {
    // x (4 MB) → Relu → Shape → Gather → Unsqueeze (a slice of scalars) → eight 4 MB Relus: sized by the scalars the
    // next slice took all eight at once (vit_h_14: the rest of the model, 20 GB at batch 2)
    const n = 1 << 20;
    const m = new Model();
    const g = m.graph;
    const x = input(g, 'x', 'float32', [1, n]);
    const r0 = op(g, 'Relu', [x], 'r0');
    const shape = op(g, 'Shape', [r0], 'shape');
    const dim = op(g, 'Gather', [shape, g.addInitializer('one', Tensor.int64([], [1]))], 'dim');
    output(g, op(g, 'Unsqueeze', [dim, g.addInitializer('axes', Tensor.int64([1], [0]))], 'dims'));
    let h = r0;
    for (let i = 1; i <= 8; i++) h = op(g, 'Relu', [h], `r${i}`);
    output(g, h);
    const inputs = {
      x: Tensor.float32(
        [1, n],
        Array.from({ length: n }, (_, i) => (i % 7) - 3),
      ),
    };
    const whole = await trace(m, { inputs, keepData: true, threads: 1 });
    // the first guess is 4 × the 4 MB input: a 40 MB budget holds two values a slice
    const sliced = await trace(m, { inputs, keepData: true, threads: 1, maxBytes: 40 * 2 ** 20 });
    expect(sliced.slices).toBeGreaterThanOrEqual(6);
    expectSameTrace(whole, sliced);
  });

  it('traces whole, and says why, when a non-tensor value crosses a cut', async () => {
    const m = new Model();
    const g = m.graph;
    const x = input(g, 'x', 'float32', [2]);
    const seq = op(g, 'SequenceConstruct', [x, x], 'seq');
    output(g, op(g, 'ConcatFromSequence', [seq], 'y', { axis: int(0) }));
    const t = await trace(m, { maxBytes: 1 });
    expect(t.slices).toBe(1);
    expect(t.notes.join()).toMatch(/not in slices.*"seq"/);
    expect(t.values.get('y')!.shape).toEqual([4]);
    expect(t.skipped.map((s) => s.name)).toContain('seq');
  });
});
