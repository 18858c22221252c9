/**
 * @file Runs a built training step in one long-lived ORT session: holds the weights, optimizer state and
 * buffers between steps (each step's outputs are fed straight back as the next step's inputs), fills the
 * scalars and noise inputs, and reads back loss, reports and observed tensors. Node layer: imports ORT.
 */
import type * as ort from 'onnxruntime-node';
import type { DataType, Tensor } from '../../core/ir/index.ts';
import type { LoopSignature, LoopStep, StepSignature, TensorInfo, TrainingStep } from '../../core/autodiff/index.ts';
import { Rng } from '../../core/util/random.ts';
import { createSession, ortTensor, toOrt, type SessionSettings } from './ort.ts';

export interface StepResult {
  loss: number;
  /** Scalar reports: 'correct', 'loss.<term>', 'grad_norm'. */
  reports: Record<string, number>;
  /** Observed values/gradients by `<kind>:<name>`. */
  observed: Record<string, ort.Tensor>;
}

/** Float storage of a dtype. */
export function floatArray(dtype: DataType, n: number): Float32Array | Float64Array {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

function zeros(t: TensorInfo): ort.Tensor {
  return ortTensor(
    t.dtype,
    floatArray(
      t.dtype,
      t.shape.reduce((a, b) => a * b, 1),
    ),
    t.shape,
  );
}

/** A copy of an ORT tensor's data. */
export function copyData(t: ort.Tensor): Float32Array | Float64Array {
  return (t.data as Float32Array | Float64Array).slice();
}

export class StepRunner {
  /** Current parameters, optimizer state and running statistics, buffers — by step input name. */
  readonly tensors = new Map<string, ort.Tensor>();
  private constructor(
    readonly signature: StepSignature,
    private readonly session: ort.InferenceSession,
  ) {}

  /**
   * Open a session for `step`. `initial(name)` gives the starting value of each parameter, running statistic
   * and buffer (usually the forward model's initializer); optimizer slots start at zero.
   */
  static async create(
    step: TrainingStep,
    initial: (name: string) => Tensor,
    settings: SessionSettings = {},
  ): Promise<StepRunner> {
    const r = new StepRunner(step.signature, await createSession(step.model, settings));
    const sig = step.signature;
    for (const p of sig.params) r.tensors.set(p.name, toOrt(initial(p.name).clone()));
    for (const s of sig.state) r.tensors.set(s.name, s.init === 'zeros' ? zeros(s) : toOrt(initial(s.name).clone()));
    for (const b of sig.buffers) r.tensors.set(b.name, toOrt(initial(b.name).clone()));
    return r;
  }

  /** Fill the noise inputs (training-mode dropout) from a generator. */
  noiseFeeds(rng: Rng): Record<string, ort.Tensor> {
    const out: Record<string, ort.Tensor> = {};
    for (const nz of this.signature.noise) {
      const t = zeros(nz);
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) d[i] = rng.uniform();
      out[nz.name] = t;
    }
    return out;
  }

  /** Run one step: `batch` by input name, learning rate per group, 1-based step number. */
  async run(
    batch: Record<string, ort.Tensor>,
    lr: Record<string, number>,
    step: number,
    noise: Record<string, ort.Tensor> = {},
  ): Promise<StepResult> {
    const sig = this.signature;
    const dt = sig.params[0]!.dtype;
    const scalar = (v: number) => ortTensor(dt, dt === 'float64' ? Float64Array.of(v) : Float32Array.of(v), []);
    const feeds: Record<string, ort.Tensor> = { ...batch, ...noise };
    for (const [k, v] of this.tensors) feeds[k] = v;
    for (const [group, input] of Object.entries(sig.lr)) feeds[input] = scalar(lr[group] ?? lr.main ?? 0);
    feeds[sig.step] = scalar(step);
    const out = await this.session.run(feeds);
    for (const p of sig.params) this.tensors.set(p.name, out[p.output]!);
    for (const s of sig.state) this.tensors.set(s.name, out[s.output]!);
    const reports: Record<string, number> = {};
    for (const [k, o] of Object.entries(sig.reports)) reports[k] = Number(out[o]!.data[0]);
    const observed: Record<string, ort.Tensor> = {};
    for (const o of sig.observed) observed[`${o.kind}:${o.name}`] = out[o.output]!;
    return { loss: Number(out[sig.loss]!.data[0]), reports, observed };
  }

  /** Current value of a parameter, state tensor or buffer. */
  get(name: string): ort.Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`the step holds no tensor "${name}"`);
    return t;
  }

  /** Replace a parameter, state tensor or buffer (same shape and dtype). */
  set(name: string, data: Float32Array | Float64Array): void {
    const old = this.get(name);
    if (old.size !== data.length) throw new RangeError(`"${name}" holds ${old.size} elements, got ${data.length}`);
    this.tensors.set(name, ortTensor(old.type as DataType, data, old.dims));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/** Runs a K-step Loop model over the same tensors as a StepRunner (weights stay in that runner's map). */
export class LoopRunner {
  private constructor(
    readonly signature: LoopSignature,
    private readonly session: ort.InferenceSession,
    private readonly tensors: Map<string, ort.Tensor>,
  ) {}

  static async create(loop: LoopStep, runner: StepRunner, settings: SessionSettings = {}): Promise<LoopRunner> {
    return new LoopRunner(loop.signature, await createSession(loop.model, settings), runner.tensors);
  }

  get steps(): number {
    return this.signature.steps;
  }

  /** Run K steps: stacked batch inputs [K, …] by single-step input name, lr per group as K rates, first step number. */
  async run(
    batch: Record<string, ort.Tensor>,
    lr: Record<string, number[]>,
    firstStep: number,
    noise: Record<string, ort.Tensor> = {},
  ): Promise<{ losses: number[]; reports: Record<string, number[]> }> {
    const sig = this.signature;
    const dt = sig.step.params[0]!.dtype;
    const feeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(batch)) feeds[sig.batch[k] ?? k] = v;
    for (const [k, v] of Object.entries(noise)) feeds[sig.noise[k] ?? k] = v;
    for (const [k, v] of this.tensors) feeds[k] = v;
    for (const [group, input] of Object.entries(sig.lr)) {
      const rates = lr[group] ?? lr.main!;
      feeds[input] = ortTensor(dt, dt === 'float64' ? Float64Array.from(rates) : Float32Array.from(rates), [sig.steps]);
    }
    feeds[sig.firstStep] = ortTensor(
      dt,
      dt === 'float64' ? Float64Array.of(firstStep) : Float32Array.of(firstStep),
      [],
    );
    const out = await this.session.run(feeds);
    for (const p of sig.step.params) this.tensors.set(p.name, out[p.output]!);
    for (const s of sig.step.state) this.tensors.set(s.name, out[s.output]!);
    const reports: Record<string, number[]> = {};
    for (const [k, o] of Object.entries(sig.reports)) reports[k] = Array.from(out[o]!.data as Float32Array);
    return { losses: Array.from(out[sig.losses]!.data as Float32Array), reports };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
