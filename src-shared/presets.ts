/**
 * @file Presets the app offers for pruning, quantization and distillation: a name, a one-line description, and
 * the step options with the NNI 3.0 config list they start from. Plain data; every config list here passes
 * `parseConfigList` (a test checks it). Pure TypeScript: imports nothing but types.
 */
import type { DistillerName, ObserverName, PrunerName, QuantizerName } from './compressors.ts';

export interface PruningPreset {
  id: string;
  label: string;
  description: string;
  pruner: PrunerName;
  configList: Record<string, unknown>[];
}

export interface QuantizationPreset {
  id: string;
  label: string;
  description: string;
  quantizer: QuantizerName;
  /** Calibrating quantizers only. */
  observer?: ObserverName;
  /** Bits of the weights (8, 4, 2 or 1): the wizard's bit-width choice. */
  bits: 8 | 4 | 2 | 1;
  configList: Record<string, unknown>[];
  /**
   * Why ORT leaves quantized nodes of this recipe on float kernels (measured on its optimized graph), so the wizard
   * says before the run that the result may be slower than the float model; absent when ORT fuses it.
   */
  unfused?: string;
}

/**
 * The recipe ORT's CPU integer kernels fuse (issue 6, checked on ORT's optimized graph): uint8 affine activations,
 * int8 symmetric per-channel weights, int32 biases, and the Add / pools around them. Core names it
 * ORT_CPU_STATIC_CONFIG (the CLI's default quantization config).
 */
export const ORT_FUSED_INT8: Record<string, unknown>[] = [
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
];

const NO_BIAS =
  'the bias is not a target, so it stays float and ORT runs the Conv / Gemm as a float FusedConv (measured 2.18× slower than fp32 on the example)';

/** Post-training int8 (calibrated) and the trained quantizers at 8, 4, 2 and 1 bits. The first is the default. */
export const QUANTIZATION_PRESETS: readonly QuantizationPreset[] = [
  {
    id: 'int8',
    label: 'int8 PTQ (ORT integer kernels)',
    description:
      'uint8 activations, int8 per-channel weights, int32 bias, calibrated: every Conv / Gemm runs on ORT’s integer kernels',
    quantizer: 'ptq',
    observer: 'minmax',
    bits: 8,
    configList: ORT_FUSED_INT8,
  },
  {
    id: 'int8-affine',
    label: 'int8 PTQ, per-tensor, no bias',
    description: 'Weights and activations of Conv and Gemm to int8 (affine), one scale per tensor',
    quantizer: 'ptq',
    observer: 'minmax',
    bits: 8,
    configList: [
      {
        op_types: ['Conv', 'Gemm', 'MatMul'],
        target_names: ['_input_', 'weight', '_output_'],
        quant_dtype: 'int8',
        quant_scheme: 'affine',
      },
    ],
    unfused: NO_BIAS,
  },
  {
    id: 'weights-only',
    label: 'int8 weights only',
    description: 'Only the weights of Conv and Gemm to int8; activations stay float (a smaller file)',
    quantizer: 'ptq',
    observer: 'minmax',
    bits: 8,
    configList: [
      {
        op_types: ['Conv', 'Gemm', 'MatMul'],
        target_names: ['weight'],
        quant_dtype: 'int8',
        quant_scheme: 'symmetric',
      },
    ],
    unfused: 'activations stay float, so ORT dequantizes the weights and runs float kernels: smaller, not faster',
  },
  {
    id: 'qat-int8',
    label: 'QAT int8 (trains)',
    description:
      'The ORT recipe with fake quantization trained on the train split (1 epoch): integer kernels, accuracy recovered by training',
    quantizer: 'qat',
    bits: 8,
    configList: ORT_FUSED_INT8,
  },
  {
    id: 'lsq-w4a8',
    label: 'LSQ 4-bit weights (trains)',
    description: '4-bit per-channel weights and 8-bit activations with learned scales; weights stored in int8',
    quantizer: 'lsq',
    bits: 4,
    configList: [
      {
        op_types: ['Conv'],
        target_names: ['_input_', 'weight', '_output_'],
        quant_dtype: 'uint8',
        quant_scheme: 'symmetric',
        target_settings: { weight: { quant_dtype: 'int4', granularity: 'out_channel' } },
      },
      {
        op_types: ['Gemm', 'MatMul'],
        target_names: ['_input_', 'weight'],
        quant_dtype: 'uint8',
        quant_scheme: 'symmetric',
        target_settings: { weight: { quant_dtype: 'int4', granularity: 'out_channel' } },
      },
    ],
  },
  {
    id: 'dorefa-w2',
    label: 'DoReFa 2-bit weights (trains)',
    description: 'Conv weights on a 2-bit grid (tanh-normalised); BatchNorm kept; deployed as int8 values of that grid',
    quantizer: 'dorefa',
    bits: 2,
    configList: [{ op_types: ['Conv'], target_names: ['weight'], quant_dtype: 'int2' }],
    unfused: 'weights only: ORT runs float convolutions on the 2-bit grid values (smaller, not faster)',
  },
  {
    id: 'dorefa-w2a4',
    label: 'DoReFa 2-bit weights, 4-bit activations (trains)',
    description:
      'Conv weights on a 2-bit grid and every Relu output clamped to [0, 1] on a 4-bit grid; deployed as int8 / uint8 values of those grids',
    quantizer: 'dorefa',
    bits: 2,
    configList: [
      { op_types: ['Conv'], target_names: ['weight'], quant_dtype: 'int2' },
      { op_types: ['Relu'], target_names: ['_output_'], quant_dtype: 'uint4' },
    ],
    unfused:
      'ORT runs float convolutions on the grid values (the Relu outputs pass Clip then uint8 Q/DQ): smaller, not faster',
  },
  {
    id: 'bnn-w1',
    label: 'BNN binary weights (trains)',
    description: 'Conv weights to ±1 (sign, straight-through); BatchNorm kept; deployed as int8 ±1',
    quantizer: 'bnn',
    bits: 1,
    configList: [{ op_types: ['Conv'], target_names: ['weight'] }],
    unfused: 'weights only: ORT runs float convolutions on ±1 weights (smaller, not faster)',
  },
];

