/** @file Tests of running models in ORT: hand-computed outputs, dtype round trips, the reusable runner, errors. */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, halfToFloat, type DataType, type TensorData } from '../../core/ir/index.ts';
import { encodeModel } from '../../core/onnx/index.ts';
import { InputMismatchError, RunError, UnsupportedDTypeError, WeightlessModelError } from './errors.ts';
import { fromOrtTensor, ModelRunner, runModel, toOrtTensor } from './run.ts';
import { convGemm, identity, init, input, op, output } from './testing/models.ts';

const x9 = Tensor.float32([1, 1, 3, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9]);

describe('runModel', () => {
  it('computes Conv → Relu → Flatten → Gemm as worked out by hand', async () => {
    const out = await runModel(convGemm(), { x: x9 }, { threads: 1 });
    expect(out.conv!.dims).toEqual([1, 1, 2, 2]);
    expect(out.conv!.toNumbers()).toEqual([6.5, 8.5, 12.5, 14.5]);
    expect(out.y!.dtype).toBe('float32');
    expect(out.y!.toNumbers()).toEqual([42, -1]);
  });

  it('runs encoded bytes too, and fetches only the outputs asked for', async () => {
    const out = await runModel(encodeModel(convGemm()).bytes, { x: x9 }, { outputs: ['y'] });
    expect(Object.keys(out)).toEqual(['y']);
  });

  it('applies Relu and Add with broadcasting', async () => {
    const m = new Model();
    const g = m.graph;
    const x = input(g, 'x', 'float32', [2, 2]);
    output(g, op(g, 'Add', [op(g, 'Relu', [x], 'r'), init(g, 'c', [2], [10, 20])], 'y'), 'float32', [2, 2]);
    const { y } = await runModel(m, { x: Tensor.float32([2, 2], [-1, 2, 3, -4]) });
    expect(y!.toNumbers()).toEqual([10, 22, 13, 20]);
  });
});

describe('tensor conversion', () => {
  const cases: [DataType, TensorData][] = [
    ['float32', Float32Array.from([1.5, -2, 0])],
    ['float64', Float64Array.from([Math.PI, -1e300, 0])],
    ['int8', Int8Array.from([-128, 0, 127])],
    ['uint8', Uint8Array.from([0, 128, 255])],
    ['int16', Int16Array.from([-32768, 1, 32767])],
    ['uint16', Uint16Array.from([0, 1, 65535])],
    ['int32', Int32Array.from([-(2 ** 31), 5, 2 ** 31 - 1])],
    ['uint32', Uint32Array.from([0, 7, 2 ** 32 - 1])],
    ['int64', BigInt64Array.from([-(2n ** 63n), 3n, 2n ** 62n + 1n])],
    ['uint64', BigUint64Array.from([0n, 9n, 2n ** 64n - 1n])],
    ['bool', Uint8Array.from([1, 0, 1])],
    ['float16', Uint16Array.from([0x3c00, 0xc000, 0x7bff])], // 1, -2, 65504 as raw bits
  ];

  it.each(cases)('round-trips %s through ORT (Identity) bit for bit', async (dtype, data) => {
    const t = new Tensor(dtype, [3], data);
    const { y } = await runModel(identity(dtype, [3]), { x: t });
    expect(y!.dtype).toBe(dtype);
    expect(y!.dims).toEqual([3]);
    expect(Array.from(y!.data as ArrayLike<unknown>)).toEqual(Array.from(data as ArrayLike<unknown>));
  });

  it('keeps float16 as raw bits both ways', () => {
    const o = toOrtTensor(new Tensor('float16', [2], Uint16Array.from([0x3c00, 0x3800])));
    expect(o.type).toBe('float16');
    const back = fromOrtTensor(o);
    expect(back.toNumbers().map((v) => v)).toEqual([1, 0.5]);
    expect(halfToFloat((back.data as Uint16Array)[1]!)).toBe(0.5);
  });

  it('converts int64 as BigInt64Array and strings as arrays', () => {
    const o = toOrtTensor(Tensor.int64([2], [5, -6]));
    expect(o.type).toBe('int64');
    expect(o.data).toBeInstanceOf(BigInt64Array);
    const s = fromOrtTensor(new ort.Tensor('string', ['a', 'b'], [2]));
    expect(s.dtype).toBe('string');
    expect(s.data).toEqual(['a', 'b']);
  });

  it('refuses bfloat16, which ORT-node cannot carry, naming where', () => {
    expect(() => toOrtTensor(new Tensor('bfloat16', [1], Uint16Array.from([0x3f80])), 'input "x"')).toThrow(
      UnsupportedDTypeError,
    );
    expect(() => toOrtTensor(new Tensor('bfloat16', [1], Uint16Array.from([0x3f80])), 'input "x"')).toThrow(
      /input "x".*bfloat16/,
    );
  });
});

