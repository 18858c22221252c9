/**
 * @file Distillation on onnxruntime-node: builds the distiller a registry name stands for, with the traced shapes
 * Adaptive1d needs (NNI's track_forward), on an Evaluator; the plan's `distill` step and `studio distill` use it.
 * Node layer: imports ORT through the runtime.
 */
import { StudioError, type Model } from '../../core/ir/index.ts';
import {
  Adaptive1dLayerwiseDistiller,
  DynamicLayerwiseDistiller,
  LogitsDistiller,
  checkTeacherInputs,
  TeacherError,
  type DistillResult,
} from '../../core/compress/distillation/index.ts';
import type { Compressor } from '../../core/compress/compressor.ts';
import type { KeptChannels } from '../../core/compress/speedup/index.ts';
import type { DistillerName } from '../../../src-shared/compressors.ts';
import { openModel } from '../io/open-model.ts';
import { trace } from '../runtime/index.ts';
import type { Evaluator } from './evaluator.ts';

/** Options of the registry's distillers (src-shared/compressors.ts), as the step and the CLI pass them. */
export interface DistillSpec {
  distiller: DistillerName;
  teacher: Model;
  configList?: unknown;
  /** Layer-wise distillers: NNI's origin_loss_lambda. */
  originLossLambda?: number;
  /** Logits distiller. */
  temperature?: number;
  alpha?: number;
  seed?: number;
  /**
   * Layer-wise distillers on a pruned, sped-up student: the channels it kept of the teacher (speedup's `kept`), for
   * kept-channel links; without it they are recovered from the weights.
   */
  keptChannels?: KeptChannels;
  /** Adaptive1d: project also where kept channels are known (NNI's behaviour; default: gather them). */
  projectKept?: boolean;
}

/** Open a teacher model file; a file that is no model is a TeacherError naming it (and the decoder's fault). */
export function openTeacher(path: string): Model {
  try {
    return openModel(path).model;
  } catch (e) {
    if (e instanceof StudioError)
      throw new TeacherError(`the teacher ${JSON.stringify(path)} cannot be opened: ${e.message}`, {
        file: path,
        cause: e.name,
      });
    throw e;
  }
}

/** Every value's shape at batch 1 (the widths a projection maps between). */
export async function shapesOf(model: Model): Promise<Map<string, number[]>> {
  const t = await trace(model, { dimSizes: { batch: 1 } });
  return new Map([...t.values].map(([k, v]) => [k, v.shape.map((d) => (typeof d === 'number' ? d : 1))]));
}

/**
 * The distiller a spec names, built on `evaluator` for `student` (checked against the teacher first: inputs, links).
 * @example const d = await makeDistiller(student, evaluator, { distiller: 'logits', teacher, alpha: 0.7 }); await d.compress({ maxEpochs: 2 });
 */
export async function makeDistiller(
  student: Model,
  evaluator: Evaluator,
  spec: DistillSpec,
): Promise<Compressor<DistillResult>> {
  checkTeacherInputs(student, spec.teacher);
  const common = { teacher: spec.teacher, originLossLambda: spec.originLossLambda, keptChannels: spec.keptChannels };
  switch (spec.distiller) {
    case 'logits':
      return new LogitsDistiller(student, spec.configList ?? null, evaluator, {
        teacher: spec.teacher,
        temperature: spec.temperature,
        alpha: spec.alpha,
      });
    case 'dynamic_layerwise':
      return new DynamicLayerwiseDistiller(student, spec.configList, evaluator, common);
    case 'adaptive1d_layerwise': {
      const [studentShapes, teacherShapes] = [await shapesOf(student), await shapesOf(spec.teacher)];
      return new Adaptive1dLayerwiseDistiller(student, spec.configList, evaluator, {
        ...common,
        studentShapes,
        teacherShapes,
        seed: spec.seed,
        projectKept: spec.projectKept,
      });
    }
  }
}
