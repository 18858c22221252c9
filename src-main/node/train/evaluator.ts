/**
 * @file NNI's Evaluator in TypeScript: one object that knows the training data, loss, optimizer, schedule
 * and evaluation metric, and through which compressors hook into training — loss terms as graph nodes
 * (patch_loss), tasks before/after each optimizer step (patch_optimizer_step), extra trainable tensors with
 * their own optimizer (patch_optim_param_group), observed values/gradients (register_hooks), per-step buffers
 * (masks, quantization parameters) and graph edits of the bound model (simulation). Node layer.
 */
import type * as ort from 'onnxruntime-node';
import { cloneModel, type Model, type Tensor } from '../../core/ir/index.ts';
import {
  TrainingSpecError,
  type CompositeGradient,
  type GradientHook,
  type LossTerm,
  type ObserveSpec,
  type OptimizerSpec,
  type ParamGroup,
} from '../../core/autodiff/index.ts';
import type { CompressionEvaluator, ObserveFn, ObservedTensor, Revert } from '../../core/compress/compressor.ts';
import { mergeTeacher, TeacherError } from '../../core/compress/distillation/teacher.ts';
import type { ArrayDataset } from './data.ts';
import {
  evaluate,
  modelWithWeights,
  Trainer,
  type EvalMetrics,
  type RunOptions,
  type StepTask,
  type TrainConfig,
  type TrainHooks,
  type TrainResult,
} from './trainer.ts';

export interface EvaluatorConfig extends Omit<TrainConfig, 'model' | 'test'> {
  /** Data the metric is computed on. */
  eval?: ArrayDataset;
  /** Which number `evaluate()` reports as `default` (NNI's contract). Default top-1 accuracy. */
  metric?: 'top1' | 'top5' | 'loss' | ((m: EvalMetrics) => number);
  /** Options of every training run (progress callback, cancellation, checkpoints); `train`'s own take precedence. */
  run?: RunOptions;
}

export type { Revert };

/** Callback of an observed tensor: its value (or gradient) at a step, before the update. */
export type Observer = ObserveFn;

/** An observed step output as the compressors see it (observed values and gradients are float tensors). */
function observed(t: ort.Tensor): ObservedTensor {
  if (t.type !== 'float32' && t.type !== 'float64')
    throw new TrainingSpecError(`an observed tensor is ${t.type}, not float`);
  return { dims: t.dims, data: t.data as Float32Array | Float64Array };
}

/** The training side of NNI's Evaluator on onnxruntime-node: what compressors register on (core's `CompressionEvaluator`). */
export class Evaluator implements CompressionEvaluator {
  private bound: Model;
  private readonly lossTerms: LossTerm[] = [];
  private readonly gradientHooks: GradientHook[] = [];
  private readonly composites: CompositeGradient[] = [];
  private readonly before: StepTask[] = [];
  private readonly after: StepTask[] = [];
  private readonly groups: ParamGroup[] = [];
  private readonly observers: { spec: ObserveSpec; fn: Observer }[] = [];
  private readonly buffers = new Set<string>();
  private readonly extraTrainables = new Set<string>();
  /** Teachers run inside the step, by name prefix (with the number of registrations holding each). */
  private readonly teachers = new Map<string, { model: Model; count: number }>();

  constructor(
    model: Model,
    readonly config: EvaluatorConfig,
  ) {
    this.bound = cloneModel(model);
  }

  /** The model training acts on (weights updated by `train`, graph edited by `patchModel`). */
  get model(): Model {
    return this.bound;
  }

  /** Bind another model (e.g. the compressor's simulated graph); hooks stay registered. */
  bindModel(model: Model): void {
    this.bound = model;
  }

  /** Add a loss term (graph nodes over forward values and parameters), weighted into the loss. */
  patchLoss(term: LossTerm): Revert {
    this.lossTerms.push(term);
    return () => remove(this.lossTerms, term);
  }

  /** Transform the gradient arriving at a forward value inside the step (a backward pre-hook). */
  patchGradient(hook: GradientHook): Revert {
    this.gradientHooks.push(hook);
    return () => remove(this.gradientHooks, hook);
  }

  /** Give the subgraph computing `c.output` from `c.inputs` a hand-written backward inside the step. */
  defineGradient(c: CompositeGradient): Revert {
    this.composites.push(c);
    return () => remove(this.composites, c);
  }

  /** Run tasks around every optimizer step: `before` sees the weights about to be used, `after` the updated ones. */
  patchOptimizerStep(before: StepTask[] = [], after: StepTask[] = []): Revert {
    this.before.push(...before);
    this.after.push(...after);
    return () => {
      for (const t of before) remove(this.before, t);
      for (const t of after) remove(this.after, t);
    };
  }

  /**
   * Add a trainable tensor to the bound model (e.g. a learned scale the compressor's graph edit uses). With an
   * optimizer it gets its own group (NNI's private Adam for Slim factors / Movement scores); otherwise it
   * joins the main optimizer.
   */
  addTrainable(name: string, init: Tensor, optimizer?: OptimizerSpec): void {
    if (this.bound.graph.get(name))
      throw new TrainingSpecError(`the model already has a value "${name}"`, { tensor: name });
    this.bound.graph.addInitializer(name, init);
    this.extraTrainables.add(name);
    if (optimizer) this.groups.push({ name: `g_${name}`.replace(/[^\w.-]/g, '_'), params: [name], optimizer });
  }