describe('ModelRunner', () => {
  it('holds one session for many runs', async () => {
    const runner = await ModelRunner.create(convGemm(), { threads: 1 });
    expect(runner.ep).toBe('cpu');
    expect(runner.inputNames).toEqual(['x']);
    expect(runner.outputNames).toEqual(['conv', 'y']);
    for (const k of [1, 2, 3]) {
      const x = Tensor.float32(
        [1, 1, 3, 3],
        Array.from({ length: 9 }, (_, i) => (i + 1) * k),
      );
      const { y } = await runner.run({ x });
      // conv scales by k except its bias: conv = k·[6,8,12,14] + 0.5
      expect(y!.toNumbers()).toEqual([40 * k + 2, -2 * k + 1]);
    }
    await runner.release();
  });

  it('reports input specs from ORT when built from bytes (symbolic dims by name)', async () => {
    const runner = await ModelRunner.create(encodeModel(identity('float32', ['N', 3])).bytes);
    expect(runner.inputs).toEqual([{ name: 'x', dtype: 'float32', shape: ['N', 3] }]);
    await runner.release();
  });

  it('checks feeds: wrong dtype, wrong shape, missing or unknown input', async () => {
    const runner = await ModelRunner.create(convGemm());
    await expect(runner.run({ x: new Tensor('float64', [1, 1, 3, 3], new Float64Array(9)) })).rejects.toThrow(
      InputMismatchError,
    );
    await expect(runner.run({ x: Tensor.float32([1, 1, 3, 4], new Array(12).fill(0)) })).rejects.toThrow(
      'input "x": expected float32[1,1,3,3], given float32[1,1,3,4]',
    );
    await expect(runner.run({})).rejects.toThrow(/input "x": expected a feed of float32\[1,1,3,3\], given none/);
    await expect(runner.run({ x: x9, z: x9 })).rejects.toThrow(/input "z"/);
    await expect(runner.run({ x: x9 }, { outputs: ['nope'] })).rejects.toThrow(RunError);
    await runner.release();
  });

  it('wraps ORT run failures in RunError', async () => {
    const m = new Model();
    const g = m.graph;
    const a = input(g, 'a', 'float32', ['n']);
    const b = input(g, 'b', 'float32', ['m']);
    output(g, op(g, 'Add', [a, b], 'y'));
    const runner = await ModelRunner.create(m);
    await expect(runner.run({ a: Tensor.float32([2], [1, 2]), b: Tensor.float32([3], [1, 2, 3]) })).rejects.toThrow(
      RunError,
    );
    await expect(runner.run({ a: Tensor.float32([2], [1, 2]), b: Tensor.float32([3], [1, 2, 3]) })).rejects.toThrow(
      /^onnxruntime failed to run the model: .*broadcast/,
    );
    await runner.release();
  });

  it('refuses a weightless model with the tensors that lack data', async () => {
    const m = convGemm();
    m.graph.get('w')!.initializer!.data = null;
    await expect(ModelRunner.create(m)).rejects.toThrow(WeightlessModelError);
    await expect(ModelRunner.create(m)).rejects.toThrow(/\(w\)/);
  });
});
