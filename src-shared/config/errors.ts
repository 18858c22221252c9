/** @file Named errors of the config layer and the JSON-path formatting they share. Pure TypeScript: imports only the shared error base, never Node or DOM. */
import { StudioError } from '../errors.ts';

/** One fault in a config list: where (a JSON path such as `$[0].sparse_ratio`) and what. */
export interface ConfigIssue {
  path: string;
  message: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Formats path segments as a JSON path: numbers as `[i]`, identifiers as `.key`, other keys quoted.
 *
 * @example jsonPath([0, 'target_settings', 'weight']) // '$[0].target_settings.weight'
 */
export function jsonPath(segments: readonly PropertyKey[], root = '$'): string {
  return segments.reduce<string>((path, s) => path + pathSegment(s), root);
}

function pathSegment(segment: PropertyKey): string {
  if (typeof segment === 'number') return `[${segment}]`;
  const key = String(segment);
  return IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(key)}]`;
}

/** Renders issues as the lines of an error message, one `path: message` per line. */
export function formatIssues(issues: readonly ConfigIssue[]): string {
  return issues.map((i) => `  ${i.path}: ${i.message}`).join('\n');
}

/**
 * A config list (or a registered template) that fails validation. `issues` lists every fault found in one pass;
 * `message` names each one with its JSON path.
 *
 * @example
 * // invalid config list (1 fault):
 * //   $[0].target_settings.weight.sparse_ratio: must be ≤ 1
 */
export class ConfigListError extends StudioError {
  readonly issues: readonly ConfigIssue[];
  declare readonly details: { issues: readonly ConfigIssue[] };

  constructor(issues: readonly ConfigIssue[], subject = 'config list') {
    const count = `${issues.length} fault${issues.length === 1 ? '' : 's'}`;
    super(`invalid ${subject} (${count}):\n${formatIssues(issues)}`, 'CONFIG_LIST_INVALID', { issues });
    this.issues = issues;
  }
}

/** No setting template is registered for an ONNX op type in a mode (NNI's "is not registered" assertion). */
export class NoTemplateError extends StudioError {
  declare readonly details: { mode: string; opType: string; node?: string };

  constructor(
    readonly mode: string,
    readonly opType: string,
    node?: string,
  ) {
    const where = node === undefined ? '' : ` (node "${node}")`;
    super(
      `no ${mode} template for ONNX op type '${opType}'${where}; ` +
        `register one with registerTemplate('${mode}', '${opType}', { <target>: { …setting } })`,
      'NO_TEMPLATE',
      node === undefined ? { mode, opType } : { mode, opType, node },
    );
  }
}
