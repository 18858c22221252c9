/**
 * @file Speedup on small graphs, one structure at a time: every case compacts the model, checks the compact model
 * against the simulated masked model in ORT, and asserts the shapes the rules must produce.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, UnsupportedOpError, type Value } from '../../src-main/core/ir/index.ts';
import type { Masks } from '../../src-main/core/compress/masks.ts';
import {
  PROPAGATION_RULES,
  analyse,
  REPLACERS,
  registerPropagationRule,
  registerReplacer,
} from '../../src-main/core/compress/dependency/index.ts';
import { groupPruningMasks } from '../../src-main/core/compress/pruning/index.ts';
import { EmptyLayerError, planRemoval } from '../../src-main/core/compress/speedup/index.ts';
import { Builder, compactAndCheck, paramDims, pruneChannels, shapesOf } from './helpers.ts';

const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });

/** input[1,3,8,8] → conv1 (4, 3×3) → Relu → … */
function stem(b: Builder, cout = 4, bias = true): Value {
  return b.op('Relu', 'relu1', [b.conv('conv1', b.input('input', [1, 3, 8, 8]), cout, 3, 3, { bias })]);
}

function head(b: Builder, x: Value, cin: number) {
  const pooled = b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [x])]);
  return b.output(b.gemm('fc', pooled, 5, cin), [1, 5]);
}

function bn(b: Builder, name: string, x: Value, c: number): Value {
  const t = (vals: (i: number) => number) =>
    b.g.addInitializer(
      `${name}.${b.g.initializers.length}`,
      Tensor.float32(
        [c],
        Array.from({ length: c }, (_, i) => vals(i)),
      ),
    );
  return b.g.addNode({
    opType: 'BatchNormalization',
    name,
    inputs: [x, t((i) => 1 + 0.1 * i), t((i) => 0.3 - 0.1 * i), t((i) => 0.05 * i), t((i) => 1 + 0.2 * i)],
  }).outputs[0]!;
}

