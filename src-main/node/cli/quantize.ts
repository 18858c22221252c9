/**
 * @file `studio quantize <model.onnx> --config <cfg.json> --calib <data> [--observer …] [--out dir] [--json]`:
 * post-training quantization to a QDQ model ORT runs on integers (or dynamic quantization when no calibration data
 * is given), then accuracy (when labels exist), size and latency before / after, side by side. A client of the
 * public quantization API, not a second implementation. May import core, node:* and the node layers.
 */
import { prepareOutputDir } from '../io/guard.ts';
import { writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { readConfigList } from './config-file.ts';
import { StudioError, type Model } from '../../core/ir/index.ts';
import { formatDiagnostic } from '../../core/compress/errors.ts';
import { QUANTIZERS, unknownCompressorMessage, type QuantizerName } from '../../../src-shared/compressors.ts';
import type { TrainedQuantizerName } from '../../core/compress/quantization/trained.ts';
import { checkDeployed, isTrainedQuantizer, TRAINED_QUANTIZER_CLASSES } from '../quantize/trained.ts';
import { latencyAwarePrecision, type SpeedProbe } from '../quantize/mixed.ts';
import { Evaluator, evaluate, type RunOptions, type ArrayDataset } from '../train/index.ts';
import {
  ORT_CPU_STATIC_CONFIG,
  OBSERVER_KINDS,
  quantizeDynamic,
  type CalibrationConfig,
  type ObserverKind,
} from '../../core/compress/quantization/index.ts';
import { resolveTargets } from '../../core/compress/targets/index.ts';
import { parseConfigList, type Diagnostic } from '../../../src-shared/config/index.ts';
import { savedSize, saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import { compareLatency, cpuInfo, inputSpecs, resolveInputShapes, type CpuInfo } from '../runtime/index.ts';
import { PTQQuantizer, wantsReduceRange } from '../quantize/ptq.ts';
import { imageEvaluator } from '../quantize/data.ts';
import { loadSamples } from '../train/data.ts';
import { optimizedGraph, INTEGER_OPS, type FusionReport } from '../quantize/verify.ts';
import type { CommandIO } from './prune.ts';
import { formatBytes, formatMs } from '../../../src-shared/format.ts';

export interface QuantizeCommandOptions {
  /** Path of the .onnx model (with its weights). */
  model: string;
  /** JSON config list (NNI 3.0 quantization keys); default: the ORT CPU recommendation (`ORT_CPU_STATIC_CONFIG`). */
  config?: string;
  /** Calibration data: IDX images (labels found beside them), `.npy`, `.npz` or an IDX folder. Absent → dynamic quantization. */
  calib?: string;
  /** Activation observer (default minmax). */
  observer?: string;
  /**
   * Output folder for the model and `<stem>.calibration.json` (nothing is written without it). The model is named by
   * what it is (`outputName`): `<stem>.int8.onnx`; `<stem>.mixed.onnx` when latency-aware precision kept some layers
   * fp32; `<stem>.fp32.onnx` when it kept the whole model fp32.
   */
  out?: string;
  json?: boolean;
  /** Labelled evaluation data (default: the calibration file's samples after the calibration ones). */
  eval?: string;
  /** Calibration samples (default 500). */
  calibCount?: number;
  /** Evaluation samples (default 2000, all of `eval` when given). */
  evalCount?: number;
  /** Module fusion (default 'auto'). */
  fuse?: 'auto' | 'config';
  /** 7-bit weights; default from the CPU flags. */
  reduceRange?: boolean;
  /** Accuracy fallback: largest top-1 drop allowed (e.g. 0.005). */
  maxDrop?: number;
  /** Threads for the latency comparison and the evaluations (default 1). */
  threads?: number;
  /** Latency rounds (default 30). */
  runs?: number;
  /** Shapes of inputs with dynamic dims for the latency comparison (default: one calibration sample's shape). */
  shapes?: Record<string, number[]>;
  /** Quantizer (default 'ptq'); qat / lsq / lsqplus / dorefa / bnn train on `data`. */
  quantizer?: string;
  /** Labelled training data of a trained quantizer (IDX images with labels beside them, .npy, .npz, IDX folder). */
  data?: string;
  /** Training block of a trained quantizer (defaults: 1 epoch, Adam, lr 1e-4, batch 64). */
  epochs?: number;
  optimizer?: 'sgd' | 'adam' | 'adamw';
  lr?: number;
  batchSize?: number;
  /**
   * Static (--calib) and trained quantizers, on unless false: where the result measures slower than the input at
   * batch 1 or 64, keep in fp32 the layers whose fp32 form is faster, then the whole model.
   */
  latencyAware?: boolean;
  /** QAT: optimizer steps in float before fake quantization starts. */
  quantStartStep?: number;
  /** LSQ / LSQ+: initial scales ('mean' = 2·mean|x|/√qmax, 'nni' = 0.01). */
  init?: 'mean' | 'nni';
  /** DoReFa: quantize gradients with this many bits (stochastic, DoReFa's formula). */
  gradientBits?: number;
  /** Latency-aware precision's timing (default: side-by-side rounds in ORT); tests inject one to fix the decisions. */
  latencyProbe?: SpeedProbe;
}

/** A bad command-line argument. */
export class QuantizeCommandError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'QUANTIZE_COMMAND', details);
  }
}

