/**
 * @file Decode `.onnx` bytes into the IR. The only reader of the ONNX protobuf schema (with encode.ts).
 * Every fault becomes a ModelFormatError naming the node, tensor or byte offset; nothing is allocated from
 * sizes the file merely claims. Pure: imports the IR and the protobuf schema, no Node built-ins.
 */
import { quoted } from '../../../src-shared/errors.ts';
import onnxProto from 'onnx-proto';
import {
  dataFromRaw,
  dtypeFromCode,
  rawByteLength,
  Graph,
  GraphError,
  Model,
  Tensor,
  numel,
  type AttributeValue,
  type DataType,
  type Dim,
  type TensorData,
  type ValueType,
} from '../ir/index.ts';
import { MissingExternalDataError, ModelFormatError } from './errors.ts';
import { confineLocation, type ExternalReader } from './external.ts';
import { checkWire } from './wire.ts';

import type { onnx as O } from 'onnx-proto';

const { onnx } = onnxProto;
type P = typeof onnx;
type TensorProto = O.ITensorProto;
type GraphProto = O.IGraphProto;
type NodeProto = O.INodeProto;
type AttributeProto = O.IAttributeProto;
type TypeProto = O.ITypeProto;

export interface DecodeOptions {
  /** Reads external data; without it a model with external data is refused. */
  readExternal?: ExternalReader;
  /** Accept initializers without data (the corpus's weightless graphs). Default false. */
  allowWeightless?: boolean;
}

/** The two names of the default domain: importing either covers both. */
const DEFAULT_DOMAINS = new Set(['', 'ai.onnx']);

/** Decode a model. Throws ModelFormatError on any fault. */
export function decodeModel(bytes: Uint8Array, opts: DecodeOptions = {}): Model {
  if (bytes.byteLength === 0) throw new ModelFormatError('the file is empty, not an ONNX model', { offset: 0 });
  checkWire(bytes);
  let proto: InstanceType<P['ModelProto']>;
  try {
    proto = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw protobufFault(e, bytes.byteLength);
  }
  if (!proto.graph)
    throw new ModelFormatError('no graph in the file: not an ONNX model (or a truncated one)', { offset: 0 });
  const irVersion = toNum(proto.irVersion);
  if (irVersion <= 0 || irVersion > 64)
    throw new ModelFormatError(`ir_version ${irVersion} is not a valid ONNX IR version: not an ONNX model`);
  const model = new Model(new Graph(proto.graph.name || 'main'));
  model.irVersion = irVersion;
  model.opsetImports.clear();
  for (const o of proto.opsetImport ?? []) {
    const version = toNum(o.version);
    if (!Number.isSafeInteger(version) || version < 1) {
      throw new ModelFormatError(
        `opset import of domain ${quoted(o.domain ?? '')} has version ${version}; versions start at 1`,
      );
    }
    model.opsetImports.set(o.domain ?? '', version);
  }
  if (model.opsetImports.size === 0) throw new ModelFormatError('the model imports no opset');
  model.producerName = proto.producerName ?? '';
  model.producerVersion = proto.producerVersion ?? '';
  model.domain = proto.domain ?? '';
  model.modelVersion = toNum(proto.modelVersion);
  model.docString = proto.docString ?? '';
  for (const kv of proto.metadataProps ?? []) model.metadata.set(kv.key ?? '', kv.value ?? '');
  for (const f of proto.functions ?? []) {
    model.functions.push(onnx.FunctionProto.encode(f).finish());
    model.functionDomains.add(f.domain ?? '');
  }
  const ctx: Ctx = { opts, model };
  fillGraph(model.graph, proto.graph, ctx, 'graph');
  return model;
}

interface Ctx {
  opts: DecodeOptions;
  model: Model;
}

