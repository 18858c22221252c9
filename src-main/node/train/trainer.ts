/**
 * @file The training loop on onnxruntime-node: traces the model at the batch size, builds the training step
 * once, keeps one session for it, and runs seeded epochs of batches with a learning-rate schedule, hooks
 * around every optimizer step, progress events, evaluation of the plain forward model, atomic checkpoints and
 * bit-for-bit resume. Node layer: imports ORT.
 */
import type * as ort from 'onnxruntime-node';
import { cloneModel, StudioError, Tensor, type Model, type Value } from '../../core/ir/index.ts';
import {
  buildLoopStep,
  buildTrainingStep,
  DEFAULT_LR,
  TrainingSpecError,
  type CompositeGradient,
  type GradientHook,
  type LossSpec,
  type LossTerm,
  type ObserveSpec,
  type OptimizerSpec,
  type ParamGroup,
  type TrainingStep,
} from '../../core/autodiff/index.ts';
import { Rng } from '../../core/util/random.ts';
import { augmentRng, checkAugment, shiftImages, type AugmentSpec } from './augment.ts';
import {
  readCheckpoint,
  writeCheckpoint,
  CheckpointError,
  type Checkpoint,
  type CheckpointTensor,
} from './checkpoint.ts';
import type { ArrayDataset } from './data.ts';
import { createSession, ortTensor, traceModel, type SessionSettings } from './ort.ts';
import { scoreLogits } from './evaluate.ts';
import { learningRate, type ScheduleSpec } from './schedule.ts';
import { LoopRunner, StepRunner, type StepResult } from './step-runner.ts';

/** The data set does not fit the model (sample shape, label range, multi-input model). */
export class DatasetShapeError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'DATASET_SHAPE', details);
  }
}

/** A label outside [0, classes) for a cross-entropy model. */
export class LabelRangeError extends StudioError {
  constructor(lo: number, hi: number, classes: number) {
    super(
      `labels range over [${lo}, ${hi}] but the model has ${classes} classes (labels must be in [0, ${classes - 1}])`,
      'LABEL_RANGE',
      { lo, hi, classes },
    );
  }
}

/** The loss became NaN or infinite; training stopped and the last good checkpoint was kept. */
export class NonFiniteLossError extends StudioError {
  constructor(step: number, epoch: number, loss: number, checkpoint: string | null) {
    super(
      `loss became ${loss} at step ${step} (epoch ${epoch + 1}); training stopped${checkpoint ? `, the last good checkpoint is ${checkpoint}` : ' (no checkpoint was written)'} — try a lower learning rate or gradient clipping`,
      'NON_FINITE_LOSS',
      { step, epoch, loss, checkpoint },
    );
  }
}

export interface TrainConfig extends SessionSettings {
  model: Model;
  train: ArrayDataset;
  test?: ArrayDataset;
  /** Default: cross-entropy. */
  loss?: LossSpec;
  optimizer: OptimizerSpec;
  schedule?: ScheduleSpec;
  batchSize?: number;
  /** Default 1. */
  epochs?: number;
  seed?: number;
  clipGradNorm?: number;
  batchNorm?: 'train' | 'frozen';
  /** Names of trainable initializers (default: all float initializers of rank ≥ 1 but running stats). */
  trainable?: string[];
  /** Added to the default trainable set. */
  alsoTrainable?: string[];
  evalBatchSize?: number;
  /** 0/1 masks multiplied into the updates of these parameters inside the step (pruned weights stay zero). */
  paramMasks?: ReadonlyMap<string, Tensor>;
  /**
   * Optimizer steps per ORT call: K > 1 runs K steps inside one ONNX Loop (weights loop-carried) where no
   * per-step hook needs JS between steps. Same results as single steps, less per-step overhead (resnet18: 9–12 %).
   * Default: `AUTO_STEPS_PER_RUN` when the configured epochs make at least `AUTO_LOOP_MIN_STEPS` steps (the Loop
   * costs a second session), else 1.
   */
  stepsPerRun?: number;
  /**
   * Nodes that run as in inference inside the step and take no gradient (a distillation teacher merged into the
   * model); the initializers only they read stay constants of the step.
   */
  frozenNodes?: ReadonlySet<string>;
  /**
   * Seeded augmentation of each training batch (random shifts), drawn per step from the seed and the step number;
   * evaluation data is never augmented. A distillation teacher in the step sees the augmented batch too.
   */
  augment?: AugmentSpec;
}

