/**
 * @file DoReFa and BNN, NNI 3.0's k-bit and binary training-time quantizers, on the TrainedQuantizer base of
 * trained.ts: DoReFa's tanh-normalised weights, [0, 1]-clipped activations and stochastic gradient quantization; BNN's
 * sign with sign(0) = +1, its hard-tanh straight-through estimator, and weights clipped to [−1, 1] after each step.
 */
import { Tensor, type Model, type Value } from '../../ir/index.ts';
import type { StepState, TrainingHooks, Revert } from '../compressor.ts';
import { CompressionConfigError } from '../errors.ts';
import { activationParams, paramKey, type TargetParams } from './calibration.ts';
import { quantRange } from './dtype.ts';
import { ChainWriter, type TrainingFakeQuant } from './fake-quant.ts';
import type { GradientHook } from '../../autodiff/index.ts';
import type { QuantTarget } from './plan.ts';
import { qparams, roundHalfEven } from './qparams.ts';
import { checkRange, readInit, setInit, TrainedQuantizer, type Slot, type TrainedQuantOptions } from './trained.ts';

/** ONNX activation ops: DoReFa's output targets must sit on one (or on a head fused with one), as NNI requires. */
export const ACTIVATION_OPS: ReadonlySet<string> = new Set([
  'Relu',
  'LeakyRelu',
  'PRelu',
  'Elu',
  'Selu',
  'Celu',
  'Gelu',
  'Sigmoid',
  'HardSigmoid',
  'HardSwish',
  'Tanh',
  'Softplus',
  'Softsign',
  'Clip',
  'ThresholdedRelu',
  'Mish',
  'Shrink',
  'Softmax',
  'LogSoftmax',
]);

export interface DoReFaOptions extends TrainedQuantOptions {
  /**
   * Quantize the gradient arriving at the output of every op with a weight target and no output target (NNI's
   * backward pre-hook) with this many bits, stochastically (DoReFa's formula, see `dorefaGradientHook`). Off by
   * default; NNI uses the weight's bits.
   */
  gradientBits?: number;
}

/**
 * DoReFa (Zhou et al. 2016, NNI's DoReFaQuantizer), k = the bits of `quant_dtype`, L = 2^k − 1 steps:
 * - weights: w' = tanh w / (2·max|tanh w|) + ½, quantized with k bits on [0, 1] (scale 1/L), used as 2w' − 1;
 * - outputs (of activation ops, or heads fused with one): clamp(x, 0, 1) quantized with k bits on [0, 1];
 * - inputs: NNI's `clamp_round` with the scale and zero point of the current batch's min / max (no EMA), computed
 *   in the training graph without gradient; the deployed model uses an EMA (0.99) of those batch ranges;
 * - gradients (option `gradientBits`): stochastic k-bit quantization of the gradient at the output of every op
 *   with a weight target and no output target.
 * All straight through (the gradient passes where the clamps pass it).
 *
 * @example new DoReFaQuantizer(model, [{ op_types: ['Conv'], target_names: ['weight'], quant_dtype: 'int2' }], evaluator)
 */
export class DoReFaQuantizer extends TrainedQuantizer<DoReFaOptions> {
  private batchRangeName: string | null = null;

  constructor(model: Model, configList: unknown, evaluator?: unknown, options: DoReFaOptions = {}) {
    const g = options.gradientBits;
    if (g !== undefined && !(Number.isInteger(g) && g >= 1 && g <= 16))
      throw new CompressionConfigError([
        {
          level: 'error',
          code: 'dorefa-gradient-bits',
          path: 'options.gradientBits',
          message: `gradientBits must be an integer from 1 to 16, got ${String(g)}`,
        },
      ]);
    super(model, configList, evaluator, options);
  }

  get name(): string {
    return 'dorefa';
  }

  protected override get defaultFuse(): 'none' | 'config' | 'auto' {
    return 'config';
  }

