/**
 * @file Normalization on load, one smallest graph per pattern: torch's de-duplicated initializers read through
 * Identity, constant Cast / Transpose / Reshape chains over weights, weightless graphs, and an unknown pattern
 * refused by name with the model left as it was. Outputs are compared in onnxruntime-node before and after.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, printModel, type Model } from '../ir/index.ts';
import { floatToHalf } from '../util/half.ts';
import { Builder, runOrt } from '../../../test/pruning/helpers.ts';
import { foldIdentity, foldWeights, normalizeModel, UnknownExportPatternError } from './index.ts';

const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });
const feeds = {
  x: Tensor.float32(
    [1, 2, 5, 5],
    Array.from({ length: 50 }, (_, i) => Math.sin(i)),
  ),
};

async function sameOutputs(a: Model, b: Model): Promise<number> {
  const [ra, rb] = [await runOrt(a, feeds), await runOrt(b, feeds)];
  let worst = 0;
  for (const k of Object.keys(ra)) ra[k]!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - rb[k]![i]!))));
  return worst;
}

/** conv1 reads its bias directly, conv2 reads the same tensor through an Identity (torch's de-duplication). */
function dedupGraph(): Model {
  const b = new Builder(3);
  const x = b.input('x', [1, 2, 5, 5]);
  const bias = b.weight('shared_bias', [4]);
  const copy = b.op('Identity', 'Identity_7', [bias]);
  const w1 = b.weight('w1', [4, 2, 1, 1]);
  const w2 = b.weight('w2', [4, 2, 1, 1]);
  const y1 = b.op('Conv', 'conv1', [x, w1, bias], { kernel_shape: ints([1, 1]) });
  const y2 = b.op('Conv', 'conv2', [x, w2, copy], { kernel_shape: ints([1, 1]) });
  return b.output(b.op('Add', 'add', [y1, y2]), [1, 4, 5, 5]);
}

describe('fold-identity', () => {
  it('gives a de-duplicated weight read through Identity its own initializer; outputs unchanged', async () => {
    const m = dedupGraph();
    const { model, report } = normalizeModel(m);
    const conv2 = model.graph.node('conv2')!;
    expect(conv2.input(2)!.isInitializer).toBe(true);
    expect(conv2.input(2)!.name).toBe('Identity_7_out');
    expect(model.graph.node('conv1')!.input(2)!.name).toBe('shared_bias');
    expect(model.graph.nodes.some((n) => n.opType === 'Identity')).toBe(false);
    expect(report.steps.find((s) => s.pass === 'fold-identity')!.changes).toEqual([
      { node: 'Identity_7', pattern: 'Identity(initializer "shared_bias")', result: 'initializer "Identity_7_out"' },
    ]);
    expect(report.summary).toEqual([
      'fold-identity: 1 × Identity nodes over initializers (de-duplicated weights) given their own initializer',
    ]);
    expect(await sameOutputs(m, model)).toBe(0);
    expect(m.graph.node('Identity_7')).toBeDefined(); // the input model is untouched
    expect(foldIdentity.run(model).modified).toBe(false);
  });

  it('leaves an Identity over an initializer that is also a graph input (an overridable default)', () => {
    const b = new Builder(1);
    const x = b.input('x', [1, 2, 5, 5]);
    const w = b.weight('w', [3, 2, 1, 1]);
    b.g.inputs.push(w);
    const m = b.output(
      b.op('Conv', 'conv', [x, b.op('Identity', 'id', [w])], { kernel_shape: ints([1, 1]) }),
      [1, 3, 5, 5],
    );
    expect(foldIdentity.run(m).modified).toBe(false);
    expect(foldWeights.run(m).modified).toBe(false);
    expect(normalizeModel(m).report.modified).toBe(false); // and it is not an unknown pattern either
  });

  it('folds a chain of Identity nodes front to back', () => {
    const b = new Builder(1);
    const x = b.input('x', [1, 2, 5, 5]);
    const w = b.op('Identity', 'id2', [b.op('Identity', 'id1', [b.weight('w', [3, 2, 1, 1])])]);
    const m = b.output(b.op('Conv', 'conv', [x, w], { kernel_shape: ints([1, 1]) }), [1, 3, 5, 5]);
    const r = foldIdentity.run(m);
    expect(r.changes!.map((c) => c.node)).toEqual(['id1', 'id2']);
    expect(m.graph.node('conv')!.input(1)!.initializer!.dims).toEqual([3, 2, 1, 1]);
    expect(m.graph.initializers.map((v) => v.name)).toEqual(['id2_out']);
  });
});

