/**
 * @file The distillers on the compressor contract (NNI 3.0 §7): `DynamicLayerwiseDistiller` (each student target
 * linked to one or more teacher targets, loss `min_j λ·ℓ(s, t_j)` summed over targets), `Adaptive1dLayerwiseDistiller`
 * (one link per target, a trainable projection where the widths differ, dropped from the result) and
 * `LogitsDistiller` (Hinton's KD on the model outputs: `(1 − α)·task + α·T²·KL`). Each registers the teacher inside
 * the training step and one loss term on the evaluator, never a loop of its own, so it chains with pruners and
 * quantizers into one training run (`fromCompressor`). The student values it reads are the ones the simulated model
 * computes after its masks and fake quantization (NNI's wrapper order). Pure: imports the IR, autodiff types,
 * targets and the shared config layer.
 */
import { cloneModel, Tensor, type Model, type Node, type Value } from '../../ir/index.ts';
import { StudioError } from '../../ir/errors.ts';
import { attr, type LossContext } from '../../autodiff/index.ts';
import { deadCode } from '../../passes/index.ts';
import { Rng } from '../../util/random.ts';
import { parseConfigList, type ConfigEntryOf } from '../../../../src-shared/config/index.ts';
import { quoted } from '../../../../src-shared/errors.ts';
import type { DistillerName } from '../../../../src-shared/compressors.ts';
import {
  Compressor,
  type CompressionMode,
  type CompressorOptions,
  type Revert,
  type TrainingHooks,
} from '../compressor.ts';
import { CompressionConfigError } from '../errors.ts';
import { resolveTargets } from '../targets/index.ts';
import {
  DISTILL_LOSSES,
  klLoss,
  minOf,
  project,
  projectedWidth,
  projectionKind,
  projectionShapes,
  type DistillMethod,
} from './losses.ts';
import { checkTeacherInputs, TEACHER_PREFIX } from './teacher.ts';
import { KEPT_AXIS, recoverKeptChannels } from './kept.ts';
import type { KeptChannels } from '../speedup/index.ts';

/** A link that cannot be made: a teacher node or value that does not exist, widths that differ without a projection. */
export class DistillLinkError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'DISTILL_LINK', details);
  }
}

/** One student target and the teacher targets it learns from. */
export interface DistillLink {
  /** The student node and target (`_output_0`, `_input_1`, …). */
  node: string;
  target: string;
  /** The student value the loss reads: after the node's masks and fake quantization. */
  studentValue: string;
  /** Teacher values (names in the teacher's own graph), one per linked teacher node. */
  teacherValues: string[];
  /** The teacher nodes, in link order. */
  teacherNodes: string[];
  /**
   * Per teacher value, the channels (axis 1) a pruned, sped-up student kept of it, where the student's value is
   * narrower: the loss reads the teacher's value gathered there (a kept-channel link, no projection); absent or
   * null: the whole value.
   */
  teacherChannels?: (readonly number[] | null)[];
  lambda: number;
  method: DistillMethod;
  /** JSON path of the config entry that made it. */
  path: string;
  /**
   * The value the loss read in the last training run: `studentValue`, or — in a fused run — the end of what the
   * chained compressors put on that output (a quantizer's fake quantization, then a pruner's mask).
   */
  recorded?: string;
}

export interface DistillerOptions extends CompressorOptions {
  /** The teacher model (its data inputs must match the student's). */
  teacher: Model;
  /** NNI's origin_loss_lambda: loss = λ_o·task + distillation loss. Default 1. */
  originLossLambda?: number;
  /** Name prefix of the teacher's copy inside the step (default `teacher/`). */
  teacherPrefix?: string;
  /**
   * The channels a pruned student kept of the teacher (speedup's `CompactResult.kept`), for kept-channel links;
   * without it they are recovered from the two models' weights (`recoverKeptChannels`). Read by the layer-wise
   * distillers' `link: 'auto'` (a student node linked to the teacher node of the same name).
   */
  keptChannels?: KeptChannels;
}

export interface DistillResult {
  /** The trained student (projections dropped, no teacher node). */
  model: Model;
  links: DistillLink[];
}