/** Steps per ORT call when `stepsPerRun` is not given and the run is long enough. */
export const AUTO_STEPS_PER_RUN = 8;
/** Runs shorter than this many steps (epochs × steps per epoch) keep one step per call by default. */
export const AUTO_LOOP_MIN_STEPS = 64;

/** State a step task sees: the step, the current tensors (read and replace), and after the step its result. */
export interface StepContext {
  /** 1-based number of the optimizer step being (or just) taken. */
  step: number;
  epoch: number;
  /** Current value of a parameter, optimizer-state tensor or buffer. */
  get(name: string): Float32Array | Float64Array;
  set(name: string, data: Float32Array | Float64Array): void;
  /** After the step: its loss, reports and observed tensors. */
  result?: StepResult;
}

export type StepTask = (c: StepContext) => void | Promise<void>;

/** Everything compressors inject into training (collected by the Evaluator). */
export interface TrainHooks {
  lossTerms?: LossTerm[];
  groups?: ParamGroup[];
  observe?: ObserveSpec[];
  buffers?: string[];
  before?: StepTask[];
  after?: StepTask[];
  /** Transforms of gradients inside the step (backward pre-hooks). */
  gradientHooks?: GradientHook[];
  /** Subgraphs with a hand-written backward (e.g. fake-quant chains). */
  compositeGradients?: CompositeGradient[];
}

export interface EvalMetrics {
  loss: number;
  top1: number;
  top5: number;
  samples: number;
}

export type ProgressEvent =
  | { type: 'start'; totalSteps: number; stepsPerEpoch: number; batchSize: number; params: number; resumedAt: number }
  | {
      type: 'step';
      step: number;
      epoch: number;
      loss: number;
      lr: number;
      samplesPerSec: number;
      etaSec: number;
      trainAccuracy?: number;
      /** The step's loss parts where loss terms are registered: `loss.task` and `loss.<term>` (e.g. `loss.distill`). */
      parts?: Record<string, number>;
    }
  | {
      type: 'epoch';
      epoch: number;
      step: number;
      trainLoss: number;
      trainAccuracy?: number;
      eval?: EvalMetrics;
      seconds: number;
    }
  | { type: 'checkpoint'; path: string; step: number }
  | { type: 'done'; step: number; seconds: number; eval?: EvalMetrics };

export interface RunOptions {
  maxSteps?: number;
  maxEpochs?: number;
  /** Checkpoint file: written at each epoch end (and every `checkpointEvery` steps). */
  checkpoint?: string;
  checkpointEvery?: number;
  /** Resume from this checkpoint. */
  resume?: string;
  onProgress?: (e: ProgressEvent) => void;
  /** Step events every this many steps (default 50). */
  progressEvery?: number;
  /** Evaluate the test set after each epoch (default true when there is one). */
  evaluateEachEpoch?: boolean;
  signal?: AbortSignal;
}

export interface TrainResult {
  /** A copy of the model with the trained weights and running statistics. */
  model: Model;
  steps: number;
  epochs: number;
  seconds: number;
  history: { epoch: number; trainLoss: number; trainAccuracy?: number; eval?: EvalMetrics }[];
  eval?: EvalMetrics;
}

/** The single data input of a model (multi-input models are not supported by the data sets). */
export function dataInput(model: Model): Value {
  const ins = model.graph.inputs.filter((v) => !v.initializer);
  if (ins.length !== 1)
    throw new DatasetShapeError(
      `the trainer feeds one data input; the model has ${ins.length} (${ins.map((v) => v.name).join(', ')})`,
    );
  return ins[0]!;
}

