/**
 * @file Channel rules and replacers of the layers that create and consume channels: Conv (plain, grouped,
 * depthwise), ConvTranspose, Gemm, MatMul (with a constant operand, or two activations as in attention) and
 * Gather as an embedding lookup. Replacers slice weights and biases and fold the constants removed input channels
 * held in the masked model into the bias (or, where zero padding makes the contribution position-dependent, into
 * an added constant map). Pure: imports only the IR and sibling modules.
 */
import { Tensor, numel, type Node } from '../../ir/index.ts';
import { normAxis } from './rule-kit.ts';
import { sliceAxis, stridesOf, uniformAlong, zeroAlong } from './tensor-ops.ts';
import type { ConstantCtx, PropagateCtx, PropagationRule, ReplaceCtx, Replacer } from './types.ts';

const weightOf = (node: Node, i: number): Tensor | undefined => node.input(i)?.initializer ?? undefined;

/** Bias values (or zeros) of length n from an optional input. */
function biasValues(ctx: ConstantCtx, i: number, n: number): Float32Array {
  return (ctx.node.input(i) && ctx.floats(i)) || new Float32Array(n);
}

// ---------------------------------------------------------------------------------------------------------------
// Conv

interface ConvShape {
  cin: number;
  cout: number;
  group: number;
  icg: number;
  ocg: number;
  depthwise: boolean;
}

function convShape(
  node: Node,
  x: readonly number[] | undefined,
  w: readonly number[] | undefined,
): ConvShape | undefined {
  if (!x || !w) return undefined;
  const group = node.attrInt('group', 1);
  const [cin, cout, icg] = [x[1]!, w[0]!, w[1]!];
  const ocg = cout / group;
  return { cin, cout, group, icg, ocg, depthwise: group > 1 && icg === 1 && ocg === 1 };
}

/** Input channel c of a grouped conv reads column c mod icg of the rows of its group. */
function convInputZero(w: Tensor, s: ConvShape): boolean[] {
  if (s.group === 1) return zeroAlong(w, 1);
  const f = w.toFloat32();
  const inner = numel(w.dims.slice(2));
  const zero = new Array<boolean>(s.cin).fill(true);
  for (let o = 0; o < s.cout; o++) {
    const g = Math.floor(o / s.ocg);
    for (let i = 0; i < s.icg; i++) {
      if (!zero[g * s.icg + i]) continue;
      const base = (o * s.icg + i) * inner;
      for (let k = 0; k < inner; k++) {
        if (f[base + k] !== 0) {
          zero[g * s.icg + i] = false;
          break;
        }
      }
    }
  }
  return zero;
}

