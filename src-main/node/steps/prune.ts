/**
 * @file The `prune` step: an NNI config list and a pruner (one-shot, or training on the plan's train split) → masks → the simulated (masked) model, with
 * the pruning plan kept as an artifact so `speedup` (and a human) can read it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PruneStep } from '../../../src-shared/experiment.ts';
import { PRUNER_CLASSES, planToJson } from '../../core/compress/pruning/index.ts';
import { simulate } from '../../core/compress/simulate/index.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../inspect.ts';
import type { StepContext } from '../jobs/registry.ts';
import type { StepResult } from '../../../src-shared/experiment.ts';
import { shapesForAutoGroups } from './auto-groups.ts';
import { attachPlan } from './masks-meta.ts';
import type { Diagnostic } from '../../../src-shared/config/index.ts';
import { isTrainingPruner } from '../../../src-shared/prune-options.ts';
import type { PruneResult } from '../../core/compress/pruning/index.ts';
import type { TrainingPruneResult } from '../../core/compress/pruning/training.ts';
import { trainingPruneStep } from './train-prune.ts';
import { withTargetShapes } from './target-shapes.ts';
import type { OneShotPrunerName } from '../../../src-shared/compressors.ts';

export async function pruneStep(ctx: StepContext<PruneStep>): Promise<StepResult> {
  const { step } = ctx;
  ctx.progress({ fraction: 0.05, message: 'resolving targets' });
  const { model } = openModel(ctx.inputModel);
  const shapes = await shapesForAutoGroups(model, step.configList, ctx.plan.inputShapes);
  const logDiagnostics = (ds: readonly Diagnostic[]) => {
    for (const d of ds)
      ctx.log(
        `${d.level} ${d.code}${d.path ? ` ${d.path}` : ''}: ${d.message}`,
        d.level === 'error' ? 'error' : d.level === 'warning' ? 'warn' : 'info',
      );
  };
  let r: PruneResult & Partial<TrainingPruneResult>;
  let autoGroups = 0;
  if (isTrainingPruner(step.pruner)) {
    r = await withTargetShapes(model, shapes, ctx.plan.inputShapes, (s) =>
      trainingPruneStep(ctx, model, step.configList, s),
    );
    logDiagnostics(r.diagnostics ?? []);
  } else {
    // the plan schema takes only the registry's names, and PRUNER_CLASSES implements each one-shot one
    const pruner = await withTargetShapes(
      model,
      shapes,
      ctx.plan.inputShapes,
      (s) => new PRUNER_CLASSES[step.pruner as OneShotPrunerName](model, step.configList, undefined, { shapes: s }),
    );
    autoGroups = pruner.dependencyGroups;
    if (autoGroups > 0) ctx.log(`dependency_group_id "auto": ${autoGroups} channel dependency group(s) found`);
    logDiagnostics(pruner.diagnostics);
    ctx.progress({ fraction: 0.3, message: `computing ${step.pruner} masks` });
    r = await pruner.compress();
  }
  const { masks, applyMethods, plan } = r;
  ctx.token.throwIfCancelled();
  ctx.progress({ fraction: 0.9, message: 'writing the simulated model' });
  const out = join(ctx.checkpointDir, 'simulated.onnx');
  // a training-aware pruner's masks apply to the weights its training left
  const simulated = simulate(r.model ?? model, masks, { applyMethods });
  attachPlan(simulated, plan);
  saveModelFile(simulated, out);
  const planFile = join(ctx.checkpointDir, 'pruning-plan.json');
  writeFileSync(planFile, planToJson(plan));
  const size = (shape: readonly unknown[]) => shape.reduce<number>((x, y) => x * (typeof y === 'number' ? y : 1), 1);
  const masked = plan.targets.reduce((a, t) => a + t.sparsity * size(t.shape), 0);
  const total = plan.targets.reduce((a, t) => a + size(t.shape), 0);
  if (masked === 0)
    ctx.log(
      'nothing was pruned: the masks zero no element (every target was left out or kept whole; see the warnings above)',
      'warn',
    );
  ctx.progress({ fraction: 1, message: 'done' });
  return {
    outputModel: out,
    artifacts: [{ name: 'pruning-plan.json', path: planFile, kind: 'pruning-plan' }],
    summary: {
      pruner: step.pruner,
      targets: plan.targets.length,
      maskedFraction: total ? masked / total : 0,
      autoGroups,
      ...(r.trajectory ? { trainingSteps: r.steps, trajectory: r.trajectory } : {}),
    },
  };
}
