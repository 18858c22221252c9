/** @file Named errors of quantization (calibration data, call order). Pure: imports only the IR's error base. */
import { StudioError } from '../../ir/errors.ts';

/** A calibration batch that does not fit the model: wrong input name, dtype, rank or dims; or no batch at all. */
export class CalibrationDataError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'CALIBRATION_DATA', details);
  }
}

/** A quantizer method called out of order (e.g. `exportQDQ()` before `compress()`). */
export class QuantizerStateError extends StudioError {
  constructor(message: string) {
    super(message, 'QUANTIZER_STATE');
  }
}
