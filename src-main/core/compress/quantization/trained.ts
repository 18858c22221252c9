/**
 * @file NNI 3.0's training-time quantizers on ONNX: QAT, LSQ, LSQ+, DoReFa and BNN, built on the compressor contract
 * (they register on the evaluator and never run a loop of their own, so `fromCompressor` chains them with pruners
 * and distillers into one training run). Each writes its fake quantization into the simulated model as plain ONNX
 * ops (fake-quant.ts), keeps its parameters in buffers or trainables, and after training returns the parameters as
 * NNI's calibration config plus the QDQ model to deploy, built by the same routine as PTQ's export. Pure: imports
 * the IR, the contract and sibling modules. This file holds the base class, QAT, LSQ and LSQ+; DoReFa and BNN live in
 * dorefa-bnn.ts on the same base, and trained-registry.ts names all five.
 *
 * | quantizer | targets | parameters during training | gradient |
 * |---|---|---|---|
 * | QAT | weights, activations | weights: their own min / max before every step; activations: EMA (0.99) of batch min / max, observed each step and applied from the next; bypass until `quantStartStep` optimizer steps are done | clipped STE |
 * | LSQ | weights, activations (symmetric) | scale trainable, zp 0; init 2·mean\|x\|/√qmax (first batch for activations) or NNI's 0.01 | LSQ, scaled by 1/√(qmax·numel) |
 * | LSQ+ | same (affine) | scale and zero point trainable | LSQ / LSQ+ |
 * | DoReFa | weights, outputs of activation ops, inputs | weights: w' = tanh w / (2·max\|tanh w\|) + ½ quantized on [0, 1] with k bits, then 2w' − 1; outputs: clamp(x, 0, 1) on k bits; inputs: the batch's min / max (EMA deployed); option: k-bit stochastic gradients | STE (through tanh; the clamps' masks) |
 * | BNN | weights, inputs, outputs | sign(x), sign(0) = +1; weights clipped to [−1, 1] after each step | STE where \|x\| ≤ 1 |
 *
 * BatchNormalization: QAT and LSQ fold every Conv / Gemm + BN before training by default (`fuse: 'auto'`, the BN's
 * running statistics frozen into the weights), so what trains is what is exported; DoReFa and BNN keep BN (it
 * rescales the k-bit / binary weights' outputs) unless the config's `fuse_names` says otherwise.
 */
import { cloneModel, Tensor, type Model, type Value } from '../../ir/index.ts';
import {
  hasErrors,
  parseConfigList,
  type Diagnostic,
  type QuantizationConfig,
} from '../../../../src-shared/config/index.ts';
import {
  Compressor,
  type CompressionMode,
  type CompressorOptions,
  type Revert,
  type StepState,
  type TrainingHooks,
} from '../compressor.ts';
import { CompressionConfigError } from '../errors.ts';
import { fuseModules } from '../fusion/index.ts';
import { resolveTargets } from '../targets/index.ts';
import { buildQuantized, type Applied } from './build.ts';
import {
  activationParams,
  constantParams,
  deriveParams,
  paramKey,
  toCalibrationConfig,
  type CalibrationConfig,
  type ParamTable,
  type TargetParams,
} from './calibration.ts';
import {
  broadcastDims,
  ChainWriter,
  rewireUses,
  type TrainingFakeQuant,
  type TrainingFakeQuantParams,
} from './fake-quant.ts';
import { planQuantization, type QuantTarget } from './plan.ts';
import { channelLayout, FLOAT32_EPS, qparams, roundHalfEven } from './qparams.ts';

export type TrainedQuantizerName = 'qat' | 'lsq' | 'lsqplus' | 'dorefa' | 'bnn';

export interface TrainedQuantOptions extends CompressorOptions {
  /**
   * BatchNormalization folding before training: 'auto' folds every Conv / ConvTranspose / Gemm + BN (and reads an
   * op's `_output_` after the Relu that alone follows it), 'config' only the config list's `fuse_names`, 'none'
   * nothing. Default 'auto' for QAT / LSQ / LSQ+, 'config' for DoReFa / BNN.
   */
  fuse?: 'none' | 'config' | 'auto';
  /** Quantize int8 weights with 7 bits (ORT's U8S8 kernels on CPUs without VNNI; node decides from CPU flags). */
  reduceRange?: boolean;
}

