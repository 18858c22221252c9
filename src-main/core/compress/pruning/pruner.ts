/**
 * @file The one-shot pruners with NNI 3.0's API shape: `new L1NormPruner(model, configList, evaluator?, options)`
 * validates the config list and resolves its targets (throwing one error that lists every fault), `await
 * pruner.compress()` returns the masks as data and leaves the model untouched; `simulate(model, masks, {
 * applyMethods })` gives the masked model. `dependency_group_id: "auto"` is resolved here when traced shapes are
 * given. `PRUNER_CLASSES` is the implementation of every name in src-shared's pruner registry.
 * Pure: imports only the IR, sibling modules and the shared config layer.
 */
import type { Model } from '../../ir/index.ts';
import {
  AUTO_DEPENDENCY_GROUP,
  hasErrors,
  parseConfigList,
  type CompressorFamily,
  type Diagnostic,
  type PruningConfig,
  type PruningSetting,
} from '../../../../src-shared/config/index.ts';
import type { OneShotPrunerName, PrunerName } from '../../../../src-shared/compressors.ts';
import { Compressor, type CompressionEvaluator, type CompressionMode, type CompressorOptions } from '../compressor.ts';
import { resolveAutoDependencyGroups } from './auto-groups.ts';
import { maskSparsity, maskToJson, setMask, type Masks, type TargetMask } from '../masks.ts';
import { resolveTargets, type TargetTable } from '../targets/index.ts';
import type { ApplyMethod, ApplyMethods } from '../simulate/index.ts';
import { CompressionConfigError } from '../errors.ts';
import { blockIds, blockView, expandBlockMask, inversePerm, permute, type BlockView } from './granularity.ts';
import { fpgmMetric, normMetric, type Metric } from './metrics.ts';
import { PLAN_FORMAT, PLAN_VERSION, graphHash, weightsHash, type PlanTarget, type PruningPlan } from './plan.ts';
import { prepareTargets, ruleFamily, type Prepared, type ShapeSource } from './setup.ts';
import { andInto, dependencyRule, globalRule, ratioRule, thresholdRule } from './sparsity.ts';

/** The registry name of a pruner (src-shared/compressors.ts). */
export type PrunerKind = PrunerName;

export interface PrunerOptions extends CompressorOptions {
  /**
   * Concrete shapes of activations by value name (from a trace), for `_input_k` / `_output_k` targets and for
   * `dependency_group_id: "auto"` (the channel dependency analysis needs them).
   */
  shapes?: ShapeSource;
  /** Model name recorded in the plan (default: the graph's name). */
  modelName?: string;
}

/** What `compress()` returns: masks as data plus everything needed to apply, report and replay them. */
export interface PruneResult {
  masks: Masks;
  /** Apply method per masked target, for `simulate`. */
  applyMethods: ApplyMethods;
  /** The replayable plan (masks, config list, pruner, model fingerprints). */
  plan: PruningPlan;
}

/** Shared machinery of the one-shot pruners; subclasses choose the metric. */
export abstract class Pruner extends Compressor<PruneResult> {
  /** The config list pruned: the one given, with "auto" dependency groups resolved into explicit ids. */
  readonly resolvedConfigList: unknown;
  /** Channel dependency groups found for `dependency_group_id: "auto"` (0 when no entry asked for it). */
  readonly dependencyGroups: number;
  /** Parsed config entries (op types read as ONNX). */
  readonly configs: readonly PruningConfig[];
  /** Resolved targets. */
  readonly targets: TargetTable<'pruning'>;
  /** Everything noticed while parsing, resolving and pruning (warnings and infos; errors are thrown). */
  readonly diagnostics: Diagnostic[];
  private readonly prepared: Prepared[];

