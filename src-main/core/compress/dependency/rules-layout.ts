/**
 * @file Channel rules of layout ops: index mapping through Concat / Split / Slice on the channel axis, axis
 * renumbering through Transpose / Squeeze / Unsqueeze / reductions, and Reshape / Flatten, where a channel axis
 * may split (channel shuffle, attention heads) or merge (Flatten after pooling). Replacers rewrite the shape
 * constants: Reshape targets, Split sizes, Slice bounds, Expand shapes. Pure: imports only the IR and sibling modules.
 *
 * Reshape. Input and output dims are cut into segments of equal products. A tracked axis t inside a segment maps
 * to one output axis u of that segment: output index x along u carries the atoms of every element with that
 * index, united (they can only go together). Surviving elements then keep their row-major order on both sides,
 * so the compact reshape is exact. Attention (the reshape's output reaches a MatMul of two activations) takes the
 * outer axis, which prunes whole heads; otherwise the axis uniting the fewest atoms is taken (for a channel
 * shuffle [C] → [g, C/g], index j of every group goes together).
 */
import type { Node } from '../../ir/index.ts';
import { list, noChange, normAxis } from './rule-kit.ts';
import { int64Tensor, intTensorLike, sliceAxis, stridesOf, uniformAlong } from './tensor-ops.ts';
import type { Atoms, ConstantCtx, PropagateCtx, PropagationRule, ReplaceCtx, Replacer } from './types.ts';