describe('fold-weights', () => {
  it('folds Transpose(Cast(fp16 weight)) and a Reshape of a bias into fp32 initializers; outputs unchanged', async () => {
    const b = new Builder(2);
    const x = b.input('x', [1, 2, 5, 5]);
    const values = Array.from({ length: 8 }, (_, i) => (i - 3.5) / 4); // exact in fp16
    const half = b.g.addInitializer(
      'w_half',
      new Tensor('float16', [1, 1, 2, 4], Uint16Array.from(values, floatToHalf)),
    );
    const cast = b.op('Cast', 'cast_w', [half], { to: int(1) });
    const w = b.op('Transpose', 'tr_w', [cast], { perm: ints([3, 2, 0, 1]) }); // [4, 2, 1, 1], a tf2onnx-style kernel
    const shape = b.g.addInitializer('bias_shape', Tensor.int64([1], [4]));
    const bias = b.op('Reshape', 'reshape_b', [b.weight('b2d', [2, 2]), shape]);
    const m = b.output(b.op('Conv', 'conv', [x, w, bias], { kernel_shape: ints([1, 1]) }), [1, 4, 5, 5]);
    const { model, report } = normalizeModel(m);
    const conv = model.graph.node('conv')!;
    expect(conv.input(1)!.initializer!.dtype).toBe('float32');
    expect(conv.input(1)!.initializer!.dims).toEqual([4, 2, 1, 1]);
    // out channel o, in channel c reads w_half[0, 0, c, o]
    expect(Array.from(conv.input(1)!.initializer!.data as Float32Array)).toEqual(
      [0, 4, 1, 5, 2, 6, 3, 7].map((i) => values[i]!),
    );
    expect(conv.input(2)!.initializer!.dims).toEqual([4]);
    expect(report.steps.find((s) => s.pass === 'fold-weights')!.changes.map((c) => c.pattern)).toEqual([
      'Cast(initializer "w_half")',
      'Transpose(initializer "cast_w_out")',
      'Reshape(initializer "b2d", initializer "bias_shape")',
    ]);
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['Conv']);
    expect(model.graph.initializers.map((v) => v.name).sort()).toEqual(['reshape_b_out', 'tr_w_out']);
    expect(await sameOutputs(m, model)).toBe(0);
  });

  it('folds weightless tensors to weightless tensors of the right type and dims', () => {
    const b = new Builder(1);
    const x = b.input('x', [1, 2, 5, 5]);
    const w = b.g.addInitializer('w', new Tensor('float16', [1, 1, 2, 3], null));
    const t = b.op('Transpose', 'tr', [b.op('Cast', 'cast', [w], { to: int(1) })], { perm: ints([3, 2, 0, 1]) });
    const m = b.output(b.op('Conv', 'conv', [x, t], { kernel_shape: ints([1, 1]) }), [1, 3, 5, 5]);
    expect(foldWeights.run(m).changes).toHaveLength(2);
    const folded = m.graph.node('conv')!.input(1)!.initializer!;
    expect([folded.dtype, folded.dims, folded.data]).toEqual(['float32', [3, 2, 1, 1], null]);
  });

  it('leaves a Reshape whose target shape is computed at run time', () => {
    const b = new Builder(1);
    const x = b.input('x', [1, 2, 5, 5]);
    const shape = b.op('Shape', 'shape', [x]);
    const m = b.output(b.op('Reshape', 'r', [b.weight('w', [50]), shape]), [1, 2, 5, 5]);
    expect(foldWeights.run(m).modified).toBe(false);
  });
});

describe('normalizeModel refuses an unknown exporter pattern', () => {
  it('names the node and the pattern, and leaves the model as it was', () => {
    const b = new Builder(4);
    const x = b.input('x', [1, 2, 5, 5]);
    const id = b.op('Identity', 'dedup', [b.weight('scale', [4, 2, 1, 1])]);
    const w = b.op('Mul', 'scale_w', [b.weight('w', [4, 2, 1, 1]), id]);
    const m = b.output(b.op('Conv', 'conv', [x, w], { kernel_shape: ints([1, 1]) }), [1, 4, 5, 5]);
    const before = printModel(m);
    let err: unknown;
    try {
      normalizeModel(m);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownExportPatternError);
    expect((err as UnknownExportPatternError).nodeName).toBe('conv');
    expect((err as Error).message).toContain('Conv input 1 ← Mul "scale_w"(initializer "w", initializer "dedup_out")');
    expect(printModel(m)).toBe(before); // the Identity fold happened on a copy only
  });

  it('accepts a QDQ model (DequantizeLinear over int8 weights is a known form)', () => {
    const b = new Builder(1);
    const x = b.input('x', [1, 2, 5, 5]);
    const q = b.g.addInitializer('wq', new Tensor('int8', [3, 2, 1, 1], Int8Array.from([1, 2, 3, 4, 5, 6])));
    const w = b.op('DequantizeLinear', 'dq', [q, b.g.addInitializer('s', Tensor.float32([], [0.1]))]);
    const m = b.output(b.op('Conv', 'conv', [x, w], { kernel_shape: ints([1, 1]) }), [1, 3, 5, 5]);
    expect(normalizeModel(m).report.modified).toBe(false);
  });
});