  /**
   * @throws ConfigListError for schema faults (unknown keys, wrong types, ranges), each with its JSON path
   * @throws CompressionConfigError for faults against this model (non-initializer targets, group mismatches, align
   *   sources that do not exist, granularities that do not fit), each with its JSON path and node
   */
  constructor(
    model: Model,
    configList: unknown,
    evaluator?: CompressionEvaluator,
    readonly options: PrunerOptions = {},
  ) {
    super(model, configList, evaluator, options);
    const parsed = parseConfigList(configList, 'pruning');
    const auto = expandAuto(model, parsed.configs, options.shapes);
    this.resolvedConfigList = auto ? auto.configList : configList;
    this.dependencyGroups = auto?.groups ?? 0;
    this.configs = auto ? parseConfigList(auto.configList, 'pruning').configs : parsed.configs;
    this.targets = resolveTargets(model, this.configs, 'pruning');
    this.diagnostics = [...parsed.diagnostics, ...(auto?.diagnostics ?? []), ...this.targets.diagnostics];
    this.prepared = prepareTargets(
      model,
      this.configs,
      this.targets,
      { family: this.family, structuredOnly: this.structuredOnly, shapes: options.shapes },
      this.diagnostics,
    );
    if (hasErrors(this.diagnostics)) throw new CompressionConfigError(this.diagnostics);
  }

  /** The registry name (a prototype getter: read during construction). */
  abstract override get name(): PrunerKind;

  /** The registry name (the plan's `pruner`). */
  get kind(): PrunerKind {
    return this.name;
  }

  /** What `granularity: 'default'` means (NNI's register_scalers). */
  protected get family(): CompressorFamily {
    return 'norm';
  }

  /** Set to the pruner's name when it needs multi-element blocks. */
  protected get structuredOnly(): string | undefined {
    return undefined;
  }

  /** The metric of one target: `data` in the canonical out-first layout, blocks per `view`. */
  protected abstract metric(data: Float32Array, view: BlockView): Metric;

  /** Computes the masks from the weights of `model` (this pruner's model, or a trained copy of it), which is not modified. */
  protected async collect(model: Model): Promise<PruneResult> {
    return this.generate((p) => this.metric(canonicalData(p, model), p.view));
  }

  /** The targets as the rules see them (training-time pruners and the schedules read their views and layouts). */
  get preparedTargets(): readonly Prepared[] {
    return this.prepared;
  }

  override get mode(): CompressionMode {
    return 'pruning';
  }

  override get targetKeys(): readonly (readonly [string, string])[] {
    return this.prepared.map((p) => [p.t.nodeName, p.t.name] as const);
  }

  /** This pruner's metric of a target from its current values in the target's ONNX layout (e.g. trained weights). */
  metricOf(p: Prepared, onnxData: Float32Array): Metric {
    return this.metric(permute(onnxData, p.dims as number[], p.perm), p.view);
  }

  /**
   * Masks from one metric per ranked target, through NNI's rules. `scale` multiplies every goal of every target
   * (`sparse_ratio`, `sparse_threshold`, `min_sparse_ratio`, `max_sparse_ratio`), as the Linear / AGP schedules
   * and Movement's warm-up do; 1 = the configured goals.
   */
  generate(metricOf: (p: Prepared) => Metric, scale = 1): PruneResult {
    for (const p of this.prepared) {
      p.rule.mask = null;
      p.rule.setting = scale === 1 ? p.t.setting : scaledGoals(p.t.setting, scale);
    }
    const ranked = this.prepared.filter((p) => p.ranked);
    for (const p of ranked) p.rule.metric = metricOf(p);
    try {
      this.applyRules();
    } finally {
      for (const p of this.prepared) p.rule.setting = p.t.setting;
    }
    const masks: Masks = new Map();
    const applyMethods: Record<string, Record<string, string>> = {};
    const planTargets: PlanTarget[] = [];
    for (const p of this.prepared) {
      if (!p.rule.mask) continue;
      const mask = onnxMask(p);
      const method = (p.t.setting.apply_method ?? 'mul') as ApplyMethod;
      setMask(masks, p.t.nodeName, p.t.name, mask);
      (applyMethods[p.t.nodeName] ??= {})[p.t.name] = method;
      planTargets.push({
        node: p.t.nodeName,
        opType: p.t.opType,
        target: p.t.name,
        kind: p.t.kind,
        value: p.t.value.name,
        shape: p.dims,
        applyMethod: method,
        config: p.t.path,
        sparsity: maskSparsity(mask),
      });
    }
    return { masks, applyMethods, plan: this.plan(masks, planTargets) };
  }

