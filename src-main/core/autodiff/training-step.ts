/**
 * @file The training-step builder: forward model + loss + trainable set + optimizer → one ONNX model that
 * takes a batch, the weights, the optimizer state and the step's scalars, and returns the loss, the updated
 * weights and state (plus observed values/gradients for compressor hooks). Pure: imports the IR and passes.
 */
import {
  cloneModel,
  dtypeFromCode,
  isFloatType,
  Tensor,
  type DataType,
  type Graph,
  type Model,
  type Node,
  type Value,
} from '../ir/index.ts';
import { deadCode } from '../passes/index.ts';
import { Emitter } from './emitter.ts';
import { NoTrainableTensorError, TrainingSpecError } from './errors.ts';
import { backward } from './gradient.ts';
import { emitLoss, type LossContext, type LossSpec } from './losses.ts';
import {
  clipByGlobalNorm,
  optimizerFor,
  type OptimizerImpl,
  type OptimizerSpec,
  type StepScalars,
} from './optimizers.ts';
import { trainingForward, type TrainingForwardOptions } from './training-forward.ts';

/** A tensor of the step's interface. */
export interface TensorInfo {
  name: string;
  shape: number[];
  dtype: DataType;
}

/** A loss term added by a hook (e.g. an L1 penalty on BN scales), weighted into the total loss. */
export interface LossTerm {
  name: string;
  weight?: number;
  build: (c: LossContext) => Value;
  /**
   * Multiplies the task loss (NNI's `origin_loss_lambda`: loss = λ_o·task + Σ terms). Several terms multiply.
   * Whenever terms are present the step also reports the unweighted task loss as `loss.task`.
   */
  taskLossWeight?: number;
}

/** A parameter group with its own optimizer (e.g. a compressor's learned scales with a private Adam). */
export interface ParamGroup {
  name: string;
  params: readonly string[];
  optimizer: OptimizerSpec;
}

export interface ObserveSpec {
  /** A forward value or parameter, by its name in the model. */
  name: string;
  kind: 'value' | 'grad';
}

export interface TrainingStepSpec extends TrainingForwardOptions {
  /** Static shape of every forward value at the training batch size (from a concrete trace). */
  shapes: ReadonlyMap<string, readonly number[]>;
  /** Element types of forward values where the model does not declare them (from the same trace). */
  dtypes?: ReadonlyMap<string, DataType>;
  /** Values of small integer forward tensors (computed shapes, slice bounds) from the same trace. */
  intValues?: ReadonlyMap<string, readonly number[]>;
  /** Trainable initializers (default: every float initializer of rank ≥ 1 except BN running statistics). */
  trainable?: readonly string[];
  /** Added to the default trainable set (e.g. a hook's scalar scale, which the rank rule would skip). */
  alsoTrainable?: readonly string[];
  loss: LossSpec;
  /** The main group's optimizer. */
  optimizer: OptimizerSpec;
  /** Extra groups; their parameters leave the main group. */
  groups?: readonly ParamGroup[];
  /** Clip all gradients by their global L2 norm before the updates. */
  clipGradNorm?: number;
  lossTerms?: readonly LossTerm[];
  observe?: readonly ObserveSpec[];
  /** Initializers fed per step from the trainer (masks, quantization parameters) instead of baked in. */
  buffers?: readonly string[];
  /**
   * Per trainable parameter, a 0/1 tensor of its shape multiplied into every update (p' = update(p)·mask), so
   * the zeros of a pruning mask stay zero through fine-tuning — inside the step, with no per-step hook.
   */
  paramMasks?: ReadonlyMap<string, Tensor>;
  /** Stop after the loss: no backward, no update (the training-mode forward; used by gradient checks). */
  forwardOnly?: boolean;
}

export interface ParamInfo extends TensorInfo {
  group: string;
  /** Output holding the updated value. */
  output: string;
}

export interface StateInfo extends TensorInfo {
  output: string;
  /** Initial value: zeros (optimizer slots) or the forward model's initializer of that name (running stats). */
  init: 'zeros' | 'initializer';
  /** For optimizer slots: the parameter and slot name. */
  param?: string;
  slot?: string;
}