/**
 * The value a target records, as NNI's wrapper does after fake-quantizing and masking it: for an output, follow the
 * single-consumer chain of nodes simulation inserted after the node (named `<node>/…`); an input target already
 * reads the masked / quantized value.
 */
export function recordedValue(node: Node, kind: 'input' | 'output', index: number): Value {
  const first = kind === 'input' ? node.inputs[index] : node.outputs[index];
  if (!first) throw new DistillLinkError(`node ${quoted(node.name)} has no ${kind} ${index}`, { node: node.name });
  if (kind === 'input') return first;
  let v: Value = first;
  for (;;) {
    const next: Node | null = v.uses.length === 1 ? v.uses[0]!.node : null;
    if (!next || !next.name.startsWith(`${node.name}/`) || next.outputs.length !== 1 || next.inputs[0] !== v) return v;
    v = next.outputs[0]!;
  }
}

const TARGET_RE = /^_(input|output)_(\d+)$/;

/**
 * Where a link records in `model` as chained compressors edited it (NNI's order: quantize-dequantize → mask →
 * record): from the node's output, past a fake-quant chain a quantizer wrote for that output (nodes named
 * `…/<node>/<target>/…`) and past the single-consumer nodes simulation put after it (`<node>/…`, a mask).
 */
function recordedIn(model: Model, l: DistillLink): string {
  const m = TARGET_RE.exec(l.target);
  const node = model.graph.node(l.node);
  const first = m && m[1] === 'output' && node ? node.outputs[Number(m[2])] : undefined;
  if (!first) return l.studentValue;
  const marker = `/${l.node}/${l.target}/`;
  let v: Value = first;
  for (let guard = 0; guard < 64; guard++) {
    const chain = new Set<Node>();
    const stack = [v];
    while (stack.length)
      for (const u of stack.pop()!.uses)
        if (u.node.name.includes(marker) && !chain.has(u.node)) {
          chain.add(u.node);
          stack.push(...u.node.outputs.filter((o): o is Value => !!o));
        }
    const ends = [...chain].flatMap((n) =>
      n.outputs.filter((o): o is Value => !!o && (o.isGraphOutput || o.uses.some((u) => !chain.has(u.node)))),
    );
    if (ends.length === 1) {
      v = ends[0]!;
      continue;
    }
    const next: Node | null = v.uses.length === 1 ? v.uses[0]!.node : null;
    if (!next || !next.name.startsWith(`${l.node}/`) || next.outputs.length !== 1 || next.inputs[0] !== v) break;
    v = next.outputs[0]!;
  }
  return v.name;
}

/** The teacher's value for a target of one of its nodes. */
function teacherValue(teacher: Model, nodeName: string, target: string, path: string): Value {
  const node = teacher.graph.node(nodeName);
  if (!node)
    throw new DistillLinkError(`${path}: the teacher has no node ${quoted(nodeName)} to link to`, {
      node: nodeName,
      path,
    });
  const m = TARGET_RE.exec(target);
  const v = m ? (m[1] === 'input' ? node.inputs[Number(m[2])] : node.outputs[Number(m[2])]) : null;
  if (!v)
    throw new DistillLinkError(`${path}: the teacher's node ${quoted(nodeName)} has no ${target}`, {
      node: nodeName,
      target,
      path,
    });
  return v;
}

/**
 * Resolve a distillation config list into links: targets default to `_output_0`; `link` null / `'auto'` pairs the
 * student node with the teacher node of the same name (isomorphic models, and a pruned student after speedup, which
 * renames nothing); `lambda` defaults to 1, `apply_method` to `mse`.
 * @throws ConfigListError / CompressionConfigError for a bad list, DistillLinkError for a teacher node that is missing
 */