function fillGraph(g: Graph, gp: GraphProto, ctx: Ctx, path: string): void {
  g.docString = gp.docString ?? '';
  for (const vi of gp.input ?? []) {
    if (!vi.name) throw new ModelFormatError('a graph input has no name', { path });
    if (g.get(vi.name)) throw new ModelFormatError(`graph input ${quoted(vi.name)} is declared twice`, { path });
    g.addInput(vi.name, decodeType(vi.type));
  }
  for (const tp of gp.initializer ?? []) {
    const name = tp.name ?? '';
    if (!name) throw new ModelFormatError('an initializer has no name', { path });
    const t = decodeTensor(tp, ctx, name);
    const existing = g.get(name);
    if (existing) {
      if (existing.initializer) throw new ModelFormatError('initializer is defined twice', { tensor: name });
      checkDeclared(existing.type, t, name);
      g.setInitializer(existing, t);
    } else g.addInitializer(name, t);
  }
  if ((gp.sparseInitializer ?? []).length > 0) {
    throw new ModelFormatError('sparse initializers are not supported; densify them first', {
      tensor: gp.sparseInitializer![0]!.values?.name ?? '',
    });
  }
  // Pass 1: create nodes and their outputs (so out-of-order files still resolve).
  const created = (gp.node ?? []).map((np, i) => {
    const name = np.name || `${np.opType}_${i}`;
    checkDomain(np, name, ctx);
    const outs = (np.output ?? []).map((o) => {
      if (o && g.get(o)) throw new ModelFormatError(`value ${quoted(o)} is produced twice`, { node: name });
      return o;
    });
    const node = g.addNode({ opType: np.opType ?? '', domain: np.domain ?? '', name, inputs: [], outputs: outs });
    node.docString = np.docString ?? '';
    return { node, np };
  });
  // Pass 2: attributes (subgraphs see every outer value) and inputs.
  created.forEach(({ node, np }, i) => {
    for (const ap of np.attribute ?? []) {
      node.attributes.set(ap.name ?? '', decodeAttribute(ap, g, ctx, `${path}.node[${i}]`, node.name));
    }
    (np.input ?? []).forEach((name, k) => {
      if (!name) return node.setInput(k, null);
      const v = g.lookup(name);
      if (!v) {
        throw new ModelFormatError(
          `input ${k} ${quoted(name)} of ${node.opType} is produced by no node, graph input or initializer`,
          {
            node: node.name,
          },
        );
      }
      node.setInput(k, v);
    });
  });
  if ((gp.output ?? []).length === 0)
    throw new ModelFormatError(`graph ${quoted(g.name)} declares no outputs`, { path });
  for (const vi of gp.output ?? []) {
    const v = g.lookup(vi.name ?? '');
    if (!v) throw new ModelFormatError(`graph output ${quoted(vi.name ?? '')} is produced by nothing`, { path });
    if (vi.type) v.type = decodeType(vi.type);
    g.addOutput(v);
  }
  for (const vi of gp.valueInfo ?? []) {
    const v = g.get(vi.name ?? '');
    if (v && !v.initializer && vi.type) v.type = decodeType(vi.type);
  }
  try {
    g.sortTopologically();
  } catch (e) {
    if (e instanceof GraphError) throw new ModelFormatError(e.message, { path });
    throw e;
  }
}

function checkDomain(np: NodeProto, name: string, ctx: Ctx): void {
  const d = np.domain ?? '';
  const imports = ctx.model.opsetImports;
  if (imports.has(d) || ctx.model.functionDomains.has(d)) return;
  if (DEFAULT_DOMAINS.has(d) && (imports.has('') || imports.has('ai.onnx'))) return;
  const what = DEFAULT_DOMAINS.has(d) ? 'the default ONNX domain' : `domain ${quoted(d)}`;
  throw new ModelFormatError(
    `op ${quoted(np.opType ?? '')} uses ${what}, which the model does not import (opset imports: ${[...imports.keys()].map((k) => quoted(k)).join(', ')})`,
    { node: name },
  );
}

function checkDeclared(type: ValueType | undefined, t: Tensor, name: string): void {
  if (!type || type.kind !== 'tensor') return;
  if (type.dtype && type.dtype !== t.dtype) {
    throw new ModelFormatError(`initializer has dtype ${t.dtype} but the graph input declares ${type.dtype}`, {
      tensor: name,
    });
  }
  const shape = type.shape;
  if (shape && (shape.length !== t.dims.length || shape.some((d, i) => typeof d === 'number' && d !== t.dims[i]))) {
    throw new ModelFormatError(`initializer has dims [${t.dims}] but the graph input declares [${shape}]`, {
      tensor: name,
    });
  }
}

function decodeType(tp: TypeProto | null | undefined): ValueType | undefined {
  if (!tp) return undefined;
  if (tp.tensorType) {
    const tt = tp.tensorType;
    const dtype = tt.elemType ? dtypeFromCode(tt.elemType) : undefined;
    const shape: Dim[] | undefined = tt.shape
      ? (tt.shape.dim ?? []).map((d) =>
          d.dimParam
            ? d.dimParam
            : d.dimValue !== undefined && d.dimValue !== null && d.hasOwnProperty('dimValue')
              ? toNum(d.dimValue)
              : null,
        )
      : undefined;
    return { kind: 'tensor', dtype, shape };
  }
  return { kind: 'opaque', raw: onnx.TypeProto.toObject(tp as InstanceType<P['TypeProto']>) };
}