export interface QATOptions extends TrainedQuantOptions {
  /** Optimizer steps trained in float before quantization starts (NNI's quant_start_step, default 0). */
  quantStartStep?: number;
  /** EMA decay of the activation ranges (default 0.99). */
  emaDecay?: number;
}

export interface LsqOptions extends TrainedQuantOptions {
  /**
   * Initial scales: 'mean' = 2·mean|x|/√qmax (LSQ's paper; weights from their values, activations from the first
   * training batch, which runs in float), 'nni' = NNI's fixed 0.01 (and zero point (qmax − qmin)/2 for LSQ+).
   */
  init?: 'mean' | 'nni';
}

/** What a trained quantizer returns (and keeps as `result`). */
export interface TrainedQuantResult {
  /** The simulated model: the training graph's fake quantization with the final parameters (what trained). */
  simulated: Model;
  /** The trained float model after BN folding, without fake quantization (what the export quantizes). */
  trained: Model;
  /** The targets as exported (DoReFa / BNN weights: their k-bit grid stored in an integer container). */
  targets: QuantTarget[];
  params: ParamTable;
  /** NNI's calibration config. */
  calibration: CalibrationConfig;
  /**
   * The float model the export quantizes: the trained weights (DoReFa / BNN weights on their grid) with DoReFa's /
   * BNN's deploy ops before their activations' Q/DQ; `buildQuantized(forExport, targets, params)` gives `exported`,
   * and with fewer targets the same model with those layers in fp32 (latency-aware precision).
   */
  forExport: Model;
  /** The QDQ model to deploy. */
  exported: Model;
  applied: Map<string, Applied>;
  diagnostics: Diagnostic[];
}

/** The shared part: config, fusion, plan, chain insertion, export. */
export abstract class TrainedQuantizer<
  O extends TrainedQuantOptions = TrainedQuantOptions,
