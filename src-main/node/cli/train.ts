/**
 * @file `studio train <model.onnx> --data <path> [--epochs N] [--optimizer adam] [--lr x] [--out dir] [--json]`:
 * trains a model on a data set with the ORT trainer, prints progress (readable lines, or one JSON object per
 * event with --json), and writes the trained model, the last checkpoint and a metrics file. Node layer.
 */
import { prepareOutputDir } from '../io/guard.ts';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_LR, type OptimizerSpec } from '../../core/autodiff/index.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import { loadDataset } from '../train/data.ts';
import { heInitialize } from '../train/example-cnn.ts';
import type { ScheduleSpec } from '../train/schedule.ts';
import type { AugmentSpec } from '../train/augment.ts';
import { AUTO_STEPS_PER_RUN, train, type ProgressEvent, type TrainResult } from '../train/trainer.ts';

export interface TrainCommandOptions {
  /** Path of the model to train. */
  model: string;
  /** Data: a folder of IDX files, an .npz, or a folder of images per class. */
  data: string;
  epochs?: number;
  optimizer?: 'sgd' | 'adam' | 'adamw';
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  batchSize?: number;
  schedule?: 'constant' | 'step' | 'cosine' | 'linear';
  /** Steps between decays of the step schedule (default 1000). */
  stepSize?: number;
  warmupSteps?: number;
  clipGradNorm?: number;
  /** Shift each training image by a seeded random whole number of pixels in [−n, n] per axis, per step (0 = off). */
  augmentShift?: number;
  seed?: number;
  threads?: number;
  maxSteps?: number;
  /** Resume from a checkpoint written by an earlier run. */
  resume?: string;
  /** 'he': train from scratch (He-normal conv/linear weights, zero biases, identity BatchNorm). */
  init?: 'keep' | 'he';
  /** Optimizer steps per ORT call (K > 1: an ONNX Loop of K steps). */
  stepsPerRun?: number;
  /** Output folder (default ./train-out): model.onnx, checkpoint.ckpt, metrics.json. */
  out?: string;
  /** One JSON object per progress event on stdout. */
  json?: boolean;
  /** Where lines go (default stdout). */
  write?: (line: string) => void;
}

export interface TrainCommandResult {
  out: string;
  modelPath: string;
  result: TrainResult;
}

function describe(e: ProgressEvent): string {
  switch (e.type) {
    case 'start':
      return `training ${e.params.toLocaleString('en')} parameters: ${e.totalSteps} steps (${e.stepsPerEpoch}/epoch, batch ${e.batchSize})${e.resumedAt ? `, resuming at step ${e.resumedAt}` : ''}`;
    case 'step':
      return `  step ${e.step}  epoch ${e.epoch + 1}  loss ${e.loss.toFixed(4)}  lr ${e.lr.toPrecision(3)}  ${Math.round(e.samplesPerSec)} samples/s  eta ${Math.round(e.etaSec)} s`;
    case 'epoch':
      return `epoch ${e.epoch + 1}: train loss ${e.trainLoss.toFixed(4)}${e.trainAccuracy !== undefined ? `, train acc ${(100 * e.trainAccuracy).toFixed(2)} %` : ''}${e.eval ? `, test acc ${(100 * e.eval.top1).toFixed(2)} % (top-5 ${(100 * e.eval.top5).toFixed(2)} %), test loss ${e.eval.loss.toFixed(4)}` : ''} (${e.seconds.toFixed(1)} s)`;
    case 'checkpoint':
      return `  checkpoint ${e.path} (step ${e.step})`;
    case 'done':
      return `done: ${e.step} steps in ${e.seconds.toFixed(1)} s${e.eval ? `, test accuracy ${(100 * e.eval.top1).toFixed(2)} %` : ''}`;
  }
}

/** The optimizer the options describe. */
export function optimizerOf(o: TrainCommandOptions): OptimizerSpec {
  const type = o.optimizer ?? 'adam';
  if (type === 'sgd')
    return { type, lr: o.lr ?? DEFAULT_LR.sgd, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay };
  return { type, lr: o.lr ?? DEFAULT_LR[type], weightDecay: o.weightDecay };
}

/** The learning-rate schedule the options describe (default constant; the step schedule decays every 1000 steps). */
export function scheduleOf(o: TrainCommandOptions): ScheduleSpec {
  return {
    type: o.schedule ?? 'constant',
    warmupSteps: o.warmupSteps,
    ...(o.schedule === 'step' ? { stepSize: o.stepSize ?? 1000 } : {}),
  } as ScheduleSpec;
}

/** Record who trained the model and how, in its producer fields and metadata. */
export function stampTraining(
  model: import('../../core/ir/index.ts').Model,
  o: TrainCommandOptions,
  r: TrainResult,
): void {
  model.producerName = 'compression-studio';
  model.producerVersion = '';
  const recipe = {
    init: o.init ?? 'keep',
    optimizer: optimizerOf(o),
    schedule: o.schedule ?? 'constant',
    warmupSteps: o.warmupSteps,
    augmentShift: o.augmentShift || undefined,
    batchSize: o.batchSize ?? 64,
    epochs: r.epochs,
    steps: r.steps,
    seed: o.seed ?? 0,
    data: o.data,
    testAccuracy: r.eval?.top1,
    seconds: Math.round(r.seconds * 10) / 10,
  };
  model.metadata.set('studio.training', JSON.stringify(recipe));
}

/** The trainer's augmentation for `--augment-shift` (none for 0 or absent). */
export function augmentOf(o: { augmentShift?: number }): AugmentSpec | undefined {
  return o.augmentShift ? { shift: o.augmentShift } : undefined;
}

/**
 * Train a model from the command line.
 * @example await trainCommand({ model: 'resources/mnist-cnn.onnx', data: 'resources/mnist', epochs: 1, json: true });
 */
export async function trainCommand(o: TrainCommandOptions): Promise<TrainCommandResult> {
  const write = o.write ?? ((l: string) => process.stdout.write(`${l}\n`));
  // the folder appears with the first checkpoint or the result: a run refused up front leaves nothing behind
  const out = resolve(o.out ?? 'train-out');
  const { model } = openModel(o.model);
  if (o.init === 'he') heInitialize(model, o.seed ?? 0);
  const data = await loadDataset(o.data);
  const result = await train(
    {
      model,
      train: data.train,
      test: data.test,
      optimizer: optimizerOf(o),
      schedule: scheduleOf(o),
      batchSize: o.batchSize ?? 64,
      epochs: o.epochs ?? 1,
      seed: o.seed ?? 0,
      clipGradNorm: o.clipGradNorm,
      augment: augmentOf(o),
      threads: o.threads,
      // K steps per ORT call even on short runs (the documented --steps-per-run default): same weights as single steps
      stepsPerRun: o.stepsPerRun ?? AUTO_STEPS_PER_RUN,
    },
    {
      maxSteps: o.maxSteps,
      checkpoint: join(out, 'checkpoint.ckpt'),
      resume: o.resume,
      progressEvery: o.json ? 50 : 100,
      onProgress: (e) => write(o.json ? JSON.stringify(e) : describe(e)),
    },
  );
  const modelPath = join(out, 'model.onnx');
  prepareOutputDir(out, { what: 'output folder' });
  stampTraining(result.model, o, result);
  saveModelFile(result.model, modelPath);
  writeFileSync(
    join(out, 'metrics.json'),
    `${JSON.stringify({ steps: result.steps, epochs: result.epochs, seconds: result.seconds, eval: result.eval, history: result.history }, null, 1)}\n`,
  );
  if (!o.json) write(`wrote ${modelPath}`);
  return { out, modelPath, result };
}
