/** @file Public surface of module fusion (BatchNormalization folding before quantization). Pure TypeScript. */
export {
  FOLD_HEADS,
  FUSABLE_ACTIVATIONS,
  foldBatchNorm,
  foldBatchNormsPass,
  foldBlocker,
  followingActivation,
  fuseModules,
  type FuseOptions,
  type FuseResult,
  type FusedGroup,
} from './fold.ts';
