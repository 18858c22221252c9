/**
 * @file The training forward: walks a graph in order and puts every node on the tape, rewriting the ops that
 * behave differently in training — BatchNormalization (batch statistics, running-stat updates as extra step
 * outputs; closed-form backward), Dropout (a mask from a noise input the trainer fills from its seeded RNG),
 * MaxPool (adds its Indices output), LayerNormalization (adds Mean/InvStdDev outputs) — and lowers the
 * convs ORT runs slowly per image to one batched GEMM (conv-gemm.ts). Pure: imports the IR.
 */
import type { DataType, Graph, Node, Value } from '../ir/index.ts';
import { attr, type Emitter, type TapeEntry } from './emitter.ts';
import { UnsupportedGradientError } from './errors.ts';
import { axesExcept, channelShape, constantOf } from './rule.ts';
import { convAsGemm, lowersToGemm } from './conv-gemm.ts';
import { isNonDifferentiable } from './rules/index.ts';

export interface TrainingForwardOptions {
  /** 'train': batch statistics and running-stat updates (default); 'frozen': running statistics as constants. */
  batchNorm?: 'train' | 'frozen';
  /** 'train': dropout masks from noise inputs (default); 'off': dropout is the identity. */
  dropout?: 'train' | 'off';
  /** 'auto': convs with few output positions train as one batched GEMM (conv-gemm.ts, default); 'off': never. */
  convLowering?: 'auto' | 'off';
  /**
   * Nodes (by name) that run as in inference and take no part in the backward pass: not rewritten (BN keeps its
   * running statistics, dropout stays off), not taped. A distillation teacher's forward inside the step is frozen.
   */
  frozenNodes?: ReadonlySet<string>;
  /**
   * Transforms of the gradient flowing back into forward values (a backward pre-hook, e.g. DoReFa's gradient
   * quantization): the forward is unchanged.
   */
  gradientHooks?: readonly GradientHook[];
  /**
   * Subgraphs whose backward is written by hand (e.g. a fake-quant chain whose in-range mask and scale term are
   * shared by its input and scale gradients): their nodes run unchanged and are taped as one entry.
   */
  compositeGradients?: readonly CompositeGradient[];
}

/**
 * A hand-written backward for the subgraph that computes `output` from `inputs` (jax's custom_vjp; torch's
 * autograd.Function): the nodes between them run as they are, are taped as one entry, and `build` emits the
 * gradients of `inputs` from the gradient of `output`. Every value the subgraph reads that is not produced inside it
 * must be listed in `inputs` or `others` or be a constant (else UnsupportedGradientError names the node); a value
 * produced inside it may be read outside it only by ops that pass no gradient.
 */
export interface CompositeGradient {
  /** The subgraph's output (by name). */
  output: string;
  /** Its differentiable inputs (by name), in the order `build` returns their gradients. */
  inputs: readonly string[];
  /** Step inputs it reads that get no gradient from it (buffers: a gate, observed scales); constants need no name. */
  others?: readonly string[];
  /**
   * Emit the input gradients (null where none flows) from `dy`, the summed gradient of the output. `needs[i]`: whether
   * input i's gradient is wanted; `value(name)` reads any forward value (e.g. the subgraph's intermediates).
   */
  build(c: { e: Emitter; dy: Value; needs: readonly boolean[]; value(name: string): Value }): (Value | null)[];
}

/**
 * A transform of the gradient arriving at a forward value, before it flows on into the value's producer (torch's
 * backward pre-hook on the producing module). The value keeps its name; an Identity node carries the hook.
 */
export interface GradientHook {
  /** The forward value (by name) whose incoming gradient is transformed. */
  value: string;
  /** Ask for a noise input of the value's shape, uniform [0, 1), drawn afresh each step by the trainer. */
  noise?: boolean;
  /** Emit the transformed gradient from `dy` (the summed gradient of every use of the value). */
  build(c: { e: Emitter; dy: Value; shape: number[]; noise: Value | null }): Value;
}

/** A noise input the trainer fills with uniform [0, 1) samples each step. */
export interface NoiseInput {
  value: Value;
  shape: number[];
  dtype: DataType;
}

export interface TrainingForward {
  tape: TapeEntry[];
  /** Running statistics (graph inputs of the step) → their updated values. */
  stateUpdates: Map<Value, Value>;
  noise: NoiseInput[];
}

interface Ctx {
  e: Emitter;
  g: Graph;
  out: TrainingForward;
}

/** Replace `old`'s outputs by `outs` (same names kept) and drop the old node. */
function replaceNode(c: Ctx, old: Node, outs: (Value | null)[]): void {
  const names = old.outputs.map((v) => v.name);
  old.outputs.forEach((v, i) => {
    const n = outs[i];
    if (n) v.replaceAllUsesWith(n);
    else if (v.uses.length > 0 || v.isGraphOutput) {
      throw new UnsupportedGradientError(old.opType, old.name, `output ${i} in training mode`);
    }
  });
  c.g.removeNode(old, true);
  outs.forEach((n, i) => {
    if (n && i < names.length && !c.g.get(names[i]!)) c.g.renameValue(n, names[i]!);
  });
}