  /** NNI's rule order: threshold → dependency → global → ratio → align, each ANDed into the running mask. */
  private applyRules(): void {
    const all = this.prepared;
    for (const p of all) if (p.t.setting.sparse_threshold != null) thresholdRule(p.rule);
    for (const members of groups(all, 'dependency')) dependencyRule(members.map((p) => p.rule));
    for (const members of groups(all, 'global')) globalRule(members.map((p) => p.rule));
    for (const p of all) if (ruleFamily(p.t.setting) === 'ratio') ratioRule(p.rule);
    for (const p of all) if (p.align && p.align.source.rule.mask) andInto(p.rule, alignedMask(p));
  }

  private plan(masks: Masks, targets: PlanTarget[]): PruningPlan {
    const json: PruningPlan['masks'] = {};
    for (const t of targets) (json[t.node] ??= {})[t.target] = maskToJson(masks.get(t.node)!.get(t.target)!);
    return {
      format: PLAN_FORMAT,
      version: PLAN_VERSION,
      pruner: this.kind,
      model: {
        name: this.options.modelName ?? this.model.graph.name,
        graphHash: graphHash(this.model),
        weightsHash: weightsHash(this.model),
      },
      configList: this.resolvedConfigList,
      targets,
      masks: json,
    };
  }
}

/** A setting with every sparsity goal multiplied by `r` (unset goals stay unset). */
function scaledGoals(s: PruningSetting, r: number): PruningSetting {
  const k = (v: number | null | undefined) => (v == null ? v : v * r);
  return {
    ...s,
    sparse_ratio: k(s.sparse_ratio),
    sparse_threshold: k(s.sparse_threshold),
    min_sparse_ratio: k(s.min_sparse_ratio),
    max_sparse_ratio: k(s.max_sparse_ratio),
  };
}

/** Members of each dependency / global group, in target order. */
function groups(all: readonly Prepared[], kind: 'dependency' | 'global'): Prepared[][] {
  const out = new Map<string, Prepared[]>();
  for (const p of all) {
    if (ruleFamily(p.t.setting) !== kind) continue;
    const id = kind === 'dependency' ? p.t.setting.dependency_group_id! : p.t.setting.global_group_id!;
    const k = `${typeof id}:${id}`;
    out.set(k, [...(out.get(k) ?? []), p]);
  }
  return [...out.values()];
}

/** `dependency_group_id: "auto"` resolved by the channel dependency analysis; null when no entry asks for it. */
function expandAuto(model: Model, configs: readonly PruningConfig[], shapes: ShapeSource | undefined) {
  const isAuto = (c: PruningConfig) =>
    c.dependency_group_id === AUTO_DEPENDENCY_GROUP ||
    c.target_settings?.weight?.dependency_group_id === AUTO_DEPENDENCY_GROUP;
  if (!shapes || !configs.some(isAuto)) return null;
  const map = shapes instanceof Map ? shapes : new Map(Object.entries(shapes));
  const r = resolveAutoDependencyGroups(configs, model, map);
  return { configList: r.configList, groups: r.groups.length, diagnostics: r.diagnostics };
}

/** The target's values (read from `model`, by value name) as float32 in the canonical out-first layout. */
function canonicalData(p: Prepared, model: Model): Float32Array {
  const t = model.graph.get(p.t.value.name)?.initializer ?? p.t.value.initializer!;
  return permute(t.toFloat32(), t.dims, p.perm);
}

