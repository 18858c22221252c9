/**
 * @file A guard in front of protobufjs: one iterative pass over the protobuf wire format of an `.onnx` file that
 * checks what protobufjs does not. protobufjs reads lengths and tags with a 32-bit varint reader (a length of
 * 2³² + 5 becomes 5 and the file is silently reinterpreted), does not check a nested field against its message's end,
 * decodes by the schema's type whatever the wire type says, and recurses once per nesting level (so a deep file
 * overflows the stack). This scan reads every varint exactly (up to 10 bytes, 64 bits), checks every field against
 * its enclosing message, checks wire types against the ONNX schema, and bounds nesting at {@link MAX_WIRE_DEPTH}.
 * Pure: no Node built-ins.
 */
import { ModelFormatError } from './errors.ts';

/**
 * Deepest message nesting accepted (a model is depth 0, its graph 1, a node 2, an attribute 3, a subgraph 4, …).
 * 100 is the default recursion limit of protobuf's C++ parser, which onnxruntime uses: a deeper file could not be
 * run anyway. It allows 32 levels of nested `If` / `Loop` bodies.
 */
export const MAX_WIRE_DEPTH = 100;

/** How a field of the ONNX schema is encoded: a scalar wire type, a (possibly packed) repeated scalar, or a message. */
type FieldKind =
  'varint' | 'fixed32' | 'fixed64' | 'bytes' | 'packed-varint' | 'packed-fixed32' | 'packed-fixed64' | MessageName;

type MessageName =
  | 'Model'
  | 'Graph'
  | 'Node'
  | 'Attribute'
  | 'Tensor'
  | 'Segment'
  | 'SparseTensor'
  | 'ValueInfo'
  | 'Type'
  | 'TypeTensor'
  | 'TypeSequence'
  | 'TypeMap'
  | 'TypeOptional'
  | 'Shape'
  | 'Dimension'
  | 'OpsetId'
  | 'StringPair'
  | 'TensorAnnotation'
  | 'TrainingInfo'
  | 'Function';

/** The fields of onnx.proto that onnx-proto's generated decoder reads, by message and field number. */
const SCHEMA: Record<MessageName, Record<number, FieldKind>> = {
  Model: {
    1: 'varint',
    2: 'bytes',
    3: 'bytes',
    4: 'bytes',
    5: 'varint',
    6: 'bytes',
    7: 'Graph',
    8: 'OpsetId',
    14: 'StringPair',
    20: 'TrainingInfo',
    25: 'Function',
  },
  Graph: {
    1: 'Node',
    2: 'bytes',
    5: 'Tensor',
    10: 'bytes',
    11: 'ValueInfo',
    12: 'ValueInfo',
    13: 'ValueInfo',
    14: 'TensorAnnotation',
    15: 'SparseTensor',
  },
  Node: { 1: 'bytes', 2: 'bytes', 3: 'bytes', 4: 'bytes', 5: 'Attribute', 6: 'bytes', 7: 'bytes' },
  Attribute: {
    1: 'bytes',
    2: 'fixed32',
    3: 'varint',
    4: 'bytes',
    5: 'Tensor',
    6: 'Graph',
    7: 'packed-fixed32',
    8: 'packed-varint',
    9: 'bytes',
    10: 'Tensor',
    11: 'Graph',
    13: 'bytes',
    14: 'Type',
    15: 'Type',
    20: 'varint',
    21: 'bytes',
    22: 'SparseTensor',
    23: 'SparseTensor',
  },
  Tensor: {
    1: 'packed-varint',
    2: 'varint',
    3: 'Segment',
    4: 'packed-fixed32',
    5: 'packed-varint',
    6: 'bytes',
    7: 'packed-varint',
    8: 'bytes',
    9: 'bytes',
    10: 'packed-fixed64',
    11: 'packed-varint',
    12: 'bytes',
    13: 'StringPair',
    14: 'varint',
  },
  Segment: { 1: 'varint', 2: 'varint' },
  SparseTensor: { 1: 'Tensor', 2: 'Tensor', 3: 'packed-varint' },
  ValueInfo: { 1: 'bytes', 2: 'Type', 3: 'bytes' },
  Type: { 1: 'TypeTensor', 4: 'TypeSequence', 5: 'TypeMap', 6: 'bytes', 8: 'TypeTensor', 9: 'TypeOptional' },
  TypeTensor: { 1: 'varint', 2: 'Shape' },
  TypeSequence: { 1: 'Type' },
  TypeMap: { 1: 'varint', 2: 'Type' },
  TypeOptional: { 1: 'Type' },
  Shape: { 1: 'Dimension' },
  Dimension: { 1: 'varint', 2: 'bytes', 3: 'bytes' },
  OpsetId: { 1: 'bytes', 2: 'varint' },
  StringPair: { 1: 'bytes', 2: 'bytes' },
  TensorAnnotation: { 1: 'bytes', 2: 'StringPair' },
  TrainingInfo: { 1: 'Graph', 2: 'Graph', 3: 'StringPair', 4: 'StringPair' },
  Function: { 1: 'bytes', 4: 'bytes', 5: 'bytes', 6: 'bytes', 7: 'Node', 8: 'bytes', 9: 'OpsetId', 10: 'bytes' },
};

const WIRE_NAMES = ['varint', '64-bit', 'length-delimited', 'group start', 'group end', '32-bit'];

/** Wire types a field kind may arrive in (packed repeated scalars come either packed or one by one). */
function wireTypesOf(kind: FieldKind): number[] {
  switch (kind) {
    case 'varint':
      return [0];
    case 'fixed32':
      return [5];
    case 'fixed64':
      return [1];
    case 'packed-varint':
      return [0, 2];
    case 'packed-fixed32':
      return [5, 2];
    case 'packed-fixed64':
      return [1, 2];
    default:
      return [2];
  }
}

