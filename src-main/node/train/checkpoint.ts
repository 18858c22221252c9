/**
 * @file Training checkpoints: named tensors (weights, optimizer state, running statistics, buffers) plus a
 * JSON header (step, epoch, data position, seed, fingerprint). Written to a temporary name, flushed, then
 * renamed, so a crash never leaves a torn checkpoint. Node layer.
 */
import { prepareOutputDir } from '../io/guard.ts';
import { READ_LIMITS, readInputFile } from '../io/guard.ts';
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { StudioError } from '../../core/ir/index.ts';

const MAGIC = 'STUDIOCKPT1\n';

export type CheckpointData = Float32Array | Float64Array | BigInt64Array;

export interface CheckpointTensor {
  dtype: 'float32' | 'float64' | 'int64';
  dims: number[];
  data: CheckpointData;
}

export interface Checkpoint {
  meta: Record<string, unknown>;
  tensors: Map<string, CheckpointTensor>;
}

/** A checkpoint file that is missing, torn, or from another model/configuration. */
export class CheckpointError extends StudioError {
  constructor(message: string, path: string) {
    super(message, 'CHECKPOINT', { path });
  }
}

/** Write a checkpoint atomically (temporary file, fsync, rename). */
export function writeCheckpoint(path: string, ckpt: Checkpoint): void {
  prepareOutputDir(dirname(path), { what: 'checkpoint folder' });
  const entries: { name: string; dtype: string; dims: number[]; offset: number; bytes: number }[] = [];
  let offset = 0;
  for (const [name, t] of ckpt.tensors) {
    entries.push({ name, dtype: t.dtype, dims: t.dims, offset, bytes: t.data.byteLength });
    offset += Math.ceil(t.data.byteLength / 8) * 8;
  }
  const header = new TextEncoder().encode(JSON.stringify({ meta: ckpt.meta, tensors: entries }));
  const pad = (8 - ((MAGIC.length + 4 + header.length) % 8)) % 8;
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, header.length + pad, true);
    writeSync(fd, new TextEncoder().encode(MAGIC));
    writeSync(fd, len);
    writeSync(fd, header);
    writeSync(fd, new Uint8Array(pad).fill(0x20));
    for (const t of ckpt.tensors.values()) {
      writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      const rest = Math.ceil(t.data.byteLength / 8) * 8 - t.data.byteLength;
      if (rest) writeSync(fd, new Uint8Array(rest));
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Read a checkpoint written by writeCheckpoint. */
export function readCheckpoint(path: string): Checkpoint {
  let b: Buffer;
  try {
    b = readInputFile(path, { what: 'checkpoint', maxBytes: READ_LIMITS.data });
  } catch (e) {
    throw new CheckpointError(`cannot read checkpoint: ${(e as Error).message}`, path);
  }
  if (b.subarray(0, MAGIC.length).toString() !== MAGIC)
    throw new CheckpointError(`${path} is not a training checkpoint`, path);
  const hlen = b.readUInt32LE(MAGIC.length);
  const start = MAGIC.length + 4;
  const header = JSON.parse(b.subarray(start, start + hlen).toString()) as {
    meta: Record<string, unknown>;
    tensors: { name: string; dtype: CheckpointTensor['dtype']; dims: number[]; offset: number; bytes: number }[];
  };
  const base = start + hlen;
  const tensors = new Map<string, CheckpointTensor>();
  for (const t of header.tensors) {
    if (base + t.offset + t.bytes > b.length)
      throw new CheckpointError(`${path} is truncated (tensor ${t.name})`, path);
    const buf = new ArrayBuffer(t.bytes);
    new Uint8Array(buf).set(b.subarray(base + t.offset, base + t.offset + t.bytes));
    const data =
      t.dtype === 'float64'
        ? new Float64Array(buf)
        : t.dtype === 'int64'
          ? new BigInt64Array(buf)
          : new Float32Array(buf);
    tensors.set(t.name, { dtype: t.dtype, dims: t.dims, data });
  }
  return { meta: header.meta, tensors };
}