export function resolveLinks(
  student: Model,
  teacher: Model,
  configList: unknown,
  opts: { single?: boolean; kept?: () => KeptChannels } = {},
): DistillLink[] {
  const { configs } = parseConfigList(configList, 'distillation');
  const table = resolveTargets(student, configs as ConfigEntryOf<'distillation'>[], 'distillation');
  if (table.diagnostics.some((d) => d.level === 'error')) throw new CompressionConfigError(table.diagnostics);
  const links: DistillLink[] = [];
  for (const t of table.targets) {
    if (t.kind !== 'input' && t.kind !== 'output')
      throw new DistillLinkError(
        `${t.path}: node ${quoted(t.nodeName)}: distillation targets are _input_k / _output_k, not the parameter ${t.name}`,
        { node: t.nodeName, target: t.name },
      );
    const s = t.setting;
    const raw = s.link ?? 'auto';
    const teacherNodes =
      raw === 'auto' ? [t.nodeName] : Array.isArray(raw) ? raw.map((n) => (n === 'auto' ? t.nodeName : n)) : [raw];
    if (teacherNodes.length === 0)
      throw new DistillLinkError(`${t.path}: node ${quoted(t.nodeName)} links to no teacher node`, {
        node: t.nodeName,
      });
    if (opts.single && teacherNodes.length > 1)
      throw new DistillLinkError(
        `${t.path}: node ${quoted(t.nodeName)} links to ${teacherNodes.length} teacher nodes; this distiller takes exactly one link per target`,
        { node: t.nodeName },
      );
    const teacherValues = teacherNodes.map((n) => teacherValue(teacher, n, t.name, t.path).name);
    const studentValue = recordedValue(t.node, t.kind, t.index).name;
    // a kept-channel link: the same node in a narrower (pruned, sped-up) student reads the teacher's kept channels
    const own = (t.kind === 'input' ? t.node.inputs[t.index] : t.node.outputs[t.index])?.name;
    const channels = opts.kept
      ? teacherNodes.map((n) => (n === t.nodeName && own ? (opts.kept!().get(own)?.get(KEPT_AXIS) ?? null) : null))
      : [];
    links.push({
      node: t.nodeName,
      target: t.name,
      studentValue,
      teacherValues,
      teacherNodes,
      ...(channels.some((c) => c) ? { teacherChannels: channels } : {}),
      lambda: s.lambda ?? 1,
      method: s.apply_method ?? 'mse',
      path: t.path,
    });
  }
  if (links.length === 0) throw new DistillLinkError('the config list selects no distillation target', {});
  return links;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** The teacher value `t` at the student's kept channels (a Gather on axis 1) where the student `s` is narrower. */
function keptOf(c: LossContext, s: Value, t: Value, channels: readonly number[] | null | undefined): Value {
  const { e } = c;
  const [ss, ts] = [e.shape(s), e.shape(t)];
  if (!channels || ss.length !== ts.length || ss[KEPT_AXIS] === ts[KEPT_AXIS] || ss[KEPT_AXIS] !== channels.length)
    return t;
  const idx = e.constant(Tensor.int64([channels.length], [...channels]), 'distill.kept');
  const shape = ts.map((d, i) => (i === KEPT_AXIS ? channels.length : d));
  return e.op('Gather', [t, idx], { axis: attr.int(KEPT_AXIS) }, shape);
}

/** The trained student from the evaluator's model: no teacher, no projection. */
function studentOnly(model: Model, drop: ReadonlySet<string>): Model {
  const m = cloneModel(model);
  for (const v of [...m.graph.initializers]) if (drop.has(v.name) && v.uses.length === 0) m.graph.removeInitializer(v);
  deadCode.run(m);
  return m;
}

/** What every teacher-based distiller shares: the teacher in the step, one loss term, the student as result. */
abstract class TeacherDistiller extends Compressor<DistillResult> {
  readonly teacher: Model;
  readonly originLossLambda: number;
  readonly teacherPrefix: string;
  readonly links: DistillLink[];
  /** Trainables this distiller added (projections): dropped from the result. */
  protected readonly added = new Set<string>();

  constructor(model: Model, configList: unknown, evaluator: unknown, options: DistillerOptions) {
    super(model, configList, evaluator as never, options);
    if (!options?.teacher) throw new DistillLinkError(`${new.target.name} needs a teacher model (options.teacher)`);
    checkTeacherInputs(model, options.teacher);
    this.teacher = options.teacher;
    this.originLossLambda = options.originLossLambda ?? 1;
    this.teacherPrefix = options.teacherPrefix ?? TEACHER_PREFIX;
    this.links = this.makeLinks(configList, options);
  }

  protected abstract makeLinks(configList: unknown, options: DistillerOptions): DistillLink[];

  override get needsTraining(): boolean {
    return true;
  }

  override get mode(): CompressionMode {
    return 'distillation';
  }

  override get targetKeys(): readonly (readonly [string, string])[] {
    return this.links.map((l) => [l.node, l.target] as const);
  }

  /** The loss of one link: the student value against each teacher value (teacher values named in the step). */
  protected abstract linkLoss(c: LossContext, link: DistillLink, s: Value, ts: Value[]): Value;

  protected override register(hooks: TrainingHooks): Revert[] {
    const reverts = [hooks.addTeacher(this.teacher, this.teacherPrefix)];
    reverts.push(
      hooks.patchLoss({
        name: 'distill',
        taskLossWeight: this.originLossLambda,
        build: (c) => {
          const terms = this.links.map((l) => {
            // read where NNI's wrapper records, in the model as chained compressors left it
            l.recorded = recordedIn(hooks.model, l);
            const s = c.value(l.recorded);
            const ts = l.teacherValues.map((t) => c.value(this.teacherPrefix + t));
            return this.linkLoss(c, l, s, ts);
          });
          return c.e.sum(terms);
        },
      }),
    );
    return reverts;
  }

  protected async collect(model: Model): Promise<DistillResult> {
    return { model: studentOnly(model, this.added), links: this.links };
  }
}

/**
 * NNI's DynamicLayerwiseDistiller: each student target links to one or more teacher targets of the same shape; its
 * loss is `min_j λ·ℓ(s, t_j)` and the distillation loss their sum, added to `originLossLambda ·` the task loss.
 *
 * @example
 * const d = new DynamicLayerwiseDistiller(student, [{ op_types: ['Conv'], apply_method: 'mse', lambda: 0.1 }], evaluator, { teacher });
 * const { model } = await d.compress({ maxEpochs: 2 });
 */
export class DynamicLayerwiseDistiller extends TeacherDistiller {
  get name(): string {
    return 'dynamic_layerwise';
  }

  protected makeLinks(configList: unknown, options: DistillerOptions): DistillLink[] {
    let kept = options.keptChannels;
    return resolveLinks(this.model, options.teacher, configList, {
      kept: () => (kept ??= recoverKeptChannels(this.model, options.teacher)),
    });
  }

  protected linkLoss(c: LossContext, l: DistillLink, s: Value, ts: Value[]): Value {
    const { e } = c;
    return minOf(
      e,
      ts.map((t0, j) => {
        const t = keptOf(c, s, t0, l.teacherChannels?.[j]);
        if (!sameShape(e.shape(s), e.shape(t))) {
          throw new DistillLinkError(
            `${l.path}: the student's ${l.target} of ${quoted(l.node)} is [${e.shape(s).join(', ')}] but the teacher's of ${quoted(l.teacherNodes[j]!)} is [${e.shape(t).join(', ')}]; DynamicLayerwiseDistiller needs equal shapes, or a student pruned from this teacher whose kept channels its weights show (use adaptive1d_layerwise to project a narrower student)`,
            { node: l.node, teacherNode: l.teacherNodes[j], path: l.path },
          );
        }
        return e.scale(DISTILL_LOSSES[l.method](e, s, t), l.lambda);
      }),
    );
  }
}

export interface Adaptive1dOptions extends DistillerOptions {
  /** Shape of every student value at some batch size (a trace): the projection widths. */
  studentShapes: ReadonlyMap<string, readonly number[]>;
  /** The same for the teacher's values (names in the teacher's own graph). */
  teacherShapes: ReadonlyMap<string, readonly number[]>;
  /** Seed of the projections' initialisation (default 0). */
  seed?: number;
  /**
   * Project every narrower value, also where the student is a pruned copy of the teacher whose kept channels are
   * known (NNI's behaviour). Default false: such a link gathers the teacher's kept channels instead (no projection,
   * no extra multiply-adds), and projections bridge only widths no kept channels explain.
   */
  projectKept?: boolean;
}

/**
 * NNI's Adaptive1dLayerwiseDistiller: one link per target; where the widths differ, a trainable
 * projection maps the student's value to the teacher's width — unless the student is a pruned, sped-up copy of the
 * teacher whose kept channels are known (then the teacher's value is gathered there, see `projectKept`) — a 1×1 convolution for NCHW values, a linear map on
 * the last axis otherwise (torch's default nn.Linear initialisation, seeded) — and trains with the student (the main
 * optimizer); it is dropped from the result. Loss `Σ λ·ℓ(P(s), t)`.
 *
 * @example
 * const d = new Adaptive1dLayerwiseDistiller(pruned, [{ op_types: ['Conv'] }], evaluator, { teacher, studentShapes, teacherShapes });
 */
export class Adaptive1dLayerwiseDistiller extends TeacherDistiller {
  /** Projection parameters per link (`node\0target`). */
  private readonly projections = new Map<string, { weight: string; bias: string; init: [Tensor, Tensor] }>();

  constructor(model: Model, configList: unknown, evaluator: unknown, options: Adaptive1dOptions) {
    super(model, configList, evaluator, options);
    const rng = new Rng(options.seed ?? 0);
    for (const l of this.links) {
      const ss = options.studentShapes.get(l.studentValue);
      const ts = options.teacherShapes.get(l.teacherValues[0]!);
      if (!ss || !ts)
        throw new DistillLinkError(
          `${l.path}: no traced shape for ${quoted(ss ? l.teacherValues[0]! : l.studentValue)}; trace both models first`,
          { node: l.node },
        );
      if (ss.length !== ts.length)
        throw new DistillLinkError(
          `${l.path}: the student's ${l.target} of ${quoted(l.node)} has rank ${ss.length}, the teacher's ${ts.length}`,
          { node: l.node },
        );
      const from = projectedWidth(ss);
      const to = projectedWidth(ts);
      const rest = (s: readonly number[]) =>
        s.filter((_, i) => i !== 0 && i !== (projectionKind(s.length) === 'conv1x1' ? 1 : s.length - 1));
      if (!sameShape(rest(ss), rest(ts))) {
        throw new DistillLinkError(
          `${l.path}: the student's ${l.target} of ${quoted(l.node)} is [${ss.join(', ')}], the teacher's [${ts.join(', ')}]: only the width may differ`,
          { node: l.node },
        );
      }
      if (from === to || ((ss.length === 4 || ss.length === 2) && l.teacherChannels?.[0]?.length === from)) continue;
      const base = `distill.proj/${l.node}/${l.target}`;
      this.projections.set(`${l.node}\0${l.target}`, {
        weight: `${base}.weight`,
        bias: `${base}.bias`,
        init: projectionInit(rng, projectionKind(ss.length), from, to),
      });
    }
  }

  get name(): string {
    return 'adaptive1d_layerwise';
  }

  protected makeLinks(configList: unknown, options: Adaptive1dOptions): DistillLink[] {
    let kept = options.keptChannels;
    return resolveLinks(this.model, options.teacher, configList, {
      single: true,
      kept: options.projectKept ? undefined : () => (kept ??= recoverKeptChannels(this.model, options.teacher)),
    });
  }

  protected override register(hooks: TrainingHooks): Revert[] {
    for (const p of this.projections.values()) {
      hooks.addTrainable(p.weight, p.init[0]);
      hooks.addTrainable(p.bias, p.init[1]);
      this.added.add(p.weight).add(p.bias);
    }
    return super.register(hooks);
  }

  protected linkLoss(c: LossContext, l: DistillLink, s: Value, ts: Value[]): Value {
    const { e } = c;
    const p = this.projections.get(`${l.node}\0${l.target}`);
    const x = p ? project(e, s, c.value(p.weight), c.value(p.bias)) : s;
    const t = p ? ts[0]! : keptOf(c, s, ts[0]!, l.teacherChannels?.[0]);
    return e.scale(DISTILL_LOSSES[l.method](e, x, t), l.lambda);
  }
}

/** torch's nn.Linear / nn.Conv2d default: U(−1/√fan_in, 1/√fan_in) for weight and bias. */
function projectionInit(rng: Rng, kind: ReturnType<typeof projectionKind>, from: number, to: number): [Tensor, Tensor] {
  const { weight, bias } = projectionShapes(kind, from, to);
  const bound = 1 / Math.sqrt(from);
  const draw = (dims: number[]) =>
    new Tensor(
      'float32',
      dims,
      Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rng.next() * 2 - 1) * bound),
    );
  return [draw(weight), draw(bias)];
}