  protected refuse(t: QuantTarget): string | null {
    if (t.role === 'bias') return "DoReFa quantizes weights, inputs and outputs, not biases (target_names: ['weight'])";
    const own = this.floatModel.graph.node(t.node)?.outputs[t.index]?.name;
    if (t.kind === 'output' && !ACTIVATION_OPS.has(t.opType) && own === t.value)
      return `DoReFa clamps outputs to [0, 1]: _output_ only on an activation op (Relu, Sigmoid, Clip, …) or a head fused with one (fuse_names), not on ${t.opType}`;
    if (t.granularity.kind !== 'tensor')
      return t.role === 'weight'
        ? "DoReFa normalises the whole weight with one max|tanh w|: granularity must be 'default'"
        : "DoReFa quantizes activations per tensor: granularity must be 'default'";
    if (t.kind === 'output') {
      if (t.requested.bits > 8)
        return `DoReFa outputs deploy as uint8 after Clip(0, 1): ${t.requested.name} has ${t.requested.bits} bits, at most 8`;
    }
    if (t.kind === 'input') return checkRange(t);
    return null;
  }

  private levels(t: QuantTarget): number {
    return 2 ** t.requested.bits - 1;
  }

  protected slotFor(h: TrainingHooks, t: QuantTarget, v: Value, w: ChainWriter): Slot {
    const key = paramKey(t.node, t.target);
    const L = this.levels(t);
    let slot: Slot;
    if (t.role === 'weight') {
      const apply = (x: Value): Value => {
        const th = w.op('Tanh', [x]);
        const m = w.reduceAll('ReduceMax', w.op('Abs', [th]));
        const unit = w.op('Add', [
          w.op('Div', [th, w.op('Mul', [m, w.constant('two', [2])])]),
          w.constant('half', [0.5]),
        ]);
        const q = w.fakeQuant(unit, { scale: w.constant('scale', [1 / L]), qmin: 0, qmax: L });
        return w.op('Sub', [w.op('Mul', [q, w.constant('two', [2])]), w.constant('one', [1])]);
      };
      slot = { key, target: t, value: v.name, dims: [...v.initializer!.dims], apply };
    } else if (t.kind === 'output') {
      // deployed as Clip(0, 1) → Q/DQ in uint8 with scale 1/L (the values lie on that grid)
      slot = {
        key,
        target: t,
        value: v.name,
        dims: [],
        apply: (x) =>
          this.trainingChain(
            h,
            () => dorefaTrainingActivation(w, x, L),
            () => dorefaActivation(w, x, L),
          ),
        deploy: { build: unitClip, range: quantRange('uint8') },
      };
    } else {
      // the current batch's scale and zero point (no gradient) while training; the tracked EMA once `batch_range` is 0
      const scale = `${this.name}/${t.node}/${t.target}.scale`;
      const zp = `${this.name}/${t.node}/${t.target}.zero_point`;
      const init = qparams([0], [1], t.range, t.scheme);
      h.addBuffer(scale, new Tensor('float32', [], Float32Array.from(init.scale)));
      h.addBuffer(zp, new Tensor('float32', [], Float32Array.from(init.zeroPoint)));
      if (!this.batchRangeName) {
        this.batchRangeName = `${this.name}.batch_range`;
        h.addBuffer(this.batchRangeName, Tensor.float32([], [1]));
      }
      const g = h.model.graph;
      const d = g.get(this.batchRangeName)!;
      const { qmin, qmax } = t.range;
      const apply = (x: Value): Value => {
        const b = w.batchParams(x, qmin, qmax, t.scheme);
        const blend = (batch: Value, fixed: Value) =>
          w.op('Add', [w.op('Mul', [d, batch]), w.op('Mul', [w.op('Sub', [w.constant('one', [1]), d]), fixed])]);
        const fq = w.fakeQuant(x, {
          scale: blend(b.scale, g.get(scale)!),
          zeroPoint: blend(b.zeroPoint, g.get(zp)!),
          qmin,
          qmax,
        });
        return w.straightThrough(x, fq); // NNI's ClampRound: the gradient passes everywhere
      };
      slot = {
        key,
        target: t,
        value: v.name,
        dims: [],
        apply,
        scale,
        zeroPoint: zp,
        stats: { min: w.reduceAll('ReduceMin', v).name, max: w.reduceAll('ReduceMax', v).name },
      };
    }
    this.slots.set(key, slot);
    return slot;
  }

