/**
 * @file Encode the IR into `.onnx` bytes, optionally moving large tensors into one external data file
 * (required above protobuf's 2 GB limit). Pure: imports the IR and the protobuf schema.
 */
import onnxProto from 'onnx-proto';
import {
  dtypeCode,
  rawByteLength,
  rawFromData,
  type AttributeValue,
  type Graph,
  type Model,
  type Tensor,
  type Value,
  type ValueType,
} from '../ir/index.ts';
import { confineLocation } from './external.ts';

const { onnx } = onnxProto;

export interface EncodeOptions {
  /** Move tensors of at least `threshold` bytes (default 1024) into the file `location`, relative to the model. */
  external?: { location: string; threshold?: number };
  /** Write a weightless graph (initializers keep name, dtype and dims only). */
  weightless?: boolean;
}

export interface EncodedModel {
  bytes: Uint8Array;
  /** Chunks of the external data file, in order (absent when nothing went external). */
  external?: { location: string; chunks: Uint8Array[]; size: number };
}

/** The protobuf limit: a message above this must use external data. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;

/**
 * Above this many bytes of tensor data a model is written with external data when nobody chose: protobuf's limit
 * less 64 MiB for the graph itself (names, attributes, shapes: a few MB even for the largest models here).
 */
export const INLINE_DATA_LIMIT = PROTOBUF_LIMIT - 64 * 2 ** 20;

/**
 * Bytes of tensor data an inline encoding of the model would hold: the data of every initializer and tensor
 * attribute in every graph (weightless tensors count nothing). Cheap: nothing is encoded.
 * @example inlineDataBytes(resnet18) // 46_758_912
 */
export function inlineDataBytes(model: Model): number {
  let total = 0;
  const add = (t: Tensor) => {
    if (t.data === null) return;
    total += Array.isArray(t.data) ? t.data.reduce((n, s) => n + s.length, 0) : rawByteLength(t.dtype, t.size);
  };
  const walk = (g: Graph) => {
    for (const v of g.initializers) add(v.initializer!);
    for (const n of g.nodes) {
      for (const [, a] of n.attributes) {
        if (a.type === 'tensor') add(a.value);
        else if (a.type === 'tensors') a.value.forEach(add);
      }
      n.subgraphs().forEach(walk);
    }
  };
  walk(model.graph);
  return total;
}

const textEncoder = new TextEncoder();
const ALIGN = 64;

/** Encode a model. Throws when it would exceed protobuf's 2 GB limit without external data. */
export function encodeModel(model: Model, opts: EncodeOptions = {}): EncodedModel {
  const ext = opts.external
    ? {
        location: confineLocation(opts.external.location, '(external data file)'),
        threshold: opts.external.threshold ?? 1024,
        chunks: [] as Uint8Array[],
        size: 0,
      }
    : null;
  const ctx: EncCtx = { ext, weightless: !!opts.weightless, inline: 0 };
  const graph = encodeGraph(model.graph, ctx);
  if (ctx.inline > PROTOBUF_LIMIT) {
    throw new RangeError(
      `the model holds ${ctx.inline} bytes of weights inline, over protobuf's 2 GB limit; save it with external data`,
    );
  }
  const proto = onnx.ModelProto.create({
    irVersion: model.irVersion,
    opsetImport: [...model.opsetImports].map(([domain, version]) => ({ domain, version })),
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    modelVersion: model.modelVersion,
    docString: model.docString,
    graph,
    metadataProps: [...model.metadata].map(([key, value]) => ({ key, value })),
    functions: model.functions.map((b) => onnx.FunctionProto.decode(b)),
  });
  const bytes = onnx.ModelProto.encode(proto).finish();
  return ext && ext.chunks.length
    ? { bytes, external: { location: ext.location, chunks: ext.chunks, size: ext.size } }
    : { bytes };
}

interface EncCtx {
  ext: { location: string; threshold: number; chunks: Uint8Array[]; size: number } | null;
  weightless: boolean;
  inline: number;
}