export interface LogitsDistillerOptions extends Omit<DistillerOptions, 'originLossLambda'> {
  /** Softmax temperature T (default 2, NNI's kl). */
  temperature?: number;
  /** Weight of the distillation term: loss = (1 − α)·task + α·T²·KL (default 0.5). */
  alpha?: number;
}

/**
 * Classic knowledge distillation (Hinton et al.): the student's logits learn the teacher's softened distribution,
 * `loss = (1 − α)·CE + α·T²·KL(softmax(t/T) ‖ softmax(s/T))` (batch-mean). No config list: it reads the first output
 * of each model.
 *
 * @example const { model } = await new LogitsDistiller(student, null, evaluator, { teacher, temperature: 4, alpha: 0.7 }).compress({ maxEpochs: 1 });
 */
export class LogitsDistiller extends TeacherDistiller {
  readonly temperature: number;
  readonly alpha: number;

  constructor(model: Model, configList: unknown, evaluator: unknown, options: LogitsDistillerOptions) {
    const alpha = options.alpha ?? 0.5;
    if (!(alpha >= 0 && alpha <= 1)) throw new DistillLinkError(`alpha must be in [0, 1], got ${alpha}`);
    const temperature = options.temperature ?? 2;
    if (!(temperature > 0)) throw new DistillLinkError(`temperature must be > 0, got ${temperature}`);
    super(model, configList, evaluator, { ...options, originLossLambda: 1 - alpha });
    this.temperature = temperature;
    this.alpha = alpha;
  }

