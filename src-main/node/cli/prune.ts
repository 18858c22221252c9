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
import { simulate } from '../../core/compress/simulate/index.ts';
import { formatDiagnostic } from '../../core/compress/errors.ts';
import type { Diagnostic } from '../../../src-shared/config/index.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import { speedupCommand, type SpeedupCommandJson } from './speedup.ts';
import { unknownCompressorMessage } from '../../../src-shared/compressors.ts';
import { shapesForAutoGroups, wantsAutoGroups } from '../steps/auto-groups.ts';
import { resolveInputShapes } from '../runtime/index.ts';

export interface PruneCommandOptions {
  /** Path of the .onnx model (with its weights). */
  model: string;
  /** Path of a JSON file holding the config list. */
  config: string;
  pruner: PrunerKind;
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
  const Pruner = Object.hasOwn(PRUNER_CLASSES, opts.pruner) ? PRUNER_CLASSES[opts.pruner] : undefined;
  if (!Pruner) throw new PruneCommandError(unknownCompressorMessage('pruner', opts.pruner), { pruner: opts.pruner });
  const configList = readConfigList(opts.config);
  const { model, normalization } = openModel(opts.model);
  if (!opts.json) for (const line of normalization.summary) io.stderr(`note: normalized on load: ${line}\n`);
  const stem = basename(opts.model, extname(opts.model));
  // tracing needs every dynamic dim sized: refuse the ones nothing sizes, by name, before any work or file
  const traces = opts.speedup || wantsAutoGroups(configList);
  const shapes = traces || opts.shapes ? resolveInputShapes(model, opts.shapes) : undefined;
  const pruner = new Pruner(model, configList, undefined, { modelName: stem, shapes: await shapesForAutoGroups(model, configList, shapes) });
  const { masks, applyMethods, plan } = await pruner.compress();
  const outDir = prepareOutputDir(opts.out ?? resolve(`${stem}-pruned`), { what: 'output folder' });
  const simulatedPath = join(outDir, 'simulated.onnx');
  const planPath = join(outDir, 'plan.json');
  const simulated = simulate(model, masks, { applyMethods });
  saveModelFile(simulated, simulatedPath);
  writeFileSync(planPath, planToJson(plan));
  const result: PruneCommandResult = { outDir, simulatedPath, planPath, targets: plan.targets, diagnostics: pruner.diagnostics };
  if (opts.speedup) {
    const sp = await speedupCommand({ model, masks, applyMethods, out: outDir, roundTo: opts.roundTo, shapes });
    result.speedup = sp.json;
    if (opts.json) io.stdout(`${JSON.stringify({ model: opts.model, pruner: opts.pruner, simulated: simulatedPath, plan: planPath, ...sp.json }, null, 2)}\n`);
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


function printReport(r: PruneCommandResult, io: CommandIO): void {
  for (const d of r.diagnostics) io.stderr(`${d.level}: ${formatDiagnostic(d)}\n`);
  const rows = r.targets.map((t) => [t.node, t.opType, t.target, t.shape.join('×'), `${(t.sparsity * 100).toFixed(1)}%`, t.applyMethod]);
  const header = ['node', 'op', 'target', 'shape', 'sparsity', 'method'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  io.stdout(`${[line(header), ...rows.map(line)].join('\n')}\n`);
  const params = r.targets.filter((t) => t.kind === 'parameter' && t.shape.every((d) => typeof d === 'number'));
  const total = params.reduce((a, t) => a + (t.shape as number[]).reduce((x, y) => x * y, 1), 0);
  const masked = params.reduce((a, t) => a + t.sparsity * (t.shape as number[]).reduce((x, y) => x * y, 1), 0);
  io.stdout(`${r.targets.length} targets; ${Math.round(masked)} of ${total} parameter elements masked (${total ? ((100 * masked) / total).toFixed(1) : '0.0'}%)\n`);
  io.stdout(`wrote ${r.simulatedPath}\nwrote ${r.planPath}\n`);
}