/** Decode a TensorProto's dims, dtype and data, validating sizes before any allocation. */
export function decodeTensor(tp: TensorProto, ctx: Ctx, name: string): Tensor {
  const code = tp.dataType ?? 0;
  const dtype = dtypeFromCode(code);
  if (!dtype) throw new ModelFormatError(`unsupported or invalid data type code ${code}`, { tensor: name });
  const dims = (tp.dims ?? []).map((d) => toNum(d));
  if (dims.some((d) => d < 0 || !Number.isSafeInteger(d))) {
    throw new ModelFormatError(`invalid dims [${dims.join(',')}]`, { tensor: name });
  }
  const n = numel(dims);
  const data = decodeData(tp, dtype, n, ctx, name);
  return new Tensor(dtype, dims, data);
}

function decodeData(tp: TensorProto, dtype: DataType, n: number, ctx: Ctx, name: string): TensorData | null {
  if (tp.dataLocation === 1) return readExternal(tp, dtype, n, ctx, name);
  const raw = tp.rawData;
  if (raw && raw.byteLength > 0) {
    if (dtype === 'string') throw new ModelFormatError('string tensors cannot use raw_data', { tensor: name });
    const need = rawByteLength(dtype, n);
    if (raw.byteLength !== need) {
      throw new ModelFormatError(
        `raw_data holds ${raw.byteLength} bytes but dims [${(tp.dims ?? []).map(toNum).join(',')}] of ${dtype} need ${need}`,
        { tensor: name },
      );
    }
    return dataFromRaw(dtype, raw, n);
  }
  const typed = typedField(tp, dtype);
  if (typed.length === 0 && n > 0) {
    if (ctx.opts.allowWeightless) return null;
    throw new ModelFormatError(`has dims [${(tp.dims ?? []).map(toNum).join(',')}] (${n} elements) but holds no data`, {
      tensor: name,
    });
  }
  if (typed.length !== fieldCount(dtype, n)) {
    throw new ModelFormatError(`holds ${typed.length} values but dims need ${fieldCount(dtype, n)}`, { tensor: name });
  }
  return fromTypedField(typed, dtype, n);
}

/** Elements in the typed field: 4-bit types pack two per int32 entry. */
function fieldCount(dtype: DataType, n: number): number {
  return dtype === 'int4' || dtype === 'uint4' ? Math.ceil(n / 2) : n;
}

type Field = ArrayLike<unknown> & { length: number };

function typedField(tp: TensorProto, dtype: DataType): Field {
  const f = (() => {
    switch (dtype) {
      case 'float32':
        return tp.floatData;
      case 'float64':
        return tp.doubleData;
      case 'int64':
        return tp.int64Data;
      case 'uint32':
      case 'uint64':
        return tp.uint64Data;
      case 'string':
        return tp.stringData;
      default:
        return tp.int32Data;
    }
  })();
  return f ?? [];
}

const textDecoder = new TextDecoder();

function fromTypedField(f: Field, dtype: DataType, n: number): TensorData {
  const arr = Array.from(f as ArrayLike<unknown>);
  switch (dtype) {
    case 'float32':
      return Float32Array.from(arr as number[]);
    case 'float64':
      return Float64Array.from(arr as number[]);
    case 'int64':
      return BigInt64Array.from(arr.map(toBig));
    case 'uint64':
      return BigUint64Array.from(arr.map((v) => BigInt.asUintN(64, toBig(v))));
    case 'uint32':
      return Uint32Array.from(arr.map(toNum));
    case 'string':
      return arr.map((b) => textDecoder.decode(b as Uint8Array));
    case 'int8':
      return Int8Array.from(arr as number[]);
    case 'int16':
      return Int16Array.from(arr as number[]);
    case 'int32':
      return Int32Array.from(arr as number[]);
    case 'uint16':
    case 'float16':
    case 'bfloat16':
      return Uint16Array.from(arr as number[]);
    case 'int4':
    case 'uint4':
      return Uint8Array.from(arr as number[]).subarray(0, Math.ceil(n / 2));
    default:
      return Uint8Array.from(arr as number[]);
  }
}

function readExternal(tp: TensorProto, dtype: DataType, n: number, ctx: Ctx, name: string): TensorData {
  const kv = new Map((tp.externalData ?? []).map((e) => [e.key ?? '', e.value ?? '']));
  const location = confineLocation(kv.get('location') ?? '', name);
  const offset = kv.has('offset') ? Number(kv.get('offset')) : 0;
  const need = rawByteLength(dtype, n);
  const length = kv.has('length') ? Number(kv.get('length')) : need;
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new ModelFormatError(`external data has invalid offset/length (${kv.get('offset')}, ${kv.get('length')})`, {
      tensor: name,
    });
  }
  if (length !== need) {
    throw new ModelFormatError(`external data length ${length} but dims of ${dtype} need ${need} bytes`, {
      tensor: name,
    });
  }
  if (!ctx.opts.readExternal) {
    throw new MissingExternalDataError(
      `the model is valid ONNX but keeps its weights in the external file ${quoted(location)}, which a copy of the .onnx file alone does not bring: open the model by its path, in the folder that holds that file`,
      {
        tensor: name,
      },
    );
  }
  const bytes = ctx.opts.readExternal({ location, offset, length, tensor: name });
  return dataFromRaw(dtype, bytes, n);
}

