/** @file Serde tests: round trips, every dtype, subgraphs, and each kind of bad input getting a named error. */
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { Graph, Model, Tensor, printModel, type DataType } from '../ir/index.ts';
import { decodeModel, encodeModel, ExternalDataPathError, ModelFormatError } from './index.ts';

const { onnx } = onnxProto;

function small(): Model {
  const m = new Model();
  const g = m.graph;
  const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['batch', 4] });
  const w = g.addInitializer('w', Tensor.float32([3, 4], Array.from({ length: 12 }, (_, i) => i / 7)));
  const gemm = g.addNode({ opType: 'Gemm', name: 'fc', inputs: [x, w], outputs: ['y'], attributes: { transB: { type: 'int', value: 1 }, alpha: { type: 'float', value: 0.5 } } });
  g.outputs.push(gemm.outputs[0]!);
  gemm.outputs[0]!.type = { kind: 'tensor', dtype: 'float32', shape: ['batch', 3] };
  m.metadata.set('author', 'tests');
  return m;
}

/** A raw ModelProto, for building broken files the IR would never produce. */
function rawModel(graph: Record<string, unknown>, extra: Record<string, unknown> = {}): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.fromObject({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph, ...extra }),
  ).finish();
}

const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } });

describe('round trip', () => {
  it('decode(encode(m)) prints the same and keeps data and metadata', () => {
    const m = small();
    const m2 = decodeModel(encodeModel(m).bytes);
    expect(printModel(m2)).toBe(printModel(m));
    expect(Array.from(m2.graph.get('w')!.initializer!.data as Float32Array)).toEqual(Array.from(m.graph.get('w')!.initializer!.data as Float32Array));
    expect(m2.metadata.get('author')).toBe('tests');
    expect(m2.graph.node('fc')!.attrFloat('alpha', 0)).toBeCloseTo(0.5);
    // encoding is stable: a second round trip gives the same bytes
    expect(encodeModel(m2).bytes).toEqual(encodeModel(m).bytes);
  });

  it('keeps every supported dtype exactly', () => {
    const cases: [DataType, Tensor][] = [
      ['float64', new Tensor('float64', [2], Float64Array.from([1e-300, -2.5]))],
      ['int8', new Tensor('int8', [3], Int8Array.from([-128, 0, 127]))],
      ['uint8', new Tensor('uint8', [2], Uint8Array.from([0, 255]))],
      ['int16', new Tensor('int16', [1], Int16Array.from([-300]))],
      ['uint16', new Tensor('uint16', [1], Uint16Array.from([65535]))],
      ['int32', new Tensor('int32', [1], Int32Array.from([-2147483648]))],
      ['uint32', new Tensor('uint32', [1], Uint32Array.from([4294967295]))],
      ['int64', new Tensor('int64', [2], BigInt64Array.from([9223372036854775807n, -5n]))],
      ['uint64', new Tensor('uint64', [1], BigUint64Array.from([18446744073709551615n]))],
      ['float16', new Tensor('float16', [2], Uint16Array.from([0x3c00, 0xc000]))],
      ['bfloat16', new Tensor('bfloat16', [1], Uint16Array.from([0x3f80]))],
      ['bool', new Tensor('bool', [2], Uint8Array.from([1, 0]))],
      ['int4', new Tensor('int4', [3], Uint8Array.from([0x7f, 0x08]))],
      ['uint4', new Tensor('uint4', [2], Uint8Array.from([0xf0]))],
      ['string', new Tensor('string', [2], ['héllo', ''])],
    ];
    const m = new Model();
    for (const [dt, t] of cases) m.graph.addInitializer(`t_${dt}`, t);
    const m2 = decodeModel(encodeModel(m).bytes);
    for (const [dt, t] of cases) {
      const got = m2.graph.get(`t_${dt}`)!.initializer!;
      expect(got.dtype).toBe(dt);
      expect(got.dims).toEqual(t.dims);
      expect(Array.from(got.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    }
  });

  it('keeps If subgraphs that read outer-scope values', () => {
    const m = new Model();
    const g = m.graph;
    const c = g.addInput('cond', { kind: 'tensor', dtype: 'bool', shape: [] });
    const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [2] });
    const mk = (name: string, op: string) => {
      const sg = new Graph(name, g);
      const n = sg.addNode({ opType: op, name: `${name}_op`, inputs: [x], outputs: [`${name}_y`] });
      sg.outputs.push(n.outputs[0]!);
      n.outputs[0]!.type = { kind: 'tensor', dtype: 'float32', shape: [2] };
      return sg;
    };
    const iff = g.addNode({
      opType: 'If', name: 'if', inputs: [c], outputs: ['r'],
      attributes: { then_branch: { type: 'graph', value: mk('then', 'Relu') }, else_branch: { type: 'graph', value: mk('else', 'Neg') } },
    });
    g.outputs.push(iff.outputs[0]!);
    const m2 = decodeModel(encodeModel(m).bytes);
    expect(printModel(m2)).toBe(printModel(m));
    const x2 = m2.graph.get('x')!;
    expect(x2.uses.map((u) => u.node.name).sort()).toEqual(['else_op', 'then_op']);
  });

  it('accepts out-of-order nodes and sorts them', () => {
    const bytes = rawModel({
      name: 'g', input: [vi('x')], output: [vi('z')],
      node: [
        { name: 'second', opType: 'Relu', input: ['y'], output: ['z'] },
        { name: 'first', opType: 'Neg', input: ['x'], output: ['y'] },
      ],
    });
    expect(decodeModel(bytes).graph.nodes.map((n) => n.name)).toEqual(['first', 'second']);
  });

  it('weightless initializers decode only when allowed', () => {
    const bytes = rawModel({ name: 'g', initializer: [{ name: 'w', dataType: 1, dims: [64, 3, 7, 7] }] });
    expect(() => decodeModel(bytes)).toThrow(/tensor "w"/);
    const m = decodeModel(bytes, { allowWeightless: true });
    expect(m.graph.get('w')!.initializer!.data).toBeNull();
    expect(m.graph.get('w')!.initializer!.dims).toEqual([64, 3, 7, 7]);
  });
});

