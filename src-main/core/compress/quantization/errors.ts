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

/** QuantizeLinear arrives in opset 10 and Round (the simulated form of what stays float) in 11. */
export const MIN_QUANT_OPSET = 11;

/** A model whose opset has no ONNX form for quantization (paddle2onnx still writes opset 9). */
export class QuantizationOpsetError extends StudioError {
  constructor(readonly opset: number) {
    super(
      `quantization needs opset ≥ ${MIN_QUANT_OPSET} (QuantizeLinear arrives in opset 10, Round in 11); the model is opset ${opset}: export it again with a newer opset (paddle2onnx --opset_version 13, torch.onnx.export(opset_version=17))`,
      'QUANTIZATION_OPSET',
      { opset, required: MIN_QUANT_OPSET },
    );
  }
}
