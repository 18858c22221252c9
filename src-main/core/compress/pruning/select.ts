/**
 * @file The k-th smallest of float64 values in expected O(n) (quickselect with median-of-three pivots), so that
 * masking exactly k of a layer's 2.4M weights needs no full sort. Pure: imports nothing.
 */

/**
 * The value of rank `k` (0-based) among `values`, i.e. what `sorted[k]` would be. Reorders `values` in place.
 * No NaNs expected.
 *
 * @example kthSmallest(Float64Array.of(5, 1, 4, 2), 1) // 2
 */
export function kthSmallest(values: Float64Array, k: number): number {
  let lo = 0;
  let hi = values.length - 1;
  while (hi > lo) {
    if (hi - lo < 16) return insertionKth(values, lo, hi, k);
    const mid = (lo + hi) >>> 1;
    const pivot = median3(values[lo]!, values[mid]!, values[hi]!);
    // three-way partition: [lo, lt) < pivot, [lt, gt] == pivot, (gt, hi] > pivot
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = values[i]!;
      if (v < pivot) swap(values, lt++, i++);
      else if (v > pivot) swap(values, i, gt--);
      else i++;
    }
    if (k < lt) hi = lt - 1;
    else if (k > gt) lo = gt + 1;
    else return pivot;
  }
  return values[lo]!;
}

function insertionKth(a: Float64Array, lo: number, hi: number, k: number): number {
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) {
      a[j + 1] = a[j]!;
      j--;
    }
    a[j + 1] = v;
  }
  return a[k]!;
}

function median3(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
}

function swap(a: Float64Array, i: number, j: number): void {
  const t = a[i]!;
  a[i] = a[j]!;
  a[j] = t;
}
