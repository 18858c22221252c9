/**
 * @file Registers the compression step executors (prune, speedup, finetune, quantize) and the before/after
 * measurement with the job runner. Imported by worker processes (and by the host, to validate plans).
 */
import { registerMeasure, registerStep } from '../jobs/registry.ts';
import { measureModel } from './measure.ts';
import { pruneStep } from './prune.ts';
import { finetuneStep } from './finetune.ts';
import { speedupStep } from './speedup.ts';
import { quantizeStep } from './quantize.ts';

registerMeasure(measureModel);
registerStep('prune', pruneStep);
registerStep('finetune', finetuneStep);
registerStep('speedup', speedupStep);
registerStep('quantize', quantizeStep);
