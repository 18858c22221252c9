/**
 * @file The compressor contract, NNI 3.0's shape on ONNX. Every pruner, quantizer and distiller is built from
 * `(model, configList, evaluator?, options)`; `compress()` returns its result as data (masks, a calibration table,
 * trained weights) and leaves the model it was given untouched. A compressor that works during training does not
 * run a loop of its own: it registers its work on the evaluator (`register`: loss terms, tasks before / after each
 * optimizer step, extra trainables such as scores, scales and projections, observed values and gradients, buffers
 * fed per step, graph edits of the simulated model) and reads its result from the trained model (`collect`).
 * Because of that split, `Next.fromCompressor(previous, configList, …)` chains any of them into ONE training run
 * (NNI's fusion compression): each registers, the evaluator trains once, each collects.
 *
 * The evaluator is an interface here (core runs no training); src-main/node/train's `Evaluator` implements it on
 * onnxruntime-node. Pure: imports only the IR and the autodiff's types.
 */
import { StudioError, type Model, type Tensor } from '../ir/index.ts';
import type { CompositeGradient, GradientHook, LossTerm, OptimizerSpec } from '../autodiff/index.ts';

/** Undo one registration. */
export type Revert = () => void;

/** A tensor a training step exposed (an observed value or gradient). */
export interface ObservedTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** What a step task sees: the 1-based optimizer step, the current tensors (read and replace), the step's result. */
export interface StepState {
  step: number;
  epoch: number;
  /** Current value of a parameter, optimizer-state tensor or buffer. */
  get(name: string): Float32Array | Float64Array;
  set(name: string, data: Float32Array | Float64Array): void;
  /** After the step: its loss and the reports of the loss terms (`loss.<term name>`). */
  readonly result?: { readonly loss: number; readonly reports: Readonly<Record<string, number>> };
}

export type StepTask = (s: StepState) => void | Promise<void>;
export type ObserveFn = (t: ObservedTensor, s: StepState) => void;

/**
 * Where a training-time compressor registers its work (NNI's Evaluator patch API: patch_loss,
 * patch_optimizer_step, patch_optim_param_group, register_hooks, plus buffers and graph edits).
 */
export interface TrainingHooks {
  /** The model training acts on (the simulated model: masks, fake quantization, learned factors). */
  readonly model: Model;
  /** A loss term built as graph nodes over forward values and parameters, weighted into the loss. */
  patchLoss(term: LossTerm): Revert;
  /** Tasks around every optimizer step: `before` sees the weights about to be used, `after` the updated ones. */
  patchOptimizerStep(before?: StepTask[], after?: StepTask[]): Revert;
  /** A trainable tensor added to the model; with an optimizer it gets its own group (NNI's private Adam). */
  addTrainable(name: string, init: Tensor, optimizer?: OptimizerSpec): void;
  /** An initializer fed per step instead of baked in (masks, scales), so step tasks may change it. */
  addBuffer(name: string, init?: Tensor): void;
  /** A forward value or a gradient, handed over at every step. */
  observe(name: string, kind: 'value' | 'grad', fn: ObserveFn): Revert;
  /** Edit the model's graph before training builds its step. */
  patchModel(edit: (m: Model) => void): void;
  /**
   * Run `teacher`'s forward inside the training step on the same batch (distillation): its graph is copied in with
   * every name prefixed by `prefix`, its data inputs read the student's, its weights are constants (no gradients, no
   * optimizer state) and its nodes run as in inference. Loss terms read its values as `c.value(prefix + name)`.
   * The same teacher may be added again under the same prefix (chained distillers share it).
   */
  addTeacher(teacher: Model, prefix: string): Revert;
  /**
   * Transform the gradient arriving at a forward value inside the training step (a backward pre-hook, e.g.
   * DoReFa's gradient quantization). Optional: a compressor that needs it refuses an evaluator without it.
   */
  patchGradient?(hook: GradientHook): Revert;
  /**
   * Give the subgraph computing `c.output` from `c.inputs` a hand-written backward inside the training step (e.g. a
   * fake-quant chain whose mask is shared by its gradients). Optional: without it the subgraph's ops are
   * differentiated one by one, with the same result.
   */
  defineGradient?(c: CompositeGradient): Revert;
}

