/**
 * @file `PTQQuantizer`: NNI 3.0's post-training quantizer on ONNX. `new PTQQuantizer(model, configList, evaluator)`
 * validates the config list, applies module fusion and resolves the targets (one error listing every fault);
 * `compress()` calibrates in ORT and returns the simulated model with NNI's calibration config; `exportQDQ()` writes
 * the QDQ model ORT fuses into integer kernels and checks that it did; `fallback()` returns the most harmful nodes
 * to float until a metric drop is met. May import core, node:* and the runtime.
 */
import { cloneModel, type Model, type Tensor } from '../../core/ir/index.ts';
import {
  hasErrors,
  parseConfigList,
  type Diagnostic,
  type QuantizationConfig,
} from '../../../src-shared/config/index.ts';
import { resolveTargets } from '../../core/compress/targets/index.ts';
import { fuseModules, type FusedGroup } from '../../core/compress/fusion/index.ts';
import { CompressionConfigError } from '../../core/compress/errors.ts';
import { Compressor, type CompressorOptions } from '../../core/compress/compressor.ts';
import type { QuantizerName } from '../../../src-shared/compressors.ts';
import type { TrainedQuantizerName } from '../../core/compress/quantization/trained.ts';
import {
  buildQuantized,
  paramKey,
  planQuantization,
  toCalibrationConfig,
  QuantizerStateError,
  type Applied,
  type CalibrationConfig,
  type ObserverKind,
  type ObserverOptions,
  type ParamTable,
  type QuantTarget,
} from '../../core/compress/quantization/index.ts';
import { cpuInfo, type CpuInfo } from '../runtime/index.ts';
import { calibrate } from './calibrate.ts';
import { fusionDiagnostics, verifyFusion, type FusionReport } from './verify.ts';
import { accuracyFallback, type FallbackOptions, type FallbackResult } from './fallback.ts';

/**
 * What a quantizer needs from the outside: calibration data and the metric (higher is better unless the fallback
 * says otherwise).
 *
 * @example
 * const evaluator: QuantEvaluator = {
 *   async *calibrationBatches() { yield { input: batch } },
 *   evaluate: async (model) => (await evaluateClassifier(model, testSet)).top1,
 * };
 */
export interface QuantEvaluator {
  calibrationBatches(): AsyncIterable<Record<string, Tensor>>;
  evaluate(model: Model): Promise<number>;
}

export interface PTQOptions extends CompressorOptions {
  /** Activation observer (default 'minmax', NNI's PTQ). */
  observer?: ObserverKind | ObserverOptions;
  /**
   * Module fusion: 'config' folds only the config list's `fuse_names` (NNI); 'auto' also folds every
   * Conv / ConvTranspose / Gemm + BatchNormalization and reads a quantized op's `_output_` after the Relu / Clip
   * that alone follows it (default 'config').
   */
  fuse?: 'config' | 'auto';
  /** 7-bit weights; 'auto' (default) = on for x86 CPUs with AVX2 but no VNNI (see `wantsReduceRange`). */
  reduceRange?: boolean | 'auto';
  /** ORT intra-op threads for calibration and checks. */
  threads?: number;
  /** Stop calibration after this many batches. */
  maxBatches?: number;
}

/** What `compress()` returns, in NNI's shape. */
export interface PTQResult {
  /** The simulated model (fake quantization in QuantizeLinear / DequantizeLinear or Round / Clip form). */
  model: Model;
  calibration: CalibrationConfig;
}

export interface ExportResult {
  /** The QDQ model to deploy. */
  model: Model;
  /** How each target was written, by `paramKey(node, target)`. */
  applied: Map<string, Applied>;
  /** What ORT made of it (absent when `verify: false`). */
  fusion?: FusionReport;
  /** Targets kept simulated, nodes ORT did not fuse, … */
  diagnostics: Diagnostic[];
}

/**
 * ORT's U8S8 kernels on AVX2 without VNNI multiply-add pairs into int16 (vpmaddubsw), which can saturate with
 * 8-bit weights; 7-bit weights cannot. VNNI (avx512_vnni / avx_vnni) accumulates in int32 and needs no reduction.
 */
export function wantsReduceRange(cpu: CpuInfo = cpuInfo()): boolean {
  const vnni = cpu.flags.avx512_vnni === true || cpu.flags.avx_vnni === true;
  return (cpu.arch === 'x64' || cpu.arch === 'ia32') && cpu.flags.avx2 === true && !vnni;
}

/**
 * Post-training quantization with NNI's config list, on ONNX.
 *
 * @example
 * const q = new PTQQuantizer(model, [{ op_types: ['Conv', 'Gemm'], target_names: ['_input_', 'weight', 'bias', '_output_'],
 *   quant_dtype: 'int8', quant_scheme: 'affine', target_settings: { weight: { quant_scheme: 'symmetric', granularity: 'out_channel' } } }], evaluator);
 * const { model: simulated, calibration } = await q.compress();
 * const { model: qdq, fusion } = await q.exportQDQ(); // fusion.counts.QLinearConv > 0
 */
export class PTQQuantizer extends Compressor<PTQResult, QuantEvaluator> {
  declare readonly evaluator: QuantEvaluator;
  readonly configs: readonly QuantizationConfig[];
  /** Everything noticed so far (errors are thrown). */
  readonly diagnostics: Diagnostic[];
  /** The float model after module fusion: what is calibrated and quantized. */
  readonly fused: Model;
  readonly fusedGroups: readonly FusedGroup[];
  readonly targets: readonly QuantTarget[];
  readonly reduceRange: boolean;
  private params: ParamTable | null = null;
  private simulatedModel: Model | null = null;