> extends Compressor<TrainedQuantResult> {
  readonly configs: readonly QuantizationConfig[];
  readonly diagnostics: Diagnostic[];
  /** The float model after module fusion, before training. */
  readonly floatModel: Model;
  readonly targets: readonly QuantTarget[];
  protected readonly options: O;
  private readonly fuseGroups: { names: string[]; path: string }[];
  /** Values of the last registration, for tasks and collection. */
  protected slots = new Map<string, Slot>();
  protected gateName: string | null = null;
  /** Reverts of the composite gradients defined by the last registration. */
  private composites: Revert[] = [];

  /**
   * @throws ConfigListError for schema faults, each with its JSON path
   * @throws CompressionConfigError for faults against this model or this quantizer (each with path and node)
   */
  constructor(model: Model, configList: unknown, evaluator?: unknown, options: O = {} as O) {
    super(model, configList, evaluator as never, options);
    this.options = options;
    const parsed = parseConfigList(configList, 'quantization');
    this.configs = parsed.configs;
    this.diagnostics = [...parsed.diagnostics];
    this.fuseGroups = this.configs.flatMap((c, i) =>
      (c.fuse_names ?? []).map((names, k) => ({ names: [...names], path: `$[${i}].fuse_names[${k}]` })),
    );
    this.floatModel = cloneModel(model);
    const { targets, diagnostics } = this.planOn(this.floatModel);
    this.diagnostics.push(...diagnostics);
    this.targets = targets;
    for (const t of targets) {
      const why = this.refuse(t);
      if (why)
        this.diagnostics.push({
          level: 'error',
          code: `${(this as unknown as { name: string }).name}-unsupported`,
          node: t.node,
          path: t.path,
          message: `${t.target} of "${t.node}": ${why}`,
        });
    }
    if (hasErrors(this.diagnostics)) throw new CompressionConfigError(this.diagnostics);
  }

  override get needsTraining(): boolean {
    return true;
  }

  override get mode(): CompressionMode {
    return 'quantization';
  }

  override get targetKeys(): readonly (readonly [string, string])[] {
    return this.targets.map((t) => [t.node, t.target] as const);
  }

  /**
   * The float range each target's current parameters cover, `(qmin − zp)·s … (qmax − zp)·s` (per-channel ones: the
   * widest over channels), read from a training step's state (a fused run's live quantization ranges). Targets
   * without a scale (DoReFa, BNN) and activations not yet observed are left out.
   */
  rangesNow(s: StepState): Record<string, { min: number; max: number }> {
    const out: Record<string, { min: number; max: number }> = {};
    for (const slot of this.slots.values()) {
      if (!slot.scale || (slot.stats && !slot.tracked)) continue;
      const sc = s.get(slot.scale);
      const zp = slot.zeroPoint ? s.get(slot.zeroPoint) : undefined;
      const { qmin, qmax } = slot.target.range;
      let min = Infinity;
      let max = -Infinity;
      for (let c = 0; c < sc.length; c++) {
        const z = zp ? zp[zp.length === 1 ? 0 : c]! : 0;
        min = Math.min(min, (qmin - z) * sc[c]!);
        max = Math.max(max, (qmax - z) * sc[c]!);
      }
      if (Number.isFinite(min) && Number.isFinite(max)) out[`${slot.target.node}.${slot.target.target}`] = { min, max };
    }
    return out;
  }

  /** The fusion mode in effect. */
  protected get fuseMode(): 'none' | 'config' | 'auto' {
    return this.options.fuse ?? this.defaultFuse;
  }

  protected get defaultFuse(): 'none' | 'config' | 'auto' {
    return 'auto';
  }

  /** Why this quantizer cannot take a target (a reason names the fault), or null. */
  protected abstract refuse(t: QuantTarget): string | null;

  /** Fuse `m` in place and plan the targets on it (the same on the bound model as on `fused`: names are stable). */
  private planOn(m: Model): { targets: QuantTarget[]; diagnostics: Diagnostic[] } {
    const mode = this.fuseMode;
    const fusion = fuseModules(m, { groups: mode === 'none' ? [] : this.fuseGroups, auto: mode === 'auto' });
    const table = resolveTargets(m, this.configs, 'quantization');
    const plan = planQuantization(m, table, {
      fused: fusion.groups,
      autoActivations: mode === 'auto',
      reduceRange: this.options.reduceRange ?? false,
    });
    shareByValue(plan.targets);
    return { targets: plan.targets, diagnostics: [...fusion.diagnostics, ...table.diagnostics, ...plan.diagnostics] };
  }

  /** Targets that get a chain of their own in the training graph (int32 biases stay float while training). */
  protected trainedTargets(): QuantTarget[] {
    return this.targets.filter((t) => !t.int32Bias && !t.shareWith);
  }

  protected override register(h: TrainingHooks): Revert[] {
    const reverts: Revert[] = [];
    this.composites = [];
    h.patchModel((m) => {
      this.planOn(m);
      this.slots = new Map();
      this.gateName = null;
      const g = m.graph;
      const chainOwner = new Map<Value, string>();
      const ordered = [
        ...this.trainedTargets().filter((t) => t.role !== 'activation'),
        ...this.targets.filter((t) => t.kind === 'output' && !t.int32Bias),
        ...this.targets.filter((t) => t.kind === 'input' && !t.int32Bias),
      ];
      for (const t of ordered) {
        const node = g.node(t.node);
        if (!node) continue;
        const owner = ownerKey(this.targets, t);
        const w = new ChainWriter(g, `${this.name}/${t.node}/${t.target}`);
        if (t.role !== 'activation') {
          const v = node.input(t.index);
          if (!v?.initializer) continue;
          const slot = this.slotFor(h, t, v, w);
          node.setInput(t.index, slot.apply(v));
          continue;
        }
        const source = t.kind === 'output' ? g.get(t.value) : node.input(t.index);
        if (!source) continue;
        if (chainOwner.get(source) === owner) continue; // an input reading its own output's chain
        const slot =
          this.slots.get(owner) ??
          this.slotFor(
            h,
            this.targets.find((x) => paramKey(x.node, x.target) === owner)!,
            source,
            w,
          );
        const y = slot.apply(source);
        chainOwner.set(y, owner);
        if (t.kind === 'output') rewireUses(g, source, y);
        else node.setInput(t.index, y);
      }
      g.sortTopologically();
    });
    reverts.push(...this.composites, ...this.tasks(h));
    return reverts;
  }

  /**
   * A fake-quant chain for training: `make()` (e.g. `trainingFakeQuant`) with its composite backward (the mask shared
   * by the gradients) where the evaluator can define one, else `fallback()` (the same gradients, op by op).
   */
  protected trainingChain(h: TrainingHooks, make: () => TrainingFakeQuant, fallback: () => Value): Value {
    if (!h.defineGradient) return fallback();
    const { y, gradient } = make();
    this.composites.push(h.defineGradient(gradient));
    return y;
  }

  /** The one gate of this quantizer (a buffer: 0 = float, 1 = quantized). */
  protected gate(h: TrainingHooks, initial: number): Value {
    const g = h.model.graph;
    if (!this.gateName) {
      this.gateName = `${this.name}.enabled`;
      h.addBuffer(this.gateName, Tensor.float32([], [initial]));
    }
    return g.get(this.gateName)!;
  }

  /** Register one target's parameters and return how to quantize a value with them. */
  protected abstract slotFor(h: TrainingHooks, t: QuantTarget, v: Value, w: ChainWriter): Slot;

  /** Step tasks and observers of this quantizer. */
  protected abstract tasks(h: TrainingHooks): Revert[];

  /** Final parameters of the target of `slot`, from the trained model; may write the simulated model's buffers. */
  protected abstract finalParams(slot: Slot, trained: Model): TargetParams;

  protected async collect(model: Model): Promise<TrainedQuantResult> {
    const trained = cloneModel(this.floatModel);
    for (const v of trained.graph.initializers) {
      const t = model.graph.get(v.name)?.initializer;
      if (t && t.dtype === v.initializer!.dtype && t.dims.join() === v.initializer!.dims.join())
        trained.graph.setInitializer(v, t);
    }
    const params: ParamTable = new Map();
    const exportTargets = this.targets.map((t) => ({ ...t }));
    const forExport = cloneModel(trained);
    for (const slot of this.slots.values()) {
      params.set(slot.key, this.finalParams(slot, model));
      if (slot.snapped) {
        const v = forExport.graph.node(slot.target.node)!.input(slot.target.index)!;
        forExport.graph.setInitializer(v, slot.snapped.weight);
        const i = exportTargets.findIndex((t) => paramKey(t.node, t.target) === slot.key);
        exportTargets[i] = { ...exportTargets[i]!, range: slot.snapped.range };
      }
      if (slot.deploy) this.insertDeploy(forExport, exportTargets, slot);
    }
    forExport.graph.sortTopologically();
    if (this.gateName) setInit(model, this.gateName, [1]);
    deriveParams(forExport, exportTargets, params);
    const built = buildQuantized(forExport, exportTargets, params, { mode: 'export' });
    return {
      simulated: model,
      trained,
      targets: exportTargets,
      params,
      calibration: toCalibrationConfig(this.targets, params),
      exported: built.model,
      forExport,
      applied: built.applied,
      diagnostics: [...this.diagnostics, ...built.diagnostics],
    };
  }

  /**
   * Put a slot's deploy ops (float) before its Q/DQ in the export model: after the value for an output target (every
   * consumer reads them), on the edge for an input target; its targets (and those sharing its parameters) use the
   * slot's integer container.
   */
  private insertDeploy(m: Model, exportTargets: QuantTarget[], slot: Slot): void {
    const t = slot.target;
    const g = m.graph;
    const w = new ChainWriter(g, `${this.name}/${t.node}/${t.target}/deploy`);
    const i = exportTargets.findIndex((x) => paramKey(x.node, x.target) === slot.key);
    if (t.kind === 'output') {
      const v = g.get(t.value);
      if (!v) return;
      const y = slot.deploy!.build(w, v);
      rewireUses(g, v, y);
      exportTargets[i] = { ...exportTargets[i]!, value: y.name };
    } else {
      const n = g.node(t.node);
      const v = n?.input(t.index);
      if (!n || !v) return;
      n.setInput(t.index, slot.deploy!.build(w, v));
    }
    exportTargets.forEach((x, k) => {
      if (ownerKey(this.targets, this.targets[k]!) === slot.key)
        exportTargets[k] = { ...x, range: slot.deploy!.range, scheme: 'symmetric' };
    });
  }
}

