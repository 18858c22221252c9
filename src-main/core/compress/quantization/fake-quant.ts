/**
 * @file Training-time fake quantization written as plain ONNX ops, so the autodiff differentiates it with its
 * existing rules (Div, Add, Clip, Round, Sub, Mul) and ORT runs it in the training step. Pure: imports only the IR.
 *
 * The chain is NNI's `clamp_round` order (clamp first, then round):
 *   x̂ = (round(clamp(x / s + zp, qmin, qmax)) − zp) · s
 * and its gradients are what NNI's quantizers define, with no rule of their own:
 *   ∂x̂/∂x  = 1 where qmin ≤ x/s + zp ≤ qmax, else 0        (Clip's mask, Round's straight-through identity: the clipped STE)
 *   ∂x̂/∂s  = round(u) − zp − x/s inside, qmin − zp or qmax − zp outside (LSQ's scale gradient, u = x/s + zp)
 *   ∂x̂/∂zp = 0 inside, −s outside                           (LSQ+'s offset gradient)
 * A gate g (a scalar) blends the float value back in, x + g·(x̂ − x): 0 bypasses (NNI's `bypass` before
 * quant_start_step), 1 quantizes; the gradient is then 1 − g + g·∂x̂/∂x.
 */
import { Tensor, type AttributeValue, type Graph, type Node, type Value } from '../../ir/index.ts';
import type { CompositeGradient } from '../../autodiff/index.ts';

/** Inputs of one fake-quant chain: values (buffers, trainables or constants) and the integer range. */
export interface FakeQuantParams {
  scale: Value;
  /** Absent: zero point 0 (no Add / Sub). */
  zeroPoint?: Value;
  qmin: number;
  qmax: number;
}

/** A fake-quant chain for training: its parameters, the gate, and what is learned. */
export interface TrainingFakeQuantParams extends FakeQuantParams {
  /** A scalar buffer: 0 passes x through (value and gradient), 1 quantizes. Absent: always quantizes. */
  gate?: Value;
  /**
   * LSQ: the scale (and a given zero point) are learned, their gradients multiplied by `gradScale` (LSQ's
   * 1/√(qmax·numel); 'numel' computes it from the quantized tensor's size at the training batch). Absent: no
   * gradient flows to the scale or zero point (QAT's observed parameters).
   */
  learned?: { gradScale: number | 'numel' };
}

/**
 * A fake-quant chain and the hand-written backward that makes it cheap to train: the in-range mask is computed once
 * (as a float 0/1 tensor: ORT's Where over a full mask costs several Muls) and shared by the x-, scale- and
 * zero-point gradients, LSQ's gradient scale is a constant factor on the reduced scale gradient (no stop-gradient
 * buffers), and the gate mixes exactly (g·x̂ + (1 − g)·x for g ∈ {0, 1}).
 */
export interface TrainingFakeQuant {
  y: Value;
  gradient: CompositeGradient;
}

/** Emits named nodes and constants under one prefix. */
export class ChainWriter {
  private count = 0;

  constructor(
    readonly g: Graph,
    readonly prefix: string,
  ) {}

  op(opType: string, inputs: Value[], attributes: Record<string, AttributeValue> = {}): Value {
    return this.g.addNode({ opType, name: `${this.prefix}/${opType}_${this.count++}`, inputs, attributes }).outputs[0]!;
  }

  constant(name: string, values: ArrayLike<number>, dims: number[] = []): Value {
    return this.g.addInitializer(
      `${this.prefix}.${name}`,
      new Tensor('float32', dims, Float32Array.from(values)),
      true,
    );
  }

  /** x̂ = (round(clamp(x / s + zp, qmin, qmax)) − zp) · s */
  fakeQuant(x: Value, p: FakeQuantParams): Value {
    let u = this.op('Div', [x, p.scale]);
    if (p.zeroPoint) u = this.op('Add', [u, p.zeroPoint]);
    const c = this.op('Clip', [u, this.constant('qmin', [p.qmin]), this.constant('qmax', [p.qmax])]);
    let r = this.op('Round', [c]);
    if (p.zeroPoint) r = this.op('Sub', [r, p.zeroPoint]);
    return this.op('Mul', [r, p.scale]);
  }