  /** Feed an initializer per step instead of baking it in (masks, quantization scales): tasks may change it. */
  addBuffer(name: string, init?: Tensor): void {
    if (init) this.bound.graph.addInitializer(name, init);
    else if (!this.bound.graph.get(name)?.initializer)
      throw new TrainingSpecError(`no initializer "${name}" to feed as a buffer`, { tensor: name });
    this.buffers.add(name);
  }

  /** Observe a forward value or a gradient at every step (exposed as an extra step output). */
  observe(name: string, kind: 'value' | 'grad', fn: Observer): Revert {
    const entry = { spec: { name, kind }, fn };
    this.observers.push(entry);
    return () => remove(this.observers, entry);
  }

  /** Edit the bound model's graph (simulation: masks, fake-quant, learned factors) before training builds its step. */
  patchModel(edit: (m: Model) => void): void {
    edit(this.bound);
  }

  /**
   * Run a teacher's forward inside the training step (distillation): merged into the step's model under `prefix`,
   * its nodes frozen (inference mode, constant weights). The bound model itself never holds the teacher.
   */
  addTeacher(teacher: Model, prefix: string): Revert {
    const held = this.teachers.get(prefix);
    if (held && held.model !== teacher)
      throw new TeacherError(`another teacher is already registered under the prefix "${prefix}"`, { prefix });
    if (held) held.count++;
    else this.teachers.set(prefix, { model: teacher, count: 1 });
    return () => {
      const h = this.teachers.get(prefix);
      if (h && --h.count === 0) this.teachers.delete(prefix);
    };
  }

  /** Drop every hook (the bound model keeps its edits and trained weights). */
  revertAll(): void {
    this.lossTerms.length = 0;
    this.gradientHooks.length = 0;
    this.composites.length = 0;
    this.before.length = 0;
    this.after.length = 0;
    this.groups.length = 0;
    this.observers.length = 0;
    this.buffers.clear();
    this.teachers.clear();
  }

  private hooks(): TrainHooks {
    const observe = this.observers.map((o) => o.spec);
    const after: StepTask[] = [];
    if (this.observers.length) {
      after.push((c) => {
        for (const o of this.observers) o.fn(observed(c.result!.observed[`${o.spec.kind}:${o.spec.name}`]!), c);
      });
    }
    return {
      lossTerms: [...this.lossTerms],
      gradientHooks: [...this.gradientHooks],
      compositeGradients: [...this.composites],
      groups: [...this.groups],
      observe,
      buffers: [...this.buffers],
      before: [...this.before],
      after: [...after, ...this.after],
    };
  }

  private trainConfig(): TrainConfig {
    const { eval: evalData, metric: _metric, run: _run, ...rest } = this.config;
    const trainable = rest.trainable ? [...rest.trainable, ...this.extraTrainables] : undefined;
    if (this.teachers.size === 0)
      return { ...rest, trainable, alsoTrainable: [...this.extraTrainables], model: this.bound, test: evalData };
    // the student and its teachers in one forward model: one ORT call runs both on the same batch
    let model = cloneModel(this.bound);
    const frozenNodes = new Set<string>();
    for (const [prefix, t] of this.teachers) {
      const merged = mergeTeacher(model, t.model, prefix);
      model = merged.model;
      for (const n of merged.frozenNodes) frozenNodes.add(n);
    }
    return { ...rest, trainable, alsoTrainable: [...this.extraTrainables], model, frozenNodes, test: evalData };
  }

  /** Open a trainer with the current hooks (callers that drive steps themselves). */
  async trainer(): Promise<Trainer> {
    return Trainer.create(this.trainConfig(), this.hooks());
  }

  /** Train the bound model for `maxSteps` optimizer steps or `maxEpochs` epochs (default: the config's epochs). */
  async train(o: RunOptions = {}): Promise<TrainResult> {
    const t = await this.trainer();
    try {
      const r = await t.run({ evaluateEachEpoch: false, ...this.config.run, ...o });
      // the bound model's own tensors (a teacher's copy is not part of it)
      this.bound = modelWithWeights(this.bound, t.runner.tensors);
      return { ...r, model: this.bound };
    } finally {
      await t.release();
    }
  }

  /** Evaluate the bound model: `default` is the configured metric (NNI's contract), plus all metrics. */
  async evaluate(): Promise<{ default: number } & EvalMetrics> {
    const data = this.config.eval;
    if (!data) throw new TrainingSpecError('the evaluator has no evaluation data');
    const m = await evaluate(this.bound, data, { ...this.config, batchSize: this.config.evalBatchSize ?? 256 });
    const metric = this.config.metric ?? 'top1';
    return { default: typeof metric === 'function' ? metric(m) : m[metric], ...m };
  }
}

function remove<T>(list: T[], item: T): void {
  const k = list.indexOf(item);
  if (k >= 0) list.splice(k, 1);
}
