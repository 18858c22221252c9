/**
 * @file The config list we recommend for ONNX Runtime's CPU integer kernels (measured in test/bench/quant.bench.ts):
 * activations uint8 affine per tensor, weights int8 symmetric per output channel (ORT's U8S8 kernels), plus the
 * ops around them that have integer kernels or drop their Q/DQ pair (Add, pools). int8 activations (S8S8) cannot
 * drop the Relu before a QuantizeLinear (NNI's narrow int8 puts the zero point of a non-negative tensor at −127,
 * ORT needs −128), so those convolutions stay float. The recipe itself has one home, src-shared/presets.ts (the
 * wizard's default int8 preset); this is core's name for it. Pure: imports only src-shared.
 */
import { ORT_FUSED_INT8 } from '../../../../src-shared/presets.ts';

/**
 * Static (calibrated) quantization for ORT's CPU provider.
 *
 * @example new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, evaluator, { fuse: 'auto' })
 */
export const ORT_CPU_STATIC_CONFIG: readonly Record<string, unknown>[] = ORT_FUSED_INT8;