/** One target's registration: its parameter names and how it quantizes a value. */
export interface Slot {
  key: string;
  target: QuantTarget;
  /** Name of the quantized weight or the observed activation. */
  value: string;
  dims: number[];
  apply(x: Value): Value;
  scale?: string;
  zeroPoint?: string;
  /** Buffers holding a copy of a trainable (LSQ's stop-gradient side), by trainable name. */
  stops?: Map<string, string>;
  /** Observed statistics (value names). */
  stats?: Record<string, string>;
  tracked?: { min: number; max: number };
  /** DoReFa / BNN: the deployed weight (its grid values in float) and the integer container range. */
  snapped?: { weight: Tensor; range: QuantTarget['range'] };
  /**
   * DoReFa outputs / BNN activations: float ops the deployed model runs before the target's Q/DQ (Clip(0, 1); the
   * sign chain), and the integer container that Q/DQ uses (uint8 / int8; the values already lie on the grid).
   */
  deploy?: { build(w: ChainWriter, x: Value): Value; range: QuantTarget['range'] };
}

/** The key of the target whose parameters `t` uses (following shares transitively). */
function ownerKey(targets: readonly QuantTarget[], t: QuantTarget): string {
  const byKey = new Map(targets.map((x) => [paramKey(x.node, x.target), x]));
  let cur = t;
  for (let i = 0; cur.shareWith && i < targets.length; i++) {
    const next = byKey.get(paramKey(cur.shareWith.node, cur.shareWith.target));
    if (!next) break;
    cur = next;
  }
  return paramKey(cur.node, cur.target);
}