/** Everything a runner needs to feed the step and read it back. */
export interface StepSignature {
  /** Per-batch inputs: the model's inputs, then the loss's (labels, targets, teacher outputs). */
  batch: TensorInfo[];
  /** Names of the batch inputs the loss added. */
  lossInputs: string[];
  params: ParamInfo[];
  state: StateInfo[];
  buffers: TensorInfo[];
  /** Noise inputs (uniform [0,1)) for training-mode dropout. */
  noise: TensorInfo[];
  /** Learning-rate input per group ('main' first). */
  lr: Record<string, string>;
  /** The 1-based step-number input (float scalar). */
  step: string;
  loss: string;
  /** Scalar outputs besides the loss: 'correct' (cross-entropy), 'loss.<term>' per loss term, 'grad_norm'. */
  reports: Record<string, string>;
  observed: (ObserveSpec & { output: string })[];
  /** Trainables the loss does not depend on (left unchanged). */
  unused: string[];
}

export interface TrainingStep {
  model: Model;
  signature: StepSignature;
}

/** The lowest opset the emitted backward nodes need (ScatterElements/ScatterND reduction). */
const MIN_OPSET = 17;

/** Make an initializer a graph input of the same name (its data stays with the caller). */
function initializerToInput(g: Graph, e: Emitter, v: Value): Value {
  const t = v.initializer!;
  const input = g.addInput(g.uniqueName(`${v.name}.in`));
  v.replaceAllUsesWith(input);
  const name = v.name;
  g.removeInitializer(v);
  g.renameValue(input, name);
  return e.declare(input, [...t.dims], t.dtype);
}

/** Trainable initializers: the spec's list, or every float initializer of rank ≥ 1 that is not excluded. */
function chooseTrainables(g: Graph, spec: TrainingStepSpec, excluded: Set<Value>): Value[] {
  // (a tensor named in alsoTrainable may have no use in the forward graph yet: a loss term's projection)
  if (spec.trainable) {
    return spec.trainable.map((n) => {
      const v = g.get(n);
      if (!v?.initializer)
        throw new TrainingSpecError(`trainable tensor "${n}" is not an initializer of the model`, { tensor: n });
      if (!isFloatType(v.initializer.dtype))
        throw new TrainingSpecError(`trainable tensor "${n}" is ${v.initializer.dtype}, not float`, { tensor: n });
      return v;
    });
  }
  const also = new Set(spec.alsoTrainable ?? []);
  return g.initializers.filter(
    (v) =>
      isFloatType(v.initializer!.dtype) &&
      !excluded.has(v) &&
      (also.has(v.name) || (v.initializer!.dims.length >= 1 && v.uses.length > 0)),
  );
}

/** Initializers read only by frozen nodes (a teacher's weights and statistics): constants of the step. */
function frozenInitializers(g: Graph, frozen: ReadonlySet<string> | undefined): Set<Value> {
  if (!frozen?.size) return new Set();
  return new Set(g.initializers.filter((v) => v.uses.length > 0 && v.uses.every((u) => frozen.has(u.node.name))));
}

function seedShapes(e: Emitter, g: Graph, spec: TrainingStepSpec): void {
  for (const v of g.values()) {
    const s = spec.shapes.get(v.name);
    if (s) e.shapes.set(v, [...s]);
    const d = spec.dtypes?.get(v.name) ?? v.dtype;
    if (d) e.dtypes.set(v, d);
    const k = spec.intValues?.get(v.name);
    if (k) e.knownInts.set(v, [...k]);
  }
  inferDtypes(e, g);
  for (const v of g.inputs) if (e.shapes.has(v) && e.dtypes.has(v)) e.declare(v, e.shape(v), e.dtype(v));
}

/** Element type of output `i` of a node, from the types already known of its inputs. */
type DtypeRule = (n: Node, i: number, known: (v: Value | null) => DataType | undefined) => DataType | undefined;

const bool: DtypeRule = () => 'bool';
const int64: DtypeRule = () => 'int64';
/** Output 1 (indices) is int64, output 0 follows the data input. */
const valuesAndIndices: DtypeRule = (n, i, known) => (i === 1 ? 'int64' : known(n.inputs[0] ?? null));
const constantValue: DtypeRule = (n) => {
  const a = n.attr('value');
  return a?.type === 'tensor' ? a.value.dtype : 'float32';
};

/**
 * Output element types of the ops whose outputs do not follow their first input (ONNX's type constraints); every
 * other op's outputs take the type of its first present input. Codes of `Cast.to` are ONNX's (ir/dtype.ts).
 */
