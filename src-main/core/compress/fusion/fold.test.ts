/** @file Module fusion: BatchNormalization folding is numerically exact in ORT (mnist example, resnet18_bn, Gemm and grouped ConvTranspose), fuse_names validated against the graph. */
import { describe, expect, it } from 'vitest';
import { Tensor, cloneModel, type Model } from '../../ir/index.ts';
import { Builder } from '../../../../test/pruning/helpers.ts';
import { loadCorpusModel } from '../../../../test/corpus/materialize.ts';
import { loadModelFile } from '../../../node/io/model-file.ts';
import { runModel, sampleInputs } from '../../../node/runtime/index.ts';
import { bundledMnist } from '../../../node/train/mnist.ts';
import { foldBatchNormsPass, fuseModules } from './index.ts';

/** max |a − b| / max |a| over every output. */
async function maxRelErr(a: Model, b: Model, feeds: Record<string, Tensor>): Promise<number> {
  const [ra, rb] = [await runModel(a, feeds), await runModel(b, feeds)];
  let worst = 0;
  for (const k of Object.keys(ra)) {
    const x = ra[k]!.data as Float32Array;
    const y = rb[k]!.data as Float32Array;
    let diff = 0;
    let scale = 0;
    for (let i = 0; i < x.length; i++) {
      diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
      scale = Math.max(scale, Math.abs(x[i]!));
    }
    worst = Math.max(worst, diff / scale);
  }
  return worst;
}

const bnCount = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;

/** A BatchNormalization with seeded, non-trivial statistics. */
function bn(b: Builder, name: string, x: import('../../ir/index.ts').Value, c: number) {
  const u = (lo: number, hi: number) =>
    b.g.addInitializer(
      `${name}.${lo}`,
      Tensor.float32(
        [c],
        Array.from({ length: c }, () => b.rng.uniform(lo, hi)),
      ),
      true,
    );
  return b.g.addNode({
    opType: 'BatchNormalization',
    name,
    inputs: [x, u(0.5, 1.5), u(-0.5, 0.5), u(-0.3, 0.3), u(0.5, 2)],
    attributes: { epsilon: { type: 'float', value: 1e-3 } },
  }).outputs[0]!;
}

describe('BatchNormalization folding is exact', () => {
  it('on the bundled MNIST example (Conv-BN-Relu ×3), on real images', async () => {
    const model = loadModelFile(new URL('../../../../resources/mnist-cnn.onnx', import.meta.url).pathname);
    const fused = cloneModel(model);
    const r = fuseModules(fused, { auto: true });
    expect(r.groups.map((g) => g.head)).toEqual(['/conv1/Conv', '/conv2/Conv', '/conv3/Conv']);
    expect(bnCount(fused)).toBe(0);
    const set = bundledMnist('test', 64);
    const feeds = { input: new Tensor('float32', [64, 1, 28, 28], set.x) };
    expect(await maxRelErr(model, fused, feeds)).toBeLessThanOrEqual(1e-5);
  });

  it('on resnet18_bn_op17_b1 (20 Conv + BN pairs)', async () => {
    const model = loadCorpusModel('resnet18_bn_op17_b1', 0);
    const fused = cloneModel(model);
    const r = foldBatchNormsPass.run(fused);
    expect(r.modified).toBe(true);
    expect(bnCount(fused)).toBe(0);
    expect(foldBatchNormsPass.run(fused).modified).toBe(false);
    for (const seed of [1, 2])
      expect(await maxRelErr(model, fused, sampleInputs(model, { seed }))).toBeLessThanOrEqual(1e-5);
  });

  it('on Gemm (transB 0 and 1, with beta) and grouped ConvTranspose, keeping a graph output name', async () => {
    const b = new Builder(5);
    const x = b.input('x', [3, 6]);
    const g1 = b.gemm('fc1', x, 4, 6, 1);
    b.g.node('fc1')!.setAttr('beta', { type: 'float', value: 0.5 });
    const g2 = b.gemm('fc2', bn(b, 'bn1', g1, 4), 5, 4, 0);
    const y = bn(b, 'bn2', g2, 5);
    const img = b.input('img', [1, 4, 3, 3]);
    const w = b.weight('up.weight', [4, 3, 2, 2]);
    const up = b.g.addNode({
      opType: 'ConvTranspose',
      name: 'up',
      inputs: [img, w],
      attributes: { group: { type: 'int', value: 2 }, strides: { type: 'ints', value: [2, 2] } },
    }).outputs[0]!;
    const z = bn(b, 'bn3', up, 6);
    b.output(y, [3, 5]);
    const model = b.output(z, [1, 6, 6, 6]);
    const fused = cloneModel(model);
    const r = fuseModules(fused, { auto: true });
    expect(r.groups.map((g) => `${g.head}+${g.folded}`)).toEqual(['fc1+bn1', 'fc2+bn2', 'up+bn3']);
    expect(fused.graph.outputs.map((v) => v.name)).toEqual(model.graph.outputs.map((v) => v.name));
    expect(fused.graph.node('fc1')!.attrFloat('beta', 0)).toBe(1);
    expect(await maxRelErr(model, fused, sampleInputs(model, { seed: 3 }))).toBeLessThanOrEqual(1e-5);
  });
});

