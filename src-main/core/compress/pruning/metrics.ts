/**
 * @file Pruning metrics per block of the canonical view (NNI-SEMANTICS §3.1); smaller = less important.
 * - norm p (L1 / L2 pruners; LevelPruner is p = 1 on one-element blocks, i.e. |w|): m_b = ‖w_b‖_p
 * - FPGM: m_i = Σ_j ‖w_i − w_j‖₂ over the blocks of the same target (the block nearest the geometric median of
 *   the others has the smallest sum: the most replaceable one). Computed from the Gram matrix,
 *   ‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b, with the diagonal taken from the same products so that d(i, i) = 0 exactly.
 * Pure: imports only sibling modules.
 */
import { blockIds, type BlockView } from './granularity.ts';
import { forEachGramPair } from './gram.ts';

/** A metric over a target's blocks, row-major in `view.blockDims`. */
export type Metric = Float64Array;

const blockCount = (view: BlockView) => view.blockDims.reduce((a, b) => a * b, 1);

/**
 * ‖block‖_p for every block. With one-element blocks this is |w| for any p.
 *
 * @example normMetric(Float32Array.of(3, -4, 1, 1), view2x2OutChannel, 2) // [5, √2]
 */
export function normMetric(data: Float32Array, view: BlockView, p: 1 | 2): Metric {
  const nb = blockCount(view);
  const out = new Float64Array(nb);
  if (nb === data.length) {
    for (let i = 0; i < data.length; i++) out[i] = Math.abs(data[i]!);
    return out;
  }
  const ids = blockIds(view);
  if (p === 1) for (let i = 0; i < data.length; i++) out[ids[i]!] += Math.abs(data[i]!);
  else {
    for (let i = 0; i < data.length; i++) out[ids[i]!] += data[i]! * data[i]!;
    for (let b = 0; b < nb; b++) out[b] = Math.sqrt(out[b]!);
  }
  return out;
}

/** The blocks as rows of a [blocks, blockSize] matrix (elements of each block in row-major order). */
export function blockRows(data: Float32Array, view: BlockView): { rows: Float32Array; count: number; size: number } {
  const count = blockCount(view);
  const size = data.length / count;
  if (view.kernel[0] === 1 && view.kernel.slice(1).every((k) => k === -1)) return { rows: data, count, size };
  const ids = blockIds(view);
  const fill = new Int32Array(count);
  const rows = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const b = ids[i]!;
    rows[b * size + fill[b]!++] = data[i]!;
  }
  return { rows, count, size };
}

/** FPGM: per block, the sum of Euclidean distances to every other block of the target. */
export function fpgmMetric(data: Float32Array, view: BlockView, useSimd = true): Metric {
  const { rows, count, size } = blockRows(data, view);
  const gram = new Float64Array(count * count);
  forEachGramPair(rows, count, size, (i, j, dot) => (gram[i * count + j] = dot), useSimd);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const sqI = gram[i * count + i]!;
    let sum = 0;
    for (let j = i + 1; j < count; j++) {
      const d = Math.sqrt(Math.max(0, sqI + gram[j * count + j]! - 2 * gram[i * count + j]!));
      sum += d;
      out[j] += d;
    }
    out[i] += sum;
  }
  return out;
}