  /**
   * @throws ConfigListError for schema faults, each with its JSON path
   * @throws CompressionConfigError for faults against this model (fusion groups, granularities, targets), each naming its node
   */
  constructor(
    model: Model,
    configList: unknown,
    evaluator: QuantEvaluator,
    readonly options: PTQOptions = {},
  ) {
    super(model, configList, evaluator, options);
    const parsed = parseConfigList(configList, 'quantization');
    this.configs = parsed.configs;
    this.diagnostics = [...parsed.diagnostics];
    this.reduceRange =
      options.reduceRange === undefined || options.reduceRange === 'auto' ? wantsReduceRange() : options.reduceRange;
    this.fused = cloneModel(model);
    const groups = this.configs.flatMap((c, i) =>
      (c.fuse_names ?? []).map((names, k) => ({ names, path: `$[${i}].fuse_names[${k}]` })),
    );
    const fusion = fuseModules(this.fused, { groups, auto: options.fuse === 'auto' });
    this.diagnostics.push(...fusion.diagnostics);
    const table = resolveTargets(this.fused, this.configs, 'quantization');
    this.diagnostics.push(...table.diagnostics);
    const plan = planQuantization(this.fused, table, {
      fused: fusion.groups,
      autoActivations: options.fuse === 'auto',
      reduceRange: this.reduceRange,
    });
    this.diagnostics.push(...plan.diagnostics);
    this.fusedGroups = plan.fused;
    this.targets = plan.targets;
    if (this.reduceRange && this.targets.some((t) => t.range.bits !== t.requested.bits && !t.int32Bias)) {
      this.diagnostics.push({
        level: 'info',
        code: 'reduce-range',
        message:
          "int8 weights are quantized with 7 bits (reduce range) so ORT's U8S8 kernels cannot saturate on a CPU without VNNI",
      });
    }
    if (hasErrors(this.diagnostics)) throw new CompressionConfigError(this.diagnostics);
  }

  /** The observer options in effect. */
  get observer(): ObserverOptions {
    const o = this.options.observer;
    return typeof o === 'string' ? { kind: o } : (o ?? { kind: 'minmax' });
  }

  get name(): QuantizerName {
    return 'ptq';
  }

  /** Calibrate over the evaluator's batches and build the simulated model (from the fused copy of the model). */
  protected async collect(): Promise<PTQResult> {
    const cal = await calibrate(this.fused, this.targets, this.evaluator.calibrationBatches(), {
      observer: this.observer,
      ...(this.options.threads !== undefined ? { threads: this.options.threads } : {}),
      ...(this.options.maxBatches !== undefined ? { maxBatches: this.options.maxBatches } : {}),
    });
    this.diagnostics.push(...cal.diagnostics);
    this.params = cal.params;
    const built = buildQuantized(this.fused, this.activeTargets(), cal.params, { mode: 'simulate' });
    this.simulatedModel = built.model;
    return { model: built.model, calibration: toCalibrationConfig(this.activeTargets(), cal.params) };
  }

  /** The parameters found by `compress()`. */
  get parameters(): ParamTable {
    if (!this.params) throw new QuantizerStateError('call compress() first: there are no quantization parameters yet');
    return this.params;
  }

  /** The simulated model of the last `compress()`. */
  get simulated(): Model {
    if (!this.simulatedModel) throw new QuantizerStateError('call compress() first: there is no simulated model yet');
    return this.simulatedModel;
  }

  /** Targets with parameters (a target whose value never reached the observers is left out). */
  activeTargets(): QuantTarget[] {
    const p = this.params;
    return this.targets.filter((t) => !p || p.has(paramKey(t.node, t.target)));
  }

  /**
   * The QDQ model: integer weights and int32 biases behind DequantizeLinear, Q/DQ pairs on activations. Unless
   * `verify` is false, ORT loads it and every quantized node it left on float is reported by name.
   */
  async exportQDQ(opts: { verify?: boolean; targets?: readonly QuantTarget[] } = {}): Promise<ExportResult> {
    const targets = opts.targets ?? this.activeTargets();
    const built = buildQuantized(this.fused, targets, this.parameters, { mode: 'export' });
    const diagnostics = [...built.diagnostics];
    if (opts.verify === false) return { model: built.model, applied: built.applied, diagnostics };
    const fusion = await verifyFusion(built.model, targets, built.applied);
    diagnostics.push(...fusionDiagnostics(fusion));
    return { model: built.model, applied: built.applied, fusion, diagnostics };
  }

  /**
   * Accuracy-controlled fallback (beyond NNI): rank quantized nodes by how much of the output error they cause and
   * return the worst to float until `evaluate` drops at most `maxDrop` below the float model; the best model found
   * is always kept.
   */
  async fallback(opts: FallbackOptions): Promise<FallbackResult> {
    return accuracyFallback(this, opts);
  }
}

/** How every quantizer is built: NNI's `(model, config_list, evaluator, options)`. */
export type QuantizerClass = new (
  model: Model,
  configList: unknown,
  evaluator: QuantEvaluator,
  options?: PTQOptions,
) => PTQQuantizer;

/**
 * The implementation of every calibrating name in src-shared's quantizer registry; the trained ones are
 * TRAINED_QUANTIZER_CLASSES (node/quantize/trained.ts). A registered name in neither does not compile.
 */
export const QUANTIZER_CLASSES = { ptq: PTQQuantizer } as const satisfies Record<
  Exclude<QuantizerName, TrainedQuantizerName>,
  QuantizerClass
>;
