/**
 * @file Gram matrix G = X·Xᵀ of the rows of a float32 matrix, the O(B²·D) core of FPGM. A tiny hand-assembled
 * WebAssembly SIMD kernel (4×2 register tile of f32x4 accumulators) does the products when the engine supports
 * SIMD; a scalar 4×2 tile is the fallback. Pure: imports nothing (WebAssembly is a JS global, not a Node API).
 *
 * The kernel `dots(a, stride, b0, jcount, nbytes, out)`: for j < jcount (step 2) and the 4 rows at a, a+stride, …,
 * stores the 8 lane-wise partial dot products with rows b0 + j·stride and b0 + (j+1)·stride as 8 f32x4 vectors at
 * out + j·64. Rows are zero-padded to a multiple of 4 floats, row count to a multiple of 4.
 */

// ---- a minimal WebAssembly binary emitter --------------------------------------------------------------------
const uleb = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const sleb = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];
const str = (s: string): number[] => [...uleb(s.length), ...[...s].map((c) => c.charCodeAt(0))];

const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  get: (i: number) => [0x20, ...uleb(i)],
  set: (i: number) => [0x21, ...uleb(i)],
  tee: (i: number) => [0x22, ...uleb(i)],
  i32: (n: number) => [0x41, ...sleb(n)],
  add: [0x6a],
  mul: [0x6c],
  geU: [0x4f],
  block: [0x02, 0x40],
  loop: [0x03, 0x40],
  brIf: (depth: number) => [0x0d, depth],
  br: (depth: number) => [0x0c, depth],
  end: [0x0b],
  simd: (code: number) => [0xfd, ...uleb(code)],
};
const v128Load = (addr: number[]) => [...addr, ...op.simd(0x00), 4, 0];
const v128Store = [...op.simd(0x0b), 4, 0];
const v128Zero = [...op.simd(0x0c), ...new Array<number>(16).fill(0)];
const F32X4_ADD = 0xe4;
const F32X4_MUL = 0xe6;

function kernelBytes(): Uint8Array {
  // params 0..5: a, stride, b0, jcount, nbytes, out; i32 locals 6..12; v128 locals 13..23
  const [A, S, B0, JC, NB, OUT, J, K, B, A1, A2, A3, BB] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const ACC = [13, 14, 15, 16, 17, 18, 19, 20];
  const [X, Y, T] = [21, 22, 23];
  const rows = [A, A1, A2, A3];
  const fma = (acc: number, rhs: number, lhs: number[]) => [
    ...lhs,
    ...op.get(rhs),
    ...op.simd(F32X4_MUL),
    ...op.get(acc),
    ...op.simd(F32X4_ADD),
    ...op.set(acc),
  ];
  const body = [
    ...op.get(A),
    ...op.get(S),
    ...op.add,
    ...op.set(A1),
    ...op.get(A1),
    ...op.get(S),
    ...op.add,
    ...op.set(A2),
    ...op.get(A2),
    ...op.get(S),
    ...op.add,
    ...op.set(A3),
    ...op.i32(0),
    ...op.set(J),
    ...op.block,
    ...op.loop,
    ...op.get(J),
    ...op.get(JC),
    ...op.geU,
    ...op.brIf(1),
    ...op.get(B0),
    ...op.get(J),
    ...op.get(S),
    ...op.mul,
    ...op.add,
    ...op.set(B),
    ...op.get(B),
    ...op.get(S),
    ...op.add,
    ...op.set(BB),
    ...ACC.flatMap((r) => [...v128Zero, ...op.set(r)]),
    ...op.i32(0),
    ...op.set(K),
    ...op.block,
    ...op.loop,
    ...op.get(K),
    ...op.get(NB),
    ...op.geU,
    ...op.brIf(1),
    ...v128Load([...op.get(B), ...op.get(K), ...op.add]),
    ...op.set(X),
    ...v128Load([...op.get(BB), ...op.get(K), ...op.add]),
    ...op.set(Y),
    ...rows.flatMap((a, r) => [
      ...fma(ACC[r]!, X, [...v128Load([...op.get(a), ...op.get(K), ...op.add]), ...op.tee(T)]),
      ...fma(ACC[r + 4]!, Y, op.get(T)),
    ]),
    ...op.get(K),
    ...op.i32(16),
    ...op.add,
    ...op.set(K),
    ...op.br(0),
    ...op.end,
    ...op.end,
    ...ACC.flatMap((r, i) => [
      ...op.get(OUT),
      ...op.get(J),
      ...op.i32(64),
      ...op.mul,
      ...op.add,
      ...op.i32(16 * i),
      ...op.add,
      ...op.get(r),
      ...v128Store,
    ]),
    ...op.get(J),
    ...op.i32(2),
    ...op.add,
    ...op.set(J),
    ...op.br(0),
    ...op.end,
    ...op.end,
    ...op.end,
  ];
  const func = [
    ...vec([
      [...uleb(7), I32],
      [...uleb(11), V128],
    ]),
    ...body,
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...section(1, vec([[0x60, ...vec(new Array(6).fill([I32])), 0]])),
    ...section(3, vec([[0]])),
    ...section(5, vec([[0, 1]])),
    ...section(
      7,
      vec([
        [...str('mem'), 2, 0],
        [...str('dots'), 0, 0],
      ]),
    ),
    ...section(10, vec([[...uleb(func.length), ...func]])),
  ]);
}