interface Frame {
  /** Message type, or null for an unknown field's group (skipped, but still bounded). */
  type: MessageName | null;
  end: number;
  /** Field number of an open group (its end tag must match). */
  group?: number;
}

/**
 * Check the wire format of a ModelProto without recursion. Throws ModelFormatError with the byte offset of the
 * first fault: a varint longer than 10 bytes, a length or tag that does not fit, a field running past its message,
 * a wire type the schema does not allow, a packed array of partial elements, an unmatched group, or nesting deeper
 * than {@link MAX_WIRE_DEPTH}.
 */
export function checkWire(bytes: Uint8Array): void {
  const stack: Frame[] = [{ type: 'Model', end: bytes.byteLength }];
  let pos = 0;
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (pos === frame.end) {
      if (frame.group !== undefined) throw fault(`group ${frame.group} is never closed`, pos);
      stack.pop();
      continue;
    }
    const at = pos;
    const tag = readVarint(bytes, pos, frame.end);
    pos = tag.next;
    if (tag.value > 0xffffffffn) throw fault(`field tag ${tag.value} does not fit 32 bits`, at);
    const field = Number(tag.value >> 3n);
    const wire = Number(tag.value & 7n);
    if (field === 0) throw fault('field number 0 is invalid', at);
    const kind = frame.type ? SCHEMA[frame.type][field] : undefined;
    if (kind && !wireTypesOf(kind).includes(wire)) {
      throw fault(
        `field ${field} of ${frame.type} arrives as ${WIRE_NAMES[wire] ?? `wire type ${wire}`}, not as ${WIRE_NAMES[wireTypesOf(kind)[0]!]}`,
        at,
      );
    }
    switch (wire) {
      case 0:
        pos = readVarint(bytes, pos, frame.end).next;
        break;
      case 1:
      case 5: {
        const size = wire === 1 ? 8 : 4;
        if (pos + size > frame.end) throw overrun(at, size, frame.end - pos);
        pos += size;
        break;
      }
      case 2: {
        const len = readVarint(bytes, pos, frame.end);
        const room = frame.end - len.next;
        if (len.value > BigInt(room)) throw overrun(at, len.value, room);
        const start = len.next;
        const end = start + Number(len.value);
        if (kind === 'packed-varint') checkPackedVarints(bytes, start, end);
        else if (kind === 'packed-fixed32' || kind === 'packed-fixed64') {
          const size = kind === 'packed-fixed32' ? 4 : 8;
          if ((end - start) % size !== 0)
            throw fault(
              `packed field ${field} of ${frame.type} holds ${end - start} bytes, not a multiple of ${size}`,
              at,
            );
        } else if (kind && kind !== 'bytes') {
          if (stack.length >= MAX_WIRE_DEPTH) throw tooDeep(at);
          stack.push({ type: kind as MessageName, end });
        }
        pos = kind && kind !== 'bytes' && !kind.startsWith('packed') ? start : end;
        break;
      }
      case 3:
        if (stack.length >= MAX_WIRE_DEPTH) throw tooDeep(at);
        stack.push({ type: null, end: frame.end, group: field });
        break;
      case 4:
        if (frame.group !== field) throw fault(`end of group ${field} without its start`, at);
        stack.pop();
        // The enclosing frame continues after the end tag.
        break;
      default:
        throw new ModelFormatError(`not an ONNX model: invalid protobuf wire type ${wire}`, { offset: at });
    }
  }
  if (pos !== bytes.byteLength) throw fault('bytes after the end of the model', pos);
}

function checkPackedVarints(bytes: Uint8Array, start: number, end: number): void {
  let p = start;
  while (p < end) p = readVarint(bytes, p, end).next;
}

/**
 * Read one varint exactly (64 bits at most, 10 bytes at most) that must end before `end`. Values below 2⁴⁹ are
 * accumulated as numbers (exact); longer ones are re-read as a bigint.
 */
function readVarint(bytes: Uint8Array, pos: number, end: number): { value: bigint; next: number } {
  let small = 0;
  for (let i = 0; i < 7; i++) {
    if (pos + i >= end) throw fault('truncated or corrupt file: a varint runs past the end of its message', pos);
    const b = bytes[pos + i]!;
    small += (b & 0x7f) * 2 ** (7 * i);
    if (b < 0x80) return { value: BigInt(small), next: pos + i + 1 };
  }
  let value = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos + i >= end) throw fault('truncated or corrupt file: a varint runs past the end of its message', pos);
    const b = bytes[pos + i]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if (b < 0x80) {
      if (value > 0xffffffffffffffffn) throw fault('a varint exceeds 64 bits', pos);
      return { value, next: pos + i + 1 };
    }
  }
  throw fault('a varint is longer than 10 bytes', pos);
}

function fault(message: string, offset: number): ModelFormatError {
  return new ModelFormatError(`corrupt ONNX file: ${message}`, { offset });
}

function overrun(at: number, claimed: bigint | number, room: number): ModelFormatError {
  return new ModelFormatError(
    `truncated or corrupt file: a field at byte ${at} claims ${claimed} bytes but only ${room} remain`,
    {
      offset: at,
    },
  );
}

function tooDeep(at: number): ModelFormatError {
  return new ModelFormatError(
    `messages nest deeper than ${MAX_WIRE_DEPTH} levels (about ${Math.floor((MAX_WIRE_DEPTH - 4) / 3)} levels of subgraphs); onnxruntime's parser stops at the same depth`,
    { offset: at },
  );
}