export interface QuantizeReport {
  model: string;
  mode: 'static' | 'dynamic' | 'trained';
  quantizer: string;
  /** Trained quantizers: the run and the simulated model's accuracy (deployed = `accuracy.after`). */
  training?: { steps: number; samples: number; source: string; simulated: number };
  observer?: ObserverKind;
  reduceRange: boolean;
  cpu: Pick<CpuInfo, 'model' | 'flags' | 'logicalCores'>;
  calibration?: { samples: number; source: string };
  size: { before: number; after: number; ratio: number };
  latency: { threads: number; rounds: number; fp32Ms: number; int8Ms: number; speedup: number };
  accuracy?: { before: number; after: number; drop: number; samples: number; on: string };
  fusion: Pick<FusionReport, 'counts' | 'integerOps' | 'floatLinear' | 'unfused'>;
  fallback?: { met: boolean; floatNodes: string[]; evaluations: number };
  /**
   * Latency-aware precision (the default): the batch sizes at which the all-quantized export measured slower than
   * the input, the layers kept fp32 (speedup when moved back, per batch size), or the whole model.
   */
  mixedPrecision?: {
    floatLayers: { node: string; gain: number; gains: { batch: number; gain: number }[] }[];
    wholeModelFloat: boolean;
    slowerAt: number[];
  };
  files?: { model: string; calibration?: string };
  diagnostics: Diagnostic[];
}

const processIO: CommandIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/**
 * Quantizes a model file and reports accuracy, size and latency before / after.
 *
 * @example await quantizeCommand({ model: 'resources/mnist-cnn.onnx', calib: 'resources/mnist/train-images-idx3-ubyte.gz', out: 'q' });
 * @throws QuantizeCommandError, ModelFileError, ConfigListError, CompressionConfigError, CalibrationDataError (each names the fault)
 */
