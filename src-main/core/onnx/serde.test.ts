/** @file Serde tests: round trips, every dtype, subgraphs, and each kind of bad input getting a named error. */
import { describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { Graph, Model, Tensor, printModel, type DataType } from '../ir/index.ts';
import { decodeModel, encodeModel, ExternalDataPathError, ModelFormatError } from './index.ts';
import { tinyGemmModel } from '../autodiff/op-model.ts';

const { onnx } = onnxProto;

/** The tiny Gemm with a float attribute and metadata (both must survive a round trip). */
function small(): Model {
  const m = tinyGemmModel({ alpha: { type: 'float', value: 0.5 } });
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
    expect(Array.from(m2.graph.get('w')!.initializer!.data as Float32Array)).toEqual(
      Array.from(m.graph.get('w')!.initializer!.data as Float32Array),
    );
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
    for (const [dt, t] of cases) m.graph.outputs.push(m.graph.addInitializer(`t_${dt}`, t));
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
      opType: 'If',
      name: 'if',
      inputs: [c],
      outputs: ['r'],
      attributes: {
        then_branch: { type: 'graph', value: mk('then', 'Relu') },
        else_branch: { type: 'graph', value: mk('else', 'Neg') },
      },
    });
    g.outputs.push(iff.outputs[0]!);
    const m2 = decodeModel(encodeModel(m).bytes);
    expect(printModel(m2)).toBe(printModel(m));
    const x2 = m2.graph.get('x')!;
    expect(x2.uses.map((u) => u.node.name).sort()).toEqual(['else_op', 'then_op']);
  });

  it('accepts out-of-order nodes and sorts them', () => {
    const bytes = rawModel({
      name: 'g',
      input: [vi('x')],
      output: [vi('z')],
      node: [
        { name: 'second', opType: 'Relu', input: ['y'], output: ['z'] },
        { name: 'first', opType: 'Neg', input: ['x'], output: ['y'] },
      ],
    });
    expect(decodeModel(bytes).graph.nodes.map((n) => n.name)).toEqual(['first', 'second']);
  });

  it('weightless initializers decode only when allowed', () => {
    const bytes = rawModel({
      name: 'g',
      initializer: [{ name: 'w', dataType: 1, dims: [64, 3, 7, 7] }],
      output: [vi('w')],
    });
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
    const bytes = rawModel({
      name: 'g',
      initializer: [{ name: 'w', dataType: 99, dims: [2], rawData: new Uint8Array(8) }],
    });
    expect(() => decodeModel(bytes)).toThrow(/data type code 99 \(tensor "w"\)/);
  });

  it('an initializer whose data does not fit its dims', () => {
    const bytes = rawModel({
      name: 'g',
      initializer: [{ name: 'w', dataType: 1, dims: [3, 4], rawData: new Uint8Array(40) }],
    });
    expect(() => decodeModel(bytes)).toThrow(
      /raw_data holds 40 bytes but dims \[3,4\] of float32 need 48 \(tensor "w"\)/,
    );
  });

  it('huge claimed dims with tiny data fail without allocating', () => {
    const bytes = rawModel({
      name: 'g',
      initializer: [{ name: 'big', dataType: 1, dims: [1e6, 1e6], rawData: new Uint8Array(4) }],
    });
    expect(() => decodeModel(bytes)).toThrow(/tensor "big"/);
  });

  it('an initializer whose dtype contradicts its declared input type', () => {
    const bytes = rawModel({
      name: 'g',
      input: [{ name: 'w', type: { tensorType: { elemType: 7 } } }],
      initializer: [{ name: 'w', dataType: 1, dims: [1], rawData: new Uint8Array(4) }],
    });
    expect(() => decodeModel(bytes)).toThrow(/declares int64 \(tensor "w"\)/);
  });

  it('a node input that no one produces names the node', () => {
    const bytes = rawModel({
      name: 'g',
      input: [vi('x')],
      output: [vi('y')],
      node: [{ name: 'add1', opType: 'Add', input: ['x', 'ghost'], output: ['y'] }],
    });
    expect(() => decodeModel(bytes)).toThrow(/input 1 "ghost" of Add is produced by no node.*node "add1"/);
  });

  it('a cycle names the nodes', () => {
    const bytes = rawModel({
      name: 'g',
      input: [vi('x')],
      output: [vi('b')],
      node: [
        { name: 'n1', opType: 'Add', input: ['x', 'b'], output: ['a'] },
        { name: 'n2', opType: 'Relu', input: ['a'], output: ['b'] },
      ],
    });
    expect(() => decodeModel(bytes)).toThrow('graph "g" has a cycle: "n1" → "n2" → "n1"');
  });

  it('an unknown op domain names the node', () => {
    const bytes = rawModel({
      name: 'g',
      input: [vi('x')],
      output: [vi('y')],
      node: [{ name: 'custom', opType: 'Foo', domain: 'com.example', input: ['x'], output: ['y'] }],
    });
    expect(() => decodeModel(bytes)).toThrow(/domain "com.example".*node "custom"/);
  });

  it('external data outside the model folder is refused', () => {
    for (const location of ['../secret.bin', '/etc/passwd', 'C:\\Windows\\x', 'a/../../b']) {
      const bytes = rawModel({
        name: 'g',
        initializer: [
          { name: 'w', dataType: 1, dims: [1], dataLocation: 1, externalData: [{ key: 'location', value: location }] },
        ],
      });
      expect(() => decodeModel(bytes, { readExternal: () => new Uint8Array(4) })).toThrow(ExternalDataPathError);
    }
  });

  it('a length prefix claiming more bytes than the file holds', () => {
    // field 7 (graph), wire type 2, length varint 0x7fffffff, then 3 bytes
    const bytes = Uint8Array.from([0x08, 0x08, 0x3a, 0xff, 0xff, 0xff, 0xff, 0x07, 1, 2, 3]);
    expect(() => decodeModel(bytes)).toThrow(
      /truncated or corrupt file: a field at byte \d+ claims \d+ bytes.*byte offset \d+/,
    );
  });
});