  protected tasks(h: TrainingHooks): Revert[] {
    const reverts: Revert[] = [];
    const pending = new Map<Slot, number>();
    for (const slot of this.slots.values()) {
      if (!slot.stats) continue;
      reverts.push(h.observe(slot.stats.min!, 'value', (o) => void pending.set(slot, o.data[0]!)));
      reverts.push(
        h.observe(slot.stats.max!, 'value', (o) => {
          const lo = pending.get(slot)!;
          const hi = o.data[0]!;
          slot.tracked = slot.tracked
            ? { min: 0.99 * slot.tracked.min + 0.01 * lo, max: 0.99 * slot.tracked.max + 0.01 * hi }
            : { min: lo, max: hi };
        }),
      );
    }
    const bits = this.options.gradientBits;
    if (bits !== undefined) {
      const patch = h.patchGradient?.bind(h);
      if (!patch)
        throw new CompressionConfigError([
          {
            level: 'error',
            code: 'dorefa-gradient-hook',
            path: 'options.gradientBits',
            message: 'gradient quantization needs an evaluator with patchGradient (the node Evaluator has it)',
          },
        ]);
      const withOutput = new Set(this.targets.filter((t) => t.kind === 'output').map((t) => t.node));
      const nodes = new Set(
        [...this.slots.values()].filter((s) => s.target.role === 'weight').map((s) => s.target.node),
      );
      for (const n of nodes) {
        if (withOutput.has(n)) continue;
        const out = h.model.graph.node(n)?.outputs[0];
        if (out) reverts.push(patch(dorefaGradientHook(out.name, bits)));
      }
    }
    return reverts;
  }

  protected finalParams(slot: Slot, trained: Model): TargetParams {
    const t = slot.target;
    if (t.role === 'activation' && t.kind === 'output') {
      const L = this.levels(t);
      return { scale: Float32Array.of(1 / L), zeroPoint: Int32Array.of(0), axis: null, ...unitRange };
    }
    if (t.role === 'activation') {
      const p = activationParams(t, {
        min: Float64Array.of(slot.tracked?.min ?? 0),
        max: Float64Array.of(slot.tracked?.max ?? 0),
      });
      setInit(trained, slot.scale!, p.scale);
      setInit(trained, slot.zeroPoint!, p.zeroPoint);
      if (this.batchRangeName) setInit(trained, this.batchRangeName, [0]);
      return p;
    }
    const L = this.levels(t);
    const data = readInit(trained, slot.value);
    const f = Math.fround;
    let m = 0;
    const th = Float32Array.from(data, (x) => Math.tanh(x));
    for (const x of th) m = Math.max(m, Math.abs(x));
    const s = f(1 / L);
    const snapped = Float32Array.from(th, (x) => {
      const unit = f(f(x / f(m * 2)) + 0.5);
      const q = f(roundHalfEven(Math.min(L, Math.max(0, f(unit / s)))) * s);
      return f(f(q * 2) - 1);
    });
    // stored as integers 2n − L in [−L, L] with scale 1/L (an int(k+1) range: int8 container up to 7 bits)
    const range = quantRange(`int${t.requested.bits + 1}`);
    slot.snapped = { weight: new Tensor('float32', slot.dims, snapped), range };
    return {
      scale: Float32Array.of(s),
      zeroPoint: Int32Array.of(0),
      axis: null,
      trackedMin: Float64Array.of(-1),
      trackedMax: Float64Array.of(1),
    };
  }
}