export async function quantizeCommand(
  opts: QuantizeCommandOptions,
  io: CommandIO = processIO,
): Promise<QuantizeReport> {
  const observer = parseObserver(opts.observer);
  const quantizer = parseQuantizer(opts);
  const configList = opts.config ? readConfigList(opts.config) : ORT_CPU_STATIC_CONFIG;
  const { model } = openModel(opts.model);
  // without calibration data nothing else sizes dynamic dims: refuse them by name before any work
  let shapes = opts.calib && !opts.shapes ? undefined : resolveInputShapes(model, opts.shapes);
  const threads = opts.threads ?? 1;
  const reduceRange = opts.reduceRange ?? wantsReduceRange();
  const q = isTrainedQuantizer(quantizer)
    ? await trainedQuantize(model, configList, quantizer, opts, reduceRange, threads)
    : opts.calib
      ? await staticQuantize(model, configList, opts, observer, reduceRange, threads)
      : await dynamicQuantize(model, configList, reduceRange);
  // the built-in config names every op type ORT has kernels for: types this model lacks are not worth a warning
  if (!opts.config)
    q.diagnostics = q.diagnostics.filter((d) => d.code !== 'unmatched-op-type' && d.code !== 'empty-selection');
  shapes ??= calibrationShapes(model, q.sampleShape);
  const c = await compareLatency(model, q.model, { threads, runs: opts.runs ?? 30, warmup: 3, shapes });
  const [before, after] = [savedSize(model), savedSize(q.model)];
  const cpu = cpuInfo();
  const report: QuantizeReport = {
    model: opts.model,
    mode: q.training ? 'trained' : opts.calib ? 'static' : 'dynamic',
    quantizer,
    ...(q.training ? { training: q.training } : {}),
    ...(opts.calib ? { observer } : {}),
    reduceRange,
    cpu: { model: cpu.model, flags: cpu.flags, logicalCores: cpu.logicalCores },
    ...(q.calibration ? { calibration: q.calibration } : {}),
    size: { before, after, ratio: before / after },
    latency: { threads, rounds: c.rounds, fp32Ms: c.a.p50, int8Ms: c.b.p50, speedup: 1 / c.roundRatio },
    ...(q.accuracy ? { accuracy: q.accuracy } : {}),
    fusion: {
      counts: q.fusion.counts,
      integerOps: q.fusion.integerOps,
      floatLinear: q.fusion.floatLinear,
      unfused: q.fusion.unfused,
    },
    ...(q.fallback ? { fallback: q.fallback } : {}),
    ...(q.mixedPrecision ? { mixedPrecision: q.mixedPrecision } : {}),
    diagnostics: q.diagnostics,
  };
  if (opts.out) report.files = writeOutputs(opts, q.model, q.config, report.mixedPrecision);
  if (opts.json) io.stdout(`${JSON.stringify(report, null, 2)}\n`);
  else printReport(report, io);
  return report;
}

/** Input shapes from one calibration sample, when they fit the model's first input as they are (else its declared dims). */
function calibrationShapes(model: Model, sample: number[] | undefined): Record<string, number[]> {
  const first = inputSpecs(model)[0];
  const fits =
    first?.shape?.length === sample?.length &&
    first!.shape!.every((d, i) => typeof d !== 'number' || d < 0 || d === sample![i]);
  return resolveInputShapes(model, fits ? { [first!.name]: sample! } : {});
}

interface Quantized {
  model: Model;
  config?: CalibrationConfig;
  fusion: FusionReport;
  accuracy?: QuantizeReport['accuracy'];
  calibration?: QuantizeReport['calibration'];
  fallback?: QuantizeReport['fallback'];
  mixedPrecision?: QuantizeReport['mixedPrecision'];
  diagnostics: Diagnostic[];
  /** One calibration sample's input shape (batch 1). */
  sampleShape?: number[];
  training?: QuantizeReport['training'];
}

/**
 * Latency-aware precision in the CLI: compared at batch 1 (the report's latency) and 64; the per-layer search runs
 * only where the all-quantized export measures slower than the input.
 */
const LATENCY_AWARE = { batches: [1, 64], whenSlower: true } as const;