const DTYPE_RULES: Readonly<Record<string, DtypeRule>> = {
  ...Object.fromEntries(
    ['Equal', 'Greater', 'GreaterOrEqual', 'Less', 'LessOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf'].map(
      (t) => [t, bool],
    ),
  ),
  ...Object.fromEntries(['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero'].map((t) => [t, int64])),
  TopK: valuesAndIndices,
  MaxPool: valuesAndIndices,
  Cast: (n) => dtypeFromCode(n.attrInt('to', 1)),
  QuantizeLinear: (n, _i, known) => known(n.inputs[2] ?? null) ?? 'uint8',
  DequantizeLinear: (n, _i, known) => known(n.inputs[1] ?? null),
  Constant: constantValue,
  ConstantOfShape: constantValue,
  Where: (n, _i, known) => known(n.inputs[1] ?? null),
};
const followFirstInput: DtypeRule = (n, _i, known) => known(n.inputs.find((v) => v) ?? null);

/** Fill element types the model does not declare (trace dtypes take precedence), in topological order. */
function inferDtypes(e: Emitter, g: Graph): void {
  const known = (v: Value | null) => (v ? e.dtypes.get(v) : undefined);
  for (const n of g.nodes) {
    const rule = DTYPE_RULES[n.opType] ?? followFirstInput;
    n.outputs.forEach((o, i) => {
      if (e.dtypes.has(o)) return;
      const d = rule(n, i, known);
      if (d) e.dtypes.set(o, d);
    });
  }
}

/** Expose `v` as a graph output called `name` (renamed when it is an emitted value, else through Identity). */
function expose(g: Graph, e: Emitter, v: Value, name: string): string {
  const own = v.producer !== null && v.name.startsWith(`${e.prefix}/`) && !v.isGraphOutput;
  const out = own ? v : e.op('Identity', [v], {}, e.shape(v));
  g.renameValue(out, g.get(name) && g.get(name) !== out ? g.uniqueName(name) : name);
  g.addOutput(out);
  return out.name;
}

interface ForwardValues {
  batch: Value[];
  lossInputs: Value[];
  params: Value[];
  stats: Value[];
  buffers: Value[];
  noise: Value[];
}

function forwardOnlyStep(
  model: Model,
  e: Emitter,
  loss: Value,
  reports: Record<string, Value>,
  v: ForwardValues,
): TrainingStep {
  const g = model.graph;
  const info = (x: Value): TensorInfo => ({ name: x.name, shape: e.shape(x), dtype: e.dtype(x) });
  const sig: StepSignature = {
    batch: [...v.batch, ...v.lossInputs].map(info),
    lossInputs: v.lossInputs.map((x) => x.name),
    params: v.params.map((p) => ({ ...info(p), group: 'main', output: '' })),
    state: v.stats.map((x) => ({ ...info(x), output: '', init: 'initializer' as const })),
    buffers: v.buffers.map(info),
    noise: v.noise.map(info),
    lr: {},
    step: '',
    loss: expose(g, e, loss, 'loss'),
    reports: {},
    observed: [],
    unused: [],
  };
  for (const [k, v] of Object.entries(reports)) sig.reports[k] = expose(g, e, v, k);
  deadCode.run(model);
  g.sortTopologically();
  return { model, signature: sig };
}

/** A parameter mask in the parameter's element type, checked against its shape. */
function maskTensor(mask: Tensor, name: string, shape: readonly number[], dtype: DataType): Tensor {
  if (mask.dims.length !== shape.length || mask.dims.some((d, i) => d !== shape[i])) {
    throw new TrainingSpecError(
      `the mask of "${name}" has shape [${mask.dims.join(', ')}], the parameter [${shape.join(', ')}]`,
      { tensor: name },
    );
  }
  const values = mask.toNumbers();
  return new Tensor(dtype, [...shape], dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values));
}

/**
 * Build the training step of `source` (not modified).
 * @example
 * const { model, signature } = buildTrainingStep(net, { shapes, loss: { type: 'cross_entropy' }, optimizer: { type: 'sgd', momentum: 0.9 } });
 */