// Training-mode BN over axes A = all but channels, n = |A| elements per channel:
//   μ = mean_A x; x_c = x − μ; σ² = mean_A x_c²; ι = 1/√(σ²+ε); y = (γι)·x_c + β  (x̂ = ι·x_c is never stored)
//   running: r_μ ← m·r_μ + (1−m)·μ; r_σ ← m·r_σ + (1−m)·σ²·n/(n−1)  (ONNX momentum m; unbiased like torch)
//   backward: dβ = Σ dy; dγ = ι·Σ dy·x_c; dx = γι · (dy − (dβ + x̂·dγ)/n)
// Forward: five passes over x (mean, centre, square, mean, scale-shift); backward: five.
function batchNormTrain(c: Ctx, node: Node): void {
  const { e } = c;
  const [x, gamma, beta, rm, rv] = [0, 1, 2, 3, 4].map((i) => node.inputs[i]!);
  if (node.outputs.slice(1).some((v) => v.uses.length > 0 || v.isGraphOutput)) {
    throw new UnsupportedGradientError(node.opType, node.name, 'using its running-stat outputs');
  }
  const xs = e.shape(x!);
  const cs = channelShape(xs[1]!, xs.length);
  const A = axesExcept(xs.length, 1);
  const n = A.reduce((p, a) => p * xs[a]!, 1);
  const eps = node.attrFloat('epsilon', 1e-5);
  const m = node.attrFloat('momentum', 0.9);
  const tape = e.tape;
  e.tape = null;
  const mu = e.reduce('ReduceMean', x!, A, true);
  const xc = e.sub(x!, mu);
  // (ORT's ReduceSumSquare is slower than a Mul and a ReduceMean)
  const variance = e.reduce('ReduceMean', e.mul(xc, xc), A, true);
  const inv = e.unary('Reciprocal', e.unary('Sqrt', e.add(variance, e.scalarLike(eps, variance))));
  const C = [xs[1]!];
  const dt = e.dtype(x!);
  // s·v + b per channel in one pass: inference-mode BatchNormalization with mean 0, var 1, ε 0 (exact:
  // ORT scales by 1/√1 = 1), instead of a broadcast Mul and Add
  const affine = (v: Value, s: Value, b: Value) =>
    e.op(
      'BatchNormalization',
      [v, e.reshape(s, C), e.reshape(b, C), e.filled(0, C, dt), e.filled(1, C, dt)],
      { epsilon: attr.float(0) },
      xs,
    );
  const gr = e.reshape(gamma!, cs);
  const a = e.mul(gr, inv);
  const y = affine(xc, a, beta!);
  c.out.stateUpdates.set(rm!, e.add(e.scale(rm!, m), e.scale(e.reshape(mu, C), 1 - m)));
  c.out.stateUpdates.set(
    rv!,
    e.add(e.scale(rv!, m), e.scale(e.reshape(variance, C), ((1 - m) * n) / Math.max(n - 1, 1))),
  );
  e.tape = tape;
  replaceNode(c, node, [y]);
  c.out.tape.push({
    label: node.name,
    opType: 'BatchNormalization',
    node: null,
    inputs: [x!, gamma!, beta!],
    outputs: [y],
    vjp: ([dy], needs) => {
      const db = e.reduceSum(dy!, A, true);
      const dg = e.mul(e.reduceSum(e.mul(dy!, xc), A, true), inv);
      // dx = a·dy + (b·x_c + c) with per-channel b = −a·ι·dγ/n, c = −a·dβ/n (three full passes)
      let dx: Value | null = null;
      if (needs[0]) {
        const na = e.scale(a, -1 / n);
        dx = e.add(e.mul(dy!, a), affine(xc, e.mul(e.mul(na, dg), inv), e.mul(na, db)));
      }
      return [dx, needs[1] ? e.reshape(dg, C) : null, needs[2] ? e.reshape(db, C) : null];
    },
  });
}

/** Dropout ratio (input 1 from opset 12, attribute before). */
function dropoutRatio(node: Node): number {
  const r = node.inputs[1];
  if (r) {
    const t = constantOf(r);
    if (!t?.data) throw new UnsupportedGradientError('Dropout', node.name, 'a non-constant ratio');
    return t.toNumbers()[0]!;
  }
  return node.attrFloat('ratio', 0.5);
}