const TRAINING_FLAGS = [
  'data',
  'epochs',
  'optimizer',
  'lr',
  'batchSize',
  'quantStartStep',
  'init',
  'gradientBits',
] as const;
const flag = (k: string) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** The quantizer named on the command line, with the flags it does not read refused by name. */
function parseQuantizer(opts: QuantizeCommandOptions): QuantizerName {
  const name = opts.quantizer ?? 'ptq';
  if (!(QUANTIZERS as readonly string[]).includes(name))
    throw new QuantizeCommandError(unknownCompressorMessage('quantizer', name), { quantizer: name });
  const given = (k: keyof QuantizeCommandOptions) => opts[k] !== undefined;
  const refuse = (k: keyof QuantizeCommandOptions, why: string) => {
    if (given(k))
      throw new QuantizeCommandError(`${flag(k)} is not read by the ${name} quantizer: ${why}`, {
        quantizer: name,
        option: flag(k),
      });
  };
  if (isTrainedQuantizer(name)) {
    if (!opts.data)
      throw new QuantizeCommandError(`the ${name} quantizer trains: give its labelled training data with --data`, {
        quantizer: name,
      });
    for (const k of ['calib', 'calibCount', 'maxDrop'] as const)
      refuse(k, 'it trains on --data instead of calibrating');
    if (opts.observer !== undefined && opts.observer !== 'minmax')
      refuse('observer', 'it trains on --data instead of calibrating');
    if (name !== 'qat') refuse('quantStartStep', 'only qat delays quantization');
    if (name !== 'lsq' && name !== 'lsqplus') refuse('init', 'only lsq / lsqplus learn their scales');
    if (name !== 'dorefa') refuse('gradientBits', 'only dorefa quantizes gradients');
  } else {
    for (const k of TRAINING_FLAGS) refuse(k, 'it calibrates (--calib) and does not train');
    if (opts.latencyAware === true && !opts.calib)
      refuse('latencyAware', 'dynamic quantization (no --calib) has no per-layer choice to make');
  }
  return name as QuantizerName;
}

/** A trained quantizer: train on --data, export, and check deployed = simulated on --eval (or the first 2000 training samples). */
async function trainedQuantize(
  model: Model,
  configList: unknown,
  name: TrainedQuantizerName,
  opts: QuantizeCommandOptions,
  reduceRange: boolean,
  threads: number,
): Promise<Quantized> {
  const all = await loadSamples(opts.data!);
  if (!all.labelled)
    throw new QuantizeCommandError(`${opts.data} has no labels: the ${name} quantizer trains with the task loss`, {
      data: opts.data,
    });
  const train = all.slice(0, all.length, basename(all.name));
  const { evaluation, on } = opts.eval
    ? await evaluationSet(all, 0, opts)
    : { evaluation: all.head(opts.evalCount ?? 2000), on: `${basename(all.name)} (training samples)` };
  const evalData = evaluation!.slice(0, evaluation!.length, on);
  const kind = opts.optimizer ?? 'adam';
  const lr = opts.lr ?? 1e-4;
  const optimizer = kind === 'sgd' ? { type: 'sgd' as const, lr, momentum: 0.9 } : { type: kind, lr };
  const evaluator = new Evaluator(model, {
    train,
    eval: evalData,
    optimizer,
    batchSize: opts.batchSize ?? 64,
    epochs: opts.epochs ?? 1,
    seed: 0,
    threads,
  });
  const options = {
    reduceRange,
    ...(opts.quantStartStep !== undefined ? { quantStartStep: opts.quantStartStep } : {}),
    ...(opts.init ? { init: opts.init } : {}),
    ...(opts.gradientBits !== undefined ? { gradientBits: opts.gradientBits } : {}),
  };
  const q = new TRAINED_QUANTIZER_CLASSES[name](model, configList, evaluator, options);
  let steps = 0;
  const run: RunOptions = { onProgress: (e) => void (e.type === 'step' && (steps = e.step)), progressEvery: 1 };
  const r = await q.compress(run);
  const check = await checkDeployed(r, evalData, { threads });
  const before = (await evaluate(model, evalData, { threads, batchSize: 256 })).top1;
  let final = r.exported;
  let after = check.deployed;
  let mixedPrecision: QuantizeReport['mixedPrecision'];
  if (opts.latencyAware !== false) {
    const m = await latencyAwarePrecision(r.forExport, r.targets, r.params, model, {
      ...LATENCY_AWARE,
      ...(opts.latencyProbe ? { probe: opts.latencyProbe } : {}),
      threads,
      sampleShape: all.sampleShape,
      fallback: r.forExport,
    });
    mixedPrecision = { floatLayers: m.floatLayers, wholeModelFloat: m.wholeModelFloat, slowerAt: m.slowerAt };
    if (m.model !== final) {
      final = m.model;
      after = (await evaluate(final, evalData, { threads, batchSize: 256 })).top1;
    }
  }
  return {
    model: final,
    ...(mixedPrecision ? { mixedPrecision } : {}),
    config: r.calibration,
    fusion: check.fusion,
    accuracy: { before, after, drop: before - after, samples: evaluation!.length, on },
    training: { steps, samples: all.length, source: all.name, simulated: check.simulated },
    diagnostics: r.diagnostics,
    sampleShape: [1, ...all.sampleShape],
  };
}