/** Constants move with their positions: out = in[map[i]] per output axis. */
function moveConsts(
  ctx: ConstantCtx,
  outAxis: number,
  inAxis: number,
  index: (x: number) => number,
  from = 0,
  out = 0,
): void {
  const ks = ctx.consts(from, inAxis);
  const n = ctx.outAxes(out).get(outAxis)?.length;
  if (ks && n !== undefined)
    ctx.setConst(
      out,
      outAxis,
      Float64Array.from({ length: n }, (_, x) => ks[index(x)] ?? Number.NaN),
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Transpose

const transpose: PropagationRule = {
  propagate(ctx) {
    const r = ctx.inShape(0)?.length ?? 0;
    const perm = ctx.node.attrInts('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    for (const [a, atoms] of ctx.axes(0)) ctx.setAxis(0, perm.indexOf(a), atoms);
  },
  constant(ctx) {
    const r = ctx.inShape(0)?.length ?? 0;
    const perm = ctx.node.attrInts('perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
    for (const a of ctx.axes(0).keys()) moveConsts(ctx, perm.indexOf(a), a, (x) => x);
  },
};

// ---------------------------------------------------------------------------------------------------------------
// Reshape family (Reshape, Flatten, Squeeze, Unsqueeze)

interface Segment {
  i0: number;
  i1: number;
  o0: number;
  o1: number;
}

/** Cut `a` and `b` into consecutive segments of equal element counts; undefined when they do not match. */
export function segments(a: readonly number[], b: readonly number[]): Segment[] | undefined {
  if (a.includes(0) || b.includes(0)) return undefined;
  const out: Segment[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const [i0, o0] = [i, j];
    let pi = 1;
    let po = 1;
    if (i < a.length) pi *= a[i++]!;
    else po *= b[j++]!;
    while (pi !== po) {
      if (pi < po && i < a.length) pi *= a[i++]!;
      else if (pi > po && j < b.length) po *= b[j++]!;
      else return undefined;
    }
    // pair a lone size-1 input dim with a size-1 output dim when one comes next
    if (pi === 1 && j === o0 && j < b.length && b[j] === 1) j++;
    out.push({ i0, i1: i, o0, o1: j });
  }
  return out;
}

/** Does the value produced by `node` flow (through transposes and scalings) into a MatMul of two activations? */
function reachesAttention(node: Node, depth = 0): boolean {
  if (depth > 6) return false;
  for (const r of node.outputs[0]?.consumers() ?? []) {
    if (r.opType === 'MatMul' && r.inputs.every((v) => v && !v.isInitializer)) return true;
    // transposes, casts and elementwise scalings (1/√d, a mask) keep the head structure
    if (
      ['Transpose', 'Identity', 'Cast', 'Div', 'Mul', 'Add', 'Sub'].includes(r.opType) &&
      reachesAttention(r, depth + 1)
    )
      return true;
  }
  return false;
}

/**
 * torch's GroupNorm export: Reshape to [N, G, -1] → InstanceNormalization → Reshape back. Around it the channel axis
 * maps to the group axis (whole groups go, the per-group statistics of the others unchanged), not to the flattened
 * rest (which the norm reduces over).
 */
function aroundGroupNorm(node: Node): boolean {
  const into = node.outputs[0]?.consumers().some((r) => r.opType === 'InstanceNormalization') ?? false;
  return into || node.input(0)?.producer?.opType === 'InstanceNormalization';
}

/** Map one tracked input axis `t` through a segment; returns the output axis and its atoms. */
function mapThroughSegment(
  ctx: PropagateCtx,
  seg: Segment,
  t: number,
  atoms: Atoms,
  a: readonly number[],
  b: readonly number[],
): [number, Atoms] | undefined {
  const cands: number[] = [];
  for (let k = seg.o0; k < seg.o1; k++) if (b[k]! > 1) cands.push(k);
  if (cands.length === 0) return undefined;
  const inDims = a.slice(seg.i0, seg.i1);
  const outDims = b.slice(seg.o0, seg.o1);
  const P = inDims.reduce((p, d) => p * d, 1);
  const tStride = stridesOf(inDims)[t - seg.i0]!;
  const oStrides = stridesOf(outDims);
  const tc = (f: number) => Math.floor(f / tStride) % a[t]!;
  if (cands.length === 1) {
    const u = cands[0]!;
    const su = oStrides[u - seg.o0]!;
    if (b[u] === P) return [u, Int32Array.from({ length: P }, (_, f) => atoms[tc(f)]!)];
    // several input positions per output index: gather them
    return [u, uniteGroups(ctx, P, b[u]!, (f) => Math.floor(f / su) % b[u]!, tc, atoms)];
  }
  const attention = reachesAttention(ctx.node) || aroundGroupNorm(ctx.node);
  let best = cands[0]!;
  if (!attention) {
    let bestCost = Infinity;
    for (const u of cands) {
      // positions of one output index along u span P / b[u] elements, of which those along t are distinct atoms
      const cost = Math.min(a[t]!, P / b[u]!);
      if (cost <= bestCost) [best, bestCost] = [u, cost];
    }
  }
  const su = oStrides[best - seg.o0]!;
  return [best, uniteGroups(ctx, P, b[best]!, (f) => Math.floor(f / su) % b[best]!, tc, atoms)];
}

/** For each output index x, unite the atoms of the input positions landing on x; returns one atom per x. */
function uniteGroups(
  ctx: PropagateCtx,
  P: number,
  n: number,
  xOf: (f: number) => number,
  tc: (f: number) => number,
  atoms: Atoms,
): Atoms {
  const groups: Set<number>[] = Array.from({ length: n }, () => new Set());
  for (let f = 0; f < P; f++) groups[xOf(f)]!.add(atoms[tc(f)]!);
  return Int32Array.from(groups, (g) => ctx.uniteAll(g));
}

/** The index each output position reads along the tracked input axis (for constants), when unique. */
function reshapePropagate(ctx: PropagateCtx): void {
  const a = ctx.inShape(0);
  const b = ctx.outShape(0);
  if (ctx.axes(0).size === 0) {
    if (ctx.node.opType === 'Reshape') coupleTargetDims(ctx, new Map());
    return;
  }
  const segs = a && b ? segments(a, b) : undefined;
  if (!a || !b || !segs) return ctx.blockInputs(`${ctx.node.label}: shapes do not line up`);
  const bySeg = new Map<Segment, number[]>();
  const outAxes = new Map<number, Atoms>();
  for (const t of ctx.axes(0).keys()) {
    const seg = segs.find((s) => t >= s.i0 && t < s.i1)!;
    bySeg.set(seg, [...(bySeg.get(seg) ?? []), t]);
  }
  for (const [seg, ts] of bySeg) {
    if (ts.length > 1) {
      for (const t of ts) ctx.block(ctx.axes(0).get(t)!, `${ctx.node.label} merges two tracked axes`);
      continue;
    }
    const t = ts[0]!;
    const atoms = ctx.axes(0).get(t)!;
    const mapped = mapThroughSegment(ctx, seg, t, atoms, a, b);
    if (!mapped) ctx.block(atoms, `${ctx.node.label} folds a tracked axis away`);
    else {
      ctx.setAxis(0, mapped[0], mapped[1]);
      outAxes.set(mapped[0], mapped[1]);
    }
  }
  if (ctx.node.opType === 'Reshape') coupleTargetDims(ctx, outAxes);
}

/**
 * A dynamic Reshape target entry computed from the width of another tracked tensor (`x.reshape(B·D)` with D read
 * from the block's input, while the data being reshaped is an attention's inner width) follows that tensor when it
 * shrinks: its output axis must shrink alike. Same length: the two are united position by position; otherwise both
 * stay. Entries computed from the reshaped tensor's own channels follow it by construction (a channel shuffle's
 * C / g); static entries become constants (reshapeReplace).
 */
function coupleTargetDims(ctx: PropagateCtx, outAxes: ReadonlyMap<number, Atoms>): void {
  const deps = ctx.shapeDeps(1);
  if (!deps) return;
  const own = new Set<number>();
  for (const atoms of ctx.axes(0).values()) for (const x of atoms) own.add(ctx.classOf(x));
  deps.forEach(({ dims, dynamic }, u) => {
    // a static entry is rewritten as a constant by the replacer; only a dynamic one is computed in the graph
    if (!dynamic) return;
    for (const dep of dims) {
      if (dep.every((x) => own.has(ctx.classOf(x)))) continue;
      const out = outAxes.get(u);
      if (out && out.length === dep.length) ctx.unite(dep, out);
      else {
        const why = `${ctx.node.label}'s target shape reads the width of another tensor along output axis ${u}`;
        ctx.block(dep, why);
        if (out) ctx.block(out, why);
      }
    }
  });
}

/** Constants through a reshape: an output index is constant when every input position landing on it holds the same constant. */
function reshapeConstant(ctx: ConstantCtx): void {
  const a = ctx.inShape(0);
  const b = ctx.outShape(0);
  const segs = a && b ? segments(a, b) : undefined;
  if (!a || !b || !segs) return;
  for (const [t] of ctx.axes(0)) {
    const ks = ctx.consts(0, t)!;
    const seg = segs.find((s) => t >= s.i0 && t < s.i1)!;
    for (let u = seg.o0; u < seg.o1; u++) {
      const n = ctx.outAxes(0).get(u)?.length;
      if (n === undefined) continue;
      const inDims = a.slice(seg.i0, seg.i1);
      const P = inDims.reduce((p, d) => p * d, 1);
      const tStride = stridesOf(inDims)[t - seg.i0]!;
      const su = stridesOf(b.slice(seg.o0, seg.o1))[u - seg.o0]!;
      const out = new Float64Array(n);
      const seen = new Uint8Array(n);
      for (let f = 0; f < P; f++) {
        const x = Math.floor(f / su) % n;
        const k = ks[Math.floor(f / tStride) % a[t]!]!;
        if (!seen[x]) [out[x], seen[x]] = [k, 1];
        else if (!(out[x] === k)) out[x] = Number.NaN;
      }
      ctx.setConst(0, u, out);
    }
  }
}

const reshapeLike: PropagationRule = { propagate: reshapePropagate, constant: reshapeConstant };

/**
 * Rewrite the target shape's entries for output axes that shrink (-1 and 0 entries infer themselves). A static
 * target becomes a constant. One computed in the graph keeps its dynamic entries (batch, sequence): those of shrunk
 * axes are scaled by kept / total unless they follow a shrinking dim themselves; its static entries become
 * constants, since one may be read from the width of another tensor that shrinks differently (Swin's head width
 * C / heads, read from the block's input).
 */
const reshapeReplace: Replacer = (ctx) => {
  const target = ctx.ints(1);
  if (!target) return;
  const values = [...target.values];
  const fixed = new Map<number, number>();
  const scale = new Map<number, [number, number]>();
  values.forEach((v, u) => {
    if (v === -1 || v === 0) return;
    const kept = ctx.keptOut(0, u)?.length ?? v;
    values[u] = kept;
    if (!target.dynamicAt[u]) {
      if (kept !== v || target.follows[u]) fixed.set(u, kept);
    } else if (kept !== v && !target.follows[u]) scale.set(u, [kept, v]);
  });
  if (fixed.size === 0 && scale.size === 0) return;
  if (!target.dynamic) return ctx.setInput(1, intTensorLike(ctx.tensor(1), [values.length], values));
  if (scale.size) scaleShapeInput(ctx, 1, values.length, scale);
  if (fixed.size) fixShapeEntries(ctx, 1, values.length, fixed);
};

/** input i (an int64 shape vector of length n) with entries `fixed` replaced by constants, as graph ops. */
function fixShapeEntries(ctx: ReplaceCtx, i: number, n: number, fixed: Map<number, number>): void {
  const g = ctx.graph;
  const at = g.nodes.indexOf(ctx.node);
  const vec = (name: string, f: (a: number) => number) =>
    g.addInitializer(
      `${ctx.node.name}_${name}`,
      int64Tensor(
        [n],
        Array.from({ length: n }, (_, a) => f(a)),
      ),
      true,
    );
  const keep = vec('dynamic', (a) => (fixed.has(a) ? 0 : 1));
  const mul = g.addNode({ opType: 'Mul', inputs: [ctx.node.input(i)!, keep], at });
  const add = g.addNode({
    opType: 'Add',
    inputs: [mul.outputs[0]!, vec('static', (a) => fixed.get(a) ?? 0)],
    at: at + 1,
  });
  ctx.node.setInput(i, add.outputs[0]!);
}

/** input i (an int64 shape vector of length n) ← input i · num / den, entry by entry, as graph ops. */
function scaleShapeInput(ctx: ReplaceCtx, i: number, n: number, scale: Map<number, [number, number]>): void {
  const g = ctx.graph;
  const at = g.nodes.indexOf(ctx.node);
  const vec = (name: string, k: 0 | 1) =>
    g.addInitializer(
      `${ctx.node.name}_${name}`,
      int64Tensor(
        [n],
        Array.from({ length: n }, (_, a) => scale.get(a)?.[k] ?? 1),
      ),
      true,
    );
  const mul = g.addNode({ opType: 'Mul', inputs: [ctx.node.input(i)!, vec('kept', 0)], at });
  const div = g.addNode({ opType: 'Div', inputs: [mul.outputs[0]!, vec('total', 1)], at: at + 1 });
  ctx.node.setInput(i, div.outputs[0]!);
}

// ---------------------------------------------------------------------------------------------------------------
// Concat, Split, Slice

const concat: PropagationRule = {
  propagate(ctx) {
    const out = ctx.outShape(0);
    if (!out) return ctx.blockInputs(`${ctx.node.label}: output shape unknown`);
    const axis = normAxis(ctx.node.attrInt('axis', 0), out.length);
    const n = ctx.node.inputs.length;
    const tracked = new Set<number>();
    for (let i = 0; i < n; i++) for (const a of ctx.axes(i).keys()) tracked.add(a);
    for (const A of tracked) {
      if (A === axis) {
        // channels stack: positions map, nothing is coupled
        const parts = ctx.node.inputs.map((_, i) => {
          const atoms = ctx.axes(i).get(A);
          if (atoms) return list(atoms);
          const fresh = ctx.fresh(ctx.inShape(i)?.[A] ?? 0);
          ctx.block(fresh, `${ctx.node.label}: operand ${i} is not channel-tracked`);
          return list(fresh);
        });
        ctx.setAxis(0, A, Int32Array.from(parts.flat()));
        continue;
      }
      let base: Atoms | undefined;
      for (let i = 0; i < n; i++) {
        const atoms = ctx.axes(i).get(A);
        if (atoms && base) ctx.unite(base, atoms);
        else if (atoms) base = atoms;
      }
      for (let i = 0; i < n; i++) {
        if (!ctx.axes(i).has(A) && !ctx.isConst(i))
          ctx.block(base!, `${ctx.node.label}: operand ${i} is not channel-tracked along axis ${A}`);
      }
      ctx.setAxis(0, A, base!);
    }
  },
  constant(ctx) {
    const out = ctx.outShape(0);
    if (!out) return;
    const axis = normAxis(ctx.node.attrInt('axis', 0), out.length);
    for (const A of ctx.outAxes(0).keys()) {
      if (A !== axis) continue;
      const parts = ctx.node.inputs.map((_, i) =>
        Array.from(ctx.consts(i, A) ?? new Float64Array(ctx.inShape(i)?.[A] ?? 0).fill(Number.NaN)),
      );
      ctx.setConst(0, A, Float64Array.from(parts.flat()));
    }
  },
};

const concatReplace: Replacer = (ctx) => {
  const out = ctx.outShape(0);
  if (!out) return;
  const axis = normAxis(ctx.node.attrInt('axis', 0), out.length);
  ctx.node.inputs.forEach((_, i) => {
    let t = ctx.tensor(i);
    if (!t) return;
    const keys: string[] = [];
    for (const A of ctx.changedOut(0)) {
      if (A === axis) continue;
      const kept = ctx.keptOut(0, A)!;
      t = sliceAxis(t, A, kept);
      keys.push(`${A}:${kept.join(',')}`);
    }
    if (keys.length) ctx.setInput(i, t, keys.join('|'));
  });
};

function splitSizes(ctx: { node: Node; outShape(i: number): readonly number[] | undefined }, axis: number): number[] {
  return ctx.node.outputs.map((_, j) => ctx.outShape(j)?.[axis] ?? 0);
}

const split: PropagationRule = {
  propagate(ctx) {
    const r = ctx.inShape(0)?.length ?? 0;
    const axis = normAxis(ctx.node.attrInt('axis', 0), r);
    const sizes = splitSizes(ctx, axis);
    for (const [a, atoms] of ctx.axes(0)) {
      let off = 0;
      ctx.node.outputs.forEach((_, j) => {
        if (a === axis) {
          ctx.setAxis(j, a, atoms.slice(off, off + sizes[j]!));
          off += sizes[j]!;
        } else ctx.setAxis(j, a, atoms);
      });
    }
  },
  constant(ctx) {
    const r = ctx.inShape(0)?.length ?? 0;
    const axis = normAxis(ctx.node.attrInt('axis', 0), r);
    for (const a of ctx.axes(0).keys()) {
      let off = 0;
      ctx.node.outputs.forEach((_, j) => {
        const start = a === axis ? off : 0;
        moveConsts(ctx, a, a, (x) => start + x, 0, j);
        if (a === axis) off += ctx.outShape(j)?.[axis] ?? 0;
      });
    }
  },
};

const splitReplace: Replacer = (ctx) => {
  const r = ctx.inShape(0)?.length ?? 0;
  const axis = normAxis(ctx.node.attrInt('axis', 0), r);
  if (!ctx.keptIn(0, axis)) return;
  const sizes = ctx.node.outputs.map((_, j) => ctx.keptOut(j, axis)?.length ?? ctx.outShape(j)![axis]!);
  if (ctx.opset >= 13) {
    ctx.node.attributes.delete('num_outputs');
    ctx.setInput(1, int64Tensor([sizes.length], sizes));
  } else ctx.node.setAttr('split', { type: 'ints', value: sizes });
};

interface SliceParams {
  starts: number[];
  ends: number[];
  axes: number[];
  steps: number[];
  dynamic: boolean;
}

type IntsOf = (i: number) => { values: number[]; dynamic: boolean[] | boolean } | undefined;

function sliceParams(node: Node, opset: number, ints: IntsOf, rank: number): SliceParams | undefined {
  const ctx = { node, opset, ints };
  if (ctx.opset < 10) {
    const starts = ctx.node.attrInts('starts');
    const ends = ctx.node.attrInts('ends');
    if (!starts || !ends) return undefined;
    const axes = ctx.node.attrInts('axes') ?? starts.map((_, i) => i);
    return { starts, ends, axes: axes.map((x) => normAxis(x, rank)), steps: starts.map(() => 1), dynamic: false };
  }
  const [s, e, ax, st] = [1, 2, 3, 4].map((i) => (ctx.node.input(i) ? ctx.ints(i) : undefined));
  if (!s || !e || (ctx.node.input(3) && !ax) || (ctx.node.input(4) && !st)) return undefined;
  return {
    starts: s.values,
    ends: e.values,
    axes: (ax?.values ?? s.values.map((_, i) => i)).map((x) => normAxis(x, rank)),
    steps: st?.values ?? s.values.map(() => 1),
    dynamic: [s, e, ax, st].some((v) => (Array.isArray(v?.dynamic) ? v.dynamic.some(Boolean) : v?.dynamic === true)),
  };
}

/** [start, end) of a step-1 slice of a dim of size n (ONNX clamping). */
function range(start: number, end: number, n: number): [number, number] {
  const c = (v: number) => Math.min(Math.max(v < 0 ? v + n : v, 0), n);
  return [c(start), Math.max(c(start), c(end))];
}

const slice: PropagationRule = {
  propagate(ctx) {
    const s = ctx.inShape(0);
    const p = s ? sliceParams(ctx.node, ctx.opset, plainInts(ctx.ints), s.length) : undefined;
    if (!s || !p) return ctx.blockInputs(`${ctx.node.label}: bounds unknown`);
    for (const [a, atoms] of ctx.axes(0)) {
      const k = p.axes.indexOf(a);
      if (k < 0) ctx.setAxis(0, a, atoms);
      else if (p.steps[k] !== 1) ctx.block(atoms, `${ctx.node.label} strides over a tracked axis`);
      else {
        const [b, e] = range(p.starts[k]!, p.ends[k]!, s[a]!);
        ctx.setAxis(0, a, atoms.slice(b, e));
      }
    }
  },
  constant(ctx) {
    const s = ctx.inShape(0);
    const p = s ? sliceParams(ctx.node, ctx.opset, plainInts(ctx.ints), s.length) : undefined;
    if (!s || !p) return;
    for (const a of ctx.axes(0).keys()) {
      const k = p.axes.indexOf(a);
      const start = k < 0 ? 0 : range(p.starts[k]!, p.ends[k]!, s[a]!)[0];
      moveConsts(ctx, a, a, (x) => start + x);
    }
  },
};

/** Adapt plain integer lookups (propagation, constants) to the tainted form. */
const plainInts =
  (ints: (i: number) => number[] | undefined): IntsOf =>
  (i) => {
    const v = ints(i);
    return v ? { values: v, dynamic: false } : undefined;
  };

const sliceReplace: Replacer = (ctx) => {
  const s = ctx.inShape(0);
  if (!s) return;
  const p = sliceParams(ctx.node, ctx.opset, (i) => ctx.ints(i), s.length);
  const changed = ctx.changedIn(0).filter((a) => p?.axes.includes(a));
  if (!p || changed.length === 0 || p.dynamic) return;
  const starts = [...p.starts];
  const ends = [...p.ends];
  for (const a of changed) {
    const k = p.axes.indexOf(a);
    const kept = ctx.keptIn(0, a)!;
    const [b, e] = range(p.starts[k]!, p.ends[k]!, s[a]!);
    starts[k] = kept.filter((i) => i < b).length;
    ends[k] = starts[k]! + kept.filter((i) => i >= b && i < e).length;
  }
  if (ctx.opset < 10) {
    ctx.node.setAttr('starts', { type: 'ints', value: starts });
    ctx.node.setAttr('ends', { type: 'ints', value: ends });
    return;
  }
  ctx.setInput(1, int64Tensor([starts.length], starts));
  ctx.setInput(2, int64Tensor([ends.length], ends));
  ctx.setInput(3, int64Tensor([p.axes.length], p.axes));
};

// ---------------------------------------------------------------------------------------------------------------
// Reductions, Expand, shape readers

/** Reduced axes of a reduction (attribute or input 1); undefined when unknown. */
function reducedAxes(node: Node, rank: number, ints: (i: number) => number[] | undefined): number[] | undefined {
  const raw = node.attrInts('axes') ?? (node.input(1) ? ints(1) : undefined);
  if (node.input(1) && !raw) return undefined;
  if (raw?.length) return raw.map((x) => normAxis(x, rank));
  return node.attrInt('noop_with_empty_axes', 0) ? [] : Array.from({ length: rank }, (_, i) => i);
}

/** Output axis of kept input axis `a` (renumbered when keepdims = 0). */
const reducedPlace = (node: Node, axes: number[], a: number) =>
  node.attrInt('keepdims', 1) === 1 ? a : a - axes.filter((x) => x < a).length;

/** Reductions: a reduced tracked axis blocks; the others pass (mean / max / min of a constant is that constant). */
const reduce: PropagationRule = {
  propagate(ctx) {
    const axes = reducedAxes(ctx.node, ctx.inShape(0)?.length ?? 0, ctx.ints);
    if (!axes) return ctx.blockInputs(`${ctx.node.label}: axes unknown`);
    for (const [a, atoms] of ctx.axes(0)) {
      if (axes.includes(a)) ctx.block(atoms, `${ctx.node.label} reduces over a tracked axis`);
      else ctx.setAxis(0, reducedPlace(ctx.node, axes, a), atoms);
    }
  },
  constant(ctx) {
    const axes = reducedAxes(ctx.node, ctx.inShape(0)?.length ?? 0, ctx.ints);
    if (!axes || !['ReduceMean', 'ReduceMax', 'ReduceMin'].includes(ctx.node.opType)) return;
    for (const a of ctx.axes(0).keys())
      if (!axes.includes(a)) moveConsts(ctx, reducedPlace(ctx.node, axes, a), a, (x) => x);
  },
};

/**
 * Expand: tracked axes the target does not broadcast pass. An expanded float initializer (ViT's class token, a
 * learned query) gets fresh atoms on its full-size axes, so that where it meets channels (a Concat with the patch
 * tokens) it is sliced with them rather than pinning them.
 */
const expand: PropagationRule = {
  propagate(ctx) {
    const s = ctx.inShape(0);
    const y = ctx.outShape(0);
    if (!s || !y) return ctx.blockInputs(`${ctx.node.label}: shapes unknown`);
    for (const [a, atoms] of ctx.axes(0)) {
      const A = a + y.length - s.length;
      if (y[A] === s[a]) ctx.setAxis(0, A, atoms);
      else ctx.block(atoms, `${ctx.node.label} broadcasts a tracked axis`);
    }
    if (ctx.axes(0).size === 0 && expandsFloatConstant(ctx)) {
      s.forEach((d, a) => {
        const A = a + y.length - s.length;
        if (d > 1 && y[A] === d) ctx.setAxis(0, A, ctx.fresh(d));
      });
    }
  },
  constant(ctx) {
    const s = ctx.inShape(0);
    const y = ctx.outShape(0);
    if (!s || !y) return;
    for (const a of ctx.axes(0).keys()) moveConsts(ctx, a + y.length - s.length, a, (x) => x);
    const f = ctx.axes(0).size === 0 ? ctx.floats(0) : undefined;
    if (f)
      for (const A of ctx.outAxes(0).keys()) {
        const a = A - (y.length - s.length);
        if (a >= 0) ctx.setConst(0, A, uniformAlong(f, s, a));
      }
  },
};

function expandsFloatConstant(ctx: PropagateCtx): boolean {
  const t = ctx.node.input(0)?.initializer;
  return ctx.isConst(0) && !!t && (t.dtype === 'float32' || t.dtype === 'float16' || t.dtype === 'float64');
}

const expandReplace: Replacer = (ctx) => {
  const target = ctx.ints(1);
  const y = ctx.outShape(0);
  const changed = ctx.changedOut(0);
  if (!y || !changed.length) return;
  // an expanded initializer is sliced along the axes that lose positions
  const s = ctx.inShape(0);
  let t = ctx.tensor(0);
  if (t && s && ctx.changedIn(0).length === 0) {
    const keys: string[] = [];
    for (const A of changed) {
      const a = A - (y.length - s.length);
      if (a < 0 || s[a] !== y[A]) continue;
      t = sliceAxis(t, a, ctx.keptOut(0, A)!);
      keys.push(`${a}:${ctx.keptOut(0, A)!.join(',')}`);
    }
    if (keys.length) ctx.setInput(0, t, keys.join('|'));
  }
  if (!target) return;
  const values = [...target.values];
  const off = values.length - y.length;
  const scale = new Map<number, [number, number]>();
  for (const A of changed) {
    if (A + off < 0 || values[A + off]! <= 1) continue;
    scale.set(A + off, [ctx.keptOut(0, A)!.length, values[A + off]!]);
    values[A + off] = ctx.keptOut(0, A)!.length;
  }
  if (scale.size === 0) return;
  if (!target.dynamic) return ctx.setInput(1, int64Tensor([values.length], values));
  for (const u of scale.keys()) if (target.follows[u]) scale.delete(u);
  if (scale.size) scaleShapeInput(ctx, 1, values.length, scale);
};

/** Ops that read only the shape of a tracked value: nothing flows, nothing is blocked (shape-eval rewrites consumers). */
const shapeReader: PropagationRule = { propagate: () => {} };

export const LAYOUT_RULES: Record<string, PropagationRule> = {
  Transpose: transpose,
  Reshape: reshapeLike,
  Flatten: reshapeLike,
  Squeeze: reshapeLike,
  Unsqueeze: reshapeLike,
  Concat: concat,
  Split: split,
  Slice: slice,
  ReduceMean: reduce,
  ReduceSum: reduce,
  ReduceMax: reduce,
  ReduceMin: reduce,
  ReduceProd: reduce,
  ReduceL1: reduce,
  ReduceL2: reduce,
  ReduceSumSquare: reduce,
  ReduceLogSumExp: reduce,
  Expand: expand,
  Shape: shapeReader,
  Size: shapeReader,
};

export const LAYOUT_REPLACERS: Record<string, Replacer> = {
  Transpose: noChange,
  Reshape: reshapeReplace,
  Flatten: noChange,
  Squeeze: noChange,
  Unsqueeze: noChange,
  Concat: concatReplace,
  Split: splitReplace,
  Slice: sliceReplace,
  ...Object.fromEntries(
    [
      'ReduceMean',
      'ReduceSum',
      'ReduceMax',
      'ReduceMin',
      'ReduceProd',
      'ReduceL1',
      'ReduceL2',
      'ReduceSumSquare',
      'ReduceLogSumExp',
    ].map((op) => [op, noChange]),
  ),
  Expand: expandReplace,
  Shape: noChange,
  Size: noChange,
};
