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
  const Ctor = (data as unknown as { constructor: new (n: number) => TensorData }).constructor;
  const out = new Ctor(outer * keep.length * inner) as Exclude<TensorData, string[]>;
  const src = data as Exclude<TensorData, string[]>;
  let o = 0;
  for (let a = 0; a < outer; a++) {
    for (const k of keep) {
      const base = (a * n + k) * inner;
      (out as Float32Array).set((src as Float32Array).subarray(base, base + inner), o);
      o += inner;
    }
  }
  dims[axis] = keep.length;
  return new Tensor(t.dtype, dims, out);
}

/** Per index along `axis`: the slice is entirely zero. */
export function zeroAlong(t: Tensor, axis: number): boolean[] {
  const f = t.toFloat32();
  const dims = t.dims;
  const n = dims[axis]!;
  const inner = numel(dims.slice(axis + 1));
  const zero = new Array<boolean>(n).fill(true);
  for (let i = 0; i < f.length; i++) if (f[i] !== 0) zero[Math.floor(i / inner) % n] = false;
  return zero;
}

/** Per index along `axis`: the L1 norm of the slice. */
export function l1Along(t: Tensor, axis: number): Float64Array {
  const f = t.toFloat32();
  const n = t.dims[axis]!;
  const inner = numel(t.dims.slice(axis + 1));
  const out = new Float64Array(n);
  for (let i = 0; i < f.length; i++) out[Math.floor(i / inner) % n]! += Math.abs(f[i]!);
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
  return new Tensor('float32', [...t.dims], Float32Array.from(src, (x, i) => f(x, i)));
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