const conv: PropagationRule = {
  propagate(ctx) {
    const s = convShape(ctx.node, ctx.inShape(0), ctx.inShape(1));
    const w = weightOf(ctx.node, 1);
    if (!s || !w || !ctx.isConst(1)) return ctx.blockInputs(`${ctx.node.label} has a non-constant weight`);
    for (const [a, atoms] of ctx.axes(0))
      if (a !== 1) ctx.block(atoms, `${ctx.node.label} convolves over a tracked axis`);
    const input = ctx.axes(0).get(1);
    if (s.depthwise) {
      // Output channel c reads input channel c only: the two are one channel.
      const atoms = input ?? ctx.fresh(s.cout);
      if (!input) ctx.block(atoms, `${ctx.node.label} is depthwise over an untracked input`);
      ctx.setAxis(0, 1, atoms);
      ctx.member({ kind: 'pass', output: 0, axis: 1, atoms, param: 1, paramAxis: 0 });
      return;
    }
    if (input) {
      // Grouped: every group must keep the same in-group indices, so index i is one channel across groups.
      if (s.group > 1)
        for (let i = 0; i < s.icg; i++) ctx.uniteAll(Array.from({ length: s.group }, (_, g) => input[g * s.icg + i]!));
      const zero = convInputZero(w, s);
      ctx.consumer({ input: 0, axis: 1, atoms: input, param: 1, paramAxis: 1, ignores: (p) => zero[p]!, folds: true });
    }
    const out = ctx.fresh(s.cout);
    if (s.group > 1)
      for (let j = 0; j < s.ocg; j++) ctx.uniteAll(Array.from({ length: s.group }, (_, g) => out[g * s.ocg + j]!));
    ctx.setAxis(0, 1, out);
    ctx.member({ kind: 'source', output: 0, axis: 1, atoms: out, param: 1, paramAxis: 0 });
  },
  constant(ctx) {
    const w = weightOf(ctx.node, 1);
    const s = convShape(ctx.node, ctx.inShape(0), ctx.inShape(1));
    if (!w || !s) return;
    const rowZero = zeroAlong(w, 0);
    const bias = biasValues(ctx, 2, s.cout);
    const ks = s.depthwise ? ctx.consts(0, 1) : undefined;
    const noPad = !hasPads(ctx.node);
    const f = w.toFloat32();
    const inner = numel(w.dims.slice(1));
    ctx.setConst(
      0,
      1,
      Float64Array.from({ length: s.cout }, (_, c) => {
        if (rowZero[c]) return bias[c]!;
        const k = ks?.[c];
        if (k === undefined || Number.isNaN(k)) return Number.NaN;
        if (k === 0) return bias[c]!;
        if (!noPad) return Number.NaN;
        let sum = 0;
        for (let i = 0; i < inner; i++) sum += f[c * inner + i]!;
        return k * sum + bias[c]!;
      }),
    );
  },
};

function hasPads(node: Node): boolean {
  const auto = node.attrString('auto_pad') ?? 'NOTSET';
  return (auto !== 'NOTSET' && auto !== 'VALID') || (node.attrInts('pads') ?? []).some((p) => p !== 0);
}

/** Begin pads per spatial axis (explicit, or derived from auto_pad). */
function beginPads(node: Node, x: readonly number[], y: readonly number[], kernel: readonly number[]): number[] {
  const r = kernel.length;
  const strides = node.attrInts('strides') ?? new Array<number>(r).fill(1);
  const dil = node.attrInts('dilations') ?? new Array<number>(r).fill(1);
  const auto = node.attrString('auto_pad') ?? 'NOTSET';
  if (auto === 'NOTSET') return (node.attrInts('pads') ?? new Array<number>(2 * r).fill(0)).slice(0, r);
  if (auto === 'VALID') return new Array<number>(r).fill(0);
  return kernel.map((k, d) => {
    const total = Math.max(0, (y[d]! - 1) * strides[d]! + (k - 1) * dil[d]! + 1 - x[d]!);
    return auto === 'SAME_UPPER' ? Math.floor(total / 2) : total - Math.floor(total / 2);
  });
}

/**
 * The constant a removed input channel adds to every output: Σ over the valid kernel taps of W·k. With zero
 * padding the border sees fewer taps, so the result is a map [O, …spatial]; uniform maps fold into the bias.
 */
