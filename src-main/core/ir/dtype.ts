/** @file Tensor element types of the IR: ONNX codes, element sizes and storage arrays. Pure: imports nothing. */

/** Every element type the IR can hold. Names follow ONNX Runtime's tensor type names. */
export type DataType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'int4'
  | 'uint4'
  | 'bool'
  | 'string';

/** The typed array an element type is stored in (float16/bfloat16 as raw bits, int4/uint4 packed two per byte). */
export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | string[];

interface DTypeInfo {
  code: number;
  /** Bytes per element; 0.5 for the packed 4-bit types, 0 for strings. */
  bytes: number;
  make: (n: number) => TensorData;
  /** View `bytes` (little-endian, already copied and aligned) as this type's array of `n` elements. */
  view: (buf: ArrayBuffer, n: number) => TensorData;
}

const info = {
  float32: { code: 1, bytes: 4, make: (n) => new Float32Array(n), view: (b, n) => new Float32Array(b, 0, n) },
  uint8: { code: 2, bytes: 1, make: (n) => new Uint8Array(n), view: (b, n) => new Uint8Array(b, 0, n) },
  int8: { code: 3, bytes: 1, make: (n) => new Int8Array(n), view: (b, n) => new Int8Array(b, 0, n) },
  uint16: { code: 4, bytes: 2, make: (n) => new Uint16Array(n), view: (b, n) => new Uint16Array(b, 0, n) },
  int16: { code: 5, bytes: 2, make: (n) => new Int16Array(n), view: (b, n) => new Int16Array(b, 0, n) },
  int32: { code: 6, bytes: 4, make: (n) => new Int32Array(n), view: (b, n) => new Int32Array(b, 0, n) },
  int64: { code: 7, bytes: 8, make: (n) => new BigInt64Array(n), view: (b, n) => new BigInt64Array(b, 0, n) },
  string: { code: 8, bytes: 0, make: (n) => new Array<string>(n).fill(''), view: () => [] },
  bool: { code: 9, bytes: 1, make: (n) => new Uint8Array(n), view: (b, n) => new Uint8Array(b, 0, n) },
  float16: { code: 10, bytes: 2, make: (n) => new Uint16Array(n), view: (b, n) => new Uint16Array(b, 0, n) },
  float64: { code: 11, bytes: 8, make: (n) => new Float64Array(n), view: (b, n) => new Float64Array(b, 0, n) },
  uint32: { code: 12, bytes: 4, make: (n) => new Uint32Array(n), view: (b, n) => new Uint32Array(b, 0, n) },
  uint64: { code: 13, bytes: 8, make: (n) => new BigUint64Array(n), view: (b, n) => new BigUint64Array(b, 0, n) },
  bfloat16: { code: 16, bytes: 2, make: (n) => new Uint16Array(n), view: (b, n) => new Uint16Array(b, 0, n) },
  uint4: {
    code: 21,
    bytes: 0.5,
    make: (n) => new Uint8Array(Math.ceil(n / 2)),
    view: (b, n) => new Uint8Array(b, 0, Math.ceil(n / 2)),
  },
  int4: {
    code: 22,
    bytes: 0.5,
    make: (n) => new Uint8Array(Math.ceil(n / 2)),
    view: (b, n) => new Uint8Array(b, 0, Math.ceil(n / 2)),
  },
} satisfies Record<DataType, DTypeInfo>;

const byCode = new Map<number, DataType>(Object.entries(info).map(([k, v]) => [v.code, k as DataType]));

export const DATA_TYPES = Object.keys(info) as DataType[];

/** ONNX TensorProto.DataType code of a type. */
export function dtypeCode(dtype: DataType): number {
  return info[dtype].code;
}

/** The type of an ONNX TensorProto.DataType code, or undefined when the IR does not support it. */
export function dtypeFromCode(code: number): DataType | undefined {
  return byCode.get(code);
}

/** Bytes one element takes in raw_data (0.5 for int4/uint4, 0 for string). */
export function dtypeBytes(dtype: DataType): number {
  return info[dtype].bytes;
}

/** Byte length of `n` elements in raw_data. */
export function rawByteLength(dtype: DataType, n: number): number {
  const b = info[dtype].bytes;
  return b === 0.5 ? Math.ceil(n / 2) : n * b;
}

/** A zero-filled storage array for `n` elements. */
export function allocData(dtype: DataType, n: number): TensorData {
  return info[dtype].make(n);
}

/** Copy little-endian raw bytes into a fresh, aligned array of this type. */
export function dataFromRaw(dtype: DataType, raw: Uint8Array, n: number): TensorData {
  const copy = new ArrayBuffer(raw.byteLength);
  new Uint8Array(copy).set(raw);
  return info[dtype].view(copy, n);
}

/** Raw little-endian bytes of a storage array (a view, not a copy, where possible). */
export function rawFromData(data: TensorData): Uint8Array {
  if (Array.isArray(data)) throw new TypeError('string tensors have no raw form');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function isFloatType(dtype: DataType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

export function isIntegerType(dtype: DataType): boolean {
  return !isFloatType(dtype) && dtype !== 'bool' && dtype !== 'string';
}