/** Numbers of a training config that no run can use, named (the CLI and the plan schema check theirs first). */
function checkNumbers(cfg: TrainConfig): void {
  const bad = (field: string, value: unknown, want: string) => {
    throw new TrainingSpecError(`${field} must be ${want}, got ${String(value)}`, { field, value });
  };
  const wholeAtLeast = (field: string, v: number | undefined, min: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min)) bad(field, v, `a whole number ≥ ${min}`);
  };
  wholeAtLeast('batchSize', cfg.batchSize, 1);
  wholeAtLeast('stepsPerRun', cfg.stepsPerRun, 1);
  wholeAtLeast('evalBatchSize', cfg.evalBatchSize, 1);
  if (cfg.epochs !== undefined && !(cfg.epochs > 0 && Number.isFinite(cfg.epochs)))
    bad('epochs', cfg.epochs, 'a number > 0');
  const lr = cfg.optimizer.lr;
  if (lr !== undefined && !(lr > 0 && Number.isFinite(lr))) bad('optimizer.lr', lr, 'a number > 0');
  if (cfg.clipGradNorm !== undefined && !(cfg.clipGradNorm > 0)) bad('clipGradNorm', cfg.clipGradNorm, 'a number > 0');
}

/** Check the data set's sample shape against the model input; returns the batch size to use. */
function checkShapes(model: Model, data: ArrayDataset, batch: number): number {
  const shape = dataInput(model).shape ?? [];
  const want = shape.slice(1);
  const ok =
    want.length === data.sampleShape.length && want.every((d, i) => typeof d !== 'number' || d === data.sampleShape[i]);
  if (!ok) {
    throw new DatasetShapeError(
      `data samples are [${data.sampleShape}] but the model input "${dataInput(model).name}" takes [${shape.map((d) => d ?? '?')}]`,
      { sample: data.sampleShape, input: shape },
    );
  }
  return typeof shape[0] === 'number' ? shape[0] : batch;
}

/** A seeded permutation of 0..n−1 for one epoch (Fisher–Yates). */
export function epochOrder(n: number, seed: number, epoch: number): Uint32Array {
  const rng = new Rng((Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(epoch + 1, 0x85ebca6b)) >>> 0);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}

/** The forward model with `names` turned from initializers into graph inputs (weights fed per run). */
function feedableModel(model: Model, names: Set<string>): Model {
  const m = cloneModel(model);
  const g = m.graph;
  for (const v of [...g.initializers]) {
    if (!names.has(v.name)) continue;
    const t = v.initializer!;
    const input = g.addInput(g.uniqueName(`${v.name}.in`), { kind: 'tensor', dtype: t.dtype, shape: [...t.dims] });
    v.replaceAllUsesWith(input);
    const name = v.name;
    g.removeInitializer(v);
    g.renameValue(input, name);
  }
  return m;
}

/**
 * Evaluate a model on a labelled data set with the plain forward model in ORT (inference-mode BN):
 * mean cross-entropy, top-1 and top-5 accuracy. `weights` overrides initializers by name.
 */
export async function evaluate(
  model: Model,
  data: ArrayDataset,
  o: SessionSettings & { batchSize?: number; weights?: Map<string, ort.Tensor> } = {},
): Promise<EvalMetrics> {
  const input = dataInput(model);
  const weights = o.weights ?? new Map<string, ort.Tensor>();
  const m = feedableModel(model, new Set(weights.keys()));
  const session = await createSession(m, o);
  const declared = input.shape?.[0];
  const B = typeof declared === 'number' ? declared : (o.batchSize ?? 256);
  const x = new Float32Array(B * data.sampleSize);
  const y = new BigInt64Array(B);
  const totals = { top1: 0, top5: 0, loss: 0 };
  try {
    for (let start = 0; start < data.length; start += B) {
      const n = Math.min(B, data.length - start);
      const idx = Array.from({ length: n }, (_, i) => start + i);
      data.fill(idx, x, y);
      const rows = typeof declared === 'number' ? B : n;
      const feeds: Record<string, ort.Tensor> = {
        [input.name]: ortTensor('float32', x.subarray(0, rows * data.sampleSize), [rows, ...data.sampleShape]),
      };
      for (const [k, t] of weights) feeds[k] = t;
      const out = await session.run(feeds);
      const z = out[session.outputNames[0]!]!;
      const k = Number(z.dims[1]);
      const s = scoreLogits(z.data as Float32Array, y, n, k);
      totals.top1 += s.top1;
      totals.top5 += s.top5;
      totals.loss += s.loss;
    }
  } finally {
    await session.release();
  }
  const N = data.length;
  return { loss: totals.loss / N, top1: totals.top1 / N, top5: totals.top5 / N, samples: N };
}