describe('structural faults protobufjs and a naive reader miss', () => {
  /** Encode a varint of any size (up to 64 bits). */
  const varint = (v: bigint): number[] => {
    const out: number[] = [];
    do {
      const b = Number(v & 0x7fn);
      v >>= 7n;
      out.push(v > 0n ? b | 0x80 : b);
    } while (v > 0n);
    return out;
  };

  it('a node that reads its own output is a cycle', () => {
    const bytes = rawModel({
      name: 'g',
      input: [vi('x')],
      output: [vi('y')],
      node: [{ name: 'loop', opType: 'Add', input: ['x', 'y'], output: ['y'] }],
    });
    expect(() => decodeModel(bytes)).toThrow('graph "g" has a cycle: node "loop" reads its own output "y"');
  });

  it('a cycle deep inside a larger graph is found and named in order', () => {
    const node = [
      { name: 'head', opType: 'Relu', input: ['x'], output: ['h'] },
      { name: 'c1', opType: 'Add', input: ['h', 'c3o'], output: ['c1o'] },
      { name: 'c2', opType: 'Relu', input: ['c1o'], output: ['c2o'] },
      { name: 'c3', opType: 'Relu', input: ['c2o'], output: ['c3o'] },
      { name: 'tail', opType: 'Relu', input: ['c3o'], output: ['y'] },
    ];
    const bytes = rawModel({ name: 'g', input: [vi('x')], output: [vi('y')], node });
    expect(() => decodeModel(bytes)).toThrow('graph "g" has a cycle: "c1" → "c2" → "c3" → "c1"');
  });

  it('a chain of 200,000 nodes decodes and sorts without exhausting the stack', () => {
    const n = 200_000;
    const node = Array.from({ length: n }, (_, i) => ({
      name: `r${i}`,
      opType: 'Relu',
      input: [i ? `v${i - 1}` : 'x'],
      output: [`v${i}`],
    }));
    node.reverse(); // out of file order: the sort has to do the work
    const m = decodeModel(rawModel({ name: 'g', input: [vi('x')], output: [vi(`v${n - 1}`)], node }));
    expect(m.graph.nodes).toHaveLength(n);
    expect(m.graph.nodes[0]!.name).toBe('r0');
    expect(m.graph.nodes[n - 1]!.name).toBe(`r${n - 1}`);
  });

  it('If subgraphs nested deeper than the bound get a named error, not a RangeError', () => {
    const nest = (depth: number): Record<string, unknown> => {
      let g: Record<string, unknown> = { name: 'leaf', output: [vi('x')] };
      for (let i = 0; i < depth; i++) {
        g = {
          name: `g${i}`,
          output: [vi(`y${i}`)],
          node: [
            {
              name: `if${i}`,
              opType: 'If',
              input: ['c'],
              output: [`y${i}`],
              attribute: [
                { name: 'then_branch', type: 5, g },
                { name: 'else_branch', type: 5, g: { name: 'e', output: [vi('x')] } },
              ],
            },
          ],
        };
      }
      return g;
    };
    const shallow = rawModel({ ...nest(20), input: [{ name: 'c', type: { tensorType: { elemType: 9 } } }, vi('x')] });
    expect(decodeModel(shallow).graph.nodes[0]!.opType).toBe('If');
    for (const depth of [40, 2000]) {
      const deep = rawModel({ ...nest(depth), input: [{ name: 'c', type: { tensorType: { elemType: 9 } } }, vi('x')] });
      expect(() => decodeModel(deep)).toThrow(/nest deeper than 100 levels.*byte offset \d+/);
    }
  });

  it('a length varint above 2^32 is read exactly, not truncated to 32 bits', () => {
    // field 7 (graph), length 2^32 + 2: protobufjs would read a length of 2 and take the next two bytes as a graph
    const bytes = Uint8Array.from([0x08, 0x08, 0x3a, ...varint(2n ** 32n + 2n), 0x12, 0x00]);
    expect(() => decodeModel(bytes)).toThrow(
      'truncated or corrupt file: a field at byte 2 claims 4294967298 bytes but only 2 remain (byte offset 2)',
    );
    const tooLong = Uint8Array.from([0x08, ...Array(10).fill(0xff), 0x01]);
    expect(() => decodeModel(tooLong)).toThrow(/varint is longer than 10 bytes \(byte offset 1\)/);
  });

  it('a field that runs past its enclosing message, a wrong wire type, a bad group', () => {
    // graph of 2 bytes whose name field claims 5 bytes (still inside the file)
    const past = Uint8Array.from([0x3a, 0x02, 0x12, 0x05, 0x61, 0x62, 0x63, 0x64, 0x65]);
    expect(() => decodeModel(past)).toThrow(/claims 5 bytes but only 0 remain/);
    const wrongWire = Uint8Array.from([0x38, 0x05]); // field 7 (graph) as a varint
    expect(() => decodeModel(wrongWire)).toThrow(/field 7 of Model arrives as varint, not as length-delimited/);
    const openGroup = Uint8Array.from([0x08, 0x08, 0xfb, 0x01]); // field 31, group start, never closed
    expect(() => decodeModel(openGroup)).toThrow(/group 31 is never closed/);
    const packed = rawModel({
      name: 'g',
      output: [vi('w')],
      initializer: [{ name: 'w', dataType: 1, dims: [1], floatData: [1] }],
    });
    const i = packed.findIndex((b, k) => b === 0x22 && packed[k + 1] === 4 && packed[k - 2] === 0x10); // after data_type
    expect(i).toBeGreaterThan(0); // float_data, packed, 4 bytes
    const odd = Uint8Array.from(packed);
    odd[i + 1] = 3; // 3 bytes of floats: protobufjs would read past the field
    expect(() => decodeModel(odd)).toThrow(/packed field 4 of Tensor holds 3 bytes, not a multiple of 4/);
  });

  it('a graph without outputs, a default-domain op without a default-domain import, a version-0 opset', () => {
    expect(() =>
      decodeModel(
        rawModel({ name: 'g', input: [vi('x')], node: [{ name: 'r', opType: 'Relu', input: ['x'], output: ['y'] }] }),
      ),
    ).toThrow('graph "g" declares no outputs');
    const foreign = rawModel(
      {
        name: 'g',
        input: [vi('x')],
        output: [vi('y')],
        node: [{ name: 'r', opType: 'Relu', input: ['x'], output: ['y'] }],
      },
      { opsetImport: [{ domain: 'com.example', version: 1 }] },
    );
    expect(() => decodeModel(foreign)).toThrow(
      'op "Relu" uses the default ONNX domain, which the model does not import (opset imports: "com.example") (node "r")',
    );
    const aiOnnx = rawModel(
      {
        name: 'g',
        input: [vi('x')],
        output: [vi('y')],
        node: [{ name: 'r', opType: 'Relu', input: ['x'], output: ['y'] }],
      },
      { opsetImport: [{ domain: 'ai.onnx', version: 17 }] },
    );
    expect(decodeModel(aiOnnx).graph.nodes).toHaveLength(1);
    const zero = rawModel(
      { name: 'g', input: [vi('x')], output: [vi('x')] },
      { opsetImport: [{ domain: '', version: 0 }] },
    );
    expect(() => decodeModel(zero)).toThrow('opset import of domain "" has version 0; versions start at 1');
  });
});

describe('attributes whose declared type has no value (found by the fuzz suite)', () => {
  it('a TENSOR or GRAPH attribute without its tensor or graph is a named error, not a TypeError', () => {
    for (const [type, what] of [
      [4, 'TENSOR'],
      [5, 'GRAPH'],
    ] as const) {
      const bytes = rawModel({
        name: 'g',
        input: [vi('x')],
        output: [vi('y')],
        node: [{ name: 'n', opType: 'Relu', input: ['x'], output: ['y'], attribute: [{ name: 'a', type }] }],
      });
      expect(() => decodeModel(bytes)).toThrow(
        `attribute "a" declares type ${what} but holds no ${what.toLowerCase()} (node "n")`,
      );
    }
  });
});