/** How long one training run lasts: optimizer steps or epochs (one of them, NNI's compress(max_steps, max_epochs)). */
export interface TrainBudget {
  maxSteps?: number;
  maxEpochs?: number;
}

/** The evaluator a compressor is built with: the hooks, one training run, and the task metric. */
export interface CompressionEvaluator extends TrainingHooks {
  /** Train the bound model within the budget; afterwards `model` holds the trained weights. */
  train(budget?: TrainBudget): Promise<{ steps: number }>;
  /** NNI's contract: `default` is the metric compressors compare. */
  evaluate(): Promise<{ default: number }>;
  /** Drop every registration (the model keeps its edits and trained weights). */
  revertAll(): void;
}

/** The three modes a compressor acts in (NNI's wrapper holds one target space per mode). */
export type CompressionMode = 'pruning' | 'quantization' | 'distillation';

/** A chain of compressors that cannot run as one: two of one mode on a target, a chain reused or run mid-way. */
export class FusionChainError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'FUSION_CHAIN', details);
    this.name = 'FusionChainError';
  }
}

/** Options every compressor takes (its own options extend these). */
export interface CompressorOptions {
  /** The compressor this one chains onto (set by `fromCompressor`). */
  previous?: Compressor<unknown, unknown>;
}

/** A training-time compressor was asked to compress without an evaluator to train with. */
export class MissingEvaluatorError extends Error {
  readonly code = 'MISSING_EVALUATOR';
  constructor(compressor: string) {
    super(
      `${compressor} trains: build it with an evaluator (new ${compressor}(model, configList, evaluator, options))`,
    );
    this.name = 'MissingEvaluatorError';
  }
}

/**
 * The base of every compressor. Subclasses say whether they train (`needsTraining`), what they register on the
 * evaluator (`register`, default nothing) and how they read their result from a model (`collect`).
 *
 * @example
 * // a one-shot pruner: masks at once
 * const { masks } = await new L1NormPruner(model, configList).compress();
 * // two training-time compressors in one run (fusion): both register, the evaluator trains once, both collect
 * const a = new SomePruner(model, prunerConfig, evaluator);
 * const b = SomeDistiller.fromCompressor(a, distillConfig, { teacher });
 * await b.compress({ maxSteps: 1000 }); a.result // the pruner's masks, b.result // the distiller's
 */
export abstract class Compressor<Result = unknown, Ev = CompressionEvaluator> {
  /** This compressor and the ones it was chained onto, newest first (NNI's fused_compressors). */
  readonly fusedCompressors: readonly Compressor<unknown, unknown>[];
  /** The result of the last `compress()` this compressor took part in. */
  result: Result | undefined;
  /** Whether a `compress()` this compressor took part in has started (a chain is built before it runs). */
  ran = false;
  /** The compressor chained onto this one (its `fromCompressor`), which runs the chain. */
  next: Compressor<unknown, unknown> | undefined;

  constructor(
    readonly model: Model,
    readonly configList: unknown,
    readonly evaluator?: Ev,
    options: CompressorOptions = {},
  ) {
    const previous = options.previous;
    if (previous?.ran)
      throw new FusionChainError(
        `${previous.constructor.name} already ran: chain compressors with fromCompressor before compress() (build a new ${previous.constructor.name} to fuse it again)`,
        { compressor: previous.name },
      );
    this.fusedCompressors = [this, ...(previous?.fusedCompressors ?? [])];
    if (previous) previous.next = this;
  }

  /** The mode this compressor acts in, for the chain's one-per-mode rule (undefined: it acts on no target). */
  get mode(): CompressionMode | undefined {
    return undefined;
  }