async function staticQuantize(
  model: Model,
  configList: unknown,
  opts: QuantizeCommandOptions,
  observer: ObserverKind,
  reduceRange: boolean,
  threads: number,
): Promise<Quantized> {
  const calibCount = opts.calibCount ?? 500;
  const all = await loadSamples(opts.calib!);
  const calibration = all.head(calibCount);
  const { evaluation, on } = await evaluationSet(all, calibCount, opts);
  const evaluator = imageEvaluator(model, { calibration, ...(evaluation ? { evaluation } : {}), threads });
  const q = new PTQQuantizer(model, configList, evaluator, {
    observer,
    fuse: opts.fuse ?? 'auto',
    reduceRange,
    threads,
  });
  const { calibration: config } = await q.compress();
  let exported = await q.exportQDQ();
  const diagnostics = [...q.diagnostics, ...exported.diagnostics];
  let accuracy: QuantizeReport['accuracy'];
  let fallback: QuantizeReport['fallback'];
  if (evaluation?.labelled) {
    const beforeAcc = await evaluator.evaluate(model);
    let afterAcc = await evaluator.evaluate(exported.model);
    if (opts.maxDrop !== undefined && beforeAcc - afterAcc > opts.maxDrop) {
      const fb = await q.fallback({ maxDrop: opts.maxDrop, baseline: beforeAcc });
      diagnostics.push(...fb.diagnostics);
      exported = await q.exportQDQ({ targets: fb.targets });
      afterAcc = fb.metric;
      fallback = { met: fb.met, floatNodes: fb.floatNodes, evaluations: fb.history.length };
    }
    accuracy = { before: beforeAcc, after: afterAcc, drop: beforeAcc - afterAcc, samples: evaluation.length, on };
  }
  let mixedPrecision: QuantizeReport['mixedPrecision'];
  if (opts.latencyAware !== false) {
    const kept = fallback ? q.activeTargets().filter((t) => !fallback!.floatNodes.includes(t.node)) : q.activeTargets();
    const m = await latencyAwarePrecision(q.fused, kept, q.parameters, model, {
      ...LATENCY_AWARE,
      ...(opts.latencyProbe ? { probe: opts.latencyProbe } : {}),
      threads,
      sampleShape: calibration.sampleShape,
    });
    mixedPrecision = { floatLayers: m.floatLayers, wholeModelFloat: m.wholeModelFloat, slowerAt: m.slowerAt };
    exported = { ...exported, model: m.model };
    if (accuracy && (m.wholeModelFloat || m.floatLayers.length)) {
      const after = await evaluator.evaluate(m.model);
      accuracy = { ...accuracy, after, drop: accuracy.before - after };
    }
  }
  return {
    model: exported.model,
    config,
    ...(mixedPrecision ? { mixedPrecision } : {}),
    fusion: exported.fusion!,
    ...(accuracy ? { accuracy } : {}),
    ...(fallback ? { fallback } : {}),
    calibration: { samples: calibration.length, source: calibration.name },
    diagnostics,
    sampleShape: [1, ...calibration.sampleShape],
  };
}

