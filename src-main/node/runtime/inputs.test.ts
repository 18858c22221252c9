/** @file Tests of sample inputs: determinism per seed, symbolic dims, value ranges, and feed checks. */
import { describe, expect, it } from 'vitest';
import { Model, Tensor, halfToFloat } from '../../core/ir/index.ts';
import { DynamicDimsError, InputMismatchError, UnresolvedInputError } from './errors.ts';
import { checkInputs, inputSpecs, resolveInputShapes, resolveShape, sampleInputs, type InputSpec } from './inputs.ts';
import { input, smallCnn } from './testing/models.ts';

const spec = (name: string, dtype: InputSpec['dtype'], shape: InputSpec['shape']): InputSpec => ({
  name,
  dtype,
  shape,
});

describe('inputSpecs', () => {
  it('lists graph inputs that are not initializers', () => {
    const m = new Model();
    input(m.graph, 'x', 'float32', ['N', 3]);
    const w = input(m.graph, 'w', 'float32', [3]);
    m.graph.setInitializer(w, Tensor.float32([3], [1, 2, 3]));
    expect(inputSpecs(m)).toEqual([{ name: 'x', dtype: 'float32', shape: ['N', 3] }]);
  });
});

describe('sampleInputs', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = sampleInputs(smallCnn(), { seed: 5 }).x!;
    const b = sampleInputs(smallCnn(), { seed: 5 }).x!;
    const c = sampleInputs(smallCnn(), { seed: 6 }).x!;
    expect(a.dims).toEqual([1, 3, 8, 8]);
    expect(Array.from(b.data as Float32Array)).toEqual(Array.from(a.data as Float32Array));
    expect(Array.from(c.data as Float32Array)).not.toEqual(Array.from(a.data as Float32Array));
  });

  it('draws each input from its own stream: adding an input changes no other', () => {
    const one = sampleInputs([spec('a', 'float32', [4])], { seed: 1 });
    const two = sampleInputs([spec('z', 'float32', [4]), spec('a', 'float32', [4])], { seed: 1 });
    expect(two.a!.toNumbers()).toEqual(one.a!.toNumbers());
    expect(two.z!.toNumbers()).not.toEqual(one.a!.toNumbers());
  });

  it('sizes symbolic dims from dimSizes, shapes, batchSize and defaults', () => {
    const specs = [
      spec('ids', 'int64', ['batch', 'seq']),
      spec('mask', 'bool', ['batch', 'seq']),
      spec('f', 'float32', [null, 'k', 2]),
    ];
    const d = sampleInputs(specs);
    expect(d.ids!.dims).toEqual([1, 1]);
    expect(d.f!.dims).toEqual([1, 1, 2]);
    const s = sampleInputs(specs, { dimSizes: { batch: 3, seq: 7 }, batchSize: 4, defaultDim: 5 });
    expect(s.ids!.dims).toEqual([3, 7]);
    expect(s.mask!.dims).toEqual([3, 7]);
    expect(s.f!.dims).toEqual([4, 5, 2]);
    const o = sampleInputs(specs, { shapes: { ids: [2, 9] } });
    expect(o.mask!.dims).toEqual([2, 9]); // the override bound batch and seq for the inputs that share them
  });

  it('lets given feeds fix the symbols of the generated inputs', () => {
    const specs = [spec('ids', 'int64', ['batch', 'seq']), spec('mask', 'float32', ['batch', 'seq'])];
    const ids = Tensor.int64([2, 6], new Array(12).fill(1));
    const s = sampleInputs(specs, { inputs: { ids } });
    expect(s.ids).toBe(ids);
    expect(s.mask!.dims).toEqual([2, 6]);
  });

  it('draws integers in [0, 10) by default, or a configured range, and bools as 0/1', () => {
    const s = sampleInputs(
      [spec('i', 'int64', [500]), spec('u', 'uint8', [500]), spec('b', 'bool', [500]), spec('r', 'int32', [500])],
      {
        ranges: { r: [-3, 3] },
      },
    );
    const i = s.i!.toNumbers();
    expect(s.i!.data).toBeInstanceOf(BigInt64Array);
    expect(Math.min(...i)).toBe(0);
    expect(Math.max(...i)).toBe(9);
    expect(new Set(s.b!.toNumbers())).toEqual(new Set([0, 1]));
    const r = s.r!.toNumbers();
    expect(Math.min(...r)).toBe(-3);
    expect(Math.max(...r)).toBe(2);
    const wide = sampleInputs([spec('u', 'uint8', [500])], { intRange: [-1000, 1000] }).u!.toNumbers();
    expect(Math.min(...wide) >= 0 && Math.max(...wide) <= 255).toBe(true);
  });

  it('draws floats from N(0, 1), or uniform in floatRange, in float16 as bits', () => {
    const n = sampleInputs([spec('x', 'float32', [4000])], { seed: 2 }).x!.toNumbers();
    const mean = n.reduce((s, v) => s + v, 0) / n.length;
    expect(Math.abs(mean)).toBeLessThan(0.06);
    expect(n.some((v) => v < -1) && n.some((v) => v > 1)).toBe(true);
    const u = sampleInputs([spec('x', 'float64', [1000])], { floatRange: [2, 3] }).x!.toNumbers();
    expect(Math.min(...u) >= 2 && Math.max(...u) < 3).toBe(true);
    const h = sampleInputs([spec('h', 'float16', [8])], { floatRange: [1, 2] }).h!;
    expect(h.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(h.data as Uint16Array, halfToFloat).every((v) => v >= 1 && v <= 2)).toBe(true);
  });

  it('rejects a given feed of the wrong dtype or shape, naming input, expected and given', () => {
    const m = smallCnn();
    expect(() =>
      sampleInputs(m, { inputs: { x: new Tensor('float64', [1, 3, 8, 8], new Float64Array(192)) } }),
    ).toThrow(InputMismatchError);
    expect(() =>
      sampleInputs(m, { inputs: { x: new Tensor('float64', [1, 3, 8, 8], new Float64Array(192)) } }),
    ).toThrow('input "x": expected float32[N,3,8,8], given float64[1,3,8,8]');
    expect(() => sampleInputs(m, { inputs: { x: Tensor.float32([1, 3, 8], new Array(24).fill(0)) } })).toThrow(
      /given float32\[1,3,8\]/,
    );
    expect(() => sampleInputs(m, { inputs: { x: Tensor.float32([1, 4, 8, 8], new Array(256).fill(0)) } })).toThrow(
      InputMismatchError,
    );
    expect(() => sampleInputs(m, { inputs: { y: Tensor.float32([1], [0]) } })).toThrow(
      /input "y": expected one of the model's inputs \(x\)/,
    );
  });

  it('rejects a symbol given two sizes and an override against fixed dims', () => {
    const specs = [spec('a', 'float32', ['n']), spec('b', 'float32', ['n'])];
    const feeds = { a: Tensor.float32([2], [0, 0]), b: Tensor.float32([3], [0, 0, 0]) };
    expect(() => checkInputs(specs, feeds)).toThrow('input "b": expected float32[n=2], given float32[3]');
    expect(() => checkInputs(specs, { a: feeds.a }, { dimSizes: { n: 5 } })).toThrow(/expected float32\[n=5\]/);
    expect(() => resolveShape(spec('x', 'float32', [1, 3]), { shapes: { x: [2, 3] } })).toThrow(InputMismatchError);
  });

  it('cannot invent a dtype, a rank or a string', () => {
    expect(() => sampleInputs([spec('x', undefined, [2])])).toThrow(UnresolvedInputError);
    expect(() => sampleInputs([spec('x', 'float32', undefined)])).toThrow(/rank is not declared/);
    expect(sampleInputs([spec('x', 'float32', undefined)], { shapes: { x: [2, 2] } }).x!.dims).toEqual([2, 2]);
    expect(() => sampleInputs([spec('s', 'string', [1])])).toThrow(/string inputs/);
  });
});

