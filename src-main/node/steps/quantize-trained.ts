/**
 * @file The `quantize` step with a trained quantizer (QAT, LSQ, LSQ+, DoReFa, BNN): train on the plan's train split
 * through an Evaluator with the step's training block, export the QDQ model, and check on the evaluation split (or
 * the first 2 000 training samples when the plan has none) that the deployed model scores what the simulated one
 * does (simulated = deployed, within 0.1 point) before anything is written.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { QuantizeStep, StepResult } from '../../../src-shared/experiment.ts';
import type { TrainedQuantizerName } from '../../core/compress/quantization/trained.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../inspect.ts';
import type { StepContext } from '../jobs/registry.ts';
import { checkDeployed, TRAINED_QUANTIZER_CLASSES, wantsReduceRange } from '../quantize/index.ts';
import { Evaluator, type RunOptions } from '../train/index.ts';
import { loadSplit } from '../train/data.ts';
import { evaluate } from '../train/trainer.ts';
import { neverSlower } from './quantize-speed.ts';
import { MissingSplitError, scheduleOf } from './finetune.ts';

type TrainedStep = Extract<QuantizeStep, { quantizer: TrainedQuantizerName }>;

export async function trainedQuantizeStep(ctx: StepContext<TrainedStep>): Promise<StepResult> {
  const { step, plan } = ctx;
  const split = plan.dataset?.train;
  if (!split) throw new MissingSplitError(`quantize (${step.quantizer})`, 'train');
  const { model } = openModel(ctx.inputModel);
  const train = await loadSplit(split, { model, field: '$.dataset.train', name: 'train' });
  const evalSplit = plan.dataset?.evaluation;
  const evalData = evalSplit
    ? await loadSplit(evalSplit, { model, field: '$.dataset.evaluation', name: 'evaluation' })
    : await loadSplit(
        { ...split, limit: Math.min(split.limit ?? Infinity, 2000) },
        { model, field: '$.dataset.train', name: 'train (first 2000)' },
      );
  const o = step.optimizer;
  const optimizer =
    o.kind === 'sgd'
      ? { type: 'sgd' as const, lr: step.lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay }
      : { type: o.kind, lr: step.lr, weightDecay: o.weightDecay };
  const stepsPerEpoch = Math.floor(train.length / step.batchSize);
  const perEpoch = step.maxBatchesPerEpoch ? Math.min(step.maxBatchesPerEpoch, stepsPerEpoch) : stepsPerEpoch;
  const totalSteps = Math.max(1, Math.round(perEpoch * step.epochs));
  const evaluator = new Evaluator(model, {
    train,
    eval: evalData,
    optimizer,
    schedule: scheduleOf(step.schedule),
    batchSize: step.batchSize,
    epochs: Math.ceil(step.epochs),
    seed: plan.seed,
  });
  const reduceRange = wantsReduceRange();
  const options = {
    reduceRange,
    ...('quantStartStep' in step ? { quantStartStep: step.quantStartStep } : {}),
    ...('init' in step ? { init: step.init } : {}),
    ...('gradientBits' in step && step.gradientBits !== undefined ? { gradientBits: step.gradientBits } : {}),
  };
  const q = new TRAINED_QUANTIZER_CLASSES[step.quantizer](model, step.configList, evaluator, options);
  ctx.progress({ fraction: 0, message: `training with ${step.quantizer} (${totalSteps} steps)` });
  const done = { steps: 0 };
  // the budget reaches the Evaluator's train() as given: the run's length and its progress events
  const run: RunOptions = {
    maxSteps: totalSteps,
    progressEvery: 10,
    onProgress: (e) => {
      ctx.token.throwIfCancelled();
      if (e.type !== 'step') return;
      done.steps = e.step;
      ctx.progress({ fraction: 0.9 * (e.step / totalSteps), loss: e.loss, message: `step ${e.step}/${totalSteps}` });
    },
  };
  const r = await q.compress(run);
  ctx.progress({ fraction: 0.92, message: 'exporting QDQ; simulated vs deployed accuracy; what ORT fuses' });
  const check = await checkDeployed(r, evalData);
  for (const d of r.diagnostics)
    if (d.level !== 'info')
      ctx.log(`${d.code}${d.node ? ` (${d.node})` : ''}: ${d.message}`, d.level === 'error' ? 'error' : 'warn');
  ctx.log(
    `${step.quantizer}: simulated ${(check.simulated * 100).toFixed(2)} %, deployed ${(check.deployed * 100).toFixed(2)} % on ${evalData.name}`,
  );
  // never slower than the input: slower layers go back to fp32 (their trained float weights; DoReFa / BNN keep
  // their grid values), then the whole model as the trained float model
  const {
    model: final,
    speed,
    mixedPrecision,
  } = await neverSlower(ctx, plan, model, r.exported, check.fusion, {
    latencyAware: step.latencyAware,
    reExport: { fused: r.forExport, targets: r.targets, params: r.params, fallback: r.forExport },
    sampleShape: train.sampleShape,
  });
  let finalAccuracy: number | undefined;
  if (final !== r.exported) {
    finalAccuracy = (await evaluate(final, evalData, { batchSize: 500 })).top1;
    ctx.log(
      `after latency-aware precision: ${(finalAccuracy * 100).toFixed(2)} % on ${evalData.name} (the all-quantized export: ${(check.deployed * 100).toFixed(2)} %)`,
    );
  }
  const out = join(ctx.checkpointDir, 'quantized.onnx');
  saveModelFile(final, out);
  const calFile = join(ctx.checkpointDir, 'calibration.json');
  writeFileSync(calFile, JSON.stringify(r.calibration, null, 1));
  return {
    outputModel: out,
    artifacts: [{ name: 'calibration.json', path: calFile, kind: 'calibration' }],
    summary: {
      ...(mixedPrecision ? { mixedPrecision } : {}),
      quantizer: step.quantizer,
      steps: done.steps,
      targets: r.targets.length,
      reduceRange,
      simulated: check.simulated,
      deployed: check.deployed,
      ...(finalAccuracy !== undefined ? { accuracyAfterLatencyAware: finalAccuracy } : {}),
      integerKernels: check.fusion.counts,
      latency: speed.batches,
      ...(speed.slowerAt.length ? { slower: speed.reasons } : {}),
    },
  };
}
