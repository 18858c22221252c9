/**
 * @file Registers the compression step executors (prune, speedup, finetune, quantize, distill) and the before/after
 * measurement with the job runner. Imported by worker processes (and by the host, to validate plans).
 */
import type { StepKind, StepOf } from '../../../src-shared/experiment.ts';
import { registerMeasure, registerStep, type StepExecutor } from '../jobs/registry.ts';
import { measureModel } from './measure.ts';
import { pruneStep } from './prune.ts';
import { finetuneStep } from './finetune.ts';
import { speedupStep } from './speedup.ts';
import { quantizeStep } from './quantize.ts';
import { distillStep } from './distill.ts';
import { sensitivityStep } from './sensitivity.ts';
import { compressStep } from './compress.ts';

/** The executor of every built-in step kind (a kind in src-shared's STEP_REGISTRY without one does not compile). */
export const STEP_EXECUTORS: { readonly [K in StepKind]: StepExecutor<StepOf<K>> } = {
  prune: pruneStep,
  speedup: speedupStep,
  finetune: finetuneStep,
  quantize: quantizeStep,
  distill: distillStep,
  compress: compressStep,
  sensitivity: sensitivityStep,
};

registerMeasure(measureModel);
for (const kind of Object.keys(STEP_EXECUTORS) as StepKind[]) registerStep(kind, STEP_EXECUTORS[kind] as StepExecutor);