/**
 * Activation targets reading the same value with the same range, scheme and per-tensor granularity share the first
 * one's parameters (e.g. a conv's fused `_output_` and the next MaxPool's `_input_0`), as one Q/DQ pair.
 */
function shareByValue(targets: QuantTarget[]): void {
  const owner = new Map<string, QuantTarget>();
  const acts = targets.filter((t) => t.role === 'activation' && !t.shareWith);
  for (const t of [...acts.filter((t) => t.kind === 'output'), ...acts.filter((t) => t.kind === 'input')]) {
    const o = owner.get(t.value);
    if (!o) {
      owner.set(t.value, t);
      continue;
    }
    if (
      o.range.name === t.range.name &&
      o.scheme === t.scheme &&
      o.granularity.kind === 'tensor' &&
      t.granularity.kind === 'tensor'
    )
      t.shareWith = { node: o.node, target: o.target };
  }
}

export function setInit(m: Model, name: string, data: ArrayLike<number>): void {
  const v = m.graph.get(name);
  if (v?.initializer) m.graph.setInitializer(v, new Tensor('float32', v.initializer.dims, Float32Array.from(data)));
}

export function readInit(m: Model, name: string): Float32Array {
  const t = m.graph.get(name)?.initializer;
  if (!t) throw new RangeError(`the trained model has no "${name}"`);
  return t.toFloat32();
}

const axisOf = (t: QuantTarget) => (t.granularity.kind === 'axis' ? t.granularity.axis : null);

export function checkRange(t: QuantTarget): string | null {
  if (t.range.qmax - t.range.qmin < 1)
    return `${t.range.name} holds a single value; use 2 bits or more (or BNN for binary weights)`;
  if (t.granularity.kind === 'blocks')
    return 'block granularity is not trained (use default, out_channel or in_channel)';
  if (t.role === 'activation' && t.granularity.kind !== 'tensor')
    return 'activations are quantized per tensor while training (granularity default)';
  return null;
}

// ---------------------------------------------------------------------------------------------------------------
// QAT

/**
 * QAT (Jacob et al. 2018, NNI's QATQuantizer): fake quantization with NNI's scale / zero-point formulas, activation
 * ranges as an EMA of batch min / max tracked in training, the clipped straight-through estimator.
 *
 * @example
 * const q = new QATQuantizer(model, ORT_CPU_STATIC_CONFIG, evaluator, { quantStartStep: 100 });
 * const { exported, calibration } = await q.compress({ maxSteps: 500 });
 */
export class QATQuantizer extends TrainedQuantizer<QATOptions> {
  get name(): string {
    return 'qat';
  }

  protected refuse(t: QuantTarget): string | null {
    return checkRange(t);
  }