const unitRange = { trackedMin: Float64Array.of(0), trackedMax: Float64Array.of(1) };

const unitClip = (w: ChainWriter, x: Value): Value =>
  w.op('Clip', [x, w.constant('zero', [0]), w.constant('one', [1])]);

/** DoReFa's activation: clamp(x, 0, 1) quantized on [0, 1] with L steps (scale 1/L); gradient 1 where 0 ≤ x ≤ 1. */
export function dorefaActivation(w: ChainWriter, x: Value, L: number): Value {
  return w.fakeQuant(unitClip(w, x), { scale: w.constant('scale', [1 / L]), qmin: 0, qmax: L });
}

/**
 * `dorefaActivation` for a training step, with its backward as a composite gradient: dx = dy where 0 ≤ x ≤ 1 (and
 * the grid's clip passes, as it does on [0, 1]) — one float mask instead of two clips' compare-and-select chains.
 */
export function dorefaTrainingActivation(w: ChainWriter, x: Value, L: number): TrainingFakeQuant {
  const c0 = unitClip(w, x);
  const s = w.constant('scale', [1 / L]);
  const a = w.op('Div', [c0, s]);
  const c = w.op('Clip', [a, w.constant('qmin', [0]), w.constant('qmax', [L])]);
  const y = w.op('Mul', [w.op('Round', [c]), s]);
  const names = { c0: c0.name, a: a.name, c: c.name };
  return {
    y,
    gradient: {
      get output() {
        return y.name;
      },
      get inputs() {
        return [x.name];
      },
      build: ({ e, dy, value }) => {
        const inside = e.op(
          'And',
          [e.compare('Equal', value(x.name), value(names.c0)), e.compare('Equal', value(names.a), value(names.c))],
          {},
          e.shape(dy),
          'bool',
        );
        return [e.mul(dy, e.cast(inside, e.dtype(dy)))];
      },
    },
  };
}

/**
 * DoReFa's stochastic k-bit gradient quantization (Zhou et al. 2016, eq. 12) as a backward pre-hook on `value`:
 * with m = max|g| per sample (over every axis but the first, as NNI), L = 2^k − 1 and noise n ~ U[0, 1),
 *   g' = 2m · (round(L·clamp(g/(2m) + ½ + (n − ½)/L, 0, 1)) / L − ½)
 * which is unbiased (E[g'] = g). NNI's hook differs in two details: one noise value per sample, not per element,
 * and a grid widened by half a step on each side; this follows the paper.
 */
export function dorefaGradientHook(value: string, bits: number): GradientHook {
  const L = 2 ** bits - 1;
  return {
    value,
    noise: true,
    build: ({ e, dy, shape, noise }) => {
      const axes = shape.map((_, i) => i).slice(1);
      const abs = e.unary('Abs', dy);
      const m0 = axes.length ? e.reduce('ReduceMax', abs, axes, true) : abs;
      const m = e.op('Max', [m0, e.scalarLike(1e-30, dy)], {}, e.shape(m0));
      const twoM = e.scale(m, 2);
      const jitter = e.scale(e.sub(noise!, e.scalarLike(0.5, dy)), 1 / L);
      const u = e.add(e.add(e.div(dy, twoM), e.scalarLike(0.5, dy)), jitter);
      const clipped = e.op('Clip', [e.scale(u, L), e.scalarLike(0, dy), e.scalarLike(L, dy)], {}, shape);
      const q = e.scale(e.unary('Round', clipped), 1 / L);
      return e.mul(e.sub(q, e.scalarLike(0.5, dy)), twoM);
    },
  };
}

/** sign with sign(0) = +1 in float32 as the graph computes it: round(clamp(w/2 + ½ + 2⁻²⁴, 0, 1))·2 − 1. */
export function bnnSign(x: number): number {
  const f = Math.fround;
  const u = Math.min(1, Math.max(0, f(f(x * 0.5) + BNN_OFFSET)));
  return roundHalfEven(u) * 2 - 1;
}