export interface DistillationPreset {
  id: string;
  label: string;
  description: string;
  distiller: DistillerName;
  /** The layer-wise distillers' config list (the logits distiller reads none: empty). */
  configList: Record<string, unknown>[];
}

/** Conv output channels by L1 norm at three strengths, a global ranking, and fine-grained magnitude pruning. */
export const PRUNING_PRESETS: readonly PruningPreset[] = [
  {
    id: 'light',
    label: 'Light',
    description: '25 % of each Conv layer’s output channels, lowest L1 norm first',
    pruner: 'l1',
    configList: [{ op_types: ['Conv'], sparse_ratio: 0.25 }],
  },
  {
    id: 'balanced',
    label: 'Balanced',
    description: '50 % of each Conv layer’s output channels by L1 norm',
    pruner: 'l1',
    configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }],
  },
  {
    id: 'aggressive',
    label: 'Aggressive',
    description: '70 % of each Conv layer’s output channels by L1 norm',
    pruner: 'l1',
    configList: [{ op_types: ['Conv'], sparse_ratio: 0.7 }],
  },
  {
    id: 'global',
    label: 'Global 50 %',
    description: 'Half of all Conv channels ranked together, so layers lose different amounts (L2 norm)',
    pruner: 'l2',
    configList: [{ op_types: ['Conv'], sparse_ratio: 0.5, global_group_id: 'convs' }],
  },
  {
    id: 'fpgm',
    label: 'FPGM 40 %',
    description: 'Filters nearest the geometric median, 40 % per Conv layer',
    pruner: 'fpgm',
    configList: [{ op_types: ['Conv'], sparse_ratio: 0.4 }],
  },
];

/** Logits only (Hinton's KD), and layer-wise on every Conv output (a pruned student's kept channels; projected otherwise). */
export const DISTILLATION_PRESETS: readonly DistillationPreset[] = [
  {
    id: 'logits',
    label: 'Logits only',
    description: 'The student’s outputs learn the teacher’s softened distribution (KL at temperature T, weight α)',
    distiller: 'logits',
    configList: [],
  },
  {
    id: 'conv-outputs',
    label: 'Every Conv output',
    description:
      'Each Conv output learns the teacher’s (MSE): a pruned student’s at the channels it kept; a trainable 1×1 conv bridges other widths',
    distiller: 'adaptive1d_layerwise',
    configList: [{ op_types: ['Conv'], lambda: 1, apply_method: 'mse' }],
  },
];