function convFold(
  ctx: ReplaceCtx,
  w: Tensor,
  s: ConvShape,
  consts: Map<number, number>,
): { bias?: Float64Array; map?: Tensor } {
  const x = ctx.inShape(0)!.slice(2);
  const y = ctx.outShape(0)!.slice(2);
  const kernel = w.dims.slice(2);
  const taps = numel(kernel);
  const f = w.toFloat32();
  // S[o][t] = Σ_c k_c W[o, c mod icg, t] over removed channels c of o's group
  const S = new Float64Array(s.cout * taps);
  for (const [c, k] of consts) {
    const g = Math.floor(c / s.icg);
    for (let o = g * s.ocg; o < (g + 1) * s.ocg; o++) {
      const base = (o * s.icg + (c % s.icg)) * taps;
      for (let t = 0; t < taps; t++) S[o * taps + t]! += k * f[base + t]!;
    }
  }
  const strides = ctx.node.attrInts('strides') ?? kernel.map(() => 1);
  const dil = ctx.node.attrInts('dilations') ?? kernel.map(() => 1);
  const pads = beginPads(ctx.node, x, y, kernel);
  // valid[d][yd] = kernel indices along d that land inside the input for output coordinate yd
  const valid = kernel.map((kd, d) =>
    Array.from({ length: y[d]! }, (_, yd) =>
      Array.from({ length: kd }, (_, t) => t).filter((t) => {
        const xi = yd * strides[d]! - pads[d]! + t * dil[d]!;
        return xi >= 0 && xi < x[d]!;
      }),
    ),
  );
  const uniform = valid.every((vd, d) => vd.every((ts) => ts.length === kernel[d]));
  if (uniform) {
    const bias = new Float64Array(s.cout);
    for (let o = 0; o < s.cout; o++) for (let t = 0; t < taps; t++) bias[o]! += S[o * taps + t]!;
    return { bias };
  }
  const ny = numel(y);
  const kst = stridesOf(kernel);
  const yst = stridesOf(y);
  const map = new Float32Array(s.cout * ny);
  for (let p = 0; p < ny; p++) {
    let tapList = [0];
    for (let d = 0; d < kernel.length; d++) {
      const yd = Math.floor(p / yst[d]!) % y[d]!;
      tapList = tapList.flatMap((base) => valid[d]![yd]!.map((t) => base + t * kst[d]!));
    }
    for (let o = 0; o < s.cout; o++) {
      let v = 0;
      for (const t of tapList) v += S[o * taps + t]!;
      map[o * ny + p] = v;
    }
  }
  return { map: new Tensor('float32', [1, s.cout, ...y], map) };
}

const convReplace: Replacer = (ctx) => {
  const w0 = ctx.tensor(1);
  const s = convShape(ctx.node, ctx.inShape(0), ctx.inShape(1));
  if (!w0 || !s) return;
  const keptOut = ctx.keptOut(0, 1);
  let w = w0;
  let folded: Float32Array | undefined;
  if (s.depthwise) {
    if (keptOut) {
      w = sliceAxis(w, 0, keptOut);
      ctx.node.setAttr('group', { type: 'int', value: keptOut.length });
    }
  } else {
    const consts = ctx.removedConsts(0, 1);
    if (consts.size) {
      const fold = convFold(ctx, w0, s, consts);
      const bias = ctx.tensor(2)?.toFloat32();
      if (fold.bias) folded = Float32Array.from(fold.bias, (d, o) => d + (bias?.[o] ?? 0));
      if (fold.map) ctx.addAfter(0, keptOut ? sliceAxis(fold.map, 1, keptOut) : fold.map);
    }
    const keptIn = ctx.keptIn(0, 1);
    if (keptOut) w = sliceAxis(w, 0, keptOut);
    if (keptIn)
      w = sliceAxis(
        w,
        1,
        [...new Set(keptIn.map((c) => c % s.icg))].sort((a, b) => a - b),
      );
  }
  setWeightAndBias(ctx, w0, w, folded, keptOut);
};

/** Install the sliced weight (input 1) and the sliced bias (input 2); `folded` is a bias with folded constants. */
function setWeightAndBias(
  ctx: ReplaceCtx,
  w0: Tensor,
  w: Tensor,
  folded: Float32Array | undefined,
  keptOut: number[] | undefined,
): void {
  const kept = (ls: (number[] | undefined)[]) => ls.map((l) => l?.join(',') ?? '').join('/');
  if (w !== w0) ctx.setInput(1, w, `w:${kept([...ctx.changedIn(0).map((a) => ctx.keptIn(0, a)), keptOut])}`);
  const b0 = ctx.tensor(2);
  if (folded) {
    const b = new Tensor('float32', [folded.length], folded);
    ctx.setInput(2, keptOut ? sliceAxis(b, 0, keptOut) : b);
  } else if (b0 && keptOut) ctx.setInput(2, sliceAxis(b0, 0, keptOut), `b:${keptOut.join(',')}`);
}

// ---------------------------------------------------------------------------------------------------------------
// ConvTranspose (weight [C_in, C_out/g, k…])

