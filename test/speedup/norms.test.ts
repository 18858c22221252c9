/**
 * @file Speedup through normalisations over the channel axis, on the smallest graphs that show each pattern:
 * LayerNormalization over the last axis after a linear layer, over channels of NCHW through a Transpose (ConvNeXt),
 * over several axes at once; GroupNormalization (opsets 18 and 21); InstanceNormalization. Each compact model is
 * checked against the masked model whose norms compute their statistics over the kept channels (norm-stats.ts), and
 * the masked-statistics form is checked to differ from plain masking (so the rewrite is what makes them agree).
 */
import { describe, expect, it } from 'vitest';
import { Tensor, type Value } from '../../src-main/core/ir/index.ts';
import { simulate } from '../../src-main/core/compress/simulate/index.ts';
import { runModel, sampleInputs } from '../../src-main/node/runtime/index.ts';
import { relErr } from '../../src-main/node/speedup/index.ts';
import { Builder, compactAndCheck, paramDims, pruneChannels, type Checked } from './helpers.ts';
import type { Masks } from '../../src-main/core/compress/masks.ts';
import type { Model } from '../../src-main/core/ir/index.ts';

const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });

/** A norm node with seeded affine parameters of the given dims. */
function norm(
  b: Builder,
  opType: string,
  name: string,
  x: Value,
  dims: number[],
  attributes: Record<string, { type: 'int'; value: number }> = {},
): Value {
  const scale = b.g.addInitializer(
    `${name}.weight`,
    Tensor.float32(
      dims,
      Array.from({ length: dims.reduce((p, q) => p * q, 1) }, (_, i) => 1 + 0.1 * ((i * 7) % 5)),
    ),
  );
  const bias = b.weight(`${name}.bias`, dims, 0.5);
  return b.g.addNode({ opType, name, inputs: [x, scale, bias], attributes }).outputs[0]!;
}

/** Linear layer on the last axis: MatMul by [nin, nout] + bias. */
function linear(b: Builder, name: string, x: Value, nin: number, nout: number): Value {
  const mm = b.g.addNode({
    opType: 'MatMul',
    name,
    inputs: [x, b.weight(`${name}.weight`, [nin, nout], Math.sqrt(2 / nin))],
  }).outputs[0]!;
  return b.g.addNode({ opType: 'Add', name: `${name}.add`, inputs: [mm, b.weight(`${name}.bias`, [nout])] })
    .outputs[0]!;
}

/** The compact model must equal the masked-statistics model, and that model must differ from plain masking. */
async function exactAndNeeded(model: Model, masks: Masks, r: Checked): Promise<void> {
  expect(r.maxRelErr).toBeLessThan(1e-5);
  expect(r.macsAfter).toBeLessThan(r.macsBefore);
  expect(r.normMasks.length).toBeGreaterThan(0);
  const plain = simulate(model, masks);
  const feeds = sampleInputs(model, { seed: 4 });
  const [a, c] = [await runModel(plain, feeds), await runModel(r.model, feeds)];
  const err = Math.max(...Object.keys(a).map((k) => relErr(a[k]!, c[k])));
  expect(err).toBeGreaterThan(1e-3);
}