// Training-mode dropout: keep where u ≥ p (u ~ U[0,1) from a noise input), y = x·keep/(1−p).
// Emitted as a taped Mul, so its backward (dx = dy·mask) comes from the Mul rule.
function dropoutTrain(c: Ctx, node: Node): void {
  const { e } = c;
  const p = dropoutRatio(node);
  const x = node.inputs[0]!;
  if (p <= 0) {
    replaceNode(c, node, [e.op('Identity', [x], {}, e.shape(x)), null]);
    return;
  }
  const shape = e.shape(x);
  const dtype = e.dtype(x);
  const u = c.g.addInput(c.g.uniqueName(`noise.${node.name || 'dropout'}`));
  e.declare(u, shape, dtype);
  c.out.noise.push({ value: u, shape, dtype });
  const keep = e.compare('GreaterOrEqual', u, e.scalar(p, dtype));
  const mask = e.where(keep, e.scalar(1 / (1 - p), dtype), e.scalar(0, dtype));
  replaceNode(c, node, [e.mul(x, mask), keep]);
}

// MaxPool gains its Indices output (its backward scatters through them).
function maxPoolTrain(c: Ctx, node: Node): void {
  const { e } = c;
  const attrs = Object.fromEntries(node.attributes);
  const y = node.outputs[0]!;
  const [ny, idx] = e.opN('MaxPool', [node.inputs[0]!], attrs, [
    { shape: e.shape(y), dtype: e.dtype(node.inputs[0]!) },
    { shape: e.shape(y), dtype: 'int64' },
  ]);
  replaceNode(c, node, [ny!, idx!]);
}

// LayerNormalization gains its Mean and InvStdDev outputs (reused by the backward).
function layerNormTrain(c: Ctx, node: Node): void {
  const { e } = c;
  const x = node.inputs[0]!;
  const xs = e.shape(x);
  const axis = node.attrInt('axis', -1) < 0 ? node.attrInt('axis', -1) + xs.length : node.attrInt('axis', -1);
  const statShape = xs.map((d, i) => (i < axis ? d : 1));
  // the statistics' type U follows stash_type (1 = float32)
  const statType: DataType = node.attrInt('stash_type', 1) === 11 ? 'float64' : 'float32';
  const attrs = { ...Object.fromEntries(node.attributes), axis: attr.int(axis) };
  const outs = e.opN('LayerNormalization', [...node.inputs], attrs, [
    { shape: e.shape(node.outputs[0]!), dtype: e.dtype(x) },
    { shape: statShape, dtype: statType },
    { shape: statShape, dtype: statType },
  ]);
  replaceNode(c, node, outs);
}

const trainingRewrites: Record<string, (c: Ctx, node: Node, o: TrainingForwardOptions) => boolean> = {
  Conv: (c, n, o) =>
    (o.convLowering ?? 'auto') === 'auto' && lowersToGemm(c.e, n) && (replaceNode(c, n, [convAsGemm(c.e, n)]), true),
  BatchNormalization: (c, n, o) => (o.batchNorm ?? 'train') === 'train' && (batchNormTrain(c, n), true),
  Dropout: (c, n, o) => (o.dropout ?? 'train') === 'train' && (dropoutTrain(c, n), true),
  MaxPool: (c, n) => (n.outputs.length < 2 || n.outputs[1]!.anonymous) && (maxPoolTrain(c, n), true),
  // ORT's float64 LayerNormalization stashes in float32: there the backward recomputes the statistics instead
  LayerNormalization: (c, n) =>
    n.outputs.length < 3 && c.e.dtype(n.inputs[0]!) !== 'float64' && (layerNormTrain(c, n), true),
};

/**
 * Put the graph's nodes on a tape, rewriting training-mode ops in place (the graph is edited; pass a clone).
 * The emitter must already know every forward value's shape.
 */
export function trainingForward(e: Emitter, opts: TrainingForwardOptions = {}): TrainingForward {
  const g = e.graph;
  g.sortTopologically();
  const out: TrainingForward = { tape: [], stateUpdates: new Map(), noise: [] };
  const c: Ctx = { e, g, out };
  const hooked = insertGradientHooks(c, opts.gradientHooks ?? []);
  const composite = compositeNodes(c, opts.compositeGradients ?? []);
  e.tape = out.tape;
  for (const node of [...g.nodes]) {
    if (opts.frozenNodes?.has(node.name)) continue;
    const comp = composite.get(node);
    if (comp) {
      if (comp.entry) out.tape.push(comp.entry());
      continue;
    }
    const hook = hooked.get(node);
    if (hook) {
      out.tape.push(hookEntry(c, node, hook));
      continue;
    }
    const rewrite = node.domain === '' ? trainingRewrites[node.opType] : undefined;
    if (rewrite?.(c, node, opts)) continue;
    out.tape.push({
      label: node.name,
      opType: node.opType,
      node,
      inputs: [...node.inputs],
      outputs: [...node.outputs],
    });
  }
  return out;
}

