/**
 * @file fuse-layernorm on the smallest graphs: torch's opset-13 layer norm (ReduceMean / Sub / Pow / ReduceMean /
 * Add / Sqrt / Div / Mul / Add) becomes one LayerNormalization with the same outputs in onnxruntime-node, the model
 * moves to opset 17, and every near-miss of the pattern (another exponent, non-trailing axes, an intermediate read
 * elsewhere, ε not a constant, keepdims off, opset 11) is left exactly as it was.
 */
import { describe, expect, it } from 'vitest';
import { Tensor, type Model, type Value } from '../ir/index.ts';
import { Builder, randomInput, runOrt } from '../../../test/pruning/helpers.ts';
import { fuseLayerNorm, normalizeModel } from './index.ts';

const ints = (value: number[]) => ({ type: 'ints' as const, value });
const int = (value: number) => ({ type: 'int' as const, value });
const SHAPE = [2, 5, 6];

interface Variant {
  opset?: number;
  square?: 'pow' | 'mul';
  exponent?: number;
  axes?: number[];
  keepdims?: number;
  epsAsInput?: boolean;
  affine?: boolean;
  /** Also make d = x − μ a graph output (read outside the pattern). */
  leakD?: boolean;
}

/** x → [decomposed layer norm over the last axis] → Relu, as torch writes it at opset 13. */
function decomposed(v: Variant = {}): Model {
  const b = new Builder(5);
  b.model.opsetImports.set('', v.opset ?? 13);
  b.model.irVersion = 7;
  const x = b.input('x', SHAPE);
  const axes = v.axes ?? [-1];
  const rm = (name: string, t: Value) =>
    b.op('ReduceMean', name, [t], {
      axes: ints(axes),
      ...(v.keepdims !== undefined ? { keepdims: int(v.keepdims) } : {}),
    });
  const mean = rm('/ln/ReduceMean', x);
  const d = b.op('Sub', '/ln/Sub', [x, mean]);
  const sq =
    v.square === 'mul'
      ? b.op('Mul', '/ln/Mul_sq', [d, d])
      : b.op('Pow', '/ln/Pow', [d, b.g.addInitializer('/ln/Constant_output_0', Tensor.float32([], [v.exponent ?? 2]))]);
  const variance = rm('/ln/ReduceMean_1', sq);
  const eps = v.epsAsInput
    ? b.input('eps', [])
    : b.g.addInitializer('/ln/Constant_1_output_0', Tensor.float32([], [1e-6]));
  const std = b.op('Sqrt', '/ln/Sqrt', [b.op('Add', '/ln/Add', [variance, eps])]);
  let y = b.op('Div', '/ln/Div', [d, std]);
  if (v.affine !== false) {
    y = b.op('Mul', '/ln/Mul', [y, b.weight('ln.weight', [6], 1)]);
    y = b.op('Add', '/ln/Add_1', [y, b.weight('ln.bias', [6])]);
  }
  if (v.leakD) b.g.addOutput(d);
  return b.output(b.op('Relu', 'relu', [y]), SHAPE);
}

async function worstDiff(a: Model, b: Model, extra: Record<string, Tensor> = {}): Promise<number> {
  const feeds = { x: randomInput(SHAPE, 3), ...extra };
  const [ra, rb] = [await runOrt(a, feeds), await runOrt(b, feeds)];
  let worst = 0;
  for (const k of Object.keys(ra)) ra[k]!.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - rb[k]![i]!))));
  return worst;
}

describe('fuse-layernorm', () => {
  it("fuses torch's opset-13 layer norm into LayerNormalization (opset 17), outputs unchanged", async () => {
    const m = decomposed();
    const { model, report } = normalizeModel(m);
    const ops = model.graph.nodes.map((n) => n.opType);
    expect(ops).toEqual(['LayerNormalization', 'Relu']);
    const ln = model.graph.nodes[0]!;
    expect(ln.name).toBe('/ln/LayerNormalization');
    expect(ln.inputs.map((v) => v?.name)).toEqual(['x', 'ln.weight', 'ln.bias']);
    expect(ln.attrInt('axis')).toBe(-1);
    expect(ln.attrFloat('epsilon', 0)).toBe(Math.fround(1e-6));
    expect(ln.outputs[0]!.name).toBe('/ln/Add_1_out'); // the pattern's last value keeps its name
    expect(model.opset).toBe(17);
    expect(model.irVersion).toBeGreaterThanOrEqual(8);
    expect(model.graph.initializers.map((v) => v.name).sort()).toEqual(['ln.bias', 'ln.weight']);
    const step = report.steps.find((s) => s.pass === 'fuse-layernorm')!;
    expect(step.changes).toEqual([
      {
        node: '/ln/LayerNormalization',
        pattern: 'ReduceMean / Sub / Pow(·, 2) / ReduceMean / Add(ε) / Sqrt / Div / Mul(γ) / Add(β) over axes [-1]',
        result: `LayerNormalization "/ln/LayerNormalization" (axis -1, epsilon ${Math.fround(1e-6)}) (model opset 13 → 17, which has LayerNormalization)`,
      },
    ]);
    expect(report.summary).toContain(
      'fuse-layernorm: 1 × decomposed layer norms (ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div) fused into LayerNormalization',
    );
    expect(m.opset).toBe(13); // the input model is untouched
    expect(m.graph.nodes).toHaveLength(10);
    expect(await worstDiff(m, model)).toBeLessThanOrEqual(1e-6);
    expect(fuseLayerNorm.run(model).modified).toBe(false);
  });

  it('fuses Mul(d, d) without γ / β (scale of ones) over two trailing axes given as positive axes', async () => {
    const m = decomposed({ square: 'mul', affine: false, axes: [1, 2] });
    const { model } = normalizeModel(m);
    expect(model.graph.nodes.map((n) => n.opType)).toEqual(['LayerNormalization', 'Relu']);
    const ln = model.graph.nodes[0]!;
    expect(ln.attrInt('axis')).toBe(1);
    expect([...ln.input(1)!.initializer!.dims]).toEqual([5, 6]);
    expect(ln.inputs).toHaveLength(2);
    expect(await worstDiff(m, model)).toBeLessThanOrEqual(1e-6);
  });

  it('keeps the opset of a model already at 17', async () => {
    const m = decomposed({ opset: 17 });
    const r = fuseLayerNorm.run(m);
    expect(r.changes![0]!.result).not.toMatch(/opset/);
    expect(m.opset).toBe(17);
  });

  const nearMisses: [string, Variant][] = [
    ['an exponent other than 2', { exponent: 3 }],
    ['axes that are not the trailing ones', { axes: [1] }],
    ['keepdims off', { keepdims: 0 }],
    ['ε a graph input, not a constant', { epsAsInput: true }],
    ['x − μ read outside the pattern', { leakD: true }],
    ['opset 11 (below 13: the model cannot move to 17 as it is)', { opset: 11 }],
  ];
  for (const [what, v] of nearMisses) {
    it(`leaves the pattern as it was with ${what}`, () => {
      const m = decomposed(v);
      const before = m.graph.nodes.map((n) => n.opType);
      const r = fuseLayerNorm.run(m);
      expect(r.modified).toBe(false);
      expect(m.graph.nodes.map((n) => n.opType)).toEqual(before);
      expect(m.opset).toBe(v.opset ?? 13);
    });
  }
});
