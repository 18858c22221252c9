/** @file Public surface of the pure speedup core: removal plans, shrinking, and the compact model. The analysis it builds on is in ../dependency. Pure TypeScript. */
export { compactModel, planNormMasks, type CompactOptions, type CompactResult, type KeptChannels } from './speedup.ts';
export { planRemoval, type ChannelPlan, type PlanOptions } from './plan.ts';
export { EmptyLayerError, SpeedupVerificationError, MissingShapeError } from './errors.ts';