describe('speedup through normalisations over channels', () => {
  it('LayerNormalization over the last axis after a linear layer: γ, β shrink with the group', async () => {
    const b = new Builder(21);
    const x = b.input('input', [2, 5, 8]);
    const h = linear(b, 'fc1', x, 8, 6);
    const ln = norm(b, 'LayerNormalization', 'ln', h, [6]);
    const model = b.output(linear(b, 'fc2', b.op('Relu', 'relu', [ln]), 6, 4), [2, 5, 4]);
    const masks = pruneChannels(new Map(), model, 'fc1', [1, 4]);
    const r = await compactAndCheck(model, masks);
    await exactAndNeeded(model, masks, r);
    expect(paramDims(r.model, 'fc1', 1)).toEqual([8, 4]);
    expect(paramDims(r.model, 'ln', 1)).toEqual([4]);
    expect(paramDims(r.model, 'ln', 2)).toEqual([4]);
    expect(paramDims(r.model, 'fc2', 1)).toEqual([4, 4]);
    expect(r.normMasks).toEqual([{ node: 'ln', rank: 3, axes: [{ axis: 2, size: 6, kept: [0, 2, 3, 5] }] }]);
    expect(r.sparsity.lost).toBe(0);
  });

  it('LayerNormalization over channels of NCHW through a Transpose (ConvNeXt), with a residual', async () => {
    const b = new Builder(22);
    const x = b.input('input', [1, 3, 6, 6]);
    const stem = b.conv('stem', x, 8, 3, 3);
    const dw = b.conv('dw', stem, 8, 8, 3, { group: 8 });
    const nhwc = b.op('Transpose', 'to_nhwc', [dw], { perm: ints([0, 2, 3, 1]) });
    const ln = norm(b, 'LayerNormalization', 'ln', nhwc, [8], { axis: int(-1) });
    const mlp = linear(b, 'pw2', b.op('Relu', 'act', [linear(b, 'pw1', ln, 8, 16)]), 16, 8);
    const back = b.op('Transpose', 'to_nchw', [mlp], { perm: ints([0, 3, 1, 2]) });
    const sum = b.op('Add', 'residual', [stem, back]);
    const pooled = b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [sum])]);
    const model = b.output(b.gemm('head', pooled, 5, 8), [1, 5]);
    // the residual stream's channels: the stem, the depthwise conv and the MLP's last layer together
    let masks = pruneChannels(new Map(), model, 'stem', [0, 3, 6]);
    masks = pruneChannels(masks, model, 'dw', [0, 3, 6]);
    masks = pruneChannels(masks, model, 'pw2', [0, 3, 6], { axis: 1 });
    const r = await compactAndCheck(model, masks);
    await exactAndNeeded(model, masks, r);
    expect(paramDims(r.model, 'stem', 1)).toEqual([5, 3, 3, 3]);
    expect(paramDims(r.model, 'ln', 1)).toEqual([5]);
    expect(paramDims(r.model, 'pw1', 1)).toEqual([5, 16]);
    expect(paramDims(r.model, 'pw2', 1)).toEqual([16, 5]);
    expect(paramDims(r.model, 'head', 1)).toEqual([5, 5]);
  });

  it('LayerNormalization over [C, H, W] (axis 1): the mask spans the channel axis inside the normalised block', async () => {
    const b = new Builder(23);
    const x = b.input('input', [2, 3, 4, 4]);
    const c1 = b.conv('conv1', x, 6, 3, 3);
    const ln = norm(b, 'LayerNormalization', 'ln', c1, [6, 4, 4], { axis: int(1) });
    const model = b.output(b.conv('conv2', b.op('Relu', 'relu', [ln]), 4, 6, 3), [2, 4, 4, 4]);
    const masks = pruneChannels(new Map(), model, 'conv1', [2, 5]);
    const r = await compactAndCheck(model, masks);
    await exactAndNeeded(model, masks, r);
    expect(paramDims(r.model, 'ln', 1)).toEqual([4, 4, 4]);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 4, 3, 3]);
  });

  for (const opset of [18, 21]) {
    it(`GroupNormalization (opset ${opset}): every group keeps the same in-group positions`, async () => {
      const b = new Builder(24);
      b.model.opsetImports.set('', opset);
      const x = b.input('input', [2, 3, 5, 5]);
      const c1 = b.conv('conv1', x, 8, 3, 3);
      const dims = opset >= 21 ? [8] : [2];
      const gn = norm(b, 'GroupNormalization', 'gn', c1, dims, { num_groups: int(2) });
      const model = b.output(b.conv('conv2', b.op('Relu', 'relu', [gn]), 4, 8, 3), [2, 4, 5, 5]);
      // position 1 of each group of 4: channels 1 and 5 (asking for channel 1 alone removes 5 with it)
      const masks = pruneChannels(new Map(), model, 'conv1', [1]);
      const r = await compactAndCheck(model, masks);
      await exactAndNeeded(model, masks, r);
      expect(paramDims(r.model, 'conv1', 1)).toEqual([6, 3, 3, 3]);
      expect(paramDims(r.model, 'gn', 1)).toEqual(opset >= 21 ? [6] : [2]);
      expect(r.model.graph.node('gn')!.attrInt('num_groups')).toBe(2);
      expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 6, 3, 3]);
      expect(r.normMasks[0]!.axes[0]!.kept).toEqual([0, 2, 3, 4, 6, 7]);
    });
  }

  it('GroupNormalization whose removed channel is read elsewhere keeps it (the plan stays exact)', async () => {
    const b = new Builder(25);
    b.model.opsetImports.set('', 21);
    const x = b.input('input', [1, 3, 5, 5]);
    const c1 = b.conv('conv1', x, 8, 3, 3);
    const gn = norm(b, 'GroupNormalization', 'gn', c1, [8], { num_groups: int(2) });
    // conv1's output is also added to the norm's output: channel 5 is read unmasked, so class {1, 5} stays
    const model = b.output(b.conv('conv2', b.op('Add', 'skip', [gn, c1]), 4, 8, 3), [1, 4, 5, 5]);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [1]));
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv1', 1)).toEqual([8, 3, 3, 3]);
    expect(r.sparsity.lost).toBe(1);
  });

  it('InstanceNormalization is per channel: its parameters are sliced, statistics untouched', async () => {
    const b = new Builder(26);
    const x = b.input('input', [2, 3, 6, 6]);
    const inorm = norm(b, 'InstanceNormalization', 'in', b.conv('conv1', x, 6, 3, 3), [6]);
    const model = b.output(b.conv('conv2', b.op('Relu', 'relu', [inorm]), 4, 6, 3), [2, 4, 6, 6]);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [0, 4]));
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(r.macsAfter).toBeLessThan(r.macsBefore);
    expect(paramDims(r.model, 'in', 1)).toEqual([4]);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 4, 3, 3]);
    expect(r.normMasks).toEqual([]);
  });

  it('a LayerNormalization whose statistics outputs are read keeps its channels, and says why', async () => {
    const b = new Builder(27);
    const x = b.input('input', [2, 8]);
    const h = b.gemm('fc1', x, 6, 8);
    const scale = b.weight('ln.w', [6]);
    const node = b.g.addNode({ opType: 'LayerNormalization', name: 'ln', inputs: [h, scale], outputs: 2 });
    const y = b.op('Add', 'use_mean', [node.outputs[0]!, node.outputs[1]!]);
    const model = b.output(b.gemm('fc2', y, 4, 6), [2, 4]);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'fc1', [1]));
    expect(paramDims(r.model, 'fc1', 1)).toEqual([6, 8]);
    expect(r.groups.flatMap((g) => g.reasons).join('\n')).toMatch(
      /LayerNormalization "ln" normalises over a tracked axis and its Mean \/ InvStdDev outputs are read/,
    );
  });

  it('ViT: an expanded class token concatenated with the patch tokens is sliced with them; LayerNorm, Gather of token 0', async () => {
    const b = new Builder(28);
    const x = b.input('input', [1, 3, 4, 4]);
    const patches = b.conv('conv_proj', x, 8, 3, 1); // [1, 8, 4, 4]
    const seq = b.op(
      'Transpose',
      'to_seq',
      [b.op('Reshape', 'flat', [patches, b.g.addInitializer('seq_shape', Tensor.int64([3], [1, 8, 16]))])],
      { perm: ints([0, 2, 1]) },
    ); // [1, 16, 8]
    const cls = b.op('Expand', 'expand', [
      b.weight('class_token', [1, 1, 8], 0.5),
      b.g.addInitializer('cls_shape', Tensor.int64([3], [1, 1, 1])),
    ]);
    const tokens = b.op('Concat', 'cat', [cls, seq], { axis: int(1) }); // [1, 17, 8]
    const stream = b.op('Add', 'pos', [tokens, b.weight('pos_embedding', [1, 17, 8], 0.5)]);
    const ln = norm(b, 'LayerNormalization', 'ln', stream, [8]);
    const first = b.op('Gather', 'token0', [ln, b.g.addInitializer('zero', Tensor.int64([], [0]))], { axis: int(1) });
    const model = b.output(b.gemm('head', first, 5, 8), [1, 5]);
    const masks = pruneChannels(new Map(), model, 'conv_proj', [2, 3, 7]);
    const r = await compactAndCheck(model, masks);
    await exactAndNeeded(model, masks, r);
    expect(paramDims(r.model, 'conv_proj', 1)).toEqual([5, 3, 1, 1]);
    expect(paramDims(r.model, 'expand', 0)).toEqual([1, 1, 5]);
    expect(paramDims(r.model, 'pos', 1)).toEqual([1, 17, 5]);
    expect(paramDims(r.model, 'ln', 1)).toEqual([5]);
    expect(paramDims(r.model, 'head', 1)).toEqual([5, 5]);
  });

  it("torch's GroupNorm export (Reshape to [N, G, -1], InstanceNormalization, Reshape back, affine): whole groups go", async () => {
    const b = new Builder(29);
    const x = b.input('input', [1, 3, 5, 5]);
    const c1 = b.conv('conv1', x, 8, 3, 3);
    const grouped = b.op('Reshape', 'to_groups', [c1, b.g.addInitializer('gshape', Tensor.int64([3], [0, 2, -1]))]);
    const ones = b.g.addInitializer('in.scale', Tensor.float32([2], [1, 1]));
    const zeros = b.g.addInitializer('in.bias', Tensor.float32([2], [0, 0]));
    const inorm = b.g.addNode({ opType: 'InstanceNormalization', name: 'in', inputs: [grouped, ones, zeros] })
      .outputs[0]!;
    const back = b.op('Reshape', 'back', [inorm, b.op('Shape', 'shape', [c1])]);
    const affine = b.op('Add', 'beta', [
      b.op('Mul', 'gamma', [back, b.weight('gn.weight', [8, 1, 1], 0.5)]),
      b.weight('gn.bias', [8, 1, 1], 0.5),
    ]);
    const model = b.output(b.conv('conv2', b.op('Relu', 'relu', [affine]), 4, 8, 3), [1, 4, 5, 5]);
    const r = await compactAndCheck(model, pruneChannels(new Map(), model, 'conv1', [4, 5, 6, 7]));
    expect(r.maxRelErr).toBeLessThan(1e-5);
    expect(paramDims(r.model, 'conv1', 1)).toEqual([4, 3, 3, 3]);
    expect(paramDims(r.model, 'in', 1)).toEqual([1]);
    expect(paramDims(r.model, 'conv2', 1)).toEqual([4, 4, 3, 3]);
  });
});