describe('speedup rules on small graphs', () => {
  it('a conv chain: pruned filters go from the producer and the consumer, exactly', async () => {
    const b = new Builder(1);
    const model = head(b, b.op('Relu', 'relu2', [b.conv('conv2', stem(b), 6, 4)]), 6);
    const masks = pruneChannels(new Map(), model, 'conv1', [0, 2]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv1', 1)).toEqual([2, 3, 3, 3]);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([6, 2, 3, 3]);
    expect(r.sparsity).toEqual({ requestedChannels: 2, removedChannels: 2, lost: 0 });
    expect(r.macsAfter).toBeLessThan(r.macsBefore);
  });

  it('folds BN β through ReLU into the next conv: a bias for 1×1, a border map for padded 3×3', async () => {
    for (const k of [1, 3]) {
      const b = new Builder(2);
      const x = b.input('input', [1, 3, 8, 8]);
      const y = b.op('Relu', 'relu1', [bn(b, 'bn1', b.conv('conv1', x, 4, 3, 3, { bias: false }), 4)]);
      const model = head(b, b.op('Relu', 'relu2', [b.conv('conv2', y, 6, 4, k)]), 6);
      const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [1, 3]));
      expect(r.maxRelErr).toBeLessThan(1e-5);
      expect(paramDims(r.model, 'bn1', 1)).toEqual([2]);
      expect(paramDims(r.model, 'conv2', 1)).toEqual([6, 2, k, k]);
      const adds = r.model.graph.nodes.filter((n) => n.opType === 'Add').length;
      expect(adds).toBe(k === 1 ? 0 : 1);
    }
  });

  it('folds a kept conv bias through ReLU, pooling and Flatten into the Gemm bias', async () => {
    const b = new Builder(3);
    const model = head(b, stem(b), 4);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [0], { bias: false }));
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'fc', 1)).toEqual([5, 3]);
  });

  it('a residual Add unites its operands: equal masks remove, unequal masks keep and report the loss', async () => {
    const build = () => {
      const b = new Builder(4);
      const r1 = stem(b);
      const sum = b.op('Add', 'add', [b.conv('conv2', r1, 8, 4), b.conv('conv3', r1, 8, 4)]);
      return head(b, b.op('Relu', 'relu2', [sum]), 8);
    };
    const same = build();
    const masks = pruneChannels(pruneChannels(new Map(), same, 'conv2', [1, 5]), same, 'conv3', [1, 5]);
    const r = await compactAndCheck(same, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([6, 4, 3, 3]);
    expect(paramDims(r.model, 'fc', 1)).toEqual([5, 6]);
    const other = build();
    const half = await compactAndCheck(
      other,
      pruneChannels(pruneChannels(new Map(), other, 'conv2', [1, 5]), other, 'conv3', [1, 6]),
    );
    expect(half.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(half.model, 'conv2', 1)).toEqual([7, 4, 3, 3]);
    expect(half.sparsity).toEqual({ requestedChannels: 4, removedChannels: 2, lost: 0.5 });
    const group = half.groups.find((g) => g.members.includes('conv2'))!;
    expect(group.keptRequested).toBe(2);
    expect(group.reasons[0]).toMatch(/keeps computing it/);
  });

  it('a squeeze-excite gate (Mul by per-channel scales, HardSigmoid) prunes with its block', async () => {
    const b = new Builder(5);
    const x = stem(b, 8);
    const s = b.op('Relu', 'se_relu', [b.conv('fc1', b.op('GlobalAveragePool', 'se_pool', [x]), 4, 8, 1)]);
    const gate = b.op('HardSigmoid', 'se_gate', [b.conv('fc2', s, 8, 4, 1)]);
    const model = head(b, b.op('Mul', 'se_mul', [gate, x]), 8);
    const masks = pruneChannels(pruneChannels(new Map(), model, 'conv1', [0, 3, 4]), model, 'fc2', [0, 3, 4]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'fc2', 1)).toEqual([5, 4, 1, 1]);
    expect(paramDims(r.model, 'fc1', 1)).toEqual([4, 5, 1, 1]);
    // the gate alone: the block's channels still vary, so nothing goes
    const gateOnly = await compactAndCheck(model, pruneChannels(new Map(), model, 'fc2', [1]));
    expect(gateOnly.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(gateOnly.model, 'fc2', 1)).toEqual([8, 4, 1, 1]);
  });

  it('Concat and Split on the channel axis map indices instead of coupling them', async () => {
    const b = new Builder(6);
    const r1 = stem(b);
    const cat = b.op('Concat', 'cat', [b.conv('convA', r1, 3, 4), b.conv('convB', r1, 5, 4)], { axis: int(1) });
    const sizes = b.g.addInitializer('sizes', Tensor.int64([2], [6, 2]));
    const parts = b.g.addNode({
      opType: 'Split',
      name: 'split',
      inputs: [cat, sizes],
      outputs: ['s0', 's1'],
      attributes: { axis: int(1) },
    }).outputs;
    const sum = b.op('Add', 'add', [b.conv('convC', parts[0]!, 4, 6), b.conv('convD', parts[1]!, 4, 2)]);
    const model = head(b, sum, 4);
    const masks = pruneChannels(pruneChannels(new Map(), model, 'convA', [1]), model, 'convB', [0, 4]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'convC', 1)).toEqual([4, 4, 3, 3]);
    expect(paramDims(r.model, 'convD', 1)).toEqual([4, 1, 3, 3]);
    const split = r.model.graph.node('split')!;
    expect(split.input(1)!.initializer!.toNumbers()).toEqual([4, 1]);
  });

  it('a Slice on the channel axis gets rewritten bounds', async () => {
    const b = new Builder(7);
    const r1 = stem(b, 8);
    const c = (name: string, v: number[]) => b.g.addInitializer(name, Tensor.int64([1], v));
    const sl = b.g.addNode({ opType: 'Slice', name: 'slice', inputs: [r1, c('st', [2]), c('en', [7]), c('ax', [1])] })
      .outputs[0]!;
    const model = head(b, b.conv('conv2', sl, 4, 5), 4);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [0, 3, 7]));
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 4, 3, 3]);
  });

  it('depthwise convs pass channels through; grouped convs keep their groups balanced', async () => {
    const b = new Builder(8);
    const r1 = stem(b, 8);
    const dw = b.op('Relu', 'relu_dw', [b.conv('dw', r1, 8, 8, 3, { group: 8 })]);
    const gc = b.op('Relu', 'relu_gc', [b.conv('gconv', dw, 8, 8, 3, { group: 2 })]);
    const model = head(b, gc, 8);
    const balanced = pruneChannels(pruneChannels(new Map(), model, 'conv1', [1, 5]), model, 'dw', [1, 5]);
    const r = await compactAndCheck(model, balanced);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'dw', 1)).toEqual([6, 1, 3, 3]);
    expect(r.model.graph.node('dw')!.attrInt('group')).toBe(6);
    expect(paramDims(r.model, 'gconv', 1)).toEqual([8, 3, 3, 3]);
    const lopsided = await compactAndCheck(
      model,
      pruneChannels(pruneChannels(new Map(), model, 'conv1', [1]), model, 'dw', [1]),
    );
    expect(lopsided.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(lopsided.model, 'gconv', 1)).toEqual([8, 4, 3, 3]);
    expect(lopsided.sparsity.lost).toBe(1);
  });

  it('ConvTranspose holds input channels first', async () => {
    const b = new Builder(9);
    const r1 = stem(b);
    const w = b.weight('up.weight', [4, 6, 2, 2]);
    const up = b.g.addNode({
      opType: 'ConvTranspose',
      name: 'up',
      inputs: [r1, w, b.weight('up.bias', [6])],
      attributes: { kernel_shape: ints([2, 2]), strides: ints([2, 2]) },
    }).outputs[0]!;
    const model = head(b, b.conv('conv2', b.op('Relu', 'relu_up', [up]), 4, 6), 4);
    const masks = pruneChannels(pruneChannels(new Map(), model, 'conv1', [2]), model, 'up', [0, 5], { axis: 1 });
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'up', 1)).toEqual([3, 4, 2, 2]);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 4, 3, 3]);
  });

  it('Gemm chains (transB 0 and 1) and Flatten of a spatial map', async () => {
    const b = new Builder(10);
    const flat = b.op('Flatten', 'flat', [
      b.op('MaxPool', 'pool', [stem(b)], { kernel_shape: ints([4, 4]), strides: ints([4, 4]) }),
    ]);
    const h = b.op('Relu', 'relu_fc1', [b.gemm('fc1', flat, 6, 16, 0)]);
    const model = b.output(b.gemm('fc2', h, 3, 6, 1), [1, 3]);
    const masks = pruneChannels(pruneChannels(new Map(), model, 'conv1', [3]), model, 'fc1', [0, 4]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'fc1', 1)).toEqual([12, 4]);
    expect(paramDims(r.model, 'fc2', 1)).toEqual([3, 4]);
  });

  it('prunes through a LayerNormalization (statistics over the kept channels), keeps those reaching the graph output', async () => {
    const b = new Builder(11);
    const x = b.input('input', [2, 8]);
    const h = b.gemm('fc1', x, 6, 8);
    const ln = b.g.addNode({
      opType: 'LayerNormalization',
      name: 'ln',
      inputs: [h, b.weight('ln.w', [6]), b.weight('ln.b', [6])],
    }).outputs[0]!;
    const model = b.output(b.gemm('fc2', ln, 4, 6), [2, 4]);
    const masks = pruneChannels(pruneChannels(new Map(), model, 'fc1', [1]), model, 'fc2', [0]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'fc1', 1)).toEqual([5, 8]);
    expect(paramDims(r.model, 'ln', 1)).toEqual([5]);
    expect(r.sparsity.lost).toBe(0.5);
    const reasons = r.groups.flatMap((g) => g.reasons).join('\n');
    expect(reasons).toMatch(/graph output "fc2_out" keeps its width/);
  });

  it('an op without a rule on a pruned path is an UnsupportedOpError; registering a rule fixes it', async () => {
    const b = new Builder(12);
    const y = b.op('Shrink', 'shrink', [stem(b)], { lambd: { type: 'float', value: 0.1 } });
    const model = head(b, b.conv('conv2', y, 4, 4), 4);
    const masks = pruneChannels(new Map(), model, 'conv1', [1]);
    const err = await compactAndCheck(model, masks).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedOpError);
    expect((err as Error).message).toMatch(/node "shrink".*registerPropagationRule\('Shrink'/);
    const shrink = (k: number) => (k < -0.1 ? k : k > 0.1 ? k : 0);
    registerPropagationRule('Shrink', {
      propagate: (ctx) => ctx.axes(0).forEach((atoms, axis) => ctx.setAxis(0, axis, atoms)),
      constant: (ctx) => ctx.outAxes(0).forEach((_, axis) => ctx.setConst(0, axis, ctx.consts(0, axis)!.map(shrink))),
    });
    registerReplacer('Shrink', () => {});
    try {
      const r = await compactAndCheck(model, masks);
      expect(r.maxRelErr).toBeLessThan(1e-5);
      expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 3, 3, 3]);
    } finally {
      delete PROPAGATION_RULES.Shrink;
      delete REPLACERS.Shrink;
    }
  });

  it('refuses a plan that empties a layer, naming it', async () => {
    const b = new Builder(13);
    const model = head(b, b.conv('conv2', stem(b), 4, 4), 4);
    const err = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [0, 1, 2, 3])).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EmptyLayerError);
    expect((err as Error).message).toMatch(/removes every output channel of Conv "conv1"/);
  });

  it('roundTo un-prunes the most important channels to reach a multiple', async () => {
    const b = new Builder(14);
    const model = head(b, b.conv('conv2', stem(b, 16), 8, 16), 8);
    const pruned = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', pruned), { roundTo: 8 });
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv1', 1)).toEqual([8, 3, 3, 3]);
    expect(r.sparsity).toMatchObject({ requestedChannels: 10, removedChannels: 8 });
    expect(r.sparsity.lost).toBeCloseTo(0.2);
    // the two kept back are the pruned filters with the largest L1 norms
    const w = model.graph.node('conv1')!.input(1)!.initializer!.toFloat32();
    const l1 = pruned.map((c) => w.slice(c * 27, (c + 1) * 27).reduce((s, x) => s + Math.abs(x), 0));
    const top = [...pruned]
      .sort((x, y) => l1[y]! - l1[x]!)
      .slice(0, 2)
      .sort((x, y) => x - y);
    const a = analyse(model, pruneChannels(new Map(), model, 'conv1', pruned), { shapes: await shapesOf(model) });
    const plan = planRemoval(a.dg, { roundTo: 8, original: (m) => a.originals.get(`${m.node.name}#${m.param}`) });
    expect(plan.kept(a.model.graph.node('conv1')!.outputs[0]!, 1)).toEqual([...top, 10, 11, 12, 13, 14, 15]);
    // kept back, they stay masked: their rows are zero in the compact model
    expect(
      r.model.graph
        .node('conv1')!
        .input(1)!
        .initializer!.toFloat32()
        .slice(0, 54)
        .every((x) => x === 0),
    ).toBe(true);
  });

  it('layers sharing one weight initializer are coupled and keep sharing it', async () => {
    const b = new Builder(15);
    const r1 = stem(b);
    const w = b.weight('shared.weight', [6, 4, 3, 3]);
    const conv = (name: string) =>
      b.g.addNode({
        opType: 'Conv',
        name,
        inputs: [r1, w],
        attributes: { kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]) },
      }).outputs[0]!;
    const sum = b.op('Add', 'add', [b.op('Relu', 'ra', [conv('c1')]), b.op('Sigmoid', 'sb', [conv('c2')])]);
    const model = head(b, sum, 6);
    const masks = pruneChannels(pruneChannels(new Map(), model, 'c1', [2, 4]), model, 'c2', [2, 4]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'c1', 1)).toEqual([4, 4, 3, 3]);
    expect(r.model.graph.node('c1')!.input(1)).toBe(r.model.graph.node('c2')!.input(1));
  });

  it('an activation mask (_output_0) becomes a Mul that disappears once its channels are gone', async () => {
    const b = new Builder(16);
    const model = head(b, b.conv('conv2', stem(b), 4, 4), 4);
    const masks: Masks = new Map([
      ['conv1', new Map([['_output_0', { dims: [1, 4, 1, 1], data: Uint8Array.from([1, 0, 1, 1]) }]])],
    ]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv1', 1)).toEqual([3, 3, 3, 3]);
    expect(r.model.graph.nodes.some((n) => n.opType === 'Mul')).toBe(false);
  });

  it('a channel shuffle (Reshape → Transpose → Reshape) is index-mapped', async () => {
    const b = new Builder(17);
    const r1 = stem(b, 8);
    const shape = (name: string, v: number[]) => b.g.addInitializer(name, Tensor.int64([v.length], v));
    const g1 = b.op('Reshape', 'shuffle_in', [r1, shape('s5', [1, 2, 4, 8, 8])]);
    const t = b.op('Transpose', 'shuffle_t', [g1], { perm: ints([0, 2, 1, 3, 4]) });
    const sh = b.op('Reshape', 'shuffle_out', [t, shape('s4', [1, 8, 8, 8])]);
    const model = head(b, b.conv('conv2', sh, 4, 8), 4);
    const masks = groupPruningMasks(model, await shapesOf(model), { sparsity: 0.5 });
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv1', 1)).toEqual([4, 3, 3, 3]);
    expect(r.model.graph.node('shuffle_in')!.input(1)!.initializer!.toNumbers()).toEqual([1, 2, 2, 8, 8]);
  });

  it('Expand and ConstantOfShape shapes computed from Shape are rewritten', async () => {
    const b = new Builder(18);
    const x = stem(b);
    const shape = b.op('Shape', 'shape', [x]);
    const pooled = b.op('GlobalAveragePool', 'gap2', [x]);
    const spread = b.op('Expand', 'expand', [pooled, shape]);
    const half = b.g.addNode({
      opType: 'ConstantOfShape',
      name: 'cos',
      inputs: [shape],
      attributes: { value: { type: 'tensor', value: Tensor.float32([1], [0.5]) } },
    }).outputs[0]!;
    const y = b.op('Add', 'add', [b.op('Mul', 'mul', [x, spread]), half]);
    const model = head(b, b.conv('conv2', y, 4, 4), 4);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [0, 2]));
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 2, 3, 3]);
    expect(r.model.graph.node('expand')!.input(1)!.initializer!.toNumbers()).toEqual([1, 2, 8, 8]);
  });

  it('attention with separate q / k / v projections and batch 2 loses whole heads', async () => {
    const b = new Builder(19);
    const x = b.input('input', [2, 4, 8]);
    const shape = (name: string, v: number[]) => b.g.addInitializer(name, Tensor.int64([v.length], v));
    const proj = (name: string, v: Value) =>
      b.op('Add', `${name}_bias`, [
        b.g.addNode({ opType: 'MatMul', name, inputs: [v, b.weight(`${name}.w`, [8, 8], 0.3)] }).outputs[0]!,
        b.weight(`${name}.b`, [8]),
      ]);
    const heads = (name: string, perm: number[]) =>
      b.op(
        'Transpose',
        `${name}_t`,
        [b.op('Reshape', `${name}_r`, [proj(name, x), shape(`${name}_s`, [2, 4, 2, 4])])],
        { perm: ints(perm) },
      );
    const q = b.op('Div', 'scale', [heads('q', [0, 2, 1, 3]), b.g.addInitializer('two', Tensor.float32([], [2]))]);
    const scores = b.op(
      'Softmax',
      'softmax',
      [b.g.addNode({ opType: 'MatMul', name: 'qk', inputs: [q, heads('k', [0, 2, 3, 1])] }).outputs[0]!],
      { axis: int(-1) },
    );
    const ctx = b.g.addNode({ opType: 'MatMul', name: 'av', inputs: [scores, heads('v', [0, 2, 1, 3])] }).outputs[0]!;
    const merged = b.op('Reshape', 'merge', [
      b.op('Transpose', 'merge_t', [ctx], { perm: ints([0, 2, 1, 3]) }),
      shape('merge_s', [2, 4, 8]),
    ]);
    const out = b.g.addNode({ opType: 'MatMul', name: 'o', inputs: [merged, b.weight('o.w', [8, 8], 0.3)] })
      .outputs[0]!;
    const model = b.output(out, [2, 4, 8]);
    const masks = groupPruningMasks(model, await shapesOf(model), { sparsity: 0.5 });
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    for (const n of ['q', 'k', 'v']) expect(paramDims(r.model, n, 1)).toEqual([8, 4]);
    expect(paramDims(r.model, 'o', 1)).toEqual([4, 8]);
    expect(r.model.graph.node('q_r')!.input(1)!.initializer!.toNumbers()).toEqual([2, 4, 1, 4]);
    expect(r.model.graph.node('merge')!.input(1)!.initializer!.toNumbers()).toEqual([2, 4, 4]);
  });

  it("a Reshape whose target reads another tensor's width gets a constant target (MaxViT's attention merge)", async () => {
    const b = new Builder(15);
    const x = b.input('input', [1, 4, 6]);
    const mm = (name: string, v: Value, nin: number, nout: number) =>
      b.g.addNode({ opType: 'MatMul', name, inputs: [v, b.weight(`${name}.weight`, [nin, nout])] }).outputs[0]!;
    const stream = b.op('Relu', 'relu', [mm('fc0', x, 6, 8)]);
    const inner = mm('fc1', stream, 8, 8);
    const split = b.op('Reshape', 'split', [inner, b.g.addInitializer('heads', Tensor.int64([4], [1, 4, 2, 4]))]);
    // the merge reads B, N, D from the stream (as torch code does with `B, N, D = x.size()`)
    const dims = b.op('Shape', 'shape', [stream]);
    const merged = b.op('Reshape', 'merge', [b.op('Relu', 'relu2', [split]), dims]);
    const sum = b.op('Add', 'residual', [mm('proj', merged, 8, 8), stream]);
    const model = b.output(mm('head', sum, 8, 3), [1, 4, 3]);
    let masks = pruneChannels(new Map(), model, 'fc0', [1, 5]);
    masks = pruneChannels(masks, model, 'proj', [1, 5]);
    const r = await compactAndCheck(model, masks);
    expect(r.maxRelErr).toBeLessThan(1e-5);
    // the stream shrinks to 6 while the merged width stays 8: the merge's target no longer follows the stream
    expect(paramDims(r.model, 'fc0', 1)).toEqual([6, 6]);
    expect(paramDims(r.model, 'fc1', 1)).toEqual([6, 8]);
    expect(paramDims(r.model, 'proj', 1)).toEqual([8, 6]);
    expect(r.model.graph.node('merge')!.input(1)!.initializer?.toNumbers()).toEqual([1, 4, 8]);
  });

  it("a number computed from a shrinking width keeps its traced value (Swin's attention scale)", async () => {
    const b = new Builder(16);
    const x = b.input('input', [1, 4, 6]);
    const mm = (name: string, v: Value, nin: number, nout: number) =>
      b.g.addNode({ opType: 'MatMul', name, inputs: [v, b.weight(`${name}.weight`, [nin, nout])] }).outputs[0]!;
    const stream = b.op('Relu', 'relu', [mm('fc0', x, 6, 8)]);
    // scale = (width of the stream) ^ -0.5, as torch code computes it from x.size(-1)
    const width = b.op('Gather', 'width', [
      b.op('Shape', 'shape', [stream]),
      b.g.addInitializer('two', Tensor.int64([], [2])),
    ]);
    const f = b.op('Cast', 'to_float', [width], { to: int(1) });
    const scale = b.op('Pow', 'pow', [f, b.g.addInitializer('minus_half', Tensor.float32([], [-0.5]))]);
    const scaled = b.op('Mul', 'scaled', [mm('fc1', stream, 8, 8), scale]);
    const model = b.output(mm('head', scaled, 8, 3), [1, 4, 3]);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'fc0', [1, 5]));
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'fc0', 1)).toEqual([6, 6]);
    expect(r.model.graph.node('pow')!.input(0)!.initializer?.toNumbers()).toEqual([8]);
  });
});