/**
 * Put an Identity node after every hooked value; it takes the value's name (the producer's output is renamed), so
 * every reader, loss and observer by name sees it, and its tape entry applies the hook to the incoming gradient.
 */
function insertGradientHooks(c: Ctx, hooks: readonly GradientHook[]): Map<Node, GradientHook> {
  const { e, g } = c;
  const out = new Map<Node, GradientHook>();
  for (const h of hooks) {
    const v = g.get(h.value);
    if (!v?.producer) throw new UnsupportedGradientError('gradient hook', h.value, 'a value no node produces');
    const name = v.name;
    g.renameValue(v, g.uniqueName(`${name}.before_gradient_hook`));
    const node = g.addNode({
      opType: 'Identity',
      name: g.uniqueName(`gradient_hook/${name}`),
      inputs: [v],
      outputs: [name],
    });
    const y = node.outputs[0]!;
    e.declare(y, e.shape(v), e.dtype(v));
    for (const u of [...v.uses]) if (u.node !== node) u.node.setInput(u.index, y);
    g.replaceOutput(v, y);
    out.set(node, h);
  }
  if (out.size) g.sortTopologically();
  return out;
}

function hookEntry(c: Ctx, node: Node, hook: GradientHook): TapeEntry {
  const { e, g } = c;
  const x = node.inputs[0]!;
  const shape = e.shape(x);
  const dtype = e.dtype(x);
  let noise: Value | null = null;
  if (hook.noise) {
    noise = e.declare(g.addInput(g.uniqueName(`noise.${hook.value}`)), shape, dtype);
    c.out.noise.push({ value: noise, shape, dtype });
  }
  return {
    label: node.name,
    opType: 'Identity',
    node,
    inputs: [x],
    outputs: [...node.outputs],
    vjp: ([dy]) => [dy ? hook.build({ e, dy, shape, noise }) : null],
  };
}

/**
 * The nodes of each composite (walking back from its output to its inputs and constants), mapped to the one tape
 * entry pushed at the output's producer (the last of them in topological order); the others are not taped.
 */
function compositeNodes(
  c: Ctx,
  composites: readonly CompositeGradient[],
): Map<Node, { entry: (() => TapeEntry) | null }> {
  const { e, g } = c;
  const out = new Map<Node, { entry: (() => TapeEntry) | null }>();
  for (const cg of composites) {
    const y = g.get(cg.output);
    if (!y?.producer) throw new UnsupportedGradientError('composite gradient', cg.output, 'an output no node produces');
    const inputs = cg.inputs.map((name) => {
      const v = g.get(name);
      if (!v) throw new UnsupportedGradientError('composite gradient', cg.output, `no input "${name}"`);
      return v;
    });
    const stop = new Set([...inputs, ...(cg.others ?? []).map((name) => g.get(name))]);
    const nodes = new Set<Node>();
    const stack = [y.producer];
    while (stack.length) {
      const n = stack.pop()!;
      if (nodes.has(n)) continue;
      if (out.has(n))
        throw new UnsupportedGradientError(n.opType, n.name, `a node of two composite gradients (${cg.output})`);
      nodes.add(n);
      for (const v of n.inputs) {
        if (!v || stop.has(v) || constantOf(v)) continue;
        // a step input (batch, parameter, buffer) not named: an input was left out and the walk went upstream
        if (!v.producer)
          throw new UnsupportedGradientError(
            n.opType,
            n.name,
            `reads "${v.name}", which the composite gradient of "${cg.output}" names neither as an input nor among its others`,
          );
        stack.push(v.producer);
      }
    }
    for (const n of nodes) {
      for (const v of n.outputs)
        for (const u of v.uses)
          if (v !== y && !nodes.has(u.node) && !isNonDifferentiable(u.node.opType))
            throw new UnsupportedGradientError(
              n.opType,
              n.name,
              `an intermediate of the composite gradient of "${cg.output}" read outside it (by ${u.node.name})`,
            );
    }
    // the entry is made when the walk reaches the output's producer: by then the training rewrites upstream
    // (MaxPool, Conv lowering, BN) have replaced the inputs' producers, and the inputs are read by name again
    const entry = (): TapeEntry => {
      const now = cg.inputs.map((name) => g.get(name)!);
      return {
        label: `composite:${cg.output}`,
        opType: 'Composite',
        node: null,
        inputs: now,
        outputs: [g.get(cg.output)!],
        vjp: ([dy], needs) =>
          dy
            ? cg.build({
                e,
                dy,
                needs,
                value: (name) => {
                  const v = g.get(name);
                  if (!v) throw new UnsupportedGradientError('composite gradient', cg.output, `no value "${name}"`);
                  return v;
                },
              })
            : now.map(() => null),
      };
    };
    for (const n of nodes) out.set(n, { entry: n === y.producer ? entry : null });
  }
  return out;
}
