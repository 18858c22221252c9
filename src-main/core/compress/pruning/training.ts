/**
 * @file The training-aware pruners of NNI 3.0 on the compressor contract (NNI-SEMANTICS §4): Slim (a learned factor
 * per block under an L1 penalty), Taylor (accumulated first-order importance (w·∂L/∂w)²), Movement (a learned score
 * per block, straight-through from the binary mask) and the Linear / AGP schedules around any of Level, L1, L2, FPGM,
 * Slim and Taylor. None runs a loop of its own: each registers its work on the evaluator — mask buffers multiplied
 * into the trained model, trainable factors with a private Adam, observed gradients, loss terms and after-step
 * triggers — so they chain with quantizers and distillers into one training run (`fromCompressor`). Masks come from
 * the same rules as the one-shot pruners (threshold → dependency → global → ratio → align).
 * Pure: imports only the IR, the contract and sibling modules.
 */
import { cloneModel, StudioError, Tensor, type Graph, type Model, type Node, type Value } from '../../ir/index.ts';
import type { LossContext } from '../../autodiff/index.ts';
import {
  Compressor,
  type CompressionEvaluator,
  type CompressionMode,
  type CompressorOptions,
  type Revert,
  type StepState,
  type TrainBudget,
  type TrainingHooks,
} from '../compressor.ts';
import { maskSparsity } from '../masks.ts';
import { bindTarget, isBindingFault } from '../targets/index.ts';
import { blockIds, blockView, inversePerm, permute } from './granularity.ts';
import { normMetric, type Metric } from './metrics.ts';
import { Pruner, type PruneResult, type PrunerOptions } from './pruner.ts';
import type { Prepared } from './setup.ts';
import type { CompressorFamily, Diagnostic } from '../../../../src-shared/config/index.ts';
import type { TrainingPrunerName } from '../../../../src-shared/prune-options.ts';