describe('bad input gets a named error', () => {
  const good = encodeModel(small()).bytes;

  it('an empty file', () => {
    expect(() => decodeModel(new Uint8Array())).toThrow(ModelFormatError);
  });

  it('a truncated file names the byte offset', () => {
    const cut = good.subarray(0, Math.floor(good.byteLength * 0.6));
    try {
      decodeModel(cut);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ModelFormatError);
      expect((e as ModelFormatError).location.offset).toBeTypeOf('number');
      expect((e as Error).message).toMatch(/byte offset \d+/);
    }
  });

  it('a non-ONNX file', () => {
    const text = new TextEncoder().encode('this is a README, not a model\n'.repeat(20));
    expect(() => decodeModel(text)).toThrow(ModelFormatError);
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);
    expect(() => decodeModel(png)).toThrow(ModelFormatError);
  });

  it('an initializer with an unknown dtype', () => {
    const bytes = rawModel({ name: 'g', initializer: [{ name: 'w', dataType: 99, dims: [2], rawData: new Uint8Array(8) }] });
    expect(() => decodeModel(bytes)).toThrow(/data type code 99 \(tensor "w"\)/);
  });

  it('an initializer whose data does not fit its dims', () => {
    const bytes = rawModel({ name: 'g', initializer: [{ name: 'w', dataType: 1, dims: [3, 4], rawData: new Uint8Array(40) }] });
    expect(() => decodeModel(bytes)).toThrow(/raw_data holds 40 bytes but dims \[3,4\] of float32 need 48 \(tensor "w"\)/);
  });

  it('huge claimed dims with tiny data fail without allocating', () => {
    const bytes = rawModel({ name: 'g', initializer: [{ name: 'big', dataType: 1, dims: [1e6, 1e6], rawData: new Uint8Array(4) }] });
    expect(() => decodeModel(bytes)).toThrow(/tensor "big"/);
  });

  it('an initializer whose dtype contradicts its declared input type', () => {
    const bytes = rawModel({
      name: 'g', input: [{ name: 'w', type: { tensorType: { elemType: 7 } } }],
      initializer: [{ name: 'w', dataType: 1, dims: [1], rawData: new Uint8Array(4) }],
    });
    expect(() => decodeModel(bytes)).toThrow(/declares int64 \(tensor "w"\)/);
  });

  it('a node input that no one produces names the node', () => {
    const bytes = rawModel({ name: 'g', input: [vi('x')], output: [vi('y')], node: [{ name: 'add1', opType: 'Add', input: ['x', 'ghost'], output: ['y'] }] });
    expect(() => decodeModel(bytes)).toThrow(/input 1 "ghost" of Add is produced by no node.*node "add1"/);
  });

  it('a cycle names the nodes', () => {
    const bytes = rawModel({
      name: 'g', input: [vi('x')], output: [vi('b')],
      node: [
        { name: 'n1', opType: 'Add', input: ['x', 'b'], output: ['a'] },
        { name: 'n2', opType: 'Relu', input: ['a'], output: ['b'] },
      ],
    });
    expect(() => decodeModel(bytes)).toThrow(/cycle through nodes n1, n2/);
  });

  it('an unknown op domain names the node', () => {
    const bytes = rawModel({ name: 'g', input: [vi('x')], output: [vi('y')], node: [{ name: 'custom', opType: 'Foo', domain: 'com.example', input: ['x'], output: ['y'] }] });
    expect(() => decodeModel(bytes)).toThrow(/domain "com.example".*node "custom"/);
  });

  it('external data outside the model folder is refused', () => {
    for (const location of ['../secret.bin', '/etc/passwd', 'C:\\Windows\\x', 'a/../../b']) {
      const bytes = rawModel({
        name: 'g',
        initializer: [{ name: 'w', dataType: 1, dims: [1], dataLocation: 1, externalData: [{ key: 'location', value: location }] }],
      });
      expect(() => decodeModel(bytes, { readExternal: () => new Uint8Array(4) })).toThrow(ExternalDataPathError);
    }
  });

  it('a length prefix claiming more bytes than the file holds', () => {
    // field 7 (graph), wire type 2, length varint 0x7fffffff, then 3 bytes
    const bytes = Uint8Array.from([0x08, 0x08, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3]);
    expect(() => decodeModel(bytes)).toThrow(/truncated or corrupt file: a field at byte \d+ claims \d+ bytes.*byte offset \d+/);
  });
});
