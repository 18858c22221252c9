/**
 * @file Presets the app offers for pruning, quantization and distillation: a name, a one-line description, and
 * the step options with the NNI 3.0 config list they start from. Plain data; every config list here passes
 * `parseConfigList` (a test checks it). Pure TypeScript: imports nothing but types.
 */
import type { ObserverName, PrunerName, QuantizerName } from './compressors.ts';

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
  observer: ObserverName;
  configList: Record<string, unknown>[];
}

export interface DistillationPreset {
  id: string;
  label: string;
  description: string;
  configList: Record<string, unknown>[];
}

/** Conv output channels by L1 norm at three strengths, a global ranking, and fine-grained magnitude pruning. */
export const PRUNING_PRESETS: readonly PruningPreset[] = [
  { id: 'light', label: 'Light', description: '25 % of each Conv layer’s output channels, lowest L1 norm first', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.25 }] },
  { id: 'balanced', label: 'Balanced', description: '50 % of each Conv layer’s output channels by L1 norm', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
  { id: 'aggressive', label: 'Aggressive', description: '70 % of each Conv layer’s output channels by L1 norm', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.7 }] },
  {
    id: 'global',
    label: 'Global 50 %',
    description: 'Half of all Conv channels ranked together, so layers lose different amounts (L2 norm)',
    pruner: 'l2',
    configList: [{ op_types: ['Conv'], sparse_ratio: 0.5, global_group_id: 'convs' }],
  },
  { id: 'fpgm', label: 'FPGM 40 %', description: 'Filters nearest the geometric median, 40 % per Conv layer', pruner: 'fpgm', configList: [{ op_types: ['Conv'], sparse_ratio: 0.4 }] },
];

/** int8 post-training quantization of the linear layers, per-tensor or with per-channel weights. */
export const QUANTIZATION_PRESETS: readonly QuantizationPreset[] = [
  {
    id: 'int8',
    label: 'int8 PTQ',
    description: 'Weights and activations of Conv and Gemm to int8 (affine), calibrated on the calibration split',
    quantizer: 'ptq',
    observer: 'minmax',
    configList: [{ op_types: ['Conv', 'Gemm', 'MatMul'], target_names: ['_input_', 'weight', '_output_'], quant_dtype: 'int8', quant_scheme: 'affine' }],
  },
  {
    id: 'int8-per-channel',
    label: 'int8, per-channel weights',
    description: 'As int8 PTQ with one symmetric scale per output channel of each weight',
    quantizer: 'ptq',
    observer: 'minmax',
    configList: [
      { op_types: ['Conv', 'Gemm', 'MatMul'], target_names: ['_input_', '_output_'], quant_dtype: 'int8', quant_scheme: 'affine' },
      { op_types: ['Conv', 'Gemm', 'MatMul'], target_names: ['weight'], quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'per_channel' },
    ],
  },
  {
    id: 'weights-only',
    label: 'int8 weights only',
    description: 'Only the weights of Conv and Gemm to int8; activations stay float',
    quantizer: 'ptq',
    observer: 'minmax',
    configList: [{ op_types: ['Conv', 'Gemm', 'MatMul'], target_names: ['weight'], quant_dtype: 'int8', quant_scheme: 'symmetric' }],
  },
];

export const DISTILLATION_PRESETS: readonly DistillationPreset[] = [
  { id: 'logits', label: 'Logits (KL)', description: 'Match the teacher’s output distribution', configList: [{ op_types: ['Gemm'], target_names: ['_output_'], lambda: 1, apply_method: 'kl' }] },
];
