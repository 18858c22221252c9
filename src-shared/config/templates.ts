/** @file Default setting templates per ONNX op type, one table per mode (NNI's `PruningSetting` /
 * `QuantizationSetting` / `DistillationSetting` registries, NNI-SEMANTICS §1.4, translated to ONNX), plus the
 * parameter roles that say which node input a `weight` / `bias` target is. Pure TypeScript: imports only zod and
 * sibling modules, never Node or DOM.
 *
 * ONNX roles replace PyTorch attributes:
 * - `weight` / `bias` are initializer inputs of the node, by position (`PARAM_ROLES`): Conv / ConvTranspose 1 / 2;
 *   Gemm 1 / 2 (B, C); MatMul: whichever input is a constant (no bias input; an exported Linear's bias is a
 *   following Add); BatchNormalization: scale = weight, B = bias (1 / 2); LayerNormalization: Scale / B (1 / 2);
 *   Gather (embedding): the data input 0.
 * - `_input_k` / `_output_k` are the node's inputs / outputs by index; `_input_` / `_output_` mean index 0.
 * - Layouts differ from PyTorch where the engine must care: Gemm with transB = 0 and MatMul store the weight as
 *   [in, out], so 'out_channel' is dim 1 of the ONNX tensor there.
 */
import { z } from 'zod';
import { ConfigListError } from './errors.ts';
import { configErrorMap, toConfigIssues } from './issues.ts';
import { cloneJson } from './json.ts';
import {
  SETTING_SCHEMAS,
  type DistillationSetting,
  type Mode,
  type PruningSetting,
  type QuantizationSetting,
  type SettingOf,
} from './schema.ts';

/** A setting template: target name → target setting. */
export type Template<M extends Mode = Mode> = Record<string, SettingOf<M>>;

/** Op types whose templates carry parameter targets, each with a row in `PARAM_ROLES`. */
export const PARAM_OP_TYPES = [
  'Conv',
  'ConvTranspose',
  'Gemm',
  'MatMul',
  'BatchNormalization',
  'LayerNormalization',
  'Gather',
] as const;
export type ParamOpType = (typeof PARAM_OP_TYPES)[number];

/** Where a parameter target lives: an input index, or the one constant operand (MatMul). */
export type ParamRole = number | 'constant-operand';
export interface ParamRoles {
  weight?: ParamRole;
  bias?: number;
}

/** Node input carrying each parameter target, per op type (see the file comment). */
export const PARAM_ROLES: Readonly<Record<ParamOpType, Readonly<ParamRoles>>> = {
  Conv: { weight: 1, bias: 2 },
  ConvTranspose: { weight: 1, bias: 2 },
  Gemm: { weight: 1, bias: 2 },
  MatMul: { weight: 'constant-operand' },
  BatchNormalization: { weight: 1, bias: 2 },
  LayerNormalization: { weight: 1, bias: 2 },
  Gather: { weight: 0 },
};