/** Copy the runner's parameters and running statistics back into a copy of the model. */
export function modelWithWeights(model: Model, tensors: Map<string, ort.Tensor>): Model {
  const m = cloneModel(model);
  for (const v of m.graph.initializers) {
    const t = tensors.get(v.name);
    if (t)
      m.graph.setInitializer(
        v,
        new Tensor(v.initializer!.dtype, [...v.initializer!.dims], (t.data as Float32Array).slice()),
      );
  }
  return m;
}

function fingerprint(step: TrainingStep): string {
  const s = step.signature;
  return JSON.stringify([
    s.params.map((p) => [p.name, p.shape]),
    s.state.map((p) => [p.name, p.shape]),
    s.buffers.map((b) => b.name),
  ]);
}

/** The `loss.*` reports of a step (the task loss and each loss term), or undefined when there are none. */
function lossParts(reports: Record<string, number>): Record<string, number> | undefined {
  const parts = Object.entries(reports).filter(([k]) => k.startsWith('loss.'));
  return parts.length ? Object.fromEntries(parts) : undefined;
}

/** The prepared training run: traced, step built, session open. */
export class Trainer {
  private constructor(
    readonly cfg: TrainConfig,
    readonly hooks: TrainHooks,
    readonly step: TrainingStep,
    readonly runner: StepRunner,
    readonly batchSize: number,
    readonly stepsPerEpoch: number,
    /** Runs `stepsPerRun` steps per call when set. */
    readonly loop: LoopRunner | null,
  ) {}

  /** Trace the model at the batch size, check the data against it, build the step and open its session. */
  static async create(cfg: TrainConfig, hooks: TrainHooks = {}): Promise<Trainer> {
    checkNumbers(cfg);
    const input = dataInput(cfg.model);
    const B = checkShapes(cfg.model, cfg.train, cfg.batchSize ?? 64);
    if (cfg.augment) checkAugment(cfg.augment, cfg.train.sampleShape);
    const spe = Math.floor(cfg.train.length / B);
    if (spe === 0)
      throw new DatasetShapeError(`the training set has ${cfg.train.length} samples, fewer than one batch of ${B}`);
    const zeros = ortTensor('float32', new Float32Array(B * cfg.train.sampleSize), [B, ...cfg.train.sampleShape]);
    const trace = await traceModel(cfg.model, { [input.name]: zeros }, cfg);
    const loss = cfg.loss ?? { type: 'cross_entropy' };
    if (loss.type === 'cross_entropy') {
      if (!cfg.train.labelled)
        throw new DatasetShapeError('cross-entropy needs integer class labels; the data set has float targets');
      const out = cfg.model.graph.outputs[0]!;
      const classes = trace.shapes.get(out.name)?.[1] ?? 0;
      for (const d of [cfg.train, cfg.test]) {
        if (!d) continue;
        const [lo, hi] = d.labelRange();
        if (lo < 0 || hi >= classes) throw new LabelRangeError(lo, hi, classes);
      }
    }
    const step = buildTrainingStep(cfg.model, {
      shapes: trace.shapes,
      dtypes: trace.dtypes,
      intValues: trace.intValues,
      loss,
      optimizer: cfg.optimizer,
      clipGradNorm: cfg.clipGradNorm,
      batchNorm: cfg.batchNorm,
      trainable: cfg.trainable,
      alsoTrainable: cfg.alsoTrainable,
      lossTerms: hooks.lossTerms,
      gradientHooks: hooks.gradientHooks,
      compositeGradients: hooks.compositeGradients,
      groups: hooks.groups,
      observe: hooks.observe,
      buffers: hooks.buffers,
      paramMasks: cfg.paramMasks,
      frozenNodes: cfg.frozenNodes,
    });
    const init = (name: string) => {
      const t = cfg.model.graph.get(name)?.initializer;
      if (!t) throw new TrainingSpecError(`no initial value for "${name}"`);
      return t;
    };
    const runner = await StepRunner.create(step, init, cfg);
    const K = cfg.stepsPerRun ?? ((cfg.epochs ?? 1) * spe >= AUTO_LOOP_MIN_STEPS ? AUTO_STEPS_PER_RUN : 1);
    const perStepHooks = (hooks.before?.length ?? 0) + (hooks.after?.length ?? 0) + (hooks.observe?.length ?? 0) > 0;
    const loop =
      K > 1 && !perStepHooks && K <= spe ? await LoopRunner.create(buildLoopStep(step, K), runner, cfg) : null;
    return new Trainer(cfg, hooks, step, runner, B, spe, loop);
  }

