/** @file Public surface of target resolution (config list × graph → targets with settings). Pure TypeScript. */
export { resolveTargets, settingPath, type ResolvedTarget, type TargetTable } from './resolve.ts';
export { selectNodes, type Selected, type SelectionKeys } from './select.ts';
export {
  bindTarget,
  isBindingFault,
  canonicalPerm,
  OUT_AXIS,
  outputChannelCount,
  outputChannelOf,
  type TargetBinding,
  type TargetKind,
  type BindingFault,
} from './layout.ts';
