/**
 * @file Granularity as NNI's `Scaling` kernel (NNI-SEMANTICS §2), on the canonical out-first view of a target:
 * a kernel entry k > 0 cuts its dim into blocks of k consecutive elements, −1 makes the whole dim one block.
 * 'out_channel' = [1, −1, …], 'in_channel' / 'per_channel' = [−1, 1, −1, …], a block list is front-padded with 1
 * to the target's rank. Also the layout moves between ONNX and canonical views. Pure: imports only the IR.
 */
import { numel, type Dim } from '../../ir/index.ts';
import { strides } from '../masks.ts';
import type { Granularity } from '../../../../src-shared/config/index.ts';

/** A granularity fault, turned into a diagnostic with the config path by the caller. */
export class GranularityFault extends Error {}

/** How a target is cut into metric blocks. */
export interface BlockView {
  /** Canonical dims of the target (symbols allowed where the kernel is −1). */
  dims: Dim[];
  /** One entry per dim: block length, or −1 for the whole dim. */
  kernel: number[];
  /** The metric's shape: blocks per dim. */
  blockDims: number[];
  /** The expanded mask's canonical shape: dims with kernel −1 stay 1 (broadcastable), others full. */
  maskDims: number[];
}

/**
 * The kernel of a granularity on a target of `rank` (canonical view). `null` = element-wise (LevelPruner's default).
 *
 * @example kernelFor('out_channel', 4) // [1, -1, -1, -1]
 * @example kernelFor([4, 4], 4)        // [1, 1, 4, 4]
 */
export function kernelFor(granularity: Exclude<Granularity, 'default'> | null, rank: number): number[] {
  if (granularity === null) return new Array<number>(rank).fill(1);
  if (granularity === 'out_channel') {
    if (rank < 1) throw new GranularityFault(`'out_channel' needs a tensor of rank ≥ 1, this one is a scalar`);
    return [1, ...new Array<number>(rank - 1).fill(-1)];
  }
  if (granularity === 'in_channel' || granularity === 'per_channel') {
    if (rank < 2)
      throw new GranularityFault(
        `'${granularity}' needs a tensor of rank ≥ 2 (it cuts dim 1), this one has rank ${rank}`,
      );
    return [-1, 1, ...new Array<number>(rank - 2).fill(-1)];
  }
  if (granularity.length > rank) {
    throw new GranularityFault(
      `block [${granularity.join(', ')}] has ${granularity.length} dims, the target only ${rank}`,
    );
  }
  return [...new Array<number>(rank - granularity.length).fill(1), ...granularity];
}

/** The block view of a target with canonical `dims` under `kernel`; every kernel entry must divide its dim. */
export function blockView(dims: readonly Dim[], kernel: readonly number[]): BlockView {
  const blockDims: number[] = [];
  const maskDims: number[] = [];
  dims.forEach((d, i) => {
    const k = kernel[i]!;
    if (k === -1) {
      blockDims.push(1);
      maskDims.push(1);
      return;
    }
    if (typeof d !== 'number') {
      throw new GranularityFault(
        `dim ${i} of the target is ${d === null ? 'unknown' : `'${d}'`}; blocks along it need its size (pass shapes from a trace)`,
      );
    }
    if (d % k !== 0)
      throw new GranularityFault(
        `block length ${k} does not divide dim ${i} of size ${d} (canonical shape [${dims.join(', ')}])`,
      );
    blockDims.push(d / k);
    maskDims.push(d);
  });
  return { dims: [...dims], kernel: [...kernel], blockDims, maskDims };
}

/** True when blocks hold more than one element (FPGM needs that). */
export function isStructured(view: BlockView): boolean {
  return view.kernel.some((k, i) => (k === -1 ? view.dims[i] !== 1 : k > 1));
}

/**
 * For every element of a tensor of (numeric) `view.dims`, row-major, the row-major index of its block in
 * `view.blockDims`.
 */
export function blockIds(view: BlockView): Int32Array {
  const dims = view.dims as number[];
  const rank = dims.length;
  const n = numel(dims);
  const ids = new Int32Array(n);
  if (rank === 0) return ids;
  const bStrides = strides(view.blockDims);
  // per dim, index → contribution to the block id
  const contrib = dims.map((size, d) => {
    const k = view.kernel[d]!;
    return Int32Array.from({ length: size }, (_, i) => (k === -1 ? 0 : Math.floor(i / k) * bStrides[d]!));
  });
  const last = contrib[rank - 1]!;
  const inner = dims[rank - 1]!;
  const outer = n / inner;
  const idx = new Array<number>(rank - 1).fill(0);
  let base = 0;
  for (let o = 0, p = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) ids[p++] = base + last[j]!;
    for (let d = rank - 2; d >= 0; d--) {
      base -= contrib[d]![idx[d]!]!;
      if (++idx[d]! < dims[d]!) {
        base += contrib[d]![idx[d]!]!;
        break;
      }
      idx[d] = 0;
      base += contrib[d]![0]!;
    }
  }
  return ids;
}

/** A block-space mask expanded to `view.maskDims` (each block value repeated over its block; −1 dims stay 1). */
export function expandBlockMask(blockMask: Uint8Array, view: BlockView): Uint8Array {
  if (view.blockDims.every((b, i) => b === view.maskDims[i])) return blockMask;
  const expandedView: BlockView = { ...view, dims: view.maskDims, kernel: view.kernel.map((k) => (k === -1 ? 1 : k)) };
  const ids = blockIds(expandedView);
  const out = new Uint8Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = blockMask[ids[i]!]!;
  return out;
}

/**
 * Permute a row-major tensor: output axis c is input axis `perm[c]`.
 *
 * @example permute(data, [K, N], [1, 0]) // the [N, K] transpose
 */
export function permute<T extends Float32Array | Uint8Array>(
  data: T,
  dims: readonly number[],
  perm: readonly number[],
): T {
  if (perm.every((p, i) => p === i)) return data;
  const outDims = perm.map((p) => dims[p]!);
  const inStrides = strides(dims);
  const step = perm.map((p) => inStrides[p]!);
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const rank = outDims.length;
  const idx = new Array<number>(rank).fill(0);
  let src = 0;
  for (let i = 0; i < out.length; i++) {
    out[i] = data[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      src += step[d]!;
      if (++idx[d]! < outDims[d]!) break;
      src -= step[d]! * outDims[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** The inverse permutation: `inversePerm(perm)[perm[c]] = c`. */
export function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, c) => (inv[p] = c));
  return inv;
}
