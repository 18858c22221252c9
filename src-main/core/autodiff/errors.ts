/** @file Named errors of the autodiff and training-step builder. Pure: imports only the IR. */
import { StudioError } from '../ir/index.ts';

/** An op on a path from a trainable tensor to the loss has no gradient rule. */
export class NotDifferentiableError extends StudioError {
  constructor(
    readonly opType: string,
    readonly nodeName: string,
    why = 'has no gradient rule',
  ) {
    super(
      `op ${opType} (node "${nodeName}") ${why}, and it lies on a path from a trainable tensor to the loss`,
      'NOT_DIFFERENTIABLE',
      {
        opType,
        node: nodeName,
      },
    );
  }
}

/** A value's static shape is unknown: autodiff needs every shape (fill them from a concrete trace). */
export class MissingShapeError extends StudioError {
  constructor(readonly valueName: string) {
    super(
      `no static shape for value "${valueName}"; trace the model first (shapes come from a concrete run)`,
      'MISSING_SHAPE',
      {
        value: valueName,
      },
    );
  }
}

/** An attribute or input combination a gradient rule does not handle (e.g. Pad in reflect mode). */
export class UnsupportedGradientError extends StudioError {
  constructor(opType: string, nodeName: string, what: string) {
    super(`gradient of ${opType} (node "${nodeName}"): ${what} is not supported`, 'UNSUPPORTED_GRADIENT', {
      opType,
      node: nodeName,
    });
  }
}

/** The model has nothing to train (no float initializer, or none left after the user's selection). */
export class NoTrainableTensorError extends StudioError {
  constructor(detail = '') {
    super(`the model has no trainable tensor${detail ? `: ${detail}` : ''}`, 'NO_TRAINABLE');
  }
}

/** A bad training specification: unknown loss output, label shape, unknown tensor name. */
export class TrainingSpecError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'TRAINING_SPEC', details);
  }
}