  get name(): string {
    return 'logits';
  }

  protected makeLinks(configList: unknown): DistillLink[] {
    if (configList !== null && configList !== undefined && !(Array.isArray(configList) && configList.length === 0)) {
      throw new DistillLinkError(
        'the logits distiller reads the model outputs and takes no config list (use dynamic_layerwise for chosen targets)',
      );
    }
    const out = (m: Model, who: string) => {
      const o = m.graph.outputs[0];
      if (!o) throw new DistillLinkError(`the ${who} has no output`);
      return o.name;
    };
    const s = this.model.graph.outputs[0];
    const producer = s?.producer;
    return [
      {
        node: producer?.name ?? out(this.model, 'student'),
        target: '_output_0',
        studentValue: out(this.model, 'student'),
        teacherValues: [out(this.teacher, 'teacher')],
        teacherNodes: [this.teacher.graph.outputs[0]?.producer?.name ?? ''],
        lambda: 1,
        method: 'kl',
        path: '$',
      },
    ];
  }

  protected linkLoss(c: LossContext, l: DistillLink, s: Value, ts: Value[]): Value {
    const { e } = c;
    if (!sameShape(e.shape(s), e.shape(ts[0]!))) {
      throw new DistillLinkError(
        `the student's logits are [${e.shape(s).join(', ')}] but the teacher's are [${e.shape(ts[0]!).join(', ')}]`,
        { node: l.node },
      );
    }
    return e.scale(klLoss(e, s, ts[0]!, this.temperature), this.alpha);
  }
}

/** The class behind every name of src-shared's DISTILLER_REGISTRY (a name without one does not compile). */
export const DISTILLER_CLASSES = {
  logits: LogitsDistiller,
  dynamic_layerwise: DynamicLayerwiseDistiller,
  adaptive1d_layerwise: Adaptive1dLayerwiseDistiller,
} as const satisfies Record<
  DistillerName,
  new (model: Model, configList: unknown, evaluator: unknown, options: never) => TeacherDistiller
>;