/** ½ + 2⁻²⁴: the next float32 above ½, so that w = 0 rounds up (sign(0) = +1). */
const BNN_OFFSET = Math.fround(0.5 + 2 ** -24);

/** 2·round(clamp(x/2 + ½⁺, 0, 1)) − 1: the value is sign(x), the gradient 2·½ = 1 inside [−1, 1] (hard-tanh STE). */
export function bnnChain(w: ChainWriter, x: Value): Value {
  const u = w.op('Add', [w.op('Mul', [x, w.constant('half', [0.5])]), w.constant('offset', [BNN_OFFSET])]);
  const r = w.op('Round', [w.op('Clip', [u, w.constant('zero', [0]), w.constant('one', [1])])]);
  return w.op('Sub', [w.op('Mul', [r, w.constant('two', [2])]), w.constant('one', [1])]);
}

/**
 * BNN (Courbariaux / Hubara et al. 2016, NNI's BNNQuantizer): sign(x) with sign(0) = +1 in the forward on weights,
 * inputs and outputs; the gradient passed where |x| ≤ 1 (hard-tanh STE; NNI passes an input's gradient
 * everywhere, the paper cancels it outside [−1, 1] for every activation, as here); weights clipped to [−1, 1]
 * after every optimizer step. `quant_dtype` is not read (binary). Deployed: weights as int8 −1 / +1 with scale 1;
 * activations as the same sign chain in float ops, then Q/DQ in int8 with scale 1 (exact).
 *
 * @example new BNNQuantizer(model, [{ op_names: ['/conv2/Conv', '/conv3/Conv'], target_names: ['weight'] }], evaluator)
 */
export class BNNQuantizer extends TrainedQuantizer {
  get name(): string {
    return 'bnn';
  }

  protected override get defaultFuse(): 'none' | 'config' | 'auto' {
    return 'config';
  }

  protected refuse(t: QuantTarget): string | null {
    if (t.role === 'bias') return "BNN binarizes weights, inputs and outputs, not biases (target_names: ['weight'])";
    if (t.granularity.kind !== 'tensor')
      return "binary values have no scale to share per channel: granularity must be 'default'";
    return null;
  }

  protected slotFor(_h: TrainingHooks, t: QuantTarget, v: Value, w: ChainWriter): Slot {
    const key = paramKey(t.node, t.target);
    const slot: Slot =
      t.role === 'weight'
        ? { key, target: t, value: v.name, dims: [...v.initializer!.dims], apply: (x) => bnnChain(w, x) }
        : {
            key,
            target: t,
            value: v.name,
            dims: [],
            apply: (x) => bnnChain(w, x),
            deploy: { build: bnnChain, range: quantRange('int8') },
          };
    this.slots.set(key, slot);
    return slot;
  }

  protected tasks(h: TrainingHooks): Revert[] {
    const weights = [...this.slots.values()].filter((s) => s.target.role === 'weight');
    const clip = (s: StepState) => {
      for (const slot of weights)
        s.set(
          slot.value,
          Float32Array.from(s.get(slot.value), (x) => Math.min(1, Math.max(-1, x))),
        );
    };
    return [h.patchOptimizerStep([], [clip])];
  }

  protected finalParams(slot: Slot, trained: Model): TargetParams {
    const binary = {
      scale: Float32Array.of(1),
      zeroPoint: Int32Array.of(0),
      axis: null,
      trackedMin: Float64Array.of(-1),
      trackedMax: Float64Array.of(1),
    };
    if (slot.target.role === 'activation') return binary;
    const signs = Float32Array.from(readInit(trained, slot.value), bnnSign);
    slot.snapped = { weight: new Tensor('float32', slot.dims, signs), range: quantRange('int2') };
    return binary;
  }
}

/** The trained quantizers by registry name. */
