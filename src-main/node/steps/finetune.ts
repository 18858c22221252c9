/**
 * @file The `finetune` step: train the model on the plan's training split through our autodiff. When the model
 * carries a pruning plan (a simulated model from `prune`), every update of a masked parameter is multiplied by its
 * mask inside the training step, so pruned weights stay zero (NNI's wrapper semantics) and the masked model stays
 * what speedup will compute.
 */
import { join } from 'node:path';
import type { FinetuneStep, StepResult } from '../../../src-shared/experiment.ts';
import { Tensor, type Model } from '../../core/ir/index.ts';
import { expandMask, type Masks } from '../../core/compress/masks.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../inspect.ts';
import type { StepContext } from '../jobs/registry.ts';
import { train, type ScheduleSpec } from '../train/index.ts';
import { StudioError } from '../../core/ir/errors.ts';
import { loadSplit } from '../train/data.ts';
import { attachedMasks } from './masks-meta.ts';

export class MissingSplitError extends StudioError {
  constructor(step: string, split: string) {
    super(`the ${step} step needs the plan's dataset.${split} split`, 'MISSING_SPLIT', { step, split });
  }
}

/** The 0/1 mask of every masked parameter (weight or bias initializer), shaped like it; null when none. */
export function parameterMasks(model: Model, masks: Masks): Map<string, Tensor> | null {
  const byValue = new Map<string, Tensor>();
  for (const [nodeName, targets] of masks) {
    const node = model.graph.node(nodeName);
    if (!node) continue;
    for (const [target, mask] of targets) {
      const idx =
        target === 'weight'
          ? node.opType === 'MatMul'
            ? node.inputs.findIndex((v) => v?.isInitializer)
            : 1
          : target === 'bias'
            ? 2
            : -1;
      const v = idx >= 0 ? node.inputs[idx] : null;
      if (v?.initializer)
        byValue.set(
          v.name,
          new Tensor('float32', [...v.initializer.dims], Float32Array.from(expandMask(mask, v.initializer.dims))),
        );
    }
  }
  return byValue.size ? byValue : null;
}

/** The plan's schedule as the trainer's (every kind the plan schema offers has its trainer schedule). */
export function scheduleOf(s: FinetuneStep['schedule']): ScheduleSpec {
  switch (s.kind) {
    case 'constant':
      return { type: 'constant' };
    case 'cosine':
      return { type: 'cosine', minLr: s.minLr };
    case 'step':
      return { type: 'step', stepSize: s.stepSize, gamma: s.gamma };
    case 'linear':
      return { type: 'linear', endLr: s.endLr };
  }
}

export async function finetuneStep(ctx: StepContext<FinetuneStep>): Promise<StepResult> {
  const { step, plan } = ctx;
  const split = plan.dataset?.train;
  if (!split) throw new MissingSplitError('finetune', 'train');
  const { model } = openModel(ctx.inputModel);
  const data = await loadSplit(split, { model, field: '$.dataset.train', name: 'train' });
  const masks = attachedMasks(model);
  const keep = masks ? parameterMasks(model, masks) : null;
  if (keep) ctx.log(`keeping the pruning masks of ${keep.size} parameter(s) applied during fine-tuning`);
  const o = step.optimizer;
  const optimizer =
    o.kind === 'sgd'
      ? { type: 'sgd' as const, lr: step.lr, momentum: o.momentum ?? 0.9, weightDecay: o.weightDecay }
      : { type: o.kind, lr: step.lr, weightDecay: o.weightDecay };
  const sch = step.schedule;
  const schedule = scheduleOf(sch);
  const stepsPerEpoch = Math.floor(data.length / step.batchSize);
  const perEpoch = step.maxBatchesPerEpoch ? Math.min(step.maxBatchesPerEpoch, stepsPerEpoch) : stepsPerEpoch;
  const totalSteps = Math.max(1, Math.round(perEpoch * step.epochs));
  const result = await train(
    // masks inside the step, so no per-step hook stops the trainer from running several steps per ORT call
    {
      model,
      train: data,
      optimizer,
      schedule,
      batchSize: step.batchSize,
      epochs: Math.ceil(step.epochs),
      seed: plan.seed,
      paramMasks: keep ?? undefined,
      augment: step.augment,
    },
    {
      maxSteps: totalSteps,
      progressEvery: 10,
      onProgress: (e) => {
        ctx.token.throwIfCancelled();
        if (e.type === 'step') {
          ctx.progress({
            fraction: e.step / totalSteps,
            loss: e.loss,
            step: e.step,
            message: `step ${e.step}/${totalSteps}`,
          });
        }
      },
    },
  );
  const out = join(ctx.checkpointDir, 'finetuned.onnx');
  saveModelFile(result.model, out);
  return { outputModel: out, summary: { steps: result.steps, seconds: result.seconds, keptMasks: !!keep } };
}
