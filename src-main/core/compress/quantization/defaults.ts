/**
 * @file The config list we recommend for ONNX Runtime's CPU integer kernels (measured in test/bench/quant.bench.ts):
 * activations uint8 affine per tensor, weights int8 symmetric per output channel (ORT's U8S8 kernels), plus the
 * ops around them that have integer kernels or drop their Q/DQ pair (Add, pools). int8 activations (S8S8) cannot
 * drop the Relu before a QuantizeLinear (NNI's narrow int8 puts the zero point of a non-negative tensor at −127,
 * ORT needs −128), so those convolutions stay float. Pure: imports nothing.
 */

/**
 * Static (calibrated) quantization for ORT's CPU provider.
 *
 * @example new PTQQuantizer(model, ORT_CPU_STATIC_CONFIG, evaluator, { fuse: 'auto' })
 */
export const ORT_CPU_STATIC_CONFIG = [
  {
    op_types: ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'],
    target_names: ['_input_', 'weight', 'bias', '_output_'],
    quant_dtype: 'uint8',
    quant_scheme: 'affine',
    target_settings: { weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' } },
  },
  {
    op_types: ['Add'],
    target_names: ['_input_0', '_input_1', '_output_'],
    quant_dtype: 'uint8',
    quant_scheme: 'affine',
  },
  {
    op_types: ['MaxPool', 'AveragePool', 'GlobalAveragePool'],
    target_names: ['_input_', '_output_'],
    quant_dtype: 'uint8',
    quant_scheme: 'affine',
  },
] as const;
