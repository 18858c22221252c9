/**
 * @file `studio prune`: prune a model file with a config list, write the simulated model and the replayable plan,
 * print per-target sparsity (a table, or JSON). A client of the public pruning API, not a second implementation.
 * May import core, node:* and the node io layer.
 */
import { prepareOutputDir } from '../io/guard.ts';
import { writeFileSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { readConfigList } from './config-file.ts';
import { StudioError } from '../../core/ir/index.ts';
import { PRUNER_CLASSES, planToJson, type PlanTarget, type PrunerKind } from '../../core/compress/pruning/index.ts';
import { simulateAsCompact } from '../speedup/index.ts';
import { formatDiagnostic } from '../../core/compress/errors.ts';
import type { Diagnostic } from '../../../src-shared/config/index.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import { speedupCommand, type SpeedupCommandJson } from './speedup.ts';
import { unknownCompressorMessage, type OneShotPrunerName } from '../../../src-shared/compressors.ts';
import { shapesForAutoGroups, wantsAutoGroups } from '../steps/auto-groups.ts';
import type { Model } from '../../core/ir/index.ts';
import type { PruneResult } from '../../core/compress/pruning/index.ts';
import type { TrajectoryPoint } from '../../core/compress/pruning/training.ts';
import {
  checkPruneOptions,
  isTrainingPruner,
  PRUNE_OPTION_KEYS,
  TRAINING_PRUNERS,
  type TrainingPruneOptions,
  type TrainingPrunerName,
} from '../../../src-shared/prune-options.ts';
import { loadDataset } from '../train/data.ts';
import { trainingPrune } from '../train/prune.ts';
import { withTargetShapes } from '../steps/target-shapes.ts';
import { resolveInputShapes } from '../runtime/index.ts';

export interface PruneCommandOptions {
  /** Path of the .onnx model (with its weights). */
  model: string;
  /** Path of a JSON file holding the config list. */
  config: string;
  /** A one-shot pruner (level, l1, l2, fpgm) or a training-aware one (slim, taylor, movement, linear, agp). */
  pruner: PrunerKind | TrainingPrunerName;
  /** Training data for the training-aware pruners (IDX folder, .npz, image folders). */
  data?: string;
  /** Options of the training-aware pruners (`--training-steps`, `--inner`, …); refused where the pruner reads none. */
  training?: TrainingPruneOptions & { lr?: number; batchSize?: number; threads?: number };
  /** Output folder (created when missing); default `<model stem>-pruned` in the working directory. */
  out?: string;
  /** Print JSON instead of a table. */
  json?: boolean;
  /** Also remove the pruned channels (speedup) and write `compact.onnx`. */
  speedup?: boolean;
  /** With speedup: keep channel counts at multiples of this. */
  roundTo?: number;
  /** Shapes of inputs with dynamic dims (`--shape input=1,3,640,640`); a dynamic leading dim alone defaults to 1. */
  shapes?: Record<string, number[]>;
}

/** Where the command prints (the process streams by default; tests capture). */
export interface CommandIO {
  stdout(text: string): void;
  stderr(text: string): void;
}

export interface PruneCommandResult {
  outDir: string;
  simulatedPath: string;
  planPath: string;
  targets: PlanTarget[];
  diagnostics: Diagnostic[];
  /** Training-aware pruners: each mask update (step, fraction of the goals, sparsity per target). */
  trajectory?: TrajectoryPoint[];
  /** With `speedup`: the flat report (`compact`, params / MACs / latency before and after, `max_rel_err`). */
  speedup?: SpeedupCommandJson;
}

/** A bad command-line argument or input file. */
export class PruneCommandError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'PRUNE_COMMAND', details);
  }
}

const processIO: CommandIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