export function buildTrainingStep(source: Model, spec: TrainingStepSpec): TrainingStep {
  const model = cloneModel(source);
  if (model.opset < 13)
    throw new TrainingSpecError(`training needs opset ≥ 13 (the model has ${model.opset}); convert it first`);
  if (model.opset < MIN_OPSET) model.opsetImports.set(model.opsetImports.has('ai.onnx') ? 'ai.onnx' : '', MIN_OPSET);
  const g = model.graph;
  const e = new Emitter(g, model.opset);
  seedShapes(e, g, spec);
  // by name: a gradient hook on an output moves the name to the hook's Identity (training-forward.ts)
  const modelOutputs = g.outputs.map((v) => ({ v, name: v.name }));
  const batchInputs = g.inputs.filter((v) => !v.initializer);
  for (const v of batchInputs)
    if (!e.shapes.has(v)) throw new TrainingSpecError(`no traced shape for model input "${v.name}"`);

  const trainBn = (spec.batchNorm ?? 'train') === 'train';
  const stats = new Set<Value>();
  const frozen = frozenInitializers(g, spec.frozenNodes);
  if (trainBn)
    for (const n of g.nodes)
      if (n.opType === 'BatchNormalization' && !spec.frozenNodes?.has(n.name))
        for (const i of [3, 4]) if (n.inputs[i]?.initializer) stats.add(n.inputs[i]!);
  const bufferVals = (spec.buffers ?? []).map((n) => {
    const v = g.get(n);
    if (!v?.initializer) throw new TrainingSpecError(`buffer "${n}" is not an initializer of the model`, { tensor: n });
    return v;
  });
  const trainables = chooseTrainables(g, spec, new Set([...stats, ...bufferVals, ...frozen]));
  if (trainables.length === 0)
    throw new NoTrainableTensorError(
      spec.trainable ? 'the trainable list is empty' : 'no float initializer of rank ≥ 1',
    );

  for (const name of spec.paramMasks?.keys() ?? []) {
    if (!trainables.some((v) => v.name === name))
      throw new TrainingSpecError(`a mask is given for "${name}", which is not a trainable parameter`, {
        tensor: name,
      });
  }
  const params = trainables.map((v) => initializerToInput(g, e, v));
  const statInputs = [...stats].map((v) => initializerToInput(g, e, v));
  const buffers = bufferVals.map((v) => initializerToInput(g, e, v));
  g.setOutputs([]);

  const fwd = trainingForward(e, spec);
  const lossInputs: Value[] = [];
  const reports: Record<string, Value> = {};
  const ctx: LossContext = {
    e,
    value: (name) => {
      const v = g.get(name);
      if (!v) throw new TrainingSpecError(`no value "${name}" in the model`, { value: name });
      return v;
    },
    output: (name) => {
      const o = name === undefined ? modelOutputs[0] : modelOutputs.find((x) => x.name === name);
      if (!o) throw new TrainingSpecError(`model has no output "${name}"`, { output: name });
      return g.get(o.name) ?? o.v;
    },
    addInput: (name, shape, dtype) => {
      const v = e.declare(g.addInput(g.get(name) ? g.uniqueName(name) : name), shape, dtype);
      lossInputs.push(v);
      return v;
    },
    report: (name, v) => {
      reports[name] = v;
    },
  };
  const task = emitLoss(spec.loss, ctx);
  const taskWeight = (spec.lossTerms ?? []).reduce((w, t) => w * (t.taskLossWeight ?? 1), 1);
  let loss = taskWeight === 1 ? task : e.scale(task, taskWeight);
  if (spec.lossTerms?.length) reports['loss.task'] = task;
  for (const term of spec.lossTerms ?? []) {
    const t = term.build(ctx);
    reports[`loss.${term.name}`] = t;
    loss = e.add(loss, e.scale(t, term.weight ?? 1));
  }
  if (e.shape(loss).length !== 0) loss = e.reduceSum(loss, [], false);
  e.tape = null;
  if (spec.forwardOnly)
    return forwardOnlyStep(model, e, loss, reports, {
      batch: batchInputs,
      lossInputs,
      params,
      stats: statInputs,
      buffers,
      noise: fwd.noise.map((n) => n.value),
    });

  const observed = (spec.observe ?? []).map((o) => ({ ...o, value: ctx.value(o.name) }));
  const gradOf = backward(e, fwd.tape, loss, [
    ...params,
    ...observed.filter((o) => o.kind === 'grad').map((o) => o.value),
  ]);

  // optimizer updates, per group
  const groupOf = new Map<string, ParamGroup>();
  for (const grp of spec.groups ?? []) for (const p of grp.params) groupOf.set(p, grp);
  let grads = params.map((p) => gradOf.get(p) ?? null);
  const live = grads.map((gr, i) => (gr ? i : -1)).filter((i) => i >= 0);
  if (spec.clipGradNorm !== undefined && live.length) {
    const { grads: clipped, norm } = clipByGlobalNorm(
      e,
      live.map((i) => grads[i]!),
      spec.clipGradNorm,
    );
    grads = grads.map((gr, i) => (gr ? clipped[live.indexOf(i)]! : null));
    reports.grad_norm = norm;
  }
  const dtype = e.dtype(params[0]!);
  const scalarInput = (name: string) => e.declare(g.addInput(g.uniqueName(name)), [], dtype);
  const stepIn = scalarInput('step');
  const lrIn = new Map<string, Value>([['main', scalarInput('lr')]]);
  for (const grp of spec.groups ?? []) lrIn.set(grp.name, scalarInput(`lr.${grp.name}`));

  const sig: StepSignature = {
    batch: [],
    lossInputs: lossInputs.map((v) => v.name),
    params: [],
    state: [],
    buffers: buffers.map((v) => ({ name: v.name, shape: e.shape(v), dtype: e.dtype(v) })),
    noise: fwd.noise.map((n) => ({ name: n.value.name, shape: n.shape, dtype: n.dtype })),
    lr: Object.fromEntries([...lrIn].map(([k, v]) => [k, v.name])),
    step: stepIn.name,
    loss: '',
    reports: {},
    observed: [],
    unused: [],
  };
  const info = (v: Value): TensorInfo => ({ name: v.name, shape: e.shape(v), dtype: e.dtype(v) });
  sig.batch = [...batchInputs, ...lossInputs].map(info);
  sig.loss = expose(g, e, loss, 'loss');
  // one optimizer and one set of step scalars per group: what depends only on them (Adam's bias corrections) is
  // emitted once and shared by the group's parameters
  const optimizers = new Map<string, { opt: OptimizerImpl; scalars: StepScalars }>();
  params.forEach((p, i) => {
    const grp = groupOf.get(p.name);
    const key = grp?.name ?? 'main';
    let o = optimizers.get(key);
    if (!o) {
      o = { opt: optimizerFor(grp?.optimizer ?? spec.optimizer), scalars: { lr: lrIn.get(key)!, step: stepIn } };
      optimizers.set(key, o);
    }
    const opt = o.opt;
    const gr = grads[i];
    if (!gr) {
      sig.unused.push(p.name);
      sig.params.push({ ...info(p), group: grp?.name ?? 'main', output: expose(g, e, p, `new.${p.name}`) });
      return;
    }
    const state: Record<string, Value> = {};
    for (const slot of opt.slots)
      state[slot] = e.declare(g.addInput(g.uniqueName(`opt.${slot}.${p.name}`)), e.shape(p), e.dtype(p));
    const upd = opt.update(e, p, gr, state, o.scalars);
    const mask = spec.paramMasks?.get(p.name);
    const next = mask
      ? e.mul(upd.p, e.constant(maskTensor(mask, p.name, e.shape(p), e.dtype(p)), `mask.${p.name}`))
      : upd.p;
    sig.params.push({ ...info(p), group: grp?.name ?? 'main', output: expose(g, e, next, `new.${p.name}`) });
    for (const slot of opt.slots) {
      const s = state[slot]!;
      sig.state.push({
        ...info(s),
        output: expose(g, e, upd.state[slot]!, `new.${s.name}`),
        init: 'zeros',
        param: p.name,
        slot,
      });
    }
  });
  for (const s of statInputs) {
    const next = fwd.stateUpdates.get(s) ?? s;
    sig.state.push({ ...info(s), output: expose(g, e, next, `new.${s.name}`), init: 'initializer' });
  }
  for (const [k, v] of Object.entries(reports)) sig.reports[k] = expose(g, e, v, k);
  for (const o of observed) {
    const v = o.kind === 'value' ? o.value : (gradOf.get(o.value) ?? e.zerosLike(o.value));
    sig.observed.push({ name: o.name, kind: o.kind, output: expose(g, e, v, `observe.${o.kind}.${o.name}`) });
  }
  deadCode.run(model);
  g.sortTopologically();
  return { model, signature: sig };
}