function encodeGraph(g: Graph, ctx: EncCtx): Record<string, unknown> {
  const io = new Set<Value>([...g.inputs, ...g.outputs]);
  const valueInfo: Record<string, unknown>[] = [];
  for (const n of g.nodes) {
    for (const v of n.outputs) if (!io.has(v) && v.type && !v.anonymous) valueInfo.push(valueInfoOf(v));
  }
  return {
    name: g.name,
    docString: g.docString,
    input: g.inputs.map(valueInfoOf),
    output: g.outputs.map(valueInfoOf),
    initializer: g.initializers.map((v) => encodeTensor(v.initializer!, v.name, ctx)),
    valueInfo,
    node: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      docString: n.docString,
      input: n.inputs.map((v) => (v ? v.name : '')),
      output: n.outputs.map((v) => (v.anonymous && v.uses.length === 0 && !v.isGraphOutput ? '' : v.name)),
      attribute: [...n.attributes].map(([name, a]) => encodeAttribute(name, a, ctx)),
    })),
  };
}

function valueInfoOf(v: Value): Record<string, unknown> {
  return {
    name: v.name,
    docString: v.docString,
    type: encodeType(v.type ?? (v.initializer ? undefined : undefined), v),
  };
}

function encodeType(t: ValueType | undefined, v: Value): Record<string, unknown> | undefined {
  const type =
    t ??
    (v.initializer
      ? { kind: 'tensor' as const, dtype: v.initializer.dtype, shape: [...v.initializer.dims] }
      : undefined);
  if (!type) return undefined;
  if (type.kind === 'opaque')
    return onnx.TypeProto.fromObject(type.raw as Record<string, unknown>) as unknown as Record<string, unknown>;
  const tensorType: Record<string, unknown> = {};
  if (type.dtype) tensorType.elemType = dtypeCode(type.dtype);
  if (type.shape) {
    tensorType.shape = {
      dim: type.shape.map((d) =>
        typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {},
      ),
    };
  }
  return { tensorType };
}

/** Encode one tensor: raw_data inline, external, or (weightless) dims only. */
export function encodeTensor(
  t: Tensor,
  name: string,
  ctx: EncCtx = { ext: null, weightless: false, inline: 0 },
): Record<string, unknown> {
  const base: Record<string, unknown> = { name, dataType: dtypeCode(t.dtype), dims: [...t.dims] };
  if (t.data === null || ctx.weightless) return base;
  if (t.dtype === 'string') return { ...base, stringData: (t.data as string[]).map((s) => textEncoder.encode(s)) };
  const raw = rawFromData(t.data);
  const bytes = rawByteLength(t.dtype, t.size);
  const view = raw.subarray(0, bytes);
  if (ctx.ext && bytes >= ctx.ext.threshold) {
    const pad = (ALIGN - (ctx.ext.size % ALIGN)) % ALIGN;
    if (pad) ctx.ext.chunks.push(new Uint8Array(pad));
    const offset = ctx.ext.size + pad;
    ctx.ext.chunks.push(view);
    ctx.ext.size = offset + bytes;
    return {
      ...base,
      dataLocation: 1,
      externalData: [
        { key: 'location', value: ctx.ext.location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(bytes) },
      ],
    };
  }
  ctx.inline += bytes;
  return { ...base, rawData: view };
}

function encodeAttribute(name: string, a: AttributeValue, ctx: EncCtx): Record<string, unknown> {
  switch (a.type) {
    case 'float':
      return { name, type: 1, f: a.value };
    case 'int':
      return { name, type: 2, i: a.value };
    case 'string':
      return { name, type: 3, s: textEncoder.encode(a.value) };
    case 'tensor':
      return { name, type: 4, t: encodeTensor(a.value, '', { ...ctx, ext: null }) };
    case 'graph':
      return { name, type: 5, g: encodeGraph(a.value, ctx) };
    case 'floats':
      return { name, type: 6, floats: a.value };
    case 'ints':
      return { name, type: 7, ints: a.value };
    case 'strings':
      return { name, type: 8, strings: a.value.map((s) => textEncoder.encode(s)) };
    case 'tensors':
      return { name, type: 9, tensors: a.value.map((t) => encodeTensor(t, '', { ...ctx, ext: null })) };
    case 'graphs':
      return { name, type: 10, graphs: a.value.map((g) => encodeGraph(g, ctx)) };
    default:
      return onnx.AttributeProto.fromObject(a.value as Record<string, unknown>) as unknown as Record<string, unknown>;
  }
}