const convTranspose: PropagationRule = {
  propagate(ctx) {
    const w = weightOf(ctx.node, 1);
    if (!w || !ctx.isConst(1) || ctx.node.attrInt('group', 1) !== 1) {
      return ctx.blockInputs(`${ctx.node.label} (grouped or with a non-constant weight) is not shrunk`);
    }
    for (const [a, atoms] of ctx.axes(0))
      if (a !== 1) ctx.block(atoms, `${ctx.node.label} convolves over a tracked axis`);
    const input = ctx.axes(0).get(1);
    if (input) {
      const zero = zeroAlong(w, 0);
      ctx.consumer({ input: 0, axis: 1, atoms: input, param: 1, paramAxis: 0, ignores: (p) => zero[p]!, folds: false });
    }
    const out = ctx.fresh(w.dims[1]!);
    ctx.setAxis(0, 1, out);
    ctx.member({ kind: 'source', output: 0, axis: 1, atoms: out, param: 1, paramAxis: 1 });
  },
  constant(ctx) {
    const w = weightOf(ctx.node, 1);
    if (!w) return;
    const colZero = zeroAlong(w, 1);
    const bias = biasValues(ctx, 2, colZero.length);
    ctx.setConst(
      0,
      1,
      Float64Array.from(colZero, (z, c) => (z ? bias[c]! : Number.NaN)),
    );
  },
};

const convTransposeReplace: Replacer = (ctx) => {
  const w0 = ctx.tensor(1);
  if (!w0) return;
  let w = w0;
  const keptIn = ctx.keptIn(0, 1);
  const keptOut = ctx.keptOut(0, 1);
  if (keptIn) w = sliceAxis(w, 0, keptIn);
  if (keptOut) w = sliceAxis(w, 1, keptOut);
  setWeightAndBias(ctx, w0, w, undefined, keptOut);
};

// ---------------------------------------------------------------------------------------------------------------
// Gemm: Y = α·A'·B' + β·C

function gemmAxes(node: Node): { kAxis: number; bk: number; bn: number } {
  const transB = node.attrInt('transB', 0);
  return { kAxis: node.attrInt('transA', 0) ? 0 : 1, bk: transB ? 1 : 0, bn: transB ? 0 : 1 };
}

const gemm: PropagationRule = {
  propagate(ctx) {
    const b = weightOf(ctx.node, 1);
    if (!b || !ctx.isConst(1)) return ctx.blockInputs(`${ctx.node.label} has a non-constant B`);
    const { kAxis, bk, bn } = gemmAxes(ctx.node);
    for (const [a, atoms] of ctx.axes(0)) {
      if (a === kAxis) {
        const zero = zeroAlong(b, bk);
        const folds = !ctx.node.input(2) || ctx.isConst(2);
        ctx.consumer({ input: 0, axis: a, atoms, param: 1, paramAxis: bk, ignores: (p) => zero[p]!, folds });
      } else ctx.setAxis(0, 0, atoms);
    }
    const out = ctx.fresh(b.dims[bn]!);
    const c = ctx.axes(2).get((ctx.inShape(2)?.length ?? 1) - 1);
    if (c && c.length === out.length) ctx.unite(out, c);
    else if (ctx.node.input(2) && !ctx.isConst(2) && (ctx.inShape(2)?.at(-1) ?? 1) > 1)
      ctx.block(out, `${ctx.node.label}: C is not channel-tracked`);
    ctx.setAxis(0, 1, out);
    ctx.member({ kind: 'source', output: 0, axis: 1, atoms: out, param: 1, paramAxis: bn });
  },
  constant(ctx) {
    const b = weightOf(ctx.node, 1);
    if (!b) return;
    const colZero = zeroAlong(b, gemmAxes(ctx.node).bn);
    const cs = ctx.inShape(2);
    const cf = ctx.floats(2);
    const beta = ctx.node.attrFloat('beta', 1);
    const cAt = !ctx.node.input(2) ? () => 0 : cf && cs ? gemmBiasAt(cf, cs, colZero.length) : () => Number.NaN;
    ctx.setConst(
      0,
      1,
      Float64Array.from(colZero, (z, n) => (z ? beta * cAt(n) : Number.NaN)),
    );
  },
};

