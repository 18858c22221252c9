/** @file Structured diagnostics shared by the config parser and the engine (never console output). Pure TypeScript: imports nothing, never Node or DOM. */

/** How serious a diagnostic is: `error` means the step cannot honour the config as written. */
export type DiagnosticLevel = 'info' | 'warning' | 'error';

/**
 * One structured message about a config list or a compression step.
 *
 * @example
 * const d: Diagnostic = { level: 'info', code: 'torch-op-type', message: "op_types 'Conv2d' read as ONNX 'Conv'", path: '$[0].op_types[0]' };
 */
export interface Diagnostic {
  level: DiagnosticLevel;
  /** Stable kebab-case identifier, e.g. `legacy-config`; UIs and tests match on it, never on `message`. */
  code: string;
  message: string;
  /** JSON path into the user's config list, e.g. `$[0].target_settings.weight`. */
  path?: string;
  /** ONNX node name the diagnostic is about, when there is one. */
  node?: string;
}

/** Codes emitted by `src-shared/config`. The engine adds its own; `Diagnostic.code` stays a plain string. */
export type ConfigDiagnosticCode =
  | 'legacy-config'
  | 'torch-op-type'
  | 'unselectable-op-type'
  | 'empty-config-list'
  | 'empty-target-names'
  | 'unknown-target'
  | 'ratio-and-threshold'
  | 'min-above-max';

/** True when any diagnostic in the list is an error. */
export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.level === 'error');
}
