/** @file Named errors of pruning speedup (planning, shrinking, verification). Pure: imports only the IR's error base. */
import { StudioError } from '../../ir/errors.ts';

/** The masks would remove every channel of a layer (or of a tensor on a pruned path): refused, never emptied. */
export class EmptyLayerError extends StudioError {
  constructor(
    readonly node: string,
    readonly opType: string,
    what: string,
  ) {
    super(
      `the pruning plan removes ${what} of ${opType} "${node}"; keep at least one channel there (lower its sparse_ratio or exclude it)`,
      'EMPTY_LAYER',
      { node, opType },
    );
  }
}

/** The compact model does not compute what the masked model computes (beyond the tolerance): the result is refused. */
export class SpeedupVerificationError extends StudioError {
  constructor(
    readonly maxRelErr: number,
    readonly tolerance: number,
    readonly output: string,
  ) {
    super(
      `speedup verification failed: the compact model differs from the masked model by ${maxRelErr.toExponential(3)} ` +
        `(relative, output "${output}"), above the tolerance ${tolerance.toExponential(1)}; the compact model was not kept`,
      'SPEEDUP_VERIFICATION',
      { maxRelErr, tolerance, output },
    );
  }
}

/** A shape the speedup needs is unknown (no trace for a value on a pruned path). */
export class MissingShapeError extends StudioError {
  constructor(
    readonly value: string,
    readonly node: string,
  ) {
    super(`speedup needs the shape of "${value}" (read by node "${node}"); trace the model first`, 'MISSING_SHAPE', {
      value,
      node,
    });
  }
}