/** No calibration data: MatMul / Gemm weights to int8, activations quantized per run (DynamicQuantizeLinear). */
async function dynamicQuantize(model: Model, configList: unknown, reduceRange: boolean): Promise<Quantized> {
  const { configs, diagnostics } = parseConfigList(configList, 'quantization');
  const table = resolveTargets(model, configs, 'quantization');
  const nodes = [
    ...new Set(
      table.targets
        .filter((t) => t.name === 'weight' && (t.opType === 'MatMul' || t.opType === 'Gemm'))
        .map((t) => t.nodeName),
    ),
  ];
  const perChannel = table.targets.some(
    (t) => t.name === 'weight' && t.setting.granularity !== 'default' && t.setting.granularity !== undefined,
  );
  const d = quantizeDynamic(model, { nodes, perChannel, reduceRange });
  const optimized = await optimizedGraph(d.model);
  const counts: Record<string, number> = {};
  for (const n of optimized.graph.allNodes()) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  const integerOps = Object.entries(counts).reduce((s, [k, v]) => s + (INTEGER_OPS.has(k) ? v : 0), 0);
  const floatLinear = (counts.MatMul ?? 0) + (counts.Gemm ?? 0) + (counts.Conv ?? 0);
  const extra: Diagnostic[] = [];
  if (nodes.length === 0)
    extra.push({
      level: 'warning',
      code: 'nothing-quantized',
      message:
        'without calibration data only MatMul / Gemm with constant weights are quantized (dynamically), and the config selects none',
    });
  return {
    model: d.model,
    fusion: { counts, integerOps, floatLinear, unfused: [], optimization: 'all' },
    diagnostics: [...diagnostics, ...table.diagnostics, ...d.diagnostics, ...extra],
  };
}

/** The labelled data accuracy is measured on: --eval, else the rest of the calibration file, else the calibration samples. */
async function evaluationSet(
  all: ArrayDataset,
  calibCount: number,
  opts: QuantizeCommandOptions,
): Promise<{ evaluation?: ArrayDataset; on: string }> {
  if (opts.eval) {
    const e = await loadSamples(opts.eval, opts.evalCount !== undefined ? { limit: opts.evalCount } : {});
    return { evaluation: e, on: basename(e.name) };
  }
  if (!all.labelled) return { on: 'none' };
  const n = opts.evalCount ?? 2000;
  if (all.length > calibCount) {
    const end = Math.min(all.length, calibCount + n);
    return {
      evaluation: all.slice(calibCount, end),
      on: `${basename(all.name)} (held-out samples ${calibCount}–${end - 1})`,
    };
  }
  return { evaluation: all, on: `${basename(all.name)} (the calibration samples themselves)` };
}

function parseObserver(name: string | undefined): ObserverKind {
  const o = (name ?? 'minmax').toLowerCase();
  if (!(OBSERVER_KINDS as readonly string[]).includes(o))
    throw new QuantizeCommandError(unknownCompressorMessage('observer', name), { observer: name });
  return o as ObserverKind;
}

/**
 * The written model's file name, by what it is: `<stem>.int8.onnx` quantized, `<stem>.mixed.onnx` with layers kept
 * fp32 by latency-aware precision, `<stem>.fp32.onnx` when it kept the whole model fp32 (the input, or a trained
 * quantizer's trained float model).
 */
export function outputName(model: string, mixed: QuantizeReport['mixedPrecision']): string {
  const stem = basename(model, extname(model));
  const kind = mixed?.wholeModelFloat ? 'fp32' : mixed?.floatLayers.length ? 'mixed' : 'int8';
  return `${stem}.${kind}.onnx`;
}

function writeOutputs(
  opts: QuantizeCommandOptions,
  model: Model,
  config: CalibrationConfig | undefined,
  mixed: QuantizeReport['mixedPrecision'],
): NonNullable<QuantizeReport['files']> {
  const dir = prepareOutputDir(opts.out!, { what: 'output folder' });
  const stem = basename(opts.model, extname(opts.model));
  const modelPath = join(dir, outputName(opts.model, mixed));
  saveModelFile(model, modelPath);
  if (!config) return { model: modelPath };
  const calibration = join(dir, `${stem}.calibration.json`);
  writeFileSync(calibration, `${JSON.stringify(config, null, 2)}\n`);
  return { model: modelPath, calibration };
}