/** Rule 5: a source channel survives if any source element in it survives (sum over the other dims, then `!= 0`). */
function alignedMask(p: Prepared): Uint8Array {
  const { source, dims } = p.align!;
  const srcDims = source.view.maskDims;
  const full = expandBlockMask(source.rule.mask!, source.view);
  // the reduction is a block view of the source: one block per kept index, the other dims whole
  const kernel = srcDims.map((_, d) => (dims.includes(d) ? 1 : -1));
  const reduce = blockView(srcDims, kernel);
  const out = new Uint8Array(reduce.blockDims.reduce((a, b) => a * b, 1));
  const ids = blockIds(reduce);
  for (let i = 0; i < full.length; i++) if (full[i]) out[ids[i]!] = 1;
  const blocks = p.view.blockDims.reduce((a, b) => a * b, 1);
  return out.length === blocks ? out : new Uint8Array(blocks).fill(out[0]!);
}

/** The block mask expanded and written back in the target's ONNX layout. */
function onnxMask(p: Prepared): TargetMask {
  const canon = expandBlockMask(p.rule.mask!, p.view);
  const inv = inversePerm(p.perm);
  return { dims: inv.map((c) => p.view.maskDims[c]!), data: permute(canon, p.view.maskDims, inv) };
}

/**
 * LevelPruner: element-wise |w| by default (a block L1 norm when a granularity is given).
 *
 * @example const { masks } = await new LevelPruner(model, [{ op_types: ['Gemm'], sparse_ratio: 0.9 }]).compress();
 */
export class LevelPruner extends Pruner {
  get name(): PrunerKind {
    return 'level';
  }
  protected override get family(): CompressorFamily {
    return 'level';
  }
  protected metric(data: Float32Array, view: BlockView): Metric {
    return normMetric(data, view, 1);
  }
}

/**
 * L1NormPruner: ‖block‖₁, output channels by default.
 *
 * @example const { masks } = await new L1NormPruner(model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }]).compress();
 */
export class L1NormPruner extends Pruner {
  get name(): PrunerKind {
    return 'l1';
  }
  protected metric(data: Float32Array, view: BlockView): Metric {
    return normMetric(data, view, 1);
  }
}

/**
 * L2NormPruner: ‖block‖₂, output channels by default.
 *
 * @example const { masks } = await new L2NormPruner(model, [{ op_types: ['Conv'], sparse_ratio: 0.5 }]).compress();
 */
export class L2NormPruner extends Pruner {
  get name(): PrunerKind {
    return 'l2';
  }
  protected metric(data: Float32Array, view: BlockView): Metric {
    return normMetric(data, view, 2);
  }
}

/**
 * FPGMPruner: Σ_j ‖w_i − w_j‖₂ per block (structured granularities only), output channels by default.
 *
 * @example const { masks } = await new FPGMPruner(model, [{ op_types: ['Conv'], sparse_ratio: 0.3 }]).compress();
 */
export class FPGMPruner extends Pruner {
  get name(): PrunerKind {
    return 'fpgm';
  }
  protected override get structuredOnly(): string {
    return 'FPGMPruner';
  }
  protected metric(data: Float32Array, view: BlockView): Metric {
    return fpgmMetric(data, view);
  }
}

/** How every pruner is built: NNI's `(model, config_list, evaluator?, options)`. */
export type PrunerClass = new (
  model: Model,
  configList: unknown,
  evaluator?: CompressionEvaluator,
  options?: PrunerOptions,
) => Pruner;

/**
 * The implementation of every one-shot name in src-shared's pruner registry (a registered name without one does not
 * compile); the training-aware ones are TRAINING_PRUNER_CLASSES (training.ts).
 */
export const PRUNER_CLASSES = {
  level: LevelPruner,
  l1: L1NormPruner,
  l2: L2NormPruner,
  fpgm: FPGMPruner,
} as const satisfies Record<OneShotPrunerName, PrunerClass>;