function decodeAttribute(ap: AttributeProto, g: Graph, ctx: Ctx, path: string, nodeName: string): AttributeValue {
  const name = ap.name ?? '';
  if (ap.refAttrName)
    return { type: 'opaque', value: onnx.AttributeProto.toObject(ap as InstanceType<P['AttributeProto']>) };
  const type = ap.type || inferAttrType(ap);
  const tensor = (t: TensorProto, i = 0) => decodeTensor(t, ctx, `${nodeName}.${name}${i ? `[${i}]` : ''}`);
  const sub = (gp: GraphProto, i?: number) => {
    const sg = new Graph(gp.name || name, g);
    fillGraph(sg, gp, ctx, `${path}.attribute[${name}${i !== undefined ? `][${i}` : ''}]`);
    return sg;
  };
  switch (type) {
    case 1:
      return { type: 'float', value: ap.f ?? 0 };
    case 2:
      return { type: 'int', value: toNum(ap.i) };
    case 3:
      return { type: 'string', value: textDecoder.decode(ap.s ?? new Uint8Array()) };
    case 4:
      if (!ap.t)
        throw new ModelFormatError(`attribute ${quoted(name)} declares type TENSOR but holds no tensor`, {
          node: nodeName,
          path,
        });
      return { type: 'tensor', value: tensor(ap.t) };
    case 5:
      if (!ap.g)
        throw new ModelFormatError(`attribute ${quoted(name)} declares type GRAPH but holds no graph`, {
          node: nodeName,
          path,
        });
      return { type: 'graph', value: sub(ap.g) };
    case 6:
      return { type: 'floats', value: [...(ap.floats ?? [])] };
    case 7:
      return { type: 'ints', value: (ap.ints ?? []).map(toNum) };
    case 8:
      return { type: 'strings', value: (ap.strings ?? []).map((s) => textDecoder.decode(s)) };
    case 9:
      return { type: 'tensors', value: (ap.tensors ?? []).map((t, i) => tensor(t, i)) };
    case 10:
      return { type: 'graphs', value: (ap.graphs ?? []).map((gp, i) => sub(gp, i)) };
    default:
      return { type: 'opaque', value: onnx.AttributeProto.toObject(ap as InstanceType<P['AttributeProto']>) };
  }
}

/** Old files may omit AttributeProto.type: infer it from the populated field. */
function inferAttrType(ap: AttributeProto): number {
  if (ap.g) return 5;
  if (ap.t) return 4;
  if (ap.floats?.length) return 6;
  if (ap.ints?.length) return 7;
  if (ap.strings?.length) return 8;
  if (ap.graphs?.length) return 10;
  if (ap.tensors?.length) return 9;
  if (ap.s && ap.s.length) return 3;
  if (ap.hasOwnProperty('f') && ap.f) return 1;
  return 2;
}

interface LongLike {
  low: number;
  high: number;
  unsigned?: boolean;
  toNumber(): number;
}

/** protobufjs int64 (number or Long) → number. */
export function toNum(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v === null || v === undefined) return 0;
  if (typeof v === 'bigint') return Number(v);
  return (v as LongLike).toNumber();
}

function toBig(v: unknown): bigint {
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'bigint') return v;
  const l = v as LongLike;
  return (BigInt(l.high) << 32n) | BigInt(l.low >>> 0);
}

/** Translate a protobufjs decode failure into a ModelFormatError with the byte offset. */
function protobufFault(e: unknown, total: number): ModelFormatError {
  const msg = e instanceof Error ? e.message : String(e);
  const range = /index out of range: (\d+) \+ (\d+) > (\d+)/.exec(msg);
  if (range) {
    const [pos, len] = [Number(range[1]), Number(range[2])];
    return new ModelFormatError(
      `truncated or corrupt file: a field at byte ${pos} claims ${len} bytes but only ${total - pos} remain`,
      { offset: pos },
    );
  }
  const wire = /invalid wire type (\d+) at offset (\d+)/.exec(msg);
  if (wire)
    return new ModelFormatError(`not an ONNX model: invalid protobuf wire type ${wire[1]}`, {
      offset: Number(wire[2]),
    });
  return new ModelFormatError(`not an ONNX model: ${msg}`);
}