  /**
   * The chain of `fakeQuant` for a training step, with its backward as a composite gradient (register it with the
   * evaluator's `defineGradient`; without it the ops differentiate one by one to the same gradients):
   *   forward  a = x/s, u = a + zp, c = clip(u, qmin, qmax), r = round(c) − zp, y = r·s
   *   backward m = (u = c) (in range); dx = dy·m; ds = k·Σ dy·(r − m·a); dzp = −k·s·Σ (dy − dx)
   * (u = c is the clipped STE's qmin ≤ u ≤ qmax; r − m·a is LSQ's round(u) − u inside, qmin − zp or qmax − zp
   * outside; the sums run over the axes the parameter is broadcast along.)
   * The gate acts on the chain's scalars, not its tensors: off (g = 0), the chain runs with s = 2⁻⁶⁰, zp = 0 and
   * clip bounds ±2¹²⁷, where x/s = x·2⁶⁰ is exact and already an integer for |x| ≥ 2⁻³⁷, so y = x there (within
   * 2⁻⁶¹ below), m = 1 (dx = dy) and the parameter gradients are multiplied by g = 0; on (g = 1), s, zp and the
   * bounds are exactly the given ones. (A blend g·x̂ + (1 − g)·x costs two more passes over the tensor, a Where on
   * the gate more than that in ORT.)
   */
  trainingFakeQuant(x: Value, p: TrainingFakeQuantParams): TrainingFakeQuant {
    const g = p.gate;
    // v·g + w·(1 − g): v when the gate is on, w when it is off (exact for g ∈ {0, 1}; small tensors only)
    const off = g ? this.op('Sub', [this.constant('one', [1]), g]) : null;
    const gated = (v: Value, offValue: number): Value =>
      g ? this.op('Add', [this.op('Mul', [v, g]), this.op('Mul', [this.constant('gate_off', [offValue]), off!])]) : v;
    const scale = gated(p.scale, 2 ** -60);
    const zeroPoint = p.zeroPoint && g ? this.op('Mul', [p.zeroPoint, g]) : p.zeroPoint;
    const a = this.op('Div', [x, scale]);
    const u = zeroPoint ? this.op('Add', [a, zeroPoint]) : a;
    const c = this.op('Clip', [
      u,
      gated(this.constant('qmin', [p.qmin]), -(2 ** 127)),
      gated(this.constant('qmax', [p.qmax]), 2 ** 127),
    ]);
    let r = this.op('Round', [c]);
    if (zeroPoint) r = this.op('Sub', [r, zeroPoint]);
    const y = this.op('Mul', [r, scale]);
    const learned = p.learned;
    const inputs = [x, ...(learned ? [p.scale, ...(p.zeroPoint ? [p.zeroPoint] : [])] : [])];
    const others = [p.scale, p.zeroPoint, g].filter((v): v is Value => !!v && !inputs.includes(v));
    // the step is built on a copy of the model: its values are read back by name
    const names = { a: a.name, u: u.name, c: c.name, r: r.name, s: scale.name, zp: p.zeroPoint?.name, g: g?.name };
    // names are read when the step is built, so renames after this (rewireUses on a graph output) are followed
    const gradient: CompositeGradient = {
      get output() {
        return y.name;
      },
      get inputs() {
        return inputs.map((v) => v.name);
      },
      get others() {
        return others.map((v) => v.name);
      },
      build: ({ e, dy, needs, value }) => {
        // the in-range mask as a float 0/1 tensor: a Mul by it costs a fraction of a Where over a bool mask in ORT
        const dt = e.dtype(dy);
        const m = e.cast(e.compare('Equal', value(names.u), value(names.c)), dt);
        const dx = e.mul(dy, m);
        if (!learned) return [dx];
        const xs = e.shape(dy);
        const k =
          learned.gradScale === 'numel' ? 1 / Math.sqrt(p.qmax * xs.reduce((n, d) => n * d, 1)) : learned.gradScale;
        // k and the gate scale the reduced gradients (per-parameter tensors, not the activation)
        const finish = (v: Value) => {
          const r = e.scale(v, k);
          return names.g ? e.mul(r, value(names.g)) : r;
        };
        const s = value(names.s);
        const ss = e.shape(s);
        const sum = (v: Value, shape: number[]) => e.unbroadcast(v, shape);
        // r − m·a formed before summing (summing dy·r and dx·a apart would cancel in float32 over large tensors)
        const ds = needs[1] ? finish(sum(e.mul(dy, e.sub(value(names.r), e.mul(value(names.a), m))), ss)) : null;
        let dzp: Value | null = null;
        if (names.zp && needs[2]) {
          const zs = e.shape(value(names.zp));
          // Σ dy·(1 − m) as the sum of dy − dx (exact elementwise: dy or 0), not Σ dy − Σ dx (cancels)
          dzp = finish(e.neg(e.mul(sum(e.sub(dy, dx), zs), s)));
        }
        return [needs[0] ? dx : null, ds, ...(names.zp ? [dzp] : [])];
      },
    };
    return { y, gradient };
  }

  /** x + g·(y − x) */
  gate(x: Value, y: Value, g: Value): Value {
    return this.op('Add', [x, this.op('Mul', [g, this.op('Sub', [y, x])])]);
  }

  /**
   * A value equal to `v` whose gradient is scaled by `k` (LSQ's grad_scale): v·k + stop·(1 − k), where `stop` is
   * a buffer holding the same numbers as `v` (copied before every step), so no gradient flows through it.
   */
  gradScale(v: Value, stop: Value, k: number): Value {
    return this.op('Add', [
      this.op('Mul', [v, this.constant('grad_scale', [k])]),
      this.op('Mul', [stop, this.constant('one_minus_grad_scale', [1 - k])]),
    ]);
  }