/** C[n] when C is uniform over rows: C may be a scalar, [N], [1, N] or [M, N]. */
function gemmBiasAt(c: Float32Array, dims: readonly number[], n: number): (j: number) => number {
  if (c.length === 1) return () => c[0]!;
  const along = uniformAlong(c, dims.length === 1 ? [1, dims[0]!] : dims, 1);
  return along.length === n ? (j) => along[j]! : () => Number.NaN;
}

const gemmReplace: Replacer = (ctx) => {
  const b0 = ctx.tensor(1);
  if (!b0) return;
  const { kAxis, bk, bn } = gemmAxes(ctx.node);
  const keptK = ctx.keptIn(0, kAxis);
  const keptN = ctx.keptOut(0, 1);
  const consts = ctx.removedConsts(0, kAxis);
  const n = b0.dims[bn]!;
  let c = ctx.tensor(2);
  const cShape = ctx.inShape(2);
  if (consts.size) {
    // fold: Δ[n] = α Σ_p k_p B'[p, n], added to β·C
    const alpha = ctx.node.attrFloat('alpha', 1);
    const beta = ctx.node.input(2) ? ctx.node.attrFloat('beta', 1) : 1;
    const delta = reduceWithConsts(b0, bk, consts).map((d) => (alpha * d) / beta);
    if (ctx.node.input(2) && !c) throw new Error(`${ctx.node.label}: a dynamic C cannot absorb a constant (plan bug)`);
    const base = c ? broadcastRows(c, cShape ?? [...c.dims], n) : { dims: [n], data: new Float32Array(n) };
    const rows = base.data.length / n;
    const data = Float32Array.from(base.data, (v, i) => v + delta[i % n]!);
    c = new Tensor('float32', rows === 1 ? [n] : [rows, n], data);
    if (!ctx.node.input(2)) ctx.node.setAttr('beta', { type: 'float', value: 1 });
    ctx.setInput(2, c);
  }
  let b = b0;
  if (keptK) b = sliceAxis(b, bk, keptK);
  if (keptN) b = sliceAxis(b, bn, keptN);
  if (b !== b0) ctx.setInput(1, b, `${keptK?.join(',')}/${keptN?.join(',')}`);
  if (keptN && c && c.dims.at(-1) === n)
    ctx.setInput(2, (c = sliceAxis(c, c.dims.length - 1, keptN)), consts.size ? undefined : `c:${keptN.join(',')}`);
  // rows of A (M) that go take their rows of a full [M, N] C along
  const keptM = ctx.keptOut(0, 0);
  if (keptM && c && c.dims.length === 2 && c.dims[0]! > 1) ctx.setInput(2, sliceAxis(c, 0, keptM));
};

/** C as rows of length n ([n] or [M, n]), broadcasting a scalar or [1] to [n]. */
function broadcastRows(c: Tensor, dims: readonly number[], n: number): { dims: number[]; data: Float32Array } {
  const f = c.toFloat32();
  if (f.length === 1) return { dims: [n], data: new Float32Array(n).fill(f[0]!) };
  if (dims.at(-1) === 1) {
    const rows = f.length;
    return { dims: [rows, n], data: Float32Array.from({ length: rows * n }, (_, i) => f[Math.floor(i / n)]!) };
  }
  return { dims: [...dims], data: Float32Array.from(f) };
}