  /** The targets this compressor acts on, as `[node, target]` pairs (NNI's wrapper target spaces). */
  get targetKeys(): readonly (readonly [string, string])[] {
    return [];
  }

  /** The compressor's registry name (e.g. 'l1', 'ptq'). */
  abstract get name(): string;

  /** Whether it registers work on a training run (false: it computes its result at once). */
  get needsTraining(): boolean {
    return false;
  }

  /** Register this compressor's work on the evaluator before the shared run (NNI's _fuse_preprocess). */
  protected register(_hooks: TrainingHooks): Revert[] {
    return [];
  }

  /** Read the result from a model: the one given (one-shot) or the trained one (NNI's _fuse_postprocess). */
  protected abstract collect(model: Model): Promise<Result>;

  /**
   * The result, as data. One-shot and alone: computed from the model at once. Otherwise every compressor of the
   * chain registers on the evaluator (newest first), the evaluator trains once within `budget`, and each one
   * collects its result from the trained model (available as its `result`); this one's is returned.
   */
  async compress(budget: TrainBudget = {}): Promise<Result> {
    if (this.next)
      throw new FusionChainError(
        `${this.constructor.name} is chained into ${this.next.constructor.name}: call compress() on the last compressor of the chain`,
        { compressor: this.name, next: this.next.name },
      );
    if (this.fusedCompressors.length === 1 && !this.needsTraining) {
      this.ran = true;
      return (this.result = await this.collect(this.model));
    }
    const ev = this.evaluator as CompressionEvaluator | undefined;
    if (!ev || typeof ev.train !== 'function') throw new MissingEvaluatorError(this.constructor.name);
    checkOnePerMode(this.fusedCompressors);
    for (const c of this.fusedCompressors) c.ran = true;
    const reverts = this.fusedCompressors.flatMap((c) => c.register(ev));
    try {
      await ev.train(budget);
      for (const c of this.fusedCompressors) c.result = await c.collect(ev.model);
    } finally {
      for (const r of reverts.reverse()) r();
    }
    return this.result as Result;
  }

  /**
   * A compressor of this class chained onto `previous`: same evaluator, the model `previous` simulates, and one
   * training run for the whole chain when `compress()` is called on the last one (NNI's from_compressor).
   *
   * @example const q = QATQuantizer.fromCompressor(pruner, quantConfig, { quantStartStep: 100 });
   */
  static fromCompressor<C extends Compressor<unknown, unknown>, O>(
    this: new (model: Model, configList: unknown, evaluator: any, options: O & CompressorOptions) => C,
    previous: Compressor<unknown, unknown>,
    configList: unknown,
    options: O = {} as O,
  ): C {
    return new this(previous.model, configList, previous.evaluator, { ...options, previous });
  }
}

/**
 * NNI's wrapper holds one configuration per mode for a target: two pruners (or two quantizers, two distillers) on
 * the same target of one chain are refused, naming the target and both compressors.
 * @throws FusionChainError
 */
export function checkOnePerMode(chain: readonly Compressor<unknown, unknown>[]): void {
  const seen = new Map<string, Compressor<unknown, unknown>>();
  // in chaining order (the oldest first), so the message names them as the user chained them
  for (const c of [...chain].reverse()) {
    const mode = c.mode;
    if (!mode) continue;
    for (const [node, target] of c.targetKeys) {
      const key = `${mode}\u0000${node}\u0000${target}`;
      const other = seen.get(key);
      if (other && other !== c)
        throw new FusionChainError(
          `${target} of "${node}" is a ${mode} target of both ${other.constructor.name} and ${c.constructor.name}: one compressor per mode on a target (merge their config lists, or exclude the node from one with exclude_op_names)`,
          { node, target, mode, compressors: [other.name, c.name] },
        );
      seen.set(key, c);
    }
  }
}