  private context(step: number, epoch: number, result?: StepResult): StepContext {
    return {
      step,
      epoch,
      result,
      get: (name) => this.runner.get(name).data as Float32Array,
      set: (name, data) => this.runner.set(name, data),
    };
  }

  private checkpointOf(step: number, seed: number): Checkpoint {
    const tensors = new Map<string, CheckpointTensor>();
    for (const [k, t] of this.runner.tensors)
      tensors.set(k, {
        dtype: t.type === 'float64' ? 'float64' : 'float32',
        dims: t.dims.map(Number),
        data: (t.data as Float32Array).slice(),
      });
    return {
      meta: {
        step,
        seed,
        stepsPerEpoch: this.stepsPerEpoch,
        batchSize: this.batchSize,
        fingerprint: fingerprint(this.step),
      },
      tensors,
    };
  }

  private restore(path: string, seed: number): number {
    const ck = readCheckpoint(path);
    if (ck.meta.fingerprint !== fingerprint(this.step))
      throw new CheckpointError(`${path} was written for another model or training configuration`, path);
    if (ck.meta.seed !== seed || ck.meta.batchSize !== this.batchSize)
      throw new CheckpointError(
        `${path} was written with seed ${ck.meta.seed} and batch ${ck.meta.batchSize}; resume with the same ones`,
        path,
      );
    for (const [k, t] of ck.tensors) this.runner.set(k, t.data as Float32Array);
    return Number(ck.meta.step);
  }

  /** The current weights (and running statistics) as a model. */
  currentModel(): Model {
    return modelWithWeights(this.cfg.model, this.runner.tensors);
  }

  /** Evaluate the current weights on a data set. */
  async evaluate(data: ArrayDataset): Promise<EvalMetrics> {
    const weights = new Map([...this.runner.tensors].filter(([k]) => this.cfg.model.graph.get(k)?.initializer));
    return evaluate(this.cfg.model, data, { ...this.cfg, batchSize: this.cfg.evalBatchSize ?? 256, weights });
  }

