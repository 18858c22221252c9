/** @file Public surface of the pure speedup core: channel dependency analysis, groups, plans, shrinking and the rule registries. Pure TypeScript. */
export { compactModel, analyse, type AnalyseOptions, type Analysis, type CompactOptions, type CompactResult } from './speedup.ts';
export { autoDependencyGroups, resolveAutoDependencyGroups } from './auto-groups.ts';
export { groupPruningMasks, type GroupPruningOptions } from './group-masks.ts';
export { groupsOf, type DependencyGroup, type GroupMember } from './groups.ts';
export { planRemoval, type ChannelPlan, type PlanOptions } from './plan.ts';
export { bakeMasks } from './bake.ts';
export { DepGraph, type Member, type Consumer, type Block } from './depgraph.ts';
export { PROPAGATION_RULES, REPLACERS, registerPropagationRule, registerReplacer } from './registry.ts';
export { EmptyLayerError, SpeedupVerificationError, MissingShapeError } from './errors.ts';
export { sliceAxis } from './tensor-ops.ts';
export type { Atoms, ConstantCtx, ConsumerSpec, MemberSpec, PropagateCtx, PropagationRule, ReplaceCtx, Replacer } from './types.ts';