describe('resolveInputShapes', () => {
  const model = () => {
    const m = new Model();
    input(m.graph, 'x', 'float32', ['N', 3, 'h', 'w']);
    input(m.graph, 'mask', 'float32', ['N', 'h']);
    return m;
  };

  it('sizes a dynamic leading dim alone 1 and refuses other dynamic dims by input, name and axis', () => {
    const m = new Model();
    input(m.graph, 'x', 'float32', ['batch', 3, 8, 8]);
    expect(resolveInputShapes(m)).toEqual({ x: [1, 3, 8, 8] });
    let err: unknown;
    try {
      resolveInputShapes(model());
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DynamicDimsError);
    expect((err as Error).message).toBe(
      'the model has dynamic dims that cannot be inferred: input "x" dims "h" (axis 2), "w" (axis 3); input "mask" dims "h" (axis 1); ' +
        'give the full input shape (--shape x=1,3,<h>,<w> --shape mask=1,<h>, or "inputShapes" in a plan)',
    );
  });

  it('takes given shapes and sizes the same symbol elsewhere from them', () => {
    expect(resolveInputShapes(model(), { x: [2, 3, 32, 48] })).toEqual({ x: [2, 3, 32, 48], mask: [2, 32] });
    expect(() => resolveInputShapes(model(), { x: [1, 4, 32, 48] })).toThrow(InputMismatchError);
    expect(() => resolveInputShapes(model(), { y: [1] })).toThrow(
      /input "y": expected one of the model's inputs \(x, mask\)/,
    );
  });
});
