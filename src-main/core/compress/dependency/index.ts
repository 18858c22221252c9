/**
 * @file Public surface of channel dependency analysis (Torch-Pruning's dependency/ split, on ONNX): the dependency
 * graph, its per-op rule registry (channel propagation, and the replacer speedup runs on the same op), shape
 * evaluation, groups of coupled channels, and the analysis of a masked model. Pure TypeScript.
 */
export { analyse, type AnalyseOptions, type Analysis } from './analyse.ts';
export { bakeMasks } from './bake.ts';
export { DepGraph, type Member, type Consumer, type Block } from './depgraph.ts';
export { groupsOf, type DependencyGroup, type GroupMember } from './groups.ts';
export { PROPAGATION_RULES, REPLACERS, registerPropagationRule, registerReplacer } from './registry.ts';
export { evalShapeInts, type IntValue } from './shape-eval.ts';
export { sliceAxis } from './tensor-ops.ts';
export type {
  Atoms,
  ConstantCtx,
  ConsumerSpec,
  MemberSpec,
  PropagateCtx,
  PropagationRule,
  ReplaceCtx,
  Replacer,
} from './types.ts';
