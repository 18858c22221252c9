/** @file Graph passes over the IR. Pure TypeScript. */
export * from './pass.ts';
export { liftConstants, constantValue } from './lift-constants.ts';
export { deadCode } from './dead-code.ts';
export { foldIdentity } from './fold-identity.ts';
export { fuseLayerNorm } from './fuse-layernorm.ts';
export { foldWeights, FOLD_RULES, registerFoldRule, type FoldRule } from './fold-weights.ts';
export {
  normalizeModel,
  NORMALIZATION_PASSES,
  UnknownExportPatternError,
  type NormalizationReport,
  type NormalizationStep,
} from './normalize.ts';