describe("a constant Add between the head and its BatchNormalization (speedup's fold-forward map)", () => {
  it('moves past the BN, scaled by γ/σ, and the pair folds: per-position map, per-channel vector, graph-output BN', async () => {
    const b = new Builder(7);
    const x = b.input('x', [2, 3, 6, 6]);
    const map = b.g.addInitializer(
      'map',
      Tensor.float32(
        [1, 4, 6, 6],
        Array.from({ length: 144 }, () => b.rng.uniform(-1, 1)),
      ),
    );
    const y1 = b.op('Relu', 'relu1', [bn(b, 'bn1', b.op('Add', 'add1', [b.conv('conv1', x, 4, 3, 3), map]), 4)]);
    const vec = b.g.addInitializer('vec', Tensor.float32([5], [0.3, -0.2, 0.5, 1, -1]));
    const y2 = bn(
      b,
      'bn2',
      b.op('Add', 'add2', [vec, b.gemm('fc', b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [y1])]), 5, 4)]),
      5,
    );
    const model = b.output(y2, [2, 5]);
    const fused = cloneModel(model);
    const r = fuseModules(fused, { auto: true });
    expect(r.groups.map((g) => `${g.head}+${g.folded}`)).toEqual(['conv1+bn1', 'fc+bn2']);
    expect(r.diagnostics.filter((d) => d.code === 'fusion-add-moved').map((d) => d.node)).toEqual(['bn1', 'bn2']);
    expect(bnCount(fused)).toBe(0);
    const add1 = fused.graph.node('add1')!;
    expect(add1.input(0)!.producer?.name).toBe('conv1');
    expect(add1.outputs[0]!.uses.map((u) => u.node.name)).toEqual(['relu1']);
    expect(fused.graph.outputs.map((v) => v.name)).toEqual(model.graph.outputs.map((v) => v.name));
    expect(fused.graph.outputs[0]!.producer?.name).toBe('add2');
    expect(await maxRelErr(model, fused, sampleInputs(model, { seed: 8 }))).toBeLessThanOrEqual(1e-5);
  });

  it('stays where it is in front of a training-mode BN (batch statistics would see the constant)', () => {
    const b = new Builder(9);
    const x = b.input('x', [2, 3, 6, 6]);
    const map = b.g.addInitializer('map', Tensor.float32([1, 4, 1, 1], [1, 2, 3, 4]));
    const out = bn(b, 'bn1', b.op('Add', 'add1', [b.conv('conv1', x, 4, 3, 3), map]), 4);
    b.g.node('bn1')!.setAttr('training_mode', { type: 'int', value: 1 });
    const model = b.output(out, [2, 4, 6, 6]);
    const r = fuseModules(model, { auto: true });
    expect(r.groups).toEqual([]);
    expect(model.graph.node('bn1')!.input(0)!.producer?.name).toBe('add1');
  });

  it('stays where it is when the conv output is read elsewhere too (the BN could not fold anyway)', () => {
    const b = new Builder(10);
    const x = b.input('x', [2, 3, 6, 6]);
    const y = b.conv('conv1', x, 4, 3, 3);
    const map = b.g.addInitializer('map', Tensor.float32([1, 4, 1, 1], [1, 2, 3, 4]));
    b.output(y, [2, 4, 6, 6]);
    const model = b.output(bn(b, 'bn1', b.op('Add', 'add1', [y, map]), 4), [2, 4, 6, 6]);
    const r = fuseModules(model, { auto: true });
    expect(r.groups).toEqual([]);
    expect(r.diagnostics.map((d) => d.code)).not.toContain('fusion-add-moved');
    expect(model.graph.node('bn1')!.input(0)!.producer?.name).toBe('add1');
  });
});

describe('fuse_names', () => {
  function convBnRelu(): Model {
    const b = new Builder(2);
    const x = b.input('x', [1, 3, 6, 6]);
    const c = b.conv('conv', x, 4, 3);
    const r = b.op('Relu', 'relu', [bn(b, 'bn', c, 4)]);
    const d = b.conv('conv2', r, 4, 4, 1);
    b.op('Relu', 'side', [d]);
    return b.output(b.op('Relu', 'relu2', [d]), [1, 4, 6, 6]);
  }

  it('folds a named group and records the activation whose output carries the quantized output', () => {
    const m = convBnRelu();
    const r = fuseModules(m, { groups: [{ names: ['conv', 'bn', 'relu'], path: '$[0].fuse_names[0]' }] });
    expect(r.diagnostics).toEqual([]);
    expect(r.groups).toEqual([
      {
        head: 'conv',
        folded: ['bn'],
        activation: 'relu',
        output: 'relu_out',
        source: 'fuse_names',
        path: '$[0].fuse_names[0]',
      },
    ]);
    expect(m.graph.node('relu')!.input(0)!.producer!.name).toBe('conv');
  });

  it('names the fault of a group that cannot be fused', () => {
    const m = convBnRelu();
    const faults = (groups: string[][]) =>
      fuseModules(cloneModel(m), {
        groups: groups.map((names) => ({ names, path: '$[0].fuse_names[0]' })),
      }).diagnostics.map((d) => `${d.node}: ${d.message}`);
    expect(faults([['conv', 'nope']])).toEqual([expect.stringMatching(/^nope: .*no node named "nope"/)]);
    expect(faults([['relu', 'conv']])[0]).toMatch(/Relu \+ Conv cannot be fused; supported/);
    expect(faults([['conv', 'relu']])[0]).toMatch(/does not consume the output of Conv "conv"/);
    expect(faults([['conv2', 'relu2']])[0]).toMatch(/^conv2: .*also feeds other nodes/);
    expect(fuseModules(cloneModel(m), { groups: [{ names: ['conv', 'bn'] }] }).diagnostics).toEqual([]);
  });
});
