/**
 * @file The `compress` step (fusion compression): the step's pruner, trained quantizer and distiller chained with
 * `fromCompressor` onto one Evaluator and trained ONCE with the step's training block (per target: quantize-dequantize
 * → mask → record), then speedup with the quantization carried across, the QDQ export, and both checks — compact =
 * masked and simulated = deployed (0.1 point) — before anything is written. While it trains, every progress call
 * carries the loss terms, the sparsity of every pruning target and the quantization range of every target
 * (`loss.*`, `sparsity.<node>.<target>`, `qrange.<node>.<target>.min|max`), which the worker stores as series.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fusedBudgetFaults, trainingBlockSteps, type CompressStep } from '../../../src-shared/compress-step.ts';
import { planPath, type StepResult } from '../../../src-shared/experiment.ts';
import { StudioError } from '../../core/ir/errors.ts';
import { planToJson } from '../../core/compress/pruning/index.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import type { StepContext } from '../jobs/registry.ts';
import { wantsReduceRange } from '../quantize/index.ts';
import { Evaluator } from '../train/index.ts';
import { loadSplit } from '../train/data.ts';
import { openTeacher } from '../train/distill.ts';
import { buildFusedChain, finishFused, trainFused, type FusedSpec } from '../train/fused.ts';
import { shapesForAutoGroups } from './auto-groups.ts';
import { MissingSplitError, scheduleOf } from './finetune.ts';
import { attachPlan } from './masks-meta.ts';
import { speedCheck } from './quantize-speed.ts';
import { trainingOptions } from './training-options.ts';

/** The training block is shorter than a compressor of the step needs (named with the option's JSON path). */
export class FusedBudgetError extends StudioError {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`, 'FUSED_BUDGET', { path });
    this.name = 'FusedBudgetError';
  }
}

export async function compressStep(ctx: StepContext<CompressStep>): Promise<StepResult> {
  const { step, plan } = ctx;
  const split = plan.dataset?.train;
  if (!split) throw new MissingSplitError('compress', 'train');
  ctx.progress({ fraction: 0, message: 'reading the model and the data' });
  const { model } = openModel(ctx.inputModel);
  const train = await loadSplit(split, { model, field: '$.dataset.train', name: 'train' });
  const evalSplit = plan.dataset?.evaluation;
  const evalData = evalSplit
    ? await loadSplit(evalSplit, { model, field: '$.dataset.evaluation', name: 'evaluation' })
    : await loadSplit(
        { ...split, limit: Math.min(split.limit ?? Infinity, 2000) },
        { model, field: '$.dataset.train', name: 'train (first 2000)' },
      );
  const totalSteps = trainingBlockSteps(step.training, train.length);
  const fault = fusedBudgetFaults(step, totalSteps)[0];
  if (fault) throw new FusedBudgetError(planPath(['steps', ctx.index, ...fault.path]), fault.message);

  const t = trainingOptions(step.training, train.length);
  const teacherPath = step.distillation ? (step.distillation.teacher ?? plan.model) : undefined;
  const spec: FusedSpec = {
    ...(step.pruning ? { pruning: step.pruning } : {}),
    ...(step.quantization ? { quantization: { ...step.quantization, reduceRange: wantsReduceRange() } } : {}),
    ...(step.distillation
      ? { distillation: { ...step.distillation, teacher: openTeacher(teacherPath!), seed: plan.seed } }
      : {}),
    shapes: step.pruning ? await shapesForAutoGroups(model, step.pruning.configList, plan.inputShapes) : undefined,
  };
  const ev = new Evaluator(model, {
    train,
    eval: evalData,
    optimizer: t.optimizer,
    schedule: scheduleOf(step.training.schedule),
    batchSize: step.training.batchSize,
    epochs: Math.ceil(step.training.epochs),
    seed: plan.seed,
  });
  const chain = await buildFusedChain(model, ev, spec);
  ctx.log(
    `fused: ${chain.names.join(' → ')} in one training run of ${totalSteps} steps; per target ${chain.order.join(' → ')}${teacherPath ? `; teacher ${teacherPath}${step.distillation?.teacher ? '' : ' (the plan’s input model)'}` : ''}`,
  );
  let live: Record<string, number> = {};
  const trained = await trainFused(chain, ev, {
    maxSteps: totalSteps,
    progressEvery: 10,
    onLive: (l) => void (live = { ...l.sparsity, ...l.qrange }),
    onProgress: (e) => {
      ctx.token.throwIfCancelled();
      if (e.type !== 'step') return;
      ctx.progress({
        fraction: 0.85 * (e.step / totalSteps),
        loss: e.loss,
        step: e.step,
        parts: { ...e.parts, ...live },
        message: `step ${e.step}/${totalSteps}`,
      });
    },
  });
  for (const p of trained.pruning?.trajectory.slice(-1) ?? [])
    ctx.log(`final masks at step ${p.step}: goals × ${p.ratio.toFixed(3)}`);

  ctx.progress({
    fraction: 0.87,
    message: step.pruning && step.speedup ? 'speedup: removing the pruned channels' : 'exporting',
  });
  const final = await finishFused(trained, {
    speedup: step.speedup,
    roundTo: step.roundTo,
    inputShapes: plan.inputShapes,
    evalData,
    ...(step.batchNormStats ? { batchNorm: { data: train, samples: step.batchNormStats } } : {}),
  });
  if (final.batchNorm)
    ctx.log(
      final.batchNorm.layers
        ? `BatchNormalization statistics re-estimated over ${final.batchNorm.samples} training images (${final.batchNorm.layers} layers)${final.batchNorm.trainedSimulatedBefore !== undefined ? `; training graph ${((final.batchNorm.trainedSimulatedBefore ?? 0) * 100).toFixed(2)} % → ${((final.trainedSimulated ?? 0) * 100).toFixed(2)} % on ${evalData.name}` : ''}`
        : 'batchNormStats: the trained model has no BatchNormalization left to re-estimate (folded before training)',
      final.batchNorm.layers ? 'info' : 'warn',
    );
  ctx.token.throwIfCancelled();
  if (final.speedup) {
    for (const w of final.speedup.warnings) ctx.log(w, 'warn');
    ctx.log(
      `compact = masked within max relative error ${final.speedup.verification.maxRelErr.toExponential(2)}; params ${final.speedup.before.params} → ${final.speedup.after.params}; MACs ×${final.speedup.macRatio.toFixed(3)}`,
    );
  }
  if (final.deployed)
    ctx.log(
      `simulated ${(final.deployed.simulated * 100).toFixed(2)} %, deployed ${(final.deployed.deployed * 100).toFixed(2)} % on ${evalData.name} (training graph: ${((final.trainedSimulated ?? 0) * 100).toFixed(2)} %)`,
    );
  const artifacts: NonNullable<StepResult['artifacts']> = [];
  let speed: Awaited<ReturnType<typeof speedCheck>> | undefined;
  if (final.deployed) {
    ctx.progress({ fraction: 0.93, message: 'latency of the int8 model against the step’s input' });
    speed = await speedCheck(ctx, plan, model, final.model, final.deployed.fusion, train.sampleShape);
  }
  const out = join(
    ctx.checkpointDir,
    final.deployed ? 'quantized.onnx' : final.speedup ? 'compact.onnx' : 'simulated.onnx',
  );
  if (trained.pruning && !final.speedup) attachPlan(final.model, trained.pruning.plan);
  saveModelFile(final.model, out);
  if (trained.pruning) {
    const f = join(ctx.checkpointDir, 'pruning-plan.json');
    writeFileSync(f, planToJson(trained.pruning.plan));
    artifacts.push({ name: 'pruning-plan.json', path: f, kind: 'pruning-plan' });
  }
  if (final.speedup) {
    const f = join(ctx.checkpointDir, 'speedup-report.json');
    writeFileSync(f, JSON.stringify(final.speedup, null, 1));
    artifacts.push({ name: 'speedup-report.json', path: f, kind: 'speedup-report' });
  }
  if (final.calibration) {
    const f = join(ctx.checkpointDir, 'calibration.json');
    writeFileSync(f, JSON.stringify(final.calibration, null, 1));
    artifacts.push({ name: 'calibration.json', path: f, kind: 'calibration' });
  }
  ctx.progress({ fraction: 1, message: 'done' });
  const names = { pruner: 0, quantizer: 0, distiller: 0 };
  let k = 0;
  if (step.pruning) names.pruner = k++;
  if (step.quantization) names.quantizer = k++;
  if (step.distillation) names.distiller = k++;
  return {
    outputModel: out,
    artifacts,
    summary: {
      order: chain.order,
      fused: chain.names,
      ...(step.pruning ? { pruner: chain.names[names.pruner]! } : {}),
      ...(step.quantization ? { quantizer: step.quantization.quantizer } : {}),
      ...(step.distillation ? { distiller: step.distillation.distiller, teacher: teacherPath! } : {}),
      steps: trained.steps,
      ...(final.batchNorm ? { batchNorm: final.batchNorm } : {}),
      ...(trained.pruning ? { trajectory: trained.pruning.trajectory, sparsity: final.sparsity } : {}),
      ...(final.speedup
        ? {
            speedup: {
              paramsBefore: final.speedup.before.params,
              paramsAfter: final.speedup.after.params,
              macRatio: final.speedup.macRatio,
              maxRelErr: final.speedup.verification.maxRelErr,
            },
          }
        : {}),
      ...(final.deployed
        ? {
            simulated: final.deployed.simulated,
            deployed: final.deployed.deployed,
            trainedSimulated: final.trainedSimulated ?? null,
            integerKernels: final.deployed.fusion.counts,
            sliced: final.sliced ?? {},
            latency: speed?.batches ?? null,
            ...(speed?.slowerAt.length ? { slower: speed.reasons } : {}),
          }
        : {}),
    },
  };
}
