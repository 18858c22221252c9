/** @file Public surface of the config layer: NNI 3.0 config-list schema, parser, templates and settings resolution. Pure TypeScript: imports only zod and sibling modules, never Node or DOM. */
export type { Diagnostic, DiagnosticLevel, ConfigDiagnosticCode } from './diagnostics.ts';
export { hasErrors } from './diagnostics.ts';
export { ConfigListError, NoTemplateError, jsonPath, type ConfigIssue } from './errors.ts';
export {
  MODES,
  SELECTION_KEYS,
  SELECTOR_KEYS,
  NON_SHORTCUT_KEYS,
  SETTING_KEYS,
  AUTO_DEPENDENCY_GROUP,
  QUANT_DTYPE,
  CONFIG_SCHEMAS,
  SETTING_SCHEMAS,
  granularitySchema,
  alignSchema,
  pruningConfigSchema,
  pruningSettingSchema,
  quantizationConfigSchema,
  quantizationSettingSchema,
  distillationConfigSchema,
  distillationSettingSchema,
  type Mode,
  type Granularity,
  type Align,
  type PruningConfig,
  type PruningSetting,
  type QuantizationConfig,
  type QuantizationSetting,
  type DistillationConfig,
  type DistillationSetting,
  type ConfigEntry,
  type ConfigEntryOf,
  type Setting,
  type SettingOf,
} from './schema.ts';
export {
  LEGACY_KEYS,
  LEGACY_TRIGGER_KEYS,
  isLegacyConfigList,
  translateLegacyConfigList,
  type LegacyTranslation,
} from './legacy.ts';
export { TORCH_OP_TYPES, mapTorchOpTypes, type TorchOpTypeRule } from './torch-op-types.ts';
export { parseConfigList, type ParsedConfigList } from './parse.ts';
export {
  PARAM_OP_TYPES,
  PARAM_ROLES,
  PRUNING_TEMPLATES,
  QUANTIZATION_TEMPLATES,
  DISTILLATION_TEMPLATE,
  paramRoles,
  registerTemplate,
  getTemplate,
  type Template,
  type ParamOpType,
  type ParamRole,
  type ParamRoles,
} from './templates.ts';
export {
  INPUT_PREFIX,
  OUTPUT_PREFIX,
  resolveSettings,
  normaliseTargetNames,
  isIoTarget,
  defaultGranularity,
  type ResolveOptions,
  type CompressorFamily,
  type DefaultGranularity,
} from './settings.ts';
export { matchesOpNameRe } from './selection.ts';
