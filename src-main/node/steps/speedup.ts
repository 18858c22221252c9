/**
 * @file The `speedup` step: remove the channels the pruning masks zero (the masks travel in the simulated
 * model's metadata), verify the compact model computes what the masked one does, and report.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SpeedupStep, StepResult } from '../../../src-shared/experiment.ts';
import { StudioError } from '../../core/ir/errors.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../inspect.ts';
import type { StepContext } from '../jobs/registry.ts';
import { ModelSpeedup } from '../speedup/index.ts';
import { attachedPlan, detachPlan } from './masks-meta.ts';
import { planApplyMethods, planMasks } from '../../core/compress/pruning/index.ts';

export class NoMasksError extends StudioError {
  constructor(model: string) {
    super(
      `the speedup step needs a pruned model: ${model} carries no pruning plan (put a prune step before it)`,
      'NO_MASKS',
      { model },
    );
  }
}

export async function speedupStep(ctx: StepContext<SpeedupStep>): Promise<StepResult> {
  const { model } = openModel(ctx.inputModel);
  const plan = attachedPlan(model);
  if (!plan) throw new NoMasksError(ctx.inputModel);
  ctx.progress({ fraction: 0.1, message: 'propagating masks and removing channels' });
  const { model: compact, report } = await new ModelSpeedup(model, planMasks(plan), {
    roundTo: ctx.step.roundTo,
    shapes: ctx.plan.inputShapes,
    applyMethods: planApplyMethods(plan),
    benchmark: false,
  }).speedupModel();
  ctx.token.throwIfCancelled();
  detachPlan(compact);
  for (const w of report.warnings) ctx.log(w, 'warn');
  ctx.log(
    `compact = masked within max relative error ${report.verification.maxRelErr.toExponential(2)}; MACs ×${report.macRatio.toFixed(3)}`,
  );
  const out = join(ctx.checkpointDir, 'compact.onnx');
  saveModelFile(compact, out);
  const reportFile = join(ctx.checkpointDir, 'speedup-report.json');
  writeFileSync(reportFile, JSON.stringify(report, null, 1));
  ctx.progress({ fraction: 1, message: 'done' });
  return {
    outputModel: out,
    artifacts: [{ name: 'speedup-report.json', path: reportFile, kind: 'speedup-report' }],
    summary: {
      ...(report.warnings[0]?.startsWith('nothing was removed') ? { warning: report.warnings[0] } : {}),
      macRatio: report.macRatio,
      maxRelErr: report.verification.maxRelErr,
      paramsBefore: report.before.params,
      paramsAfter: report.after.params,
    },
  };
}
