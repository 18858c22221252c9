/**
 * @file `studio distill <student.onnx> --teacher <teacher.onnx> --data <path> [--distiller logits|dynamic_layerwise|
 * adaptive1d_layerwise] [--config cfg.json] …`: trains the student with the teacher's forward inside each training
 * step, prints progress with the task and distillation losses apart (or JSON lines), evaluates student and
 * teacher on the data's test split, and writes the distilled student. Node layer.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { StudioError } from '../../core/ir/index.ts';
import { DISTILLERS, unknownCompressorMessage, type DistillerName } from '../../../src-shared/compressors.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import { loadDataset } from '../train/data.ts';
import { makeDistiller, openTeacher } from '../train/distill.ts';
import { Evaluator } from '../train/evaluator.ts';
import type { ProgressEvent } from '../train/trainer.ts';
import { readConfigList } from './config-file.ts';
import { augmentOf, optimizerOf, scheduleOf, type TrainCommandOptions } from './train.ts';

/** Options of `studio distill` that no distiller can use as given. */
export class DistillCommandError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'DISTILL_COMMAND', details);
  }
}

export interface DistillCommandOptions extends Omit<TrainCommandOptions, 'init' | 'resume' | 'clipGradNorm'> {
  /** The teacher model. */
  teacher: string;
  /** Registry name (default logits). */
  distiller?: string;
  /** Config list file (the layer-wise distillers). */
  config?: string;
  originLossLambda?: number;
  temperature?: number;
  alpha?: number;
}

export interface DistillCommandResult {
  modelPath: string;
  student: { before: number | null; after: number | null };
  teacher: number | null;
  steps: number;
  seconds: number;
}

function describe(e: ProgressEvent): string | null {
  if (e.type === 'start')
    return `distilling ${e.params.toLocaleString('en')} student parameters: ${e.totalSteps} steps (${e.stepsPerEpoch}/epoch, batch ${e.batchSize})`;
  if (e.type !== 'step') return null;
  const parts = e.parts
    ? `  (task ${e.parts['loss.task']?.toFixed(4)}, distill ${e.parts['loss.distill']?.toFixed(4)})`
    : '';
  return `  step ${e.step}  epoch ${e.epoch + 1}  loss ${e.loss.toFixed(4)}${parts}  ${Math.round(e.samplesPerSec)} samples/s  eta ${Math.round(e.etaSec)} s`;
}

const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)} %`);

/**
 * Distill from the command line.
 * @example await distillCommand({ model: 'pruned.onnx', teacher: 'resources/mnist-cnn.onnx', data: 'resources/mnist', epochs: 2 });
 * @throws DistillCommandError, ModelFileError / ModelFormatError (naming the file), DistillLinkError, TeacherError
 */
export async function distillCommand(o: DistillCommandOptions): Promise<DistillCommandResult> {
  const write = o.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  const name = o.distiller ?? 'logits';
  if (!(DISTILLERS as string[]).includes(name))
    throw new DistillCommandError(unknownCompressorMessage('distiller', name), { distiller: name });
  const distiller = name as DistillerName;
  if (distiller !== 'logits' && !o.config)
    throw new DistillCommandError(`the ${distiller} distiller needs --config (a distillation config list)`, {
      distiller,
    });
  if (distiller === 'logits' && o.config)
    throw new DistillCommandError(
      'the logits distiller reads the model outputs and takes no --config (use --distiller dynamic_layerwise or adaptive1d_layerwise)',
    );
  if (distiller === 'logits' && o.originLossLambda !== undefined)
    throw new DistillCommandError(
      '--origin-loss-lambda belongs to the layer-wise distillers; the logits distiller weighs the task loss by 1 − --alpha',
    );
  if (distiller !== 'logits' && (o.temperature !== undefined || o.alpha !== undefined))
    throw new DistillCommandError(
      '--temperature and --alpha belong to the logits distiller (the layer-wise ones take lambda / apply_method in the config list)',
    );
  const { model: student } = openModel(o.model);
  const teacher = openTeacher(o.teacher);
  const configList = o.config ? readConfigList(o.config) : undefined;
  const data = await loadDataset(o.data);
  let steps = 0;
  const ev = new Evaluator(student, {
    train: data.train,
    eval: data.test,
    optimizer: optimizerOf(o),
    schedule: scheduleOf(o),
    batchSize: o.batchSize ?? 64,
    epochs: o.epochs ?? 1,
    seed: o.seed ?? 0,
    threads: o.threads,
    stepsPerRun: o.stepsPerRun,
    augment: augmentOf(o),
    run: {
      progressEvery: o.json ? 50 : 100,
      onProgress: (e) => {
        if (e.type === 'done') steps = e.step;
        const line = o.json ? JSON.stringify(e) : describe(e);
        if (line) write(line);
      },
    },
  });
  const d = await makeDistiller(student, ev, {
    distiller,
    teacher,
    configList,
    originLossLambda: o.originLossLambda,
    temperature: o.temperature,
    alpha: o.alpha,
    seed: o.seed,
  });
  const acc = async (m: typeof student) =>
    data.test ? (await new Evaluator(m, { ...ev.config, run: undefined }).evaluate()).default : null;
  const before = await acc(student);
  const t0 = performance.now();
  const { model, links } = await d.compress({
    maxSteps: o.maxSteps,
    maxEpochs: o.maxSteps ? undefined : (o.epochs ?? 1),
  });
  const seconds = (performance.now() - t0) / 1000;
  const [after, teacherAcc] = [await acc(model), await acc(teacher)];
  const out = resolve(o.out ?? 'distill-out');
  mkdirSync(out, { recursive: true });
  const modelPath = join(out, 'model.onnx');
  model.metadata.set(
    'studio.distillation',
    JSON.stringify({ distiller, teacher: o.teacher, links: links.length, epochs: o.epochs ?? 1, seed: o.seed ?? 0 }),
  );
  saveModelFile(model, modelPath);
  const result: DistillCommandResult = { modelPath, student: { before, after }, teacher: teacherAcc, steps, seconds };
  writeFileSync(join(out, 'metrics.json'), `${JSON.stringify(result, null, 1)}\n`);
  if (o.json) write(JSON.stringify({ type: 'result', ...result }));
  else
    write(
      `student ${pct(before)} → ${pct(after)} (teacher ${pct(teacherAcc)}), ${links.length} link(s), ${seconds.toFixed(1)} s; wrote ${modelPath}`,
    );
  return result;
}