/**
 * Prunes `model` with the config list in `config`: weights in Constant nodes are lifted to initializers first, the
 * masks are computed by the chosen one-shot pruner, then `<out>/simulated.onnx` and `<out>/plan.json` are written.
 *
 * @example await pruneCommand({ model: 'resnet18.onnx', config: 'prune.json', pruner: 'l1', out: 'pruned' });
 * @throws PruneCommandError, ModelFileError, ConfigListError, CompressionConfigError (each names the fault)
 */
export async function pruneCommand(opts: PruneCommandOptions, io: CommandIO = processIO): Promise<PruneCommandResult> {
  const training = isTrainingPruner(opts.pruner);
  const Pruner =
    !training && Object.hasOwn(PRUNER_CLASSES, opts.pruner)
      ? PRUNER_CLASSES[opts.pruner as OneShotPrunerName]
      : undefined;
  if (!Pruner && !training)
    throw new PruneCommandError(unknownCompressorMessage('pruner', opts.pruner), { pruner: opts.pruner });
  checkTrainingOptions(opts);
  const configList = readConfigList(opts.config);
  const { model, normalization } = openModel(opts.model);
  if (!opts.json) for (const line of normalization.summary) io.stderr(`note: normalized on load: ${line}\n`);
  const stem = basename(opts.model, extname(opts.model));
  // tracing needs every dynamic dim sized: refuse the ones nothing sizes, by name, before any work or file
  const traces = opts.speedup || wantsAutoGroups(configList);
  const shapes = traces || opts.shapes ? resolveInputShapes(model, opts.shapes) : undefined;
  const autoShapes = await shapesForAutoGroups(model, configList, shapes);
  let r: PruneResult & { diagnostics: Diagnostic[]; model?: Model; trajectory?: TrajectoryPoint[] };
  if (training) {
    const { train } = await loadDataset(opts.data!);
    r = await withTargetShapes(model, autoShapes, opts.shapes, (s) =>
      trainingPrune(model, configList, train, {
        ...opts.training,
        pruner: opts.pruner as TrainingPrunerName,
        shapes: s,
        modelName: stem,
      }),
    );
  } else {
    const pruner = await withTargetShapes(
      model,
      autoShapes,
      opts.shapes,
      (s) => new Pruner!(model, configList, undefined, { modelName: stem, shapes: s }),
    );
    r = { ...(await pruner.compress()), diagnostics: pruner.diagnostics };
  }
  const { masks, applyMethods, plan } = r;
  const outDir = prepareOutputDir(opts.out ?? resolve(`${stem}-pruned`), { what: 'output folder' });
  const simulatedPath = join(outDir, 'simulated.onnx');
  const planPath = join(outDir, 'plan.json');
  // a training-aware pruner's masks apply to the weights its training left
  const base = r.model ?? model;
  // where a norm loses channels it computes its statistics over the kept ones, as the compact model will
  const sim = await simulateAsCompact(base, masks, { applyMethods, shapes: opts.shapes, roundTo: opts.roundTo });
  if (sim.note && !opts.json) io.stderr(`note: ${sim.note}\n`);
  const saved = saveModelFile(sim.model, simulatedPath);
  if (saved.externalFile && !opts.json)
    io.stderr(
      `note: the weights are over protobuf's 2 GB limit: written to ${saved.externalFile} beside ${simulatedPath}\n`,
    );
  writeFileSync(planPath, planToJson(plan));
  const result: PruneCommandResult = {
    outDir,
    simulatedPath,
    planPath,
    targets: plan.targets,
    diagnostics: r.diagnostics,
    trajectory: r.trajectory,
  };
  if (opts.speedup) {
    const sp = await speedupCommand({ model: base, masks, applyMethods, out: outDir, roundTo: opts.roundTo, shapes });
    result.speedup = sp.json;
    if (opts.json)
      io.stdout(
        `${JSON.stringify({ model: opts.model, pruner: opts.pruner, simulated: simulatedPath, plan: planPath, ...sp.json }, null, 2)}\n`,
      );
    else {
      printReport(result, io);
      io.stdout(sp.text);
    }
    return result;
  }
  if (opts.json) io.stdout(`${JSON.stringify({ model: opts.model, pruner: opts.pruner, ...result }, null, 2)}\n`);
  else printReport(result, io);
  return result;
}