/** The parameter roles of an op type, or undefined when it has none. */
export function paramRoles(opType: string): Readonly<ParamRoles> | undefined {
  return Object.hasOwn(PARAM_ROLES, opType) ? PARAM_ROLES[opType as ParamOpType] : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Template families

/** A prunable parameter: every pruning key declared (so shortcuts land on it), none set. */
const prunableWeight = (): PruningSetting => ({
  sparse_ratio: null,
  sparse_threshold: null,
  max_sparse_ratio: null,
  min_sparse_ratio: null,
  global_group_id: null,
  dependency_group_id: null,
  internal_metric_block: null,
  granularity: 'default',
  apply_method: 'mul',
});

/** A bias follows its weight: channel i survives if any weight element of output channel i survives. */
const alignedBias = (): PruningSetting => ({
  align: { module_name: null, target_name: 'weight', dims: [0] },
  apply_method: 'mul',
});

const weightAndBias = (): Template<'pruning'> => ({ weight: prunableWeight(), bias: alignedBias() });
const weightOnly = (): Template<'pruning'> => ({ weight: prunableWeight() });

const quantTarget = (): QuantizationSetting => ({
  quant_dtype: null,
  quant_scheme: null,
  granularity: 'default',
  apply_method: 'clamp_round',
});
const quantParams = (): Template<'quantization'> => ({
  _input_: quantTarget(),
  weight: quantTarget(),
  bias: quantTarget(),
  _output_: quantTarget(),
});
const quantIo = (): Template<'quantization'> => ({ _input_: quantTarget(), _output_: quantTarget() });

// ---------------------------------------------------------------------------------------------------------------
// The tables

/** Pruning templates (NNI: Linear, Conv*, ConvTranspose*, BatchNorm* = weight + aligned bias; Embedding = weight). */
export const PRUNING_TEMPLATES: Readonly<Record<ParamOpType, Template<'pruning'>>> = {
  Conv: weightAndBias(),
  ConvTranspose: weightAndBias(),
  Gemm: weightAndBias(),
  MatMul: weightAndBias(),
  BatchNormalization: weightAndBias(),
  LayerNormalization: weightAndBias(),
  Gather: weightOnly(),
};

/** Quantization templates (NNI: parameter modules = _input_, weight, bias, _output_; activations = _input_, _output_). */
export const QUANTIZATION_TEMPLATES: Readonly<Record<string, Template<'quantization'>>> = {
  Conv: quantParams(),
  ConvTranspose: quantParams(),
  Gemm: quantParams(),
  MatMul: quantParams(),
  BatchNormalization: quantParams(),
  Relu: quantIo(),
  Clip: quantIo(),
  MaxPool: quantIo(),
  AveragePool: quantIo(),
  GlobalAveragePool: quantIo(),
  Sigmoid: quantIo(),
  HardSwish: quantIo(),
  HardSigmoid: quantIo(),
  Add: quantIo(),
  Concat: quantIo(),
};

/**
 * Pruning targets of ops without weights: the input and output activations, masked by an inserted Mul (or Add of
 * −1000 with `apply_method: 'add'`, for logits before a Softmax). They get a mask through `align` (NNI's way for
 * activations; one-shot pruners do not rank activations), given in `target_settings`.
 */
const ioPruning = (): Template<'pruning'> => ({
  _input_: { granularity: 'default', apply_method: 'mul' },
  _output_: { granularity: 'default', apply_method: 'mul' },
});

/** The op types without weights whose activations simulation can mask (float in, float out), with `ioPruning` defaults. */
export const PRUNING_IO_OPS = [
  'Softmax',
  'LogSoftmax',
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'Gelu',
  'Erf',
  'Elu',
  'Selu',
  'HardSigmoid',
  'HardSwish',
  'Clip',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Flatten',
  'Reshape',
  'Transpose',
  'Concat',
  'Identity',
  'Dropout',
] as const;

/** Distillation: any op type gets this template (NNI auto-registers it for every class). */
export const DISTILLATION_TEMPLATE: Readonly<Template<'distillation'>> = {
  _output_: { lambda: null, link: null, apply_method: null } satisfies DistillationSetting,
};

// ---------------------------------------------------------------------------------------------------------------
// The registry

const registry: { readonly [M in Mode]: Map<string, Template<M>> } = {
  pruning: new Map([
    ...Object.entries(cloneJson(PRUNING_TEMPLATES)),
    ...PRUNING_IO_OPS.map((op) => [op, ioPruning()] as const),
  ]),
  quantization: new Map(Object.entries(cloneJson(QUANTIZATION_TEMPLATES))),
  distillation: new Map(),
};

/**
 * Registers (or replaces, as NNI's `register` does) the template of an op type in one mode. The template is
 * validated against the mode's setting schema and stored as a copy.
 *
 * @example
 * registerTemplate('pruning', 'MyAttention', {
 *   _output_: { align: { module_name: null, target_name: 'weight', dims: [0] }, apply_method: 'mul', granularity: [-1, 1] },
 * });
 * @throws ConfigListError naming each fault as `template.<target>.<key>`
 */
export function registerTemplate<M extends Mode>(mode: M, opType: string, template: Template<M>): void {
  const parsed = z.record(z.string(), SETTING_SCHEMAS[mode]).safeParse(template, { error: configErrorMap });
  if (!parsed.success) {
    throw new ConfigListError(
      toConfigIssues(parsed.error.issues, { mode, root: 'template' }),
      `${mode} template for '${opType}'`,
    );
  }
  registry[mode].set(opType, cloneJson(template));
}

/**
 * A deep copy of the template of `opType` in `mode`, or undefined when none is registered. In distillation every op
 * type has one (the `_output_` template unless registered otherwise).
 *
 * @example getTemplate('pruning', 'Conv')?.bias // { align: { module_name: null, target_name: 'weight', dims: [0] }, apply_method: 'mul' }
 */
export function getTemplate<M extends Mode>(mode: M, opType: string): Template<M> | undefined {
  const found =
    registry[mode].get(opType) ?? (mode === 'distillation' ? (DISTILLATION_TEMPLATE as Template<M>) : undefined);
  return found === undefined ? undefined : cloneJson(found);
}