  /** Run the training loop. */
  async run(o: RunOptions = {}): Promise<TrainResult> {
    const { cfg, batchSize: B, stepsPerEpoch: spe } = this;
    const seed = cfg.seed ?? 0;
    const epochs = o.maxEpochs ?? cfg.epochs ?? 1;
    // the schedule spans the configured epochs; maxSteps only stops early (so a resumed run sees the same rates)
    const horizon = epochs * spe;
    const total = Math.min(o.maxSteps ?? Infinity, horizon);
    const baseLr = cfg.optimizer.lr ?? DEFAULT_LR[cfg.optimizer.type];
    const groupLr: Record<string, number> = {};
    for (const g of this.hooks.groups ?? []) groupLr[g.name] = g.optimizer.lr ?? DEFAULT_LR[g.optimizer.type];
    const input = dataInput(cfg.model).name;
    const sig = this.step.signature;
    const labelName = sig.lossInputs[0];
    const x = new Float32Array(B * cfg.train.sampleSize);
    const perTarget = cfg.train.targetShape.reduce((a, b) => a * b, 1);
    const y = cfg.train.labelled ? new BigInt64Array(B) : new Float32Array(B * perTarget);
    let step = o.resume ? this.restore(o.resume, seed) : 0;
    const start = performance.now();
    const startStep = step;
    o.onProgress?.({
      type: 'start',
      totalSteps: total,
      stepsPerEpoch: spe,
      batchSize: B,
      params: sig.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0),
      resumedAt: step,
    });
    const history: TrainResult['history'] = [];
    let lastCheckpoint: string | null = o.resume ?? null;
    let epochLoss = 0;
    let epochCorrect = 0;
    let epochSteps = 0;
    let epochStart = performance.now();
    let order: Uint32Array | null = null;
    let orderEpoch = -1;
    const K = this.loop?.steps ?? 1;
    const xs = K > 1 ? new Float32Array(K * x.length) : x;
    const ys = K > 1 ? (cfg.train.labelled ? new BigInt64Array(K * y.length) : new Float32Array(K * y.length)) : y;
    const every = o.progressEvery ?? 50;
    const schedule = cfg.schedule ?? { type: 'constant' as const };
    const shift = cfg.augment?.shift ?? 0;
    while (step < total) {
      if (o.signal?.aborted) break;
      const epoch = Math.floor(step / spe);
      if (orderEpoch !== epoch) {
        order = epochOrder(cfg.train.length, seed, epoch);
        orderEpoch = epoch;
      }
      const pos = step % spe;
      // K steps in one Loop run where the chunk stays inside the epoch and the run; single steps otherwise
      const n = this.loop && pos + K <= spe && step + K <= total ? K : 1;
      const lrs = Array.from({ length: n }, (_, i) => learningRate(schedule, baseLr, step + i, horizon));
      const noiseAt = (s: number) =>
        sig.noise.length ? this.runner.noiseFeeds(new Rng((seed * 31 + s * 0x9e3779b1) >>> 0)) : {};
      let results: { loss: number; correct?: number; r?: StepResult; parts?: Record<string, number> }[];
      if (n === 1) {
        cfg.train.fill(order!.subarray(pos * B, pos * B + B), x, y);
        if (shift) shiftImages(x, B, cfg.train.sampleShape, shift, augmentRng(seed, step));
        const batch: Record<string, ort.Tensor> = { [input]: ortTensor('float32', x, [B, ...cfg.train.sampleShape]) };
        if (labelName)
          batch[labelName] = cfg.train.labelled
            ? ortTensor('int64', y, [B])
            : ortTensor('float32', y, [B, ...cfg.train.targetShape]);
        for (const t of this.hooks.before ?? []) await t(this.context(step + 1, epoch));
        const r = await this.runner.run(batch, { ...groupLr, main: lrs[0]! }, step + 1, noiseAt(step));
        results = [{ loss: r.loss, correct: r.reports.correct, r, parts: lossParts(r.reports) }];
      } else {
        cfg.train.fill(order!.subarray(pos * B, (pos + n) * B), xs, ys);
        const per = B * cfg.train.sampleSize;
        for (let i = 0; shift && i < n; i++)
          shiftImages(xs.subarray(i * per, (i + 1) * per), B, cfg.train.sampleShape, shift, augmentRng(seed, step + i));
        const batch: Record<string, ort.Tensor> = {
          [input]: ortTensor('float32', xs, [n, B, ...cfg.train.sampleShape]),
        };
        if (labelName)
          batch[labelName] = cfg.train.labelled
            ? ortTensor('int64', ys, [n, B])
            : ortTensor('float32', ys, [n, B, ...cfg.train.targetShape]);
        const noise: Record<string, ort.Tensor> = {};
        for (const nz of sig.noise) {
          const size = nz.shape.reduce((a, b) => a * b, 1);
          const all = new Float32Array(n * size);
          for (let i = 0; i < n; i++) all.set(noiseAt(step + i)[nz.name]!.data as Float32Array, i * size);
          noise[nz.name] = ortTensor(nz.dtype, all, [n, ...nz.shape]);
        }
        const group: Record<string, number[]> = { main: lrs };
        for (const [k, v] of Object.entries(groupLr)) group[k] = lrs.map(() => v);
        const r = await this.loop!.run(batch, group, step + 1, noise);
        results = r.losses.map((loss, i) => ({
          loss,
          correct: r.reports.correct?.[i],
          parts: lossParts(Object.fromEntries(Object.entries(r.reports).map(([k, v]) => [k, v[i]!]))),
        }));
      }
      for (const [i, res] of results.entries()) {
        if (!Number.isFinite(res.loss)) throw new NonFiniteLossError(step + i + 1, epoch, res.loss, lastCheckpoint);
      }
      const before = step;
      step += n;
      const lastRes = results[results.length - 1]!;
      if (lastRes.r) for (const t of this.hooks.after ?? []) await t(this.context(step, epoch, lastRes.r));
      for (const res of results) {
        epochLoss += res.loss;
        epochSteps++;
        if (res.correct !== undefined) epochCorrect += res.correct;
      }
      const crossed = (k: number) => Math.floor(before / k) !== Math.floor(step / k);
      if (o.onProgress && (crossed(every) || step === total)) {
        const secs = (performance.now() - start) / 1000;
        const rate = ((step - startStep) * B) / secs;
        const trainAccuracy = lastRes.correct !== undefined ? lastRes.correct / B : undefined;
        o.onProgress({
          type: 'step',
          step,
          epoch,
          loss: lastRes.loss,
          lr: lrs[n - 1]!,
          samplesPerSec: rate,
          etaSec: ((total - step) * B) / rate,
          trainAccuracy,
          parts: lastRes.parts,
        });
      }
      if (o.checkpoint && o.checkpointEvery && crossed(o.checkpointEvery)) lastCheckpoint = this.save(o, step, seed);
      if (step % spe === 0 || step === total) {
        const ev = cfg.test && (o.evaluateEachEpoch ?? true) ? await this.evaluate(cfg.test) : undefined;
        const rec = {
          epoch,
          trainLoss: epochLoss / epochSteps,
          trainAccuracy: sig.reports.correct ? epochCorrect / (epochSteps * B) : undefined,
          eval: ev,
        };
        history.push(rec);
        o.onProgress?.({ type: 'epoch', ...rec, step, seconds: (performance.now() - epochStart) / 1000 });
        if (o.checkpoint) lastCheckpoint = this.save(o, step, seed);
        epochLoss = 0;
        epochCorrect = 0;
        epochSteps = 0;
        epochStart = performance.now();
      }
    }
    const seconds = (performance.now() - start) / 1000;
    const last = history[history.length - 1]?.eval;
    o.onProgress?.({ type: 'done', step, seconds, eval: last });
    return { model: this.currentModel(), steps: step, epochs: step / spe, seconds, history, eval: last };
  }

  private save(o: RunOptions, step: number, seed: number): string {
    writeCheckpoint(o.checkpoint!, this.checkpointOf(step, seed));
    o.onProgress?.({ type: 'checkpoint', path: o.checkpoint!, step });
    return o.checkpoint!;
  }

  async release(): Promise<void> {
    await this.runner.release();
    await this.loop?.release();
  }
}

/** Build a trainer, run it, release it. */
export async function train(cfg: TrainConfig, o: RunOptions = {}, hooks: TrainHooks = {}): Promise<TrainResult> {
  const t = await Trainer.create(cfg, hooks);
  try {
    return await t.run(o);
  } finally {
    await t.release();
  }
}
