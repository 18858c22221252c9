/**
 * @file Small tensor helpers speedup needs on parameters: slicing along an axis, which slices are all zero, L1
 * norms of slices, and int64 constants for rewritten shapes. Pure: imports only the IR.
 */
import { Tensor, numel, type TensorData } from '../../ir/index.ts';

/** Row-major strides. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let d = dims.length - 2; d >= 0; d--) s[d] = s[d + 1]! * dims[d + 1]!;
  return s;
}

/** Keep only indices `keep` (ascending) along `axis`. Works for every numeric element type. */
export function sliceAxis(t: Tensor, axis: number, keep: readonly number[]): Tensor {
  const data = t.require('parameter');
  if (Array.isArray(data)) throw new TypeError('cannot slice a string tensor');
  const dims = [...t.dims];
  const outer = numel(dims.slice(0, axis));
  const inner = numel(dims.slice(axis + 1));
  const n = dims[axis]!;
  const src = data as Float32Array;
  const Ctor = (data as unknown as { constructor: new (n: number) => Float32Array }).constructor;
  const out = new Ctor(outer * keep.length * inner);
  const kk = Int32Array.from(keep);
  const m = kk.length;
  let o = 0;
  for (let a = 0; a < outer; a++) {
    const row = a * n;
    if (inner === 1) {
      for (let j = 0; j < m; j++) out[o++] = src[row + kk[j]!]!;
      continue;
    }
    for (let j = 0; j < m; j++) {
      const base = (row + kk[j]!) * inner;
      if (inner > 32) out.set(src.subarray(base, base + inner), o);
      else for (let i = 0; i < inner; i++) out[o + i] = src[base + i]!;
      o += inner;
    }
  }
  dims[axis] = keep.length;
  return new Tensor(t.dtype, dims, out as unknown as TensorData);
}

const zeroCache = new WeakMap<Tensor, Map<number, boolean[]>>();

/** Per index along `axis`: the slice is entirely zero (cached per tensor; tensors are never mutated). */
export function zeroAlong(t: Tensor, axis: number): boolean[] {
  const hit = zeroCache.get(t)?.get(axis);
  if (hit) return hit;
  const f = t.toFloat32();
  const dims = t.dims;
  const n = dims[axis]!;
  const outer = numel(dims.slice(0, axis));
  const inner = numel(dims.slice(axis + 1));
  const zero = new Array<boolean>(n).fill(true);
  for (let k = 0; k < n; k++) {
    scan: for (let a = 0; a < outer; a++) {
      const base = (a * n + k) * inner;
      for (let i = 0; i < inner; i++) {
        if (f[base + i] !== 0) {
          zero[k] = false;
          break scan;
        }
      }
    }
  }
  if (!zeroCache.has(t)) zeroCache.set(t, new Map());
  zeroCache.get(t)!.set(axis, zero);
  return zero;
}

/** Per index along `axis`: the L1 norm of the slice. */
export function l1Along(t: Tensor, axis: number): Float64Array {
  const f = t.toFloat32();
  const n = t.dims[axis]!;
  const outer = numel(t.dims.slice(0, axis));
  const inner = numel(t.dims.slice(axis + 1));
  const out = new Float64Array(n);
  for (let a = 0; a < outer; a++) {
    for (let k = 0; k < n; k++) {
      const base = (a * n + k) * inner;
      let s = 0;
      for (let i = 0; i < inner; i++) s += Math.abs(f[base + i]!);
      out[k]! += s;
    }
  }
  return out;
}

/**
 * `data` × a broadcastable 0/1 mask, without expanding the mask: each mask element covers a run of `inner`
 * elements (the dims after the last non-1 mask dim), repeated over the dims where the mask is 1.
 */
export function applyMask(
  data: Float32Array,
  dims: readonly number[],
  maskDims: readonly number[],
  mask: Uint8Array,
): Float32Array {
  const out = data.slice();
  const rank = dims.length;
  let last = rank - 1;
  while (last >= 0 && maskDims[last] === 1) last--;
  if (last < 0) {
    if (!mask[0]) out.fill(0);
    return out;
  }
  const inner = numel(dims.slice(last + 1));
  const lead = dims.slice(0, last + 1);
  const mStrides = stridesOf(maskDims.slice(0, last + 1));
  const idx = new Array<number>(lead.length).fill(0);
  const blocks = numel(lead);
  for (let b = 0; b < blocks; b++) {
    let off = 0;
    for (let d = 0; d < lead.length; d++) if (maskDims[d] !== 1) off += idx[d]! * mStrides[d]!;
    if (!mask[off]) out.fill(0, b * inner, (b + 1) * inner);
    for (let d = lead.length - 1; d >= 0; d--) {
      if (++idx[d]! < lead[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Per index along `axis` of row-major `data` shaped `dims`: the value when the slice is constant, else NaN. */
export function uniformAlong(data: ArrayLike<number>, dims: readonly number[], axis: number): Float64Array {
  const n = dims[axis]!;
  const inner = numel(dims.slice(axis + 1));
  const out = new Float64Array(n).fill(Number.NaN);
  const seen = new Array<boolean>(n).fill(false);
  for (let i = 0; i < data.length; i++) {
    const k = Math.floor(i / inner) % n;
    if (!seen[k]) {
      out[k] = data[i]!;
      seen[k] = true;
    } else if (out[k] !== data[i]) out[k] = Number.NaN;
  }
  return out;
}

/** The value of a tensor whose elements are all equal, else NaN. */
export function uniformValue(data: ArrayLike<number>): number {
  if (data.length === 0) return Number.NaN;
  const v = data[0]!;
  for (let i = 1; i < data.length; i++) if (data[i] !== v) return Number.NaN;
  return v;
}

/** A float32 tensor of the same dims with `f` applied elementwise. */
export function mapFloat(t: Tensor, f: (x: number, i: number) => number): Tensor {
  const src = t.toFloat32();
  return new Tensor(
    'float32',
    [...t.dims],
    Float32Array.from(src, (x, i) => f(x, i)),
  );
}

const INT64_MAX = 9223372036854775807n;

/** An int64 tensor of `values`, saturating at the int64 range (exported "end = INT64_MAX" stays valid). */
export function int64Tensor(dims: readonly number[], values: readonly number[]): Tensor {
  const big = values.map((v) => (v >= 2 ** 63 ? INT64_MAX : v <= -(2 ** 63) ? -INT64_MAX : BigInt(Math.trunc(v))));
  return new Tensor('int64', dims, BigInt64Array.from(big));
}

/** An integer tensor of the same dtype as `like` (int32 or int64). */
export function intTensorLike(like: Tensor | undefined, dims: readonly number[], values: readonly number[]): Tensor {
  if (like?.dtype === 'int32') return new Tensor('int32', dims, Int32Array.from(values));
  return int64Tensor(dims, values);
}