  protected slotFor(h: TrainingHooks, t: QuantTarget, v: Value, w: ChainWriter): Slot {
    const key = paramKey(t.node, t.target);
    const gate = this.gate(h, 0);
    const isWeight = t.role !== 'activation';
    const dims = isWeight ? [...v.initializer!.dims] : [];
    const axis = axisOf(t);
    const pdims = isWeight ? broadcastDims(dims.length, axis, axis === null ? 1 : dims[axis]!) : [];
    const init = isWeight ? constantParams(t, v.initializer!.toFloat32(), dims) : qparams([0], [1], t.range, t.scheme);
    const scale = `${this.name}/${t.node}/${t.target}.scale`;
    const zp = `${this.name}/${t.node}/${t.target}.zero_point`;
    h.addBuffer(scale, new Tensor('float32', pdims, Float32Array.from(init.scale)));
    h.addBuffer(zp, new Tensor('float32', pdims, Float32Array.from(init.zeroPoint)));
    const p = {
      scale: h.model.graph.get(scale)!,
      zeroPoint: h.model.graph.get(zp)!,
      qmin: t.range.qmin,
      qmax: t.range.qmax,
    };
    const slot: Slot = {
      key,
      target: t,
      value: v.name,
      dims,
      scale,
      zeroPoint: zp,
      apply: (x) =>
        this.trainingChain(
          h,
          () => w.trainingFakeQuant(x, { ...p, gate }),
          () => w.gate(x, w.fakeQuant(x, p), gate),
        ),
    };
    if (!isWeight) slot.stats = { min: w.reduceAll('ReduceMin', v).name, max: w.reduceAll('ReduceMax', v).name };
    this.slots.set(key, slot);
    return slot;
  }

  protected tasks(h: TrainingHooks): Revert[] {
    const decay = this.options.emaDecay ?? 0.99;
    const start = this.options.quantStartStep ?? 0;
    const reverts: Revert[] = [];
    const pending = new Map<Slot, number>();
    for (const slot of this.slots.values()) {
      if (!slot.stats) continue;
      reverts.push(h.observe(slot.stats.min!, 'value', (o) => void pending.set(slot, o.data[0]!)));
      reverts.push(
        h.observe(slot.stats.max!, 'value', (o, s) => {
          const lo = pending.get(slot)!;
          const hi = o.data[0]!;
          slot.tracked = slot.tracked
            ? { min: decay * slot.tracked.min + (1 - decay) * lo, max: decay * slot.tracked.max + (1 - decay) * hi }
            : { min: lo, max: hi };
          const p = qparams([slot.tracked.min], [slot.tracked.max], slot.target.range, slot.target.scheme);
          s.set(slot.scale!, p.scale);
          s.set(slot.zeroPoint!, Float32Array.from(p.zeroPoint));
        }),
      );
    }
    const before = (s: StepState) => {
      for (const slot of this.slots.values()) {
        if (slot.stats) continue;
        const p = constantParams(slot.target, Float32Array.from(s.get(slot.value)), slot.dims);
        s.set(slot.scale!, p.scale);
        s.set(slot.zeroPoint!, Float32Array.from(p.zeroPoint));
      }
      const ready = [...this.slots.values()].every((x) => !x.stats || x.tracked);
      if (this.gateName) s.set(this.gateName, Float32Array.of(s.step - 1 >= start && ready ? 1 : 0));
    };
    reverts.push(h.patchOptimizerStep([before]));
    return reverts;
  }

