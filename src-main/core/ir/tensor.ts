/** @file Tensor: a typed, shaped block of elements (or a weightless placeholder). Pure: imports only the IR. */
import { allocData, dtypeBytes, isFloatType, type DataType, type TensorData } from './dtype.ts';

/** Number of elements of a shape (1 for a scalar). */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/**
 * A constant tensor: element type, dims and data. `data` is null for a *weightless* tensor — a graph
 * committed without its weights (names, dtypes and dims kept); see `materialize` helpers in test/.
 */
export class Tensor {
  constructor(
    readonly dtype: DataType,
    readonly dims: readonly number[],
    public data: TensorData | null,
  ) {
    if (data !== null && !Array.isArray(data) && dtypeBytes(dtype) >= 1 && data.length !== numel(dims)) {
      throw new RangeError(
        `tensor data holds ${data.length} elements but dims [${dims.join(',')}] need ${numel(dims)}`,
      );
    }
  }

  get size(): number {
    return numel(this.dims);
  }

  get hasData(): boolean {
    return this.data !== null;
  }

  /** The data, or an error naming what is missing. */
  require(what = 'tensor'): TensorData {
    if (this.data === null) throw new Error(`${what} has no data (weightless graph; materialize its weights first)`);
    return this.data;
  }

  /** Elements as JS numbers (int64 converted; exact below 2^53). */
  toNumbers(): number[] {
    const d = this.require();
    if (Array.isArray(d)) throw new TypeError('string tensor');
    if (this.dtype === 'float16') return Array.from(d as Uint16Array, halfToFloat);
    if (this.dtype === 'bfloat16') return Array.from(d as Uint16Array, (b) => bf16ToFloat(b));
    return Array.from(d as ArrayLike<number | bigint>, Number);
  }

  /** Float32 view of a float tensor (float16/bfloat16/float64 converted). */
  toFloat32(): Float32Array {
    const d = this.require();
    if (this.dtype === 'float32') return d as Float32Array;
    if (!isFloatType(this.dtype)) return Float32Array.from(this.toNumbers());
    return Float32Array.from(this.toNumbers());
  }

  clone(): Tensor {
    const d = this.data;
    const copy = d === null ? null : Array.isArray(d) ? [...d] : (d.slice() as TensorData);
    return new Tensor(this.dtype, [...this.dims], copy);
  }

  static zeros(dtype: DataType, dims: readonly number[]): Tensor {
    return new Tensor(dtype, dims, allocData(dtype, numel(dims)));
  }

  static float32(dims: readonly number[], values: ArrayLike<number>): Tensor {
    return new Tensor('float32', dims, Float32Array.from(values));
  }

  static int64(dims: readonly number[], values: ArrayLike<number | bigint>): Tensor {
    return new Tensor('int64', dims, BigInt64Array.from(Array.from(values, (v) => BigInt(v))));
  }

  static scalar(dtype: 'float32' | 'int64', v: number): Tensor {
    return dtype === 'float32' ? Tensor.float32([], [v]) : Tensor.int64([], [v]);
  }
}

/** IEEE half bits → number. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** bfloat16 bits → number. */
export function bf16ToFloat(b: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = b << 16;
  return f[0]!;
}
