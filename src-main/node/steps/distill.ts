/**
 * @file The `distill` step: train the step's input model (the student: usually pruned, sped up) with a teacher's
 * forward inside its training step — the teacher defaults to the plan's input model, i.e. the model before any
 * compression. The task loss and the distillation loss are recorded as two metric series (`loss.task`,
 * `loss.distill`) beside the total. Pruning masks the student carries stay applied, as in `finetune`.
 */
import { join } from 'node:path';
import type { DistillStep, StepResult } from '../../../src-shared/experiment.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import type { StepContext } from '../jobs/registry.ts';
import { Evaluator } from '../train/index.ts';
import { makeDistiller, openTeacher } from '../train/distill.ts';
import { loadSplit } from '../train/data.ts';
import { MissingSplitError, parameterMasks } from './finetune.ts';
import { trainingOptions } from './training-options.ts';
import { attachedMasks } from './masks-meta.ts';

export async function distillStep(ctx: StepContext<DistillStep>): Promise<StepResult> {
  const { step, plan } = ctx;
  const split = plan.dataset?.train;
  if (!split) throw new MissingSplitError('distill', 'train');
  ctx.progress({ fraction: 0, message: 'reading the student and the teacher' });
  const { model: student } = openModel(ctx.inputModel);
  const teacherPath = step.teacher ?? plan.model;
  const teacher = openTeacher(teacherPath);
  ctx.log(`teacher: ${teacherPath}${step.teacher ? '' : ' (the plan’s input model)'}`);
  const data = await loadSplit(split, { model: student, field: '$.dataset.train', name: 'train' });
  const masks = attachedMasks(student);
  const keep = masks ? parameterMasks(student, masks) : null;
  if (keep) ctx.log(`keeping the pruning masks of ${keep.size} parameter(s) applied during distillation`);
  const t = trainingOptions(step, data.length);
  const ev = new Evaluator(student, {
    train: data,
    optimizer: t.optimizer,
    schedule: t.schedule,
    batchSize: step.batchSize,
    epochs: Math.ceil(step.epochs),
    seed: plan.seed,
    paramMasks: keep ?? undefined,
    augment: step.augment,
    run: {
      progressEvery: 10,
      onProgress: (e) => {
        ctx.token.throwIfCancelled();
        if (e.type !== 'step') return;
        ctx.progress({
          fraction: e.step / t.totalSteps,
          loss: e.loss,
          parts: e.parts,
          step: e.step,
          message: `step ${e.step}/${t.totalSteps}`,
        });
      },
    },
  });
  const options = step as Partial<Record<'configList' | 'originLossLambda' | 'temperature' | 'alpha', unknown>>;
  const d = await makeDistiller(student, ev, {
    distiller: step.distiller,
    teacher,
    configList: options.configList,
    originLossLambda: options.originLossLambda as number | undefined,
    temperature: options.temperature as number | undefined,
    alpha: options.alpha as number | undefined,
    seed: plan.seed,
  });
  ctx.log(`${step.distiller}: ${t.totalSteps} training steps, the teacher's forward inside each`);
  const { model, links } = await d.compress({ maxSteps: t.totalSteps });
  const out = join(ctx.checkpointDir, 'distilled.onnx');
  saveModelFile(model, out);
  return {
    outputModel: out,
    summary: {
      distiller: step.distiller,
      links: links.length,
      steps: t.totalSteps,
      teacher: teacherPath,
      keptMasks: !!keep,
    },
  };
}