/** A training-time pruner's option is out of range or inconsistent (named, with the option's key). */
export class PrunerOptionError extends StudioError {
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`, 'PRUNER_OPTION', { option });
    this.name = 'PrunerOptionError';
  }
}

/** Training ended before the pruner could make its masks (fewer steps than it needs). */
export class TrainingTooShortError extends StudioError {
  constructor(pruner: string, needed: number, ran: number | undefined) {
    super(
      `${pruner} makes its masks at step ${needed}, but training ${ran === undefined ? 'ended before it' : `ran ${ran} step(s)`}; train at least ${needed} steps`,
      'TRAINING_TOO_SHORT',
      { pruner, needed, ran },
    );
    this.name = 'TrainingTooShortError';
  }
}

/** One point of a schedule: the step, the fraction of the goals in force, and the sparsity reached per target. */
export interface TrajectoryPoint {
  step: number;
  /** r(t): every goal (sparse_ratio, …) was multiplied by it. */
  ratio: number;
  /** `node.target` → fraction of its elements masked. */
  sparsity: Record<string, number>;
}

/** What a training-time pruner returns: the masks as a one-shot pruner does, the trained weights, the trajectory. */
export interface TrainingPruneResult extends PruneResult {
  /** The original graph with the weights training left (masks not applied: `simulate` applies them). */
  model: Model;
  /** Each mask update (schedules: every interval; Movement: every step after warm-up; Slim / Taylor: one). */
  trajectory: TrajectoryPoint[];
  /** Optimizer steps the run took. */
  steps: number;
  /** What parsing and resolving the config list noticed (warnings, infos). */
  diagnostics: Diagnostic[];
}

export interface TrainingPrunerOptions extends CompressorOptions {
  /** Concrete activation shapes (a trace), for `_input_` / `_output_` targets. */
  shapes?: PrunerOptions['shapes'];
  modelName?: string;
}

/** The mask engine of a training-time pruner: the one-shot pruners' setup and rules, with metrics from training. */
function scoreEngine(model: Model, configList: unknown, options: PrunerOptions, kind: TrainingPrunerName): Pruner {
  class ScoreEngine extends Pruner {
    get name(): TrainingPrunerName {
      return kind;
    }
    protected override get family(): CompressorFamily {
      return 'norm';
    }
    protected metric(): Metric {
      throw new Error(`${kind}: metrics come from training`);
    }
  }
  return new ScoreEngine(model, configList, undefined, options);
}

const isSet = (v: unknown) => v !== null && v !== undefined;
const keyOf = (p: Prepared) => `${p.t.nodeName}.${p.t.name}`;
const product = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);

/** The mask's dims in the target's ONNX layout (block dims of −1 kernels are 1: broadcastable). */
function onnxMaskDims(p: Prepared): number[] {
  return inversePerm(p.perm).map((c) => p.view.maskDims[c]!);
}

/** A canonical (out-first) copy of a tensor in the target's ONNX layout with dims `onnxDims`. */
function canonical(p: Prepared, data: Float32Array | Float64Array, onnxDims: readonly number[]): Float32Array {
  return permute(data instanceof Float32Array ? data : Float32Array.from(data), onnxDims as number[], p.perm);
}

/** A node name not yet taken. */
function freeNodeName(g: Graph, base: string): string {
  let name = base;
  for (let i = 1; g.node(name); i++) name = `${base}_${i}`;
  return name;
}

/** Insert `op(v, other)` in front of `node`'s input `index`; returns the new value. */
function insertBefore(g: Graph, nodeName: string, index: number, opType: string, other: Value, label: string): Value {
  const node = g.node(nodeName)!;
  const v = node.inputs[index]!;
  const m = g.addNode({
    opType,
    name: freeNodeName(g, `${nodeName}/${label}`),
    inputs: [v, other],
    outputs: [g.uniqueName(`${v.name}_${label}`)],
  });
  node.setInput(index, m.outputs[0]!);
  return m.outputs[0]!;
}

/**
 * Insert `op(out, other)` after `node`'s output `index`, taking over its uses. Where a quantizer of the same fused
 * run already wrote its fake quantization on that output (a chain of nodes named `…/<node>/_output_<index>/…`), the
 * mask goes after the chain: NNI's wrapper order on an output is quantize-dequantize, then mask.
 */
function insertAfter(g: Graph, nodeName: string, index: number, opType: string, other: Value, label: string): void {
  const v = fakeQuantEnd(g.node(nodeName)!.outputs[index]!, `/${nodeName}/_output_${index}/`);
  const uses = [...v.uses];
  const original = v.name;
  g.renameValue(v, g.uniqueName(`${original}_unmasked`));
  const m = g.addNode({
    opType,
    name: freeNodeName(g, `${nodeName}/${label}`),
    inputs: [v, other],
    outputs: [original],
  });
  const out = m.outputs[0]!;
  out.type = v.type;
  for (const u of uses) u.node.setInput(u.index, out);
  g.replaceOutput(v, out);
}

/**
 * The last value of a fake-quant chain hanging on `v` (nodes whose names contain `marker`): the one chain value read
 * outside the chain or as a graph output. `v` itself when no such chain exists (or it is ambiguous).
 */
function fakeQuantEnd(v: Value, marker: string): Value {
  const chain = new Set<Node>();
  const stack = [v];
  while (stack.length) {
    for (const u of stack.pop()!.uses) {
      if (!u.node.name.includes(marker) || chain.has(u.node)) continue;
      chain.add(u.node);
      stack.push(...u.node.outputs.filter((o): o is Value => !!o));
    }
  }
  if (chain.size === 0) return v;
  const ends = [...chain].flatMap((n) =>
    n.outputs.filter((o): o is Value => !!o && (o.isGraphOutput || o.uses.some((u) => !chain.has(u.node)))),
  );
  return ends.length === 1 ? ends[0]! : v;
}

/**
 * The masks acting during training: one buffer per target that can get a mask, multiplied into the target (`mul`)
 * or added as −1000 where masked (`add`), fed per step so that a trigger can change them.
 */
export class MaskBuffers {
  readonly entries: { p: Prepared; buffer: string; dims: number[]; add: boolean }[] = [];

  constructor(readonly engine: Pruner) {}

  /**
   * Add the buffers and the graph edits to the evaluator's model. `before(p, g, index)` may put nodes between a
   * parameter (input `index` of the target's node) and its mask (Slim's factor).
   */
  install(hooks: TrainingHooks, before?: (p: Prepared, g: Graph, index: number) => void): void {
    const g = hooks.model.graph;
    for (const p of this.engine.preparedTargets) {
      if (!p.ranked && !p.align) continue;
      const add = p.t.setting.apply_method === 'add';
      const dims = onnxMaskDims(p);
      const buffer = g.uniqueName(`${p.t.nodeName}/${p.t.name}.prune_mask`);
      hooks.addBuffer(buffer, new Tensor('float32', dims, new Float32Array(product(dims)).fill(add ? 0 : 1)));
      this.entries.push({ p, buffer, dims, add });
    }
    hooks.patchModel((m) => {
      const mg = m.graph;
      for (const { p, buffer, add } of this.entries) {
        const node = mg.node(p.t.nodeName);
        if (!node)
          throw new StudioError(`the trained model has no node "${p.t.nodeName}"`, 'MISSING_NODE', {
            node: p.t.nodeName,
          });
        const b = bindTarget(node, p.t.name);
        if (isBindingFault(b) || !b.value)
          throw new StudioError(
            `${p.t.name} of "${p.t.nodeName}" cannot be bound on the trained model`,
            'MISSING_TARGET',
            { node: p.t.nodeName },
          );
        const op = add ? 'Add' : 'Mul';
        if (b.kind === 'output') insertAfter(mg, p.t.nodeName, b.index, op, mg.get(buffer)!, 'prune_mask');
        else {
          if (before && b.kind === 'parameter') before(p, mg, b.index);
          insertBefore(mg, p.t.nodeName, b.index, op, mg.get(buffer)!, 'prune_mask');
        }
      }
      mg.sortTopologically();
    });
  }

  /** Feed the masks of `r` to the next steps (targets without a mask get ones). */
  write(s: StepState, r: PruneResult): void {
    for (const { p, buffer, dims, add } of this.entries) {
      const mask = r.masks.get(p.t.nodeName)?.get(p.t.name);
      const out = new Float32Array(product(dims));
      if (!mask) out.fill(add ? 0 : 1);
      else for (let i = 0; i < out.length; i++) out[i] = add ? (mask.data[i] ? 0 : -1000) : mask.data[i]!;
      s.set(buffer, out);
    }
  }
}

/** The original graph with the weights of `trained` (same initializer names and shapes). */
function withTrainedWeights(original: Model, trained: Model): Model {
  const m = cloneModel(original);
  for (const v of m.graph.initializers) {
    const t = trained.graph.get(v.name)?.initializer;
    if (
      t &&
      t.dtype === v.initializer!.dtype &&
      t.dims.length === v.initializer!.dims.length &&
      t.dims.every((d, i) => d === v.initializer!.dims[i])
    )
      m.graph.setInitializer(v, t);
  }
  return m;
}

/** The sparsity of every mask of a result, keyed `node.target`. */
function sparsityOf(r: PruneResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of r.plan.targets) out[`${t.node}.${t.target}`] = t.sparsity;
  return out;
}

const positiveInt = (option: string, v: number | undefined, fallback?: number): number => {
  const x = v ?? fallback;
  if (x === undefined || !Number.isInteger(x) || x < 1)
    throw new PrunerOptionError(option, `must be a whole number ≥ 1, got ${String(v)}`);
  return x;
};

/**
 * One training run's masks, shared by the training pruners and the schedules: the buffers the masks act through,
 * the latest masks, the trajectory of mask updates and the last optimizer step seen. A run starts afresh at each
 * `register` (a compressor may train more than once).
 */
class MaskRun {
  readonly buffers: MaskBuffers;
  last: PruneResult | null = null;
  readonly trajectory: TrajectoryPoint[] = [];
  lastStep = 0;

  constructor(readonly engine: Pruner) {
    this.buffers = new MaskBuffers(engine);
  }

  /** Feed masks just generated with the goals scaled by `ratio` to the next steps, and record the point. */
  record(s: StepState, r: PruneResult, ratio: number): PruneResult {
    this.buffers.write(s, r);
    this.last = r;
    this.trajectory.push({ step: s.step, ratio, sparsity: sparsityOf(r) });
    return r;
  }

  /**
   * The run's result: the latest masks with the trained weights of `trained` on `original`'s graph.
   *
   * @throws TrainingTooShortError when no masks were made (`pruner` makes its first at step `firstMaskStep`)
   */
  result(pruner: string, firstMaskStep: number, original: Model, trained: Model): TrainingPruneResult {
    if (!this.last) throw new TrainingTooShortError(pruner, firstMaskStep, this.lastStep);
    return {
      ...this.last,
      model: withTrainedWeights(original, trained),
      trajectory: this.trajectory,
      steps: this.lastStep,
      diagnostics: this.engine.diagnostics,
    };
  }
}

/**
 * The base of Slim, Taylor and Movement: an engine with NNI's rules, mask buffers on the trained model, the data
 * collection a subclass registers, and its trigger. A scheduler (Linear / AGP) drives the same collection with
 * its own trigger through `installCollection` / `metricNow` / `resetCollection`.
 */
export abstract class TrainingPruner extends Compressor<TrainingPruneResult> {
  readonly engine: Pruner;
  private run: MaskRun | null = null;

  constructor(
    model: Model,
    configList: unknown,
    evaluator: CompressionEvaluator | undefined,
    options: TrainingPrunerOptions,
    kind: TrainingPrunerName,
  ) {
    super(model, configList, evaluator, options);
    this.engine = scoreEngine(model, configList, { shapes: options.shapes, modelName: options.modelName }, kind);
  }

  override get needsTraining(): boolean {
    return true;
  }

  /** The diagnostics of parsing and resolving the config list. */
  get diagnostics() {
    return this.engine.diagnostics;
  }

  override get mode(): CompressionMode {
    return 'pruning';
  }

  override get targetKeys(): readonly (readonly [string, string])[] {
    return this.engine.targetKeys;
  }

  /** The mask updates of the run in progress (a fused run's live sparsity). */
  get trajectorySoFar(): readonly TrajectoryPoint[] {
    return this.run?.trajectory ?? [];
  }

  /** Register the data this pruner ranks by (factors, observed gradients, scores). */
  abstract installCollection(hooks: TrainingHooks, buffers: MaskBuffers): Revert[];
  /** The metric of a ranked target from what was collected. */
  abstract metricNow(p: Prepared, s: StepState): Metric;
  /** Start collecting afresh (a scheduler calls it after each mask update). */
  resetCollection(): void {}

  /** Make masks now from the collected data with goals scaled by `ratio`, feed them, and record the point. */
  update(s: StepState, ratio = 1): PruneResult {
    const r = this.engine.generate((p) => this.metricNow(p, s), ratio);
    return this.run ? this.run.record(s, r, ratio) : r;
  }

  /** The pruner's own trigger (after-step tasks). */
  protected abstract trigger(): ((s: StepState) => void)[];

  protected override register(hooks: TrainingHooks): Revert[] {
    const run = (this.run = new MaskRun(this.engine));
    const reverts = this.installCollection(hooks, run.buffers);
    const count = (s: StepState) => void (run.lastStep = s.step);
    reverts.push(hooks.patchOptimizerStep([], [...this.trigger(), count]));
    return reverts;
  }

  protected async collect(model: Model): Promise<TrainingPruneResult> {
    return (this.run ?? new MaskRun(this.engine)).result(this.name, this.firstMaskStep, this.model, model);
  }

  /** The step at which the first masks appear (for the error when training is shorter). */
  protected abstract get firstMaskStep(): number;
}

/**
 * The base of Taylor and Slim: they collect for `trainingSteps` optimizer steps and make their masks once, at the
 * last of them; `compress()` trains exactly that many steps unless the budget says otherwise.
 */
abstract class MasksAtStepPruner extends TrainingPruner {
  readonly trainingSteps: number;

  constructor(
    model: Model,
    configList: unknown,
    evaluator: CompressionEvaluator | undefined,
    options: TrainingPrunerOptions & { trainingSteps: number },
    kind: 'taylor' | 'slim',
  ) {
    super(model, configList, evaluator, options, kind);
    this.trainingSteps = positiveInt('training_steps', options.trainingSteps);
  }

  protected get firstMaskStep(): number {
    return this.trainingSteps;
  }

  protected trigger(): ((s: StepState) => void)[] {
    return [(s) => void (s.step === this.trainingSteps && this.update(s))];
  }

  override compress(budget: TrainBudget = {}): Promise<TrainingPruneResult> {
    return super.compress(budget.maxSteps || budget.maxEpochs ? budget : { ...budget, maxSteps: this.trainingSteps });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Taylor

export interface TaylorPrunerOptions extends TrainingPrunerOptions {
  /** Optimizer steps whose gradients are accumulated; masks at the last one. */
  trainingSteps: number;
}

/**
 * TaylorPruner: accumulates (w · ∂L/∂w)² element by element over `trainingSteps` optimizer steps from the gradients
 * the training step computes anyway (observed, no second backward), then ranks blocks by the L1 norm of the mean
 * (NNI sums the squares per block). `compress()` trains exactly `trainingSteps` steps.
 *
 * @example
 * const r = await new TaylorPruner(model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }], evaluator, { trainingSteps: 20 }).compress();
 */
export class TaylorPruner extends MasksAtStepPruner {
  private acc = new Map<string, { sum: Float64Array; dims: number[] }>();
  private count = 0;

  constructor(
    model: Model,
    configList: unknown,
    evaluator: CompressionEvaluator | undefined,
    options: TaylorPrunerOptions,
  ) {
    super(model, configList, evaluator, options, 'taylor');
  }

  get name(): string {
    return 'taylor';
  }

  /** The running accumulator of a target (sum over steps of (w·g)², ONNX layout), for checks. */
  accumulator(node: string, target: string): { data: Float64Array; dims: number[]; steps: number } | undefined {
    const a = this.acc.get(`${node}.${target}`);
    return a && { data: a.sum, dims: a.dims, steps: this.count };
  }

  installCollection(hooks: TrainingHooks, buffers: MaskBuffers): Revert[] {
    this.acc.clear();
    this.count = 0;
    buffers.install(hooks);
    const reverts: Revert[] = [];
    const weights = new Map<string, Float32Array | Float64Array>();
    const ranked = this.engine.preparedTargets.filter((p) => p.ranked);
    const byValue = new Map<string, Prepared[]>();
    for (const p of ranked) byValue.set(p.t.value.name, [...(byValue.get(p.t.value.name) ?? []), p]);
    // the weights the step uses: read before it (the runner replaces, never overwrites, a tensor after a step)
    reverts.push(
      hooks.patchOptimizerStep(
        [
          (s) => {
            for (const name of byValue.keys()) weights.set(name, s.get(name));
          },
        ],
        [() => void this.count++],
      ),
    );
    for (const [name, ps] of byValue) {
      reverts.push(
        hooks.observe(name, 'grad', (g) => {
          const w = weights.get(name)!;
          for (const p of ps) {
            let a = this.acc.get(keyOf(p));
            if (!a) this.acc.set(keyOf(p), (a = { sum: new Float64Array(g.data.length), dims: [...g.dims] }));
            const sum = a.sum;
            for (let i = 0; i < sum.length; i++) {
              const c = w[i]! * g.data[i]!;
              sum[i] += c * c;
            }
          }
        }),
      );
    }
    return reverts;
  }

  metricNow(p: Prepared): Metric {
    const a = this.acc.get(keyOf(p));
    if (!a || this.count === 0) return new Float64Array(product(p.view.blockDims));
    const mean = new Float32Array(a.sum.length);
    for (let i = 0; i < mean.length; i++) mean[i] = a.sum[i]! / this.count;
    return normMetric(canonical(p, mean, a.dims), p.view, 1);
  }

  override resetCollection(): void {
    for (const a of this.acc.values()) a.sum.fill(0);
    this.count = 0;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Slim

export interface SlimPrunerOptions extends TrainingPrunerOptions {
  trainingSteps: number;
  /** Weight of the L1 penalty on the factors (NNI default 1). */
  regularScale?: number;
}

/** NNI's private optimizer for Slim factors and Movement scores. */
export const PRIVATE_ADAM = { type: 'adam' as const, lr: 1e-2 };

/**
 * SlimPruner (network slimming, generalised): a trainable factor per block of each ranked parameter target, multiplied
 * into the weight (`slim_mul`: mask ⊙ (w ⊙ factor)) and trained with a private Adam (lr 1e-2) under the penalty
 * `regular_scale · mean over targets of ‖factor‖₁` added to the loss; after `trainingSteps` steps the metric is
 * |factor|. Channel granularities only (one factor per block must broadcast onto the weight).
 *
 * @example
 * await new SlimPruner(model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }], evaluator, { trainingSteps: 50, regularScale: 1 }).compress();
 */
export class SlimPruner extends MasksAtStepPruner {
  readonly regularScale: number;
  private factors = new Map<string, { name: string; dims: number[] }>();

  constructor(
    model: Model,
    configList: unknown,
    evaluator: CompressionEvaluator | undefined,
    options: SlimPrunerOptions,
  ) {
    super(model, configList, evaluator, options, 'slim');
    this.regularScale = options.regularScale ?? 1;
    if (!(this.regularScale >= 0 && Number.isFinite(this.regularScale)))
      throw new PrunerOptionError('regular_scale', `must be a number ≥ 0, got ${String(options.regularScale)}`);
    for (const p of this.engine.preparedTargets) {
      if (!p.ranked) continue;
      if (p.t.kind !== 'parameter')
        throw new PrunerOptionError(
          'target_names',
          `SlimPruner learns factors of parameters; ${p.t.name} of "${p.t.nodeName}" is an activation`,
        );
      if (p.view.kernel.some((k) => k > 1))
        throw new PrunerOptionError(
          'granularity',
          `SlimPruner needs one factor per block that broadcasts onto the weight (out_channel, in_channel or element-wise); ${keyOf(p)} has blocks [${p.view.kernel.join(', ')}]`,
        );
    }
  }

  get name(): string {
    return 'slim';
  }

  /** The name of the factor of a target on the trained model. */
  factorName(node: string, target: string): string | undefined {
    return this.factors.get(`${node}.${target}`)?.name;
  }

  installCollection(hooks: TrainingHooks, buffers: MaskBuffers): Revert[] {
    this.factors.clear();
    const g = hooks.model.graph;
    for (const p of this.engine.preparedTargets) {
      if (!p.ranked) continue;
      const dims = onnxMaskDims(p);
      const name = g.uniqueName(`${p.t.nodeName}/${p.t.name}.slim_factor`);
      hooks.addTrainable(name, new Tensor('float32', dims, new Float32Array(product(dims)).fill(1)), PRIVATE_ADAM);
      this.factors.set(keyOf(p), { name, dims });
    }
    buffers.install(hooks, (p, mg, index) => {
      const f = this.factors.get(keyOf(p));
      if (f) insertBefore(mg, p.t.nodeName, index, 'Mul', mg.get(f.name)!, 'slim_mul');
    });
    const names = [...this.factors.values()].map((f) => f.name);
    if (names.length === 0) return [];
    return [
      hooks.patchLoss({
        name: 'slim',
        weight: this.regularScale,
        build: (c: LossContext) => {
          const l1 = names.map((n) => c.e.reduce('ReduceL1', c.value(n), [], false));
          return c.e.scale(l1.length === 1 ? l1[0]! : c.e.sum(l1), 1 / l1.length);
        },
      }),
    ];
  }

  metricNow(p: Prepared, s: StepState): Metric {
    const f = this.factors.get(keyOf(p))!;
    const data = canonical(p, s.get(f.name), f.dims);
    const out = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = Math.abs(data[i]!);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Movement

export interface MovementPrunerOptions extends TrainingPrunerOptions {
  /** Steps before the first masks (goals 0 until then). */
  warmupSteps: number;
  /** From this step on the goals are reached (cubic ramp in between). */
  cooldownBeginStep: number;
  /** Weight of the sigmoid(S) regulariser of `sparse_threshold` targets (NNI default 1). */
  regularScale?: number;
}

/** NNI's cubic movement ramp: 0 up to warm-up, 1 from cool-down on, 1 − (1 − x)³ in between. */
export function movementRatio(step: number, warmup: number, cooldown: number): number {
  if (step <= warmup) return 0;
  if (step >= cooldown) return 1;
  return 1 - (1 - (step - warmup) / (cooldown - warmup)) ** 3;
}

/**
 * MovementPruner (Sanh et al. 2020): a score S per block of each ranked target, initialised to 0. The forward uses
 * the binary mask; the gradient of the loss w.r.t. the mask (= Σ_block ∂L/∂w′ ⊙ w, read from the step) passes
 * straight through to S, which a private Adam (lr 1e-2) updates every step. After warm-up the masks are regenerated
 * every step with goals scaled by NNI's cubic ramp; metric S, or sigmoid(S) for `sparse_threshold` targets, whose
 * regulariser `regular_scale · r · mean_t(Σ sigmoid(S_t) / |S_t|)` adds its gradient to the scores.
 *
 * @example
 * await new MovementPruner(model, [{ op_types: ['MatMul'], sparse_ratio: 0.5, granularity: [64, 64] }], evaluator,
 *   { warmupSteps: 100, cooldownBeginStep: 400 }).compress({ maxSteps: 500 });
 */
export class MovementPruner extends TrainingPruner {
  readonly warmupSteps: number;
  readonly cooldownBeginStep: number;
  readonly regularScale: number;
  private scores = new Map<
    string,
    { s: Float64Array; m: Float64Array; v: Float64Array; g: Float64Array; ids: Int32Array | null; t: number }
  >();

  constructor(
    model: Model,
    configList: unknown,
    evaluator: CompressionEvaluator | undefined,
    options: MovementPrunerOptions,
  ) {
    super(model, configList, evaluator, options, 'movement');
    const w = options.warmupSteps;
    if (!Number.isInteger(w) || w < 0)
      throw new PrunerOptionError('warmup_step', `must be a whole number ≥ 0, got ${String(w)}`);
    this.warmupSteps = w;
    this.cooldownBeginStep = positiveInt('cooldown_begin_step', options.cooldownBeginStep);
    if (this.warmupSteps >= this.cooldownBeginStep)
      throw new PrunerOptionError(
        'warmup_step',
        `must be smaller than cooldown_begin_step (${this.warmupSteps} ≥ ${this.cooldownBeginStep})`,
      );
    this.regularScale = options.regularScale ?? 1;
    if (!(this.regularScale >= 0 && Number.isFinite(this.regularScale)))
      throw new PrunerOptionError('regular_scale', `must be a number ≥ 0, got ${String(options.regularScale)}`);
  }

  get name(): string {
    return 'movement';
  }
  protected get firstMaskStep(): number {
    return this.warmupSteps + 1;
  }

  /** A target's scores (canonical block order), for checks and reports. */
  score(node: string, target: string): Float64Array | undefined {
    return this.scores.get(`${node}.${target}`)?.s;
  }

  installCollection(hooks: TrainingHooks, buffers: MaskBuffers): Revert[] {
    this.scores.clear();
    buffers.install(hooks);
    const reverts: Revert[] = [];
    for (const e of buffers.entries) {
      const p = e.p;
      if (!p.ranked) continue;
      const n = product(p.view.blockDims);
      const full = product(p.view.maskDims) !== n;
      // mask elements → their block (canonical view of the mask's own dims)
      const ids = full ? blockIds(blockView(p.view.maskDims, p.view.kernel)) : null;
      const st = {
        s: new Float64Array(n),
        m: new Float64Array(n),
        v: new Float64Array(n),
        g: new Float64Array(n),
        ids,
        t: 0,
      };
      this.scores.set(keyOf(p), st);
      reverts.push(
        hooks.observe(e.buffer, 'grad', (grad) => {
          const c = canonical(p, grad.data, e.dims);
          st.g.fill(0);
          if (ids) for (let i = 0; i < c.length; i++) st.g[ids[i]!] += c[i]!;
          else for (let i = 0; i < c.length; i++) st.g[i] = c[i]!;
        }),
      );
    }
    return reverts;
  }

  /** One private-Adam step on every score from the straight-through gradient (+ the regulariser's). */
  private stepScores(step: number): void {
    const r = movementRatio(step, this.warmupSteps, this.cooldownBeginStep);
    const soft = [...this.scores.entries()].filter(([k]) => this.isThreshold(k));
    const { lr } = PRIVATE_ADAM;
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    for (const [k, st] of this.scores) {
      if (soft.length && this.isThreshold(k) && this.regularScale > 0 && r > 0) {
        const w = (this.regularScale * r) / (soft.length * st.s.length);
        for (let i = 0; i < st.s.length; i++) {
          const sg = 1 / (1 + Math.exp(-st.s[i]!));
          st.g[i] += w * sg * (1 - sg);
        }
      }
      st.t++;
      const c1 = 1 - b1 ** st.t;
      const c2 = 1 - b2 ** st.t;
      for (let i = 0; i < st.s.length; i++) {
        const g = st.g[i]!;
        st.m[i] = b1 * st.m[i]! + (1 - b1) * g;
        st.v[i] = b2 * st.v[i]! + (1 - b2) * g * g;
        st.s[i] -= (lr * (st.m[i]! / c1)) / (Math.sqrt(st.v[i]! / c2) + eps);
      }
    }
  }

  private isThreshold(key: string): boolean {
    const p = this.engine.preparedTargets.find((q) => keyOf(q) === key);
    return !!p && isSet(p.t.setting.sparse_threshold);
  }

  metricNow(p: Prepared): Metric {
    const st = this.scores.get(keyOf(p));
    if (!st) return new Float64Array(product(p.view.blockDims));
    if (!isSet(p.t.setting.sparse_threshold)) return Float64Array.from(st.s);
    return st.s.map((x) => 1 / (1 + Math.exp(-x)));
  }

  protected trigger(): ((s: StepState) => void)[] {
    return [
      (s) => {
        this.stepScores(s.step);
        if (s.step > this.warmupSteps) this.update(s, movementRatio(s.step, this.warmupSteps, this.cooldownBeginStep));
      },
    ];
  }

  override async compress(budget: TrainBudget = {}): Promise<TrainingPruneResult> {
    if (budget.maxSteps !== undefined && budget.maxSteps < this.cooldownBeginStep) {
      throw new PrunerOptionError(
        'max_steps',
        `MovementPruner needs at least cooldown_begin_step (${this.cooldownBeginStep}) steps, got ${budget.maxSteps}`,
      );
    }
    return super.compress(
      budget.maxSteps || budget.maxEpochs ? budget : { ...budget, maxSteps: this.cooldownBeginStep },
    );
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Linear / AGP

export interface ScheduleOptions {
  /** Optimizer steps between two mask updates. */
  intervalSteps: number;
  /** Number of updates; the goals are reached at the last one (step intervalSteps · totalTimes). */
  totalTimes: number;
  evaluator?: CompressionEvaluator;
}

/** The fraction of the goals in force after update t of T. */
export type ScheduleFn = (t: number, total: number) => number;

/** NNI's linear schedule r(t) = t / T (r0 = 0). */
export const linearSchedule: ScheduleFn = (t, total) => t / total;
/** Zhu & Gupta's cubic (AGP) schedule r(t) = 1 − (1 − t / T)³. */
export const agpSchedule: ScheduleFn = (t, total) => 1 - (1 - t / total) ** 3;

/** The inner pruner of a schedule: a one-shot pruner (its metric read from the current weights) or Slim / Taylor. */
export type SchedulablePruner = Pruner | SlimPruner | TaylorPruner;

/**
 * Linear / AGP: wrap an inner pruner and raise its goals step by step over training. Every `intervalSteps` steps,
 * for `totalTimes` updates, each goal becomes goal · r(t) and the inner pruner regenerates the masks at once from
 * the current weights (Level / L1 / L2 / FPGM) or from what it collected since the last update (Slim / Taylor).
 * The trajectory (step → sparsity per target) is part of the result.
 */
export abstract class ScheduledPruner extends Compressor<TrainingPruneResult> {
  readonly intervalSteps: number;
  readonly totalTimes: number;
  private run: MaskRun | null = null;

  constructor(
    readonly inner: SchedulablePruner,
    options: ScheduleOptions,
  ) {
    super(
      checkedInner(inner).model,
      inner.configList,
      options.evaluator ?? (inner.evaluator as CompressionEvaluator | undefined),
      {
        previous: inner.fusedCompressors[1],
      },
    );
    this.intervalSteps = positiveInt('interval_steps', options.intervalSteps);
    this.totalTimes = positiveInt('total_times', options.totalTimes);
  }

  protected abstract schedule: ScheduleFn;

  override get needsTraining(): boolean {
    return true;
  }

  override get mode(): CompressionMode {
    return 'pruning';
  }

  override get targetKeys(): readonly (readonly [string, string])[] {
    return this.engine.targetKeys;
  }

  /** The mask updates of the run in progress (a fused run's live sparsity). */
  get trajectorySoFar(): readonly TrajectoryPoint[] {
    return this.run?.trajectory ?? [];
  }

  /** The steps the schedule needs: its last update is at intervalSteps · totalTimes. */
  get scheduleSteps(): number {
    return this.intervalSteps * this.totalTimes;
  }

  private get engine(): Pruner {
    return this.inner instanceof Pruner ? this.inner : this.inner.engine;
  }

  protected override register(hooks: TrainingHooks): Revert[] {
    const run = (this.run = new MaskRun(this.engine));
    const inner = this.inner;
    let reverts: Revert[];
    if (inner instanceof Pruner) {
      run.buffers.install(hooks);
      reverts = [];
    } else reverts = inner.installCollection(hooks, run.buffers);
    let t = 0;
    const tick = (s: StepState) => {
      run.lastStep = s.step;
      if (s.step % this.intervalSteps !== 0 || t >= this.totalTimes) return;
      t++;
      const ratio = this.schedule(t, this.totalTimes);
      const r =
        inner instanceof Pruner
          ? inner.generate((p) => inner.metricOf(p, toF32(s.get(p.t.value.name))), ratio)
          : inner.engine.generate((p) => inner.metricNow(p, s), ratio);
      if (!(inner instanceof Pruner)) inner.resetCollection();
      r.plan.pruner = `${this.name}(${inner.name})`;
      run.record(s, r, ratio);
    };
    reverts.push(hooks.patchOptimizerStep([], [tick]));
    return reverts;
  }

  protected async collect(model: Model): Promise<TrainingPruneResult> {
    return (this.run ?? new MaskRun(this.engine)).result(this.name, this.intervalSteps, this.model, model);
  }

  override compress(budget: TrainBudget = {}): Promise<TrainingPruneResult> {
    if (budget.maxSteps !== undefined && budget.maxSteps < this.scheduleSteps) {
      throw new PrunerOptionError(
        'max_steps',
        `the schedule's last update is at step ${this.scheduleSteps} (interval_steps ${this.intervalSteps} × total_times ${this.totalTimes}), but training is limited to ${budget.maxSteps} steps`,
      );
    }
    return super.compress(budget.maxSteps || budget.maxEpochs ? budget : { ...budget, maxSteps: this.scheduleSteps });
  }
}

