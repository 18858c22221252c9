/** @file Public surface of distillation: the distillers, their links, losses, and the teacher inside the step. Pure. */
export {
  DynamicLayerwiseDistiller,
  Adaptive1dLayerwiseDistiller,
  LogitsDistiller,
  DISTILLER_CLASSES,
  DistillLinkError,
  resolveLinks,
  recordedValue,
  type DistillLink,
  type DistillerOptions,
  type Adaptive1dOptions,
  type LogitsDistillerOptions,
  type DistillResult,
} from './distiller.ts';
export {
  DISTILL_METHODS,
  DISTILL_LOSSES,
  KL_TEMPERATURE,
  klLoss,
  mseLoss,
  minOf,
  project,
  projectionKind,
  type DistillMethod,
  type ProjectionKind,
} from './losses.ts';
export { mergeTeacher, checkTeacherInputs, TeacherError, TEACHER_PREFIX, type MergedTeacher } from './teacher.ts';
export { recoverKeptChannels, KEPT_AXIS } from './kept.ts';