/** Σ_p k_p · W[p along `axis`, …] over the other axis of a 2-D weight. */
function reduceWithConsts(w: Tensor, axis: number, consts: Map<number, number>): Float64Array {
  const f = w.toFloat32();
  const [r, c] = [w.dims[0]!, w.dims[1]!];
  const out = new Float64Array(axis === 0 ? c : r);
  for (const [p, k] of consts) {
    for (let j = 0; j < out.length; j++) out[j]! += k * f[axis === 0 ? p * c + j : j * c + p]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// MatMul

/** Both operands are activations: batch axes unite, M and N pass, the contracted K axis must stay whole. */
function matmulDynamic(ctx: PropagateCtx): void {
  const a = ctx.inShape(0);
  const b = ctx.inShape(1);
  const y = ctx.outShape(0);
  if (!a || !b || !y || a.length < 2 || b.length < 2)
    return ctx.blockInputs(`${ctx.node.label}: vector operands are not tracked`);
  const R = y.length;
  const place = (i: number, axis: number): number => {
    const r = i === 0 ? a.length : b.length;
    if (axis < r - 2) return axis + R - r;
    if (i === 0) return axis === r - 2 ? R - 2 : -1;
    return axis === r - 1 ? R - 1 : -1;
  };
  const byOut = new Map<number, Int32Array[]>();
  for (const i of [0, 1]) {
    for (const [axis, atoms] of ctx.axes(i)) {
      const o = place(i, axis);
      if (o < 0) ctx.block(atoms, `${ctx.node.label} contracts a tracked axis of two activations`);
      else if (atoms.length !== y[o]) ctx.block(atoms, `${ctx.node.label} broadcasts a tracked axis`);
      else byOut.set(o, [...(byOut.get(o) ?? []), atoms]);
    }
  }
  for (const [o, lists] of byOut) {
    for (const other of lists.slice(1)) ctx.unite(lists[0]!, other);
    if (o < R - 2) {
      for (const i of [0, 1]) {
        const s = i === 0 ? a : b;
        const axis = o - (R - s.length);
        if (axis >= 0 && s[axis]! > 1 && !ctx.axes(i).has(axis))
          ctx.block(lists[0]!, `${ctx.node.label}: operand ${i} is not channel-tracked along a batch axis`);
      }
    }
    ctx.setAxis(0, o, lists[0]!);
  }
}

const matmul: PropagationRule = {
  propagate(ctx) {
    const a = ctx.inShape(0);
    const b = weightOf(ctx.node, 1);
    if (!a || a.length < 2 || !b || !ctx.isConst(1) || b.dims.length !== 2) {
      if (ctx.isConst(0) || ctx.isConst(1))
        return ctx.blockInputs(`${ctx.node.label}: only a constant right operand of rank 2 is shrunk`);
      return matmulDynamic(ctx);
    }
    for (const [axis, atoms] of ctx.axes(0)) {
      if (axis === a.length - 1) {
        const zero = zeroAlong(b, 0);
        ctx.consumer({ input: 0, axis, atoms, param: 1, paramAxis: 0, ignores: (p) => zero[p]!, folds: true });
      } else ctx.setAxis(0, axis, atoms);
    }
    const out = ctx.fresh(b.dims[1]!);
    ctx.setAxis(0, a.length - 1, out);
    ctx.member({ kind: 'source', output: 0, axis: a.length - 1, atoms: out, param: 1, paramAxis: 1 });
  },
  constant(ctx) {
    const b = weightOf(ctx.node, 1);
    const y = ctx.outShape(0);
    if (!y) return;
    if (b && ctx.node.input(1)?.isInitializer && b.dims.length === 2) {
      const colZero = zeroAlong(b, 1);
      ctx.setConst(
        0,
        y.length - 1,
        Float64Array.from(colZero, (z) => (z ? 0 : Number.NaN)),
      );
      return;
    }
    // a zero block on either side of a product stays zero
    for (const [o, atoms] of ctx.outAxes(0)) {
      const from = [0, 1].map((i) => {
        const r = ctx.inShape(i)?.length ?? 0;
        const axis =
          o < y.length - 2
            ? o - (y.length - r)
            : i === 0 && o === y.length - 2
              ? r - 2
              : i === 1 && o === y.length - 1
                ? r - 1
                : -1;
        return axis >= 0 ? ctx.consts(i, axis) : undefined;
      });
      ctx.setConst(
        0,
        o,
        Float64Array.from(atoms, (_, p) => (from.some((ks) => ks?.[p] === 0) ? 0 : Number.NaN)),
      );
    }
  },
};

const matmulReplace: Replacer = (ctx) => {
  const b0 = ctx.tensor(1);
  const a = ctx.inShape(0);
  if (!b0 || !a || b0.dims.length !== 2 || !ctx.node.input(1)?.isInitializer) return;
  const keptK = ctx.keptIn(0, a.length - 1);
  const keptN = ctx.keptOut(0, a.length - 1);
  const consts = ctx.removedConsts(0, a.length - 1);
  if (consts.size) {
    const delta = Float32Array.from(reduceWithConsts(b0, 0, consts));
    const t = new Tensor('float32', [delta.length], delta);
    ctx.addAfter(0, keptN ? sliceAxis(t, 0, keptN) : t);
  }
  let b = b0;
  if (keptK) b = sliceAxis(b, 0, keptK);
  if (keptN) b = sliceAxis(b, 1, keptN);
  if (b !== b0) ctx.setInput(1, b, `${keptK?.join(',')}/${keptN?.join(',')}`);
};

// ---------------------------------------------------------------------------------------------------------------
// Gather: an embedding table (constant data [V, D], axis 0) creates D channels; gathering activations maps axes

const gather: PropagationRule = {
  propagate(ctx) {
    const data = ctx.inShape(0);
    const idx = ctx.inShape(1);
    if (!data || !idx) return ctx.blockInputs(`${ctx.node.label}: shapes unknown`);
    const axis = normAxis(ctx.node.attrInt('axis', 0), data.length);
    const w = weightOf(ctx.node, 0);
    if (w && ctx.isConst(0) && data.length === 2 && axis === 0) {
      const out = ctx.fresh(data[1]!);
      ctx.setAxis(0, idx.length, out);
      ctx.member({ kind: 'source', output: 0, axis: idx.length, atoms: out, param: 0, paramAxis: 1 });
      return;
    }
    for (const [a, atoms] of ctx.axes(0)) {
      if (a === axis) ctx.block(atoms, `${ctx.node.label} gathers along a tracked axis`);
      else ctx.setAxis(0, a < axis ? a : a - 1 + idx.length, atoms);
    }
    for (const atoms of ctx.axes(1).values()) ctx.block(atoms, `${ctx.node.label}: tracked indices`);
  },
  constant(ctx) {
    const w = weightOf(ctx.node, 0);
    const idx = ctx.inShape(1);
    const data = ctx.inShape(0);
    if (!ctx.node.input(0)?.isInitializer && idx && data) {
      // gathering activations: the constants of the axes that pass move with them
      const axis = normAxis(ctx.node.attrInt('axis', 0), data.length);
      for (const a of ctx.axes(0).keys()) {
        const ks = ctx.consts(0, a);
        if (a !== axis && ks) ctx.setConst(0, a < axis ? a : a - 1 + idx.length, ks);
      }
      return;
    }
    if (!w || !idx || !ctx.node.input(0)?.isInitializer || w.dims.length !== 2) return;
    ctx.setConst(
      0,
      idx.length,
      Float64Array.from(zeroAlong(w, 1), (z) => (z ? 0 : Number.NaN)),
    );
  },
};

const gatherReplace: Replacer = (ctx) => {
  const w = ctx.tensor(0);
  const idx = ctx.inShape(1);
  if (!w || !idx || w.dims.length !== 2) return;
  const kept = ctx.keptOut(0, idx.length);
  if (kept) ctx.setInput(0, sliceAxis(w, 1, kept), `e:${kept.join(',')}`);
};

export const LINEAR_RULES: Record<string, PropagationRule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
  Gemm: gemm,
  MatMul: matmul,
  Gather: gather,
};

export const LINEAR_REPLACERS: Record<string, Replacer> = {
  Conv: convReplace,
  ConvTranspose: convTransposeReplace,
  Gemm: gemmReplace,
  MatMul: matmulReplace,
  Gather: gatherReplace,
};