/** The slice of the WebAssembly JS API used here (typed locally: the project's libs carry no WebAssembly types). */
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
}
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface Kernel {
  mem: WasmMemory;
  dots: (a: number, stride: number, b0: number, jcount: number, nbytes: number, out: number) => void;
}

let kernel: Kernel | null | undefined;

/** The SIMD kernel, or null when this engine has no WebAssembly SIMD (then the scalar path runs). */
function simdKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  const wasm = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  try {
    const bytes = kernelBytes();
    if (!wasm || !wasm.validate(bytes)) return (kernel = null);
    const inst = new wasm.Instance(new wasm.Module(bytes));
    kernel = { mem: inst.exports.mem as WasmMemory, dots: inst.exports.dots as Kernel['dots'] };
  } catch {
    kernel = null;
  }
  return kernel;
}

/**
 * Calls `visit(i, j, dot)` once for every pair i ≤ j of the `rows` rows of length `size` in `x` (row-major),
 * with dot = Σ_k x[i,k]·x[j,k]. Pairs arrive in no particular order.
 */
export function forEachGramPair(
  x: Float32Array,
  rows: number,
  size: number,
  visit: (i: number, j: number, dot: number) => void,
  useSimd = true,
): void {
  const k = useSimd ? simdKernel() : null;
  if (k) simdGram(k, x, rows, size, visit);
  else scalarGram(x, rows, size, visit);
}

function simdGram(
  k: Kernel,
  x: Float32Array,
  rows: number,
  size: number,
  visit: (i: number, j: number, dot: number) => void,
): void {
  const d4 = Math.ceil(size / 4) * 4;
  const r4 = Math.ceil(rows / 4) * 4;
  const matBytes = r4 * d4 * 4;
  const need = matBytes + r4 * 64;
  const have = k.mem.buffer.byteLength;
  if (need > have) k.mem.grow(Math.ceil((need - have) / 65536));
  const f = new Float32Array(k.mem.buffer);
  f.fill(0, 0, r4 * d4);
  for (let i = 0; i < rows; i++) f.set(x.subarray(i * size, i * size + size), i * d4);
  const rowBytes = d4 * 4;
  for (let i = 0; i < rows; i += 4) {
    const jc = r4 - i;
    k.dots(i * rowBytes, rowBytes, i * rowBytes, jc, rowBytes, matBytes);
    const o = new Float32Array(k.mem.buffer, matBytes, jc * 16);
    for (let j = 0; j < jc && i + j < rows; j++) {
      const base = (j & ~1) * 16 + (j & 1) * 16;
      for (let r = 0; r < 4 && i + r <= i + j && i + r < rows; r++) {
        const p = base + r * 4;
        visit(i + r, i + j, o[p]! + o[p + 1]! + o[p + 2]! + o[p + 3]!);
      }
    }
  }
}

function scalarGram(
  x: Float32Array,
  rows: number,
  size: number,
  visit: (i: number, j: number, dot: number) => void,
): void {
  for (let i = 0; i < rows; i++) {
    const oi = i * size;
    for (let j = i; j < rows; j++) {
      const oj = j * size;
      let s0 = 0;
      let s1 = 0;
      let kk = 0;
      for (; kk + 1 < size; kk += 2) {
        s0 += x[oi + kk]! * x[oj + kk]!;
        s1 += x[oi + kk + 1]! * x[oj + kk + 1]!;
      }
      if (kk < size) s0 += x[oi + kk]! * x[oj + kk]!;
      visit(i, j, s0 + s1);
    }
  }
}