function printReport(r: QuantizeReport, io: CommandIO): void {
  for (const d of r.diagnostics) if (d.level !== 'info') io.stderr(`${d.level}: ${formatDiagnostic(d)}\n`);
  const vnni = r.cpu.flags.avx512_vnni === true || r.cpu.flags.avx_vnni === true;
  const lines = [
    `${r.model}: ${r.mode === 'trained' ? `${r.quantizer} (trained)` : `${r.mode} int8`}${r.observer ? `, observer ${r.observer}` : ''}${r.reduceRange ? ', 7-bit weights (reduce range)' : ''}`,
    ...(r.calibration ? [`  calibrated on ${r.calibration.samples} samples of ${basename(r.calibration.source)}`] : []),
    ...(r.training
      ? [
          `  trained   ${r.training.steps} steps on ${r.training.samples} samples of ${basename(r.training.source)}; simulated ${pct(r.training.simulated)} = deployed within 0.1 point`,
        ]
      : []),
    ...(r.accuracy
      ? [
          `  accuracy  ${pct(r.accuracy.before)} → ${pct(r.accuracy.after)}  (${r.accuracy.drop >= 0 ? '−' : '+'}${(Math.abs(r.accuracy.drop) * 100).toFixed(2)} points on ${r.accuracy.samples} samples of ${r.accuracy.on})`,
        ]
      : ['  accuracy  not measured (no labels)']),
    `  size      ${formatBytes(r.size.before)} → ${formatBytes(r.size.after)}  (${r.size.ratio.toFixed(2)}× smaller)`,
    `  latency   ${formatMs(r.latency.fp32Ms)} → ${formatMs(r.latency.int8Ms)}  (${r.latency.speedup.toFixed(2)}× faster; p50 of ${r.latency.rounds} side-by-side rounds, ${r.latency.threads} thread(s))`,
    `  cpu       ${r.cpu.model}; avx2 ${r.cpu.flags.avx2}, avx512f ${r.cpu.flags.avx512f}, vnni ${vnni}`,
    `  ORT       ${r.fusion.integerOps} integer kernels (${
      Object.entries(r.fusion.counts)
        .filter(([k]) => INTEGER_OPS.has(k))
        .map(([k, v]) => `${k}×${v}`)
        .join(' ') || 'none'
    }), ${r.fusion.floatLinear} float linear ops left`,
    ...r.fusion.unfused.map((u) => `  not fused ${u.node} (${u.opType}): ${u.reason}`),
    ...(r.fallback
      ? [
          `  fallback  ${r.fallback.floatNodes.length} node(s) back to float after ${r.fallback.evaluations} evaluations${r.fallback.met ? '' : ' (drop not met; best kept)'}`,
        ]
      : []),
    ...(r.mixedPrecision?.wholeModelFloat
      ? [
          `  latency   the quantized model measured slower than fp32 here at batch ${r.mixedPrecision.slowerAt.join(' and ')}: the model stays fp32 (latency-aware; --no-latency-aware keeps it quantized)`,
        ]
      : []),
    ...(r.mixedPrecision?.floatLayers ?? []).map(
      (l) =>
        `  fp32      ${l.node}: int8 was slower (${l.gain.toFixed(2)}× faster in fp32, side by side: ${l.gains.map((g) => `batch ${g.batch} ${g.gain.toFixed(2)}×`).join(', ')})`,
    ),
    ...(r.files
      ? [
          `  wrote     ${r.files.model} (${writtenAs(r)})${r.files.calibration ? `\n  wrote     ${r.files.calibration}` : ''}`,
        ]
      : []),
  ];
  io.stdout(`${lines.join('\n')}\n`);
}

/** What the written model is, in words (its file name says the same). */
function writtenAs(r: QuantizeReport): string {
  const m = r.mixedPrecision;
  if (m?.wholeModelFloat)
    return `fp32: ${r.mode === 'trained' ? `the ${r.quantizer}-trained float model` : 'the input'}, as the quantized model measured slower at batch ${m.slowerAt.join(' and ')}`;
  if (m?.floatLayers.length) return `quantized, with ${m.floatLayers.length} layer(s) kept fp32`;
  return 'quantized';
}

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
