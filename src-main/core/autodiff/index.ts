/** @file Public surface of the autodiff: rule table, gradient driver, training-step builder, losses, optimizers. Pure. */
export * from './errors.ts';
export {
  Emitter,
  attr,
  broadcastShapes,
  sliceLength,
  type Attrs,
  type TapeEntry,
  type CompositeVjp,
} from './emitter.ts';
export { VjpContext, constantOf, type VjpRule, type Grads } from './rule.ts';
export {
  DIFFERENTIABLE_OPS,
  NON_DIFFERENTIABLE_OPS,
  registerGradient,
  gradientRule,
  isNonDifferentiable,
  type DifferentiableOp,
} from './rules/index.ts';
export { backward, dependents } from './gradient.ts';
export {
  trainingForward,
  type TrainingForward,
  type TrainingForwardOptions,
  type NoiseInput,
  type GradientHook,
  type CompositeGradient,
} from './training-forward.ts';
export {
  LOSSES,
  emitLoss,
  type LossSpec,
  type LossContext,
  type CrossEntropyLoss,
  type MseLoss,
  type KlDivLoss,
  type CustomLoss,
} from './losses.ts';
export {
  OPTIMIZERS,
  DEFAULT_LR,
  optimizerFor,
  clipByGlobalNorm,
  type OptimizerSpec,
  type SgdSpec,
  type AdamSpec,
  type OptimizerImpl,
  type StepScalars,
} from './optimizers.ts';
export * from './training-step.ts';
export { buildLoopStep, type LoopSignature, type LoopStep } from './loop.ts';
