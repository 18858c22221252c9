/**
 * @file The gradient rule table: one entry per differentiable ONNX op type (typed, so a missing rule is a
 * compile error), the explicit set of ops through which no gradient flows, and a registry for custom ops.
 * Pure: imports the IR and autodiff kit.
 */
import type { VjpRule } from '../rule.ts';
import { elementwiseRules } from './elementwise.ts';
import { linearRules } from './linear.ts';
import { poolNormRules } from './pool-norm.ts';
import { shapeRules } from './shape.ts';

/** Every op type with a built-in gradient rule. */
export const DIFFERENTIABLE_OPS = [
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Sum',
  'Neg',
  'Sqrt',
  'Exp',
  'Log',
  'Reciprocal',
  'Abs',
  'Erf',
  'Relu',
  'LeakyRelu',
  'Sigmoid',
  'Tanh',
  'HardSigmoid',
  'HardSwish',
  'Clip',
  'Where',
  'Identity',
  'Cast',
  'Dropout',
  'Round',
  'QuantizeLinear',
  'DequantizeLinear',
  'MatMul',
  'Gemm',
  'Conv',
  'ConvTranspose',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'BatchNormalization',
  'LayerNormalization',
  'Softmax',
  'LogSoftmax',
  'ReduceSum',
  'ReduceMean',
  'ReduceSumSquare',
  'ReduceL1',
  'ReduceL2',
  'ReduceMax',
  'Reshape',
  'Flatten',
  'Squeeze',
  'Unsqueeze',
  'Transpose',
  'Concat',
  'Split',
  'Slice',
  'Gather',
  'GatherElements',
  'Pad',
  'Expand',
] as const;

export type DifferentiableOp = (typeof DIFFERENTIABLE_OPS)[number];

const builtin: { readonly [K in DifferentiableOp]: VjpRule } = {
  ...elementwiseRules,
  ...linearRules,
  ...poolNormRules,
  ...shapeRules,
};

/**
 * Ops through which no gradient flows: their outputs are integer, boolean, shape-like or piecewise constant.
 * A trainable tensor feeding only these simply gets no gradient from that path (no error).
 */
export const NON_DIFFERENTIABLE_OPS: ReadonlySet<string> = new Set([
  'Shape',
  'Size',
  'Constant',
  'ConstantOfShape',
  'Range',
  'EyeLike',
  'Equal',
  'Greater',
  'GreaterOrEqual',
  'Less',
  'LessOrEqual',
  'Not',
  'And',
  'Or',
  'Xor',
  'IsNaN',
  'IsInf',
  'ArgMax',
  'ArgMin',
  'NonZero',
  'OneHot',
  'Floor',
  'Ceil',
  'Sign',
  'RandomNormal',
  'RandomUniform',
  'RandomNormalLike',
  'RandomUniformLike',
  'Bernoulli',
  'Multinomial',
  'NonMaxSuppression',
]);

const custom = new Map<string, VjpRule>();

/**
 * Register (or override) the gradient rule of an op type, e.g. for a custom-domain op.
 * @example registerGradient('Softplus', (c) => [c.e.mul(c.dy, c.e.unary('Sigmoid', c.x(0)))]);
 */
export function registerGradient(opType: string, rule: VjpRule): void {
  custom.set(opType, rule);
}

/** The rule for an op type: a registered one first, then the built-in table. */
export function gradientRule(opType: string): VjpRule | undefined {
  return custom.get(opType) ?? (builtin as Record<string, VjpRule>)[opType];
}

/** Whether an op type is known to pass no gradient. */
export function isNonDifferentiable(opType: string): boolean {
  return NON_DIFFERENTIABLE_OPS.has(opType) && !custom.has(opType);
}
