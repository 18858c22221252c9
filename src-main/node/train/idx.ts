/**
 * @file IDX files (the MNIST format), plain or gzipped: magic number, dims, then big-endian data.
 * May import node:*.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { StudioError } from '../../core/ir/errors.ts';

/** The file is missing, malformed, or holds fewer bytes than its header claims. */
export class DataFormatError extends StudioError {
  constructor(message: string, file: string) {
    super(`${message} (${file})`, 'DATA_FORMAT', { file });
  }
}

export interface IdxArray {
  /** Element type code of the IDX header: 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32, 0x0e float64. */
  type: number;
  dims: number[];
  /** Elements converted to numbers, row-major. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const SIZES: Record<number, number> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };

/** Read an IDX file (gzip detected from its magic bytes). */
export function readIdx(file: string): IdxArray {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new DataFormatError(`cannot read IDX file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, file);
  }
  if (buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch {
      throw new DataFormatError('corrupt gzip stream', file);
    }
  }
  return parseIdx(buf, file);
}

export function parseIdx(buf: Buffer, file = '<buffer>'): IdxArray {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new DataFormatError('not an IDX file (bad magic number)', file);
  const type = buf[2]!;
  const rank = buf[3]!;
  const size = SIZES[type];
  if (!size) throw new DataFormatError(`unknown IDX element type 0x${type.toString(16)}`, file);
  if (buf.length < 4 + 4 * rank) throw new DataFormatError('truncated IDX header', file);
  const dims = Array.from({ length: rank }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const n = dims.reduce((a, b) => a * b, 1);
  const off = 4 + 4 * rank;
  if (buf.length - off < n * size) {
    throw new DataFormatError(`IDX header claims ${n} elements (${n * size} bytes) but ${buf.length - off} bytes follow`, file);
  }
  const read = (f: (o: number) => number, Arr: { new (n: number): IdxArray['data'] }) => {
    const out = new Arr(n);
    for (let i = 0; i < n; i++) out[i] = f(off + i * size);
    return out;
  };
  switch (type) {
    case 0x08:
      return { type, dims, data: Uint8Array.from(buf.subarray(off, off + n)) };
    case 0x09:
      return { type, dims, data: read((o) => buf.readInt8(o), Int8Array) };
    case 0x0b:
      return { type, dims, data: read((o) => buf.readInt16BE(o), Int16Array) };
    case 0x0c:
      return { type, dims, data: read((o) => buf.readInt32BE(o), Int32Array) };
    case 0x0d:
      return { type, dims, data: read((o) => buf.readFloatBE(o), Float32Array) };
    default:
      return { type, dims, data: read((o) => buf.readDoubleBE(o), Float64Array) };
  }
}