  /**
   * A scalar equal to `v` through which no gradient flows: Clip(0, v, v) = v, and Clip passes no gradient to its
   * bounds (the autodiff's rule), so nothing upstream of `v` is differentiated (its ops need no rules).
   */
  stopGradient(v: Value): Value {
    return this.op('Clip', [this.constant('zero', [0]), v, v]);
  }

  /**
   * NNI's plain straight-through `clamp_round` (ClampRound: the gradient passes everywhere): the value of `y` (the
   * fake-quantized `x`), the gradient of `x`. x + stop(y − x), where stop(d) = Floor(d·2⁶⁴)·2⁻⁶⁴ is d (exact for
   * 2⁻⁴⁰ ≤ |d| < 2⁶⁴, off by under 2⁻⁶⁴ below) and passes no gradient (Floor passes none).
   */
  straightThrough(x: Value, y: Value): Value {
    const d = this.op('Sub', [y, x]);
    const stopped = this.op('Mul', [
      this.op('Floor', [this.op('Mul', [d, this.constant('two_pow_64', [2 ** 64])])]),
      this.constant('two_pow_minus_64', [2 ** -64]),
    ]);
    return this.op('Add', [x, stopped]);
  }

  /**
   * NNI's scale and zero point (qparams.ts, §5.2) of the current batch's min / max, computed inside the graph with
   * no gradient (DoReFa's input targets): the range extended to 0, then symmetric or affine.
   */
  batchParams(
    x: Value,
    qmin: number,
    qmax: number,
    scheme: 'affine' | 'symmetric',
  ): { scale: Value; zeroPoint: Value } {
    const lo = this.op('Min', [this.reduceAll('ReduceMin', x), this.constant('zero', [0])]);
    const hi = this.op('Max', [this.reduceAll('ReduceMax', x), this.constant('zero', [0])]);
    const eps = this.constant('eps', [2 ** -23]);
    if (scheme === 'affine') {
      const s = this.op('Max', [
        this.op('Div', [this.op('Sub', [hi, lo]), this.constant('levels', [qmax - qmin])]),
        eps,
      ]);
      const zp = this.op('Clip', [
        this.op('Sub', [this.constant('qmin', [qmin]), this.op('Round', [this.op('Div', [lo, s])])]),
        this.constant('qmin', [qmin]),
        this.constant('qmax', [qmax]),
      ]);
      return { scale: this.stopGradient(s), zeroPoint: this.stopGradient(zp) };
    }
    const absMax = this.op('Max', [this.op('Neg', [lo]), hi]);
    const s = this.op('Max', [this.op('Div', [absMax, this.constant('half_levels', [(qmax - qmin) / 2])]), eps]);
    return { scale: this.stopGradient(s), zeroPoint: this.constant('zero_point', [Math.floor((qmax + qmin + 1) / 2)]) };
  }

  /** ReduceMin / ReduceMax / ReduceMean / ReduceL1 over every axis to a scalar (no axes: all, at every opset). */
  reduceAll(opType: 'ReduceMin' | 'ReduceMax' | 'ReduceMean' | 'ReduceL1', x: Value): Value {
    return this.op(opType, [x], { keepdims: { type: 'int', value: 0 } });
  }
}

/**
 * Point every use of `v` outside the chain that ends in `y` at `y`; a graph output keeps its name (the float value
 * is renamed), so losses and callers reading the output see the quantized value.
 */
export function rewireUses(g: Graph, v: Value, y: Value): void {
  const chain = chainNodes(y, v);
  for (const u of [...v.uses]) if (!chain.has(u.node)) u.node.setInput(u.index, y);
  if (!v.isGraphOutput) return;
  const outs = g.outputs;
  for (let i = 0; i < outs.length; i++) if (outs[i] === v) outs[i] = y;
  const name = v.name;
  g.renameValue(v, g.uniqueName(`${name}_float`));
  g.renameValue(y, name);
  y.type = v.type;
}

function chainNodes(to: Value, from: Value): Set<Node> {
  const out = new Set<Node>();
  const stack = [to];
  while (stack.length) {
    const v = stack.pop()!;
    if (v === from || !v.producer || out.has(v.producer)) continue;
    out.add(v.producer);
    for (const i of v.producer.inputs) if (i && !i.isInitializer && !i.isGraphInput) stack.push(i);
  }
  return out;
}

/** Dims of a per-channel parameter that broadcasts along `axis` of a tensor of `rank` ([] per tensor). */
export function broadcastDims(rank: number, axis: number | null, channels: number): number[] {
  if (axis === null) return [];
  return Array.from({ length: rank }, (_, i) => (i === axis ? channels : 1));
}