  protected finalParams(slot: Slot, trained: Model): TargetParams {
    const t = slot.target;
    const p = slot.stats
      ? activationParams(t, {
          min: Float64Array.of(slot.tracked?.min ?? 0),
          max: Float64Array.of(slot.tracked?.max ?? 0),
        })
      : constantParams(t, readInit(trained, slot.value), slot.dims);
    setInit(trained, slot.scale!, p.scale);
    setInit(trained, slot.zeroPoint!, p.zeroPoint);
    return p;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// LSQ and LSQ+

/**
 * LSQ (Esser et al. 2019, NNI's LsqQuantizer): the scale is trained with LSQ's gradient, scaled by 1/√(qmax·numel);
 * zero point 0 (symmetric). LSQ+ (Bhalgat et al. 2020) also trains the zero point (affine).
 *
 * @example const { exported } = await new LsqQuantizer(model, w4a8, evaluator).compress({ maxSteps: 300 });
 */
export class LsqQuantizer extends TrainedQuantizer<LsqOptions> {
  get name(): string {
    return 'lsq';
  }

  protected get learnsZeroPoint(): boolean {
    return false;
  }

  protected refuse(t: QuantTarget): string | null {
    if (!this.learnsZeroPoint && t.scheme === 'affine')
      return "LSQ learns a scale with zero point 0: quant_scheme must be 'symmetric' (use lsqplus for a learned zero point)";
    if (this.learnsZeroPoint && t.scheme !== 'affine')
      return "LSQ+ learns a zero point: quant_scheme must be 'affine' (use lsq for symmetric)";
    return checkRange(t);
  }

  private get initMode(): 'mean' | 'nni' {
    return this.options.init ?? 'mean';
  }

  protected slotFor(h: TrainingHooks, t: QuantTarget, v: Value, w: ChainWriter): Slot {
    const key = paramKey(t.node, t.target);
    const isWeight = t.role !== 'activation';
    const { qmin, qmax } = t.range;
    const dims = isWeight ? [...v.initializer!.dims] : [];
    const axis = isWeight ? axisOf(t) : null;
    const channels = axis === null ? 1 : dims[axis]!;
    const pdims = broadcastDims(dims.length, axis, channels);
    const nni = this.initMode === 'nni';
    // weights get their init now; activations from the first batch (a float step), unless NNI's fixed init
    const s0 = nni
      ? new Float32Array(channels).fill(0.01)
      : isWeight
        ? lsqInit(v.initializer!.toFloat32(), dims, axis, qmax)
        : Float32Array.of(1);
    const zp0 = new Float32Array(channels).fill(
      this.learnsZeroPoint ? (nni ? (qmax - qmin) / 2 : isWeight ? Math.round((qmax + qmin) / 2) : qmin) : 0,
    );
    const scale = `${this.name}/${t.node}/${t.target}.scale`;
    h.addTrainable(scale, new Tensor('float32', pdims, s0));
    let zp: string | undefined;
    if (this.learnsZeroPoint) {
      zp = `${this.name}/${t.node}/${t.target}.zero_point`;
      h.addTrainable(zp, new Tensor('float32', pdims, zp0));
    }
    const g = h.model.graph;
    // LSQ's gradient scale 1/√(qmax·numel): numel of the weight, or of the activation batch
    const k = isWeight ? 1 / Math.sqrt(qmax * dims.reduce((a, b) => a * b, 1)) : null;
    const needsFirstBatch = !isWeight && !nni;
    const gate = needsFirstBatch || this.gateName ? this.gate(h, nni ? 1 : 0) : null;
    // with a composite backward the scale is used as it is and k multiplies its reduced gradient; without one, the
    // op-by-op chain reads s·k + stop(s)·(1 − k) (value s, gradient k·∂L/∂s), with `stop` a buffer copied each step
    const stops = new Map<string, string>();
    if (!h.defineGradient) {
      stops.set(scale, `${scale}.stop`);
      h.addBuffer(`${scale}.stop`, new Tensor('float32', pdims, s0));
      if (zp) {
        stops.set(zp, `${zp}.stop`);
        h.addBuffer(`${zp}.stop`, new Tensor('float32', pdims, zp0));
      }
    }
    const scaled = (name: string): Value => {
      const val = g.get(name)!;
      const stop = g.get(stops.get(name)!)!;
      if (k !== null) return w.gradScale(val, stop, k);
      const kv = w.op('Reciprocal', [
        w.op('Sqrt', [
          w.op('Mul', [
            w.op('Cast', [w.op('Size', [v])], { to: { type: 'int', value: 1 } }),
            w.constant('qmax', [qmax]),
          ]),
        ]),
      ]);
      return w.op('Add', [w.op('Mul', [val, kv]), w.op('Mul', [stop, w.op('Sub', [w.constant('one', [1]), kv])])]);
    };
    const fallback = (x: Value) => {
      const p = { scale: scaled(scale), ...(zp ? { zeroPoint: scaled(zp) } : {}), qmin, qmax };
      return gate ? w.gate(x, w.fakeQuant(x, p), gate) : w.fakeQuant(x, p);
    };
    const direct: TrainingFakeQuantParams = {
      scale: g.get(scale)!,
      ...(zp ? { zeroPoint: g.get(zp)! } : {}),
      qmin,
      qmax,
      ...(gate ? { gate } : {}),
      learned: { gradScale: k ?? 'numel' },
    };
    const slot: Slot = {
      key,
      target: t,
      value: v.name,
      dims,
      scale,
      ...(zp ? { zeroPoint: zp } : {}),
      stops,
      apply: (x) =>
        this.trainingChain(
          h,
          () => w.trainingFakeQuant(x, direct),
          () => fallback(x),
        ),
    };
    // the first batch's mean |x| (and, for a learned zero point, its min) set the initial scale (and zero point)
    if (needsFirstBatch)
      slot.stats = {
        // mean |x| as Σ|x| / numel: one pass over the activation (ReduceL1) where Abs and ReduceMean take two
        meanAbs: w.op('Div', [
          w.reduceAll('ReduceL1', v),
          w.op('Cast', [w.op('Size', [v])], { to: { type: 'int', value: 1 } }),
        ]).name,
        ...(zp ? { min: w.reduceAll('ReduceMin', v).name } : {}),
      };
    this.slots.set(key, slot);
    return slot;
  }

  protected tasks(h: TrainingHooks): Revert[] {
    const reverts: Revert[] = [];
    const first = new Map<Slot, number>();
    for (const slot of this.slots.values()) {
      if (!slot.stats) continue;
      const { qmin, qmax } = slot.target.range;
      if (slot.stats.min)
        reverts.push(h.observe(slot.stats.min, 'value', (o) => void (slot.tracked || first.set(slot, o.data[0]!))));
      reverts.push(
        h.observe(slot.stats.meanAbs!, 'value', (o, s) => {
          if (slot.tracked) return;
          const s0 = Math.max((2 * o.data[0]!) / Math.sqrt(qmax), FLOAT32_EPS);
          s.set(slot.scale!, Float32Array.of(s0));
          if (slot.zeroPoint)
            s.set(
              slot.zeroPoint,
              Float32Array.of(Math.min(qmax, Math.max(qmin, qmin - Math.min(first.get(slot) ?? 0, 0) / s0))),
            );
          slot.tracked = { min: 0, max: 0 };
        }),
      );
    }
    const before = (s: StepState) => {
      for (const slot of this.slots.values()) {
        // the scale stays positive (an LSQ step past zero would flip the grid); the stop buffers copy the trainables
        const sc = Float32Array.from(s.get(slot.scale!), (x) => Math.max(Math.abs(x), FLOAT32_EPS));
        s.set(slot.scale!, sc);
        for (const [name, stop] of slot.stops!) s.set(stop, name === slot.scale ? sc : Float32Array.from(s.get(name)));
      }
      const ready = [...this.slots.values()].every((x) => !x.stats || x.tracked);
      if (this.gateName) s.set(this.gateName, Float32Array.of(ready ? 1 : 0));
    };
    reverts.push(h.patchOptimizerStep([before]));
    return reverts;
  }

  protected finalParams(slot: Slot, trained: Model): TargetParams {
    const t = slot.target;
    const scale = Float32Array.from(readInit(trained, slot.scale!), (x) => Math.max(Math.abs(x), FLOAT32_EPS));
    // a learned zero point is rounded to the integer the deployed model stores; the simulated model uses it too
    const zpf = slot.zeroPoint ? readInit(trained, slot.zeroPoint) : new Float32Array(scale.length);
    const zeroPoint = Int32Array.from(zpf, (z) => Math.min(t.range.qmax, Math.max(t.range.qmin, roundHalfEven(z))));
    setInit(trained, slot.scale!, scale);
    setInit(trained, `${slot.scale!}.stop`, scale);
    if (slot.zeroPoint) {
      setInit(trained, slot.zeroPoint, zeroPoint);
      setInit(trained, `${slot.zeroPoint}.stop`, zeroPoint);
    }
    const axis = slot.stats || scale.length === 1 ? null : axisOf(t);
    // the range the scale and zero point cover, as NNI back-computes it when none was tracked
    const trackedMin = Float64Array.from(scale, (s, c) => s * (t.range.qmin - zeroPoint[c]!));
    const trackedMax = Float64Array.from(scale, (s, c) => s * (t.range.qmax - zeroPoint[c]!));
    return { scale, zeroPoint, axis, trackedMin, trackedMax };
  }
}

export class LsqPlusQuantizer extends LsqQuantizer {
  override get name(): string {
    return 'lsqplus';
  }

  protected override get learnsZeroPoint(): boolean {
    return true;
  }
}

/** LSQ's init 2·mean|x|/√qmax, per channel along `axis`. */
export function lsqInit(data: Float32Array, dims: readonly number[], axis: number | null, qmax: number): Float32Array {
  const { channels, inner } = channelLayout(dims, axis);
  const sum = new Float64Array(channels);
  const count = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    sum[c] += Math.abs(data[i]!);
    count[c]++;
  }
  return Float32Array.from(sum, (v, c) => Math.max((2 * v) / Math.max(count[c]!, 1) / Math.sqrt(qmax), FLOAT32_EPS));
}