/** Movement cannot be scheduled (it has its own ramp); anything else but the six schedulable pruners is refused. */
function checkedInner(inner: SchedulablePruner): SchedulablePruner {
  if (inner instanceof MovementPruner)
    throw new PrunerOptionError(
      'pruner',
      'MovementPruner has its own schedule and cannot be scheduled by Linear / AGP (use level, l1, l2, fpgm, slim or taylor)',
    );
  if (!(inner instanceof Pruner) && !(inner instanceof SlimPruner) && !(inner instanceof TaylorPruner)) {
    throw new PrunerOptionError('pruner', 'Linear / AGP schedule level, l1, l2, fpgm, slim or taylor pruners');
  }
  return inner;
}

const toF32 = (d: Float32Array | Float64Array) => (d instanceof Float32Array ? d : Float32Array.from(d));

/**
 * LinearPruner: goals rise linearly, r(t) = t / T.
 * @example await new LinearPruner(new L1NormPruner(model, cfg), { intervalSteps: 50, totalTimes: 10, evaluator }).compress();
 */
export class LinearPruner extends ScheduledPruner {
  protected schedule = linearSchedule;
  get name(): string {
    return 'linear';
  }
}

/**
 * AGPPruner: goals follow the cubic r(t) = 1 − (1 − t / T)³ (fast first, gentle at the end).
 * @example await new AGPPruner(new TaylorPruner(model, cfg, evaluator, { trainingSteps: 10 }), { intervalSteps: 10, totalTimes: 8 }).compress();
 */
export class AGPPruner extends ScheduledPruner {
  protected schedule = agpSchedule;
  get name(): string {
    return 'agp';
  }
}

/** The masks' sparsity summary of a result: `node.target` → fraction masked. */
export function maskSparsities(r: PruneResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [node, m] of r.masks) for (const [t, mask] of m) out[`${node}.${t}`] = maskSparsity(mask);
  return out;
}

/** The implementation of every training-aware name in src-shared's pruner registry (the one-shot ones: PRUNER_CLASSES). */
export const TRAINING_PRUNER_CLASSES = {
  slim: SlimPruner,
  taylor: TaylorPruner,
  movement: MovementPruner,
  linear: LinearPruner,
  agp: AGPPruner,
} as const satisfies Record<TrainingPrunerName, unknown>;
