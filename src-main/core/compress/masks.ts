/**
 * @file Masks as data: the contract between pruners (which make them), simulation (which applies them),
 * speedup (which removes what they zero) and plan files (which store them). Pure: imports only the IR.
 *
 * A mask is 0/1 per element, stored in a shape that broadcasts to its target in the ONNX layout of that
 * target (NNI keeps `[O,1,1,1]` for a channel mask of a conv weight; so do we). Keyed like NNI's
 * `{module_name: {target_name: mask}}`, with ONNX node names and target names (`weight`, `bias`,
 * `_input_0`, `_output_0`, …).
 */
import { Tensor, numel } from '../ir/index.ts';

export interface TargetMask {
  /** Broadcastable to the target's shape (same rank; each dim equal or 1). */
  dims: number[];
  /** 1 = keep, 0 = pruned, row-major over `dims`. */
  data: Uint8Array;
}

/** node name → target name → mask. */
export type Masks = Map<string, Map<string, TargetMask>>;

export function makeMask(dims: number[], data: Uint8Array): TargetMask {
  if (data.length !== numel(dims))
    throw new RangeError(`mask data holds ${data.length} values, dims [${dims}] need ${numel(dims)}`);
  return { dims, data };
}

/** Set one mask. */
export function setMask(masks: Masks, node: string, target: string, mask: TargetMask): void {
  let m = masks.get(node);
  if (!m) masks.set(node, (m = new Map()));
  m.set(target, mask);
}

export function getMask(masks: Masks, node: string, target: string): TargetMask | undefined {
  return masks.get(node)?.get(target);
}

/** Expand a mask to the full target shape (row-major). */
export function expandMask(mask: TargetMask, shape: readonly number[]): Uint8Array {
  if (mask.dims.length !== shape.length)
    throw new RangeError(`mask rank ${mask.dims.length} ≠ target rank ${shape.length}`);
  const n = numel(shape);
  if (mask.dims.every((d, i) => d === shape[i])) return mask.data;
  const out = new Uint8Array(n);
  const rank = shape.length;
  const mStrides = strides(mask.dims);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < n; i++) {
    let off = 0;
    for (let d = 0; d < rank; d++) if (mask.dims[d] !== 1) off += idx[d]! * mStrides[d]!;
    out[i] = mask.data[off]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** Row-major strides. */
export function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let d = dims.length - 2; d >= 0; d--) s[d] = s[d + 1]! * dims[d + 1]!;
  return s;
}

/** Fraction of zeros in a mask, counted over the full target shape. */
export function maskSparsity(mask: TargetMask, shape?: readonly number[]): number {
  const full = shape ? expandMask(mask, shape) : mask.data;
  let zeros = 0;
  for (const v of full) if (v === 0) zeros++;
  return full.length ? zeros / full.length : 0;
}

/** Which indices along `axis` keep at least one element (NNI's coarse conversion: any survivor keeps the slice). */
export function keptAlong(mask: TargetMask, axis: number): boolean[] {
  const size = mask.dims[axis]!;
  const keep = new Array<boolean>(size).fill(false);
  const st = strides(mask.dims);
  for (let i = 0; i < mask.data.length; i++) {
    if (mask.data[i]) keep[Math.floor(i / st[axis]!) % size] = true;
  }
  return keep;
}

/** A mask as a float32 tensor of its own dims (for Mul nodes in simulated graphs). */
export function maskTensor(mask: TargetMask): Tensor {
  return new Tensor('float32', mask.dims, Float32Array.from(mask.data));
}

/** JSON form for plan files: dims and the 0/1 data bit-packed, base64. */
export interface MaskJson {
  dims: number[];
  bits: string;
}

export function maskToJson(mask: TargetMask): MaskJson {
  const packed = new Uint8Array(Math.ceil(mask.data.length / 8));
  mask.data.forEach((v, i) => {
    if (v) packed[i >> 3]! |= 1 << (i & 7);
  });
  return { dims: [...mask.dims], bits: toBase64(packed) };
}

export function maskFromJson(j: MaskJson): TargetMask {
  const n = numel(j.dims);
  const packed = fromBase64(j.bits);
  if (packed.length !== Math.ceil(n / 8))
    throw new RangeError(`mask bits hold ${packed.length * 8} values, dims need ${n}`);
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = (packed[i >> 3]! >> (i & 7)) & 1;
  return { dims: [...j.dims], data };
}

export function masksToJson(masks: Masks): Record<string, Record<string, MaskJson>> {
  const out: Record<string, Record<string, MaskJson>> = {};
  for (const [node, t] of masks) out[node] = Object.fromEntries([...t].map(([k, m]) => [k, maskToJson(m)]));
  return out;
}

export function masksFromJson(j: Record<string, Record<string, MaskJson>>): Masks {
  const masks: Masks = new Map();
  for (const [node, t] of Object.entries(j))
    for (const [k, m] of Object.entries(t)) setMask(masks, node, k, maskFromJson(m));
  return masks;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const [a, b, c] = [bytes[i]!, bytes[i + 1] ?? 0, bytes[i + 2] ?? 0];
    const n = (a << 16) | (b << 8) | c;
    s += B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]!;
    s += i + 1 < bytes.length ? B64[(n >> 6) & 63]! : '=';
    s += i + 2 < bytes.length ? B64[n & 63]! : '=';
  }
  return s;
}

function fromBase64(s: string): Uint8Array {
  const clean = s.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < clean.length; i += 4) {
    const n = [0, 1, 2, 3].reduce((acc, k) => (acc << 6) | (i + k < clean.length ? B64.indexOf(clean[i + k]!) : 0), 0);
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}