/** Command-line flag of each training option. */
const FLAGS: Record<keyof TrainingPruneOptions, string> = {
  trainingSteps: '--training-steps',
  intervalSteps: '--interval-steps',
  totalTimes: '--total-times',
  inner: '--inner',
  warmupSteps: '--warmup-steps',
  cooldownBeginStep: '--cooldown-begin-step',
  regularScale: '--regular-scale',
  maxSteps: '--max-steps',
};

/** Training options only with a pruner that reads them, data with the ones that train, and the checks between them. */
function checkTrainingOptions(opts: PruneCommandOptions): void {
  const given = Object.entries(opts.training ?? {})
    .filter(([, v]) => v !== undefined)
    .map(([k]) => k);
  if (!isTrainingPruner(opts.pruner)) {
    if (opts.data)
      throw new PruneCommandError(
        `--data is read only by the pruners that train (${TRAINING_PRUNERS.join(', ')}); ${opts.pruner} is one-shot`,
        { option: '--data' },
      );
    const k = given[0];
    if (k)
      throw new PruneCommandError(
        `${FLAGS[k as keyof TrainingPruneOptions] ?? `--${k}`} is read only by the pruners that train; ${opts.pruner} is one-shot`,
        { option: k },
      );
    return;
  }
  if (!opts.data)
    throw new PruneCommandError(`the ${opts.pruner} pruner trains: give its training data with --data <path>`, {
      option: '--data',
    });
  const reads = new Set<string>([...PRUNE_OPTION_KEYS[opts.pruner], 'lr', 'batchSize', 'threads']);
  const unread = given.find((k) => !reads.has(k));
  if (unread)
    throw new PruneCommandError(
      `${FLAGS[unread as keyof TrainingPruneOptions]} is not read by the ${opts.pruner} pruner (it reads ${PRUNE_OPTION_KEYS[opts.pruner].map((k) => FLAGS[k]).join(', ')})`,
      { option: unread },
    );
  const fault = checkPruneOptions(opts.pruner, opts.training ?? {})[0];
  if (fault) throw new PruneCommandError(`${FLAGS[fault.key]}: ${fault.message}`, { option: fault.key });
}

function printReport(r: PruneCommandResult, io: CommandIO): void {
  for (const d of r.diagnostics) io.stderr(`${d.level}: ${formatDiagnostic(d)}\n`);
  const rows = r.targets.map((t) => [
    t.node,
    t.opType,
    t.target,
    t.shape.join('×'),
    `${(t.sparsity * 100).toFixed(1)}%`,
    t.applyMethod,
  ]);
  const header = ['node', 'op', 'target', 'shape', 'sparsity', 'method'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  io.stdout(`${[line(header), ...rows.map(line)].join('\n')}\n`);
  const params = r.targets.filter((t) => t.kind === 'parameter' && t.shape.every((d) => typeof d === 'number'));
  const total = params.reduce((a, t) => a + (t.shape as number[]).reduce((x, y) => x * y, 1), 0);
  const masked = params.reduce((a, t) => a + t.sparsity * (t.shape as number[]).reduce((x, y) => x * y, 1), 0);
  io.stdout(
    `${r.targets.length} targets; ${Math.round(masked)} of ${total} parameter elements masked (${total ? ((100 * masked) / total).toFixed(1) : '0.0'}%)\n`,
  );
  for (const p of r.trajectory ?? []) {
    const values = Object.values(p.sparsity);
    io.stdout(
      `step ${p.step}: goals × ${p.ratio.toFixed(3)}, mean sparsity ${((100 * values.reduce((a, b) => a + b, 0)) / Math.max(1, values.length)).toFixed(1)}%\n`,
    );
  }
  io.stdout(`wrote ${r.simulatedPath}\nwrote ${r.planPath}\n`);
}
