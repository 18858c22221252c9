/**
 * @file Named errors of compression setup and application (target resolution, pruning rules, simulation, plans).
 * Pure: imports only the IR's error base and the shared diagnostic type.
 */
import { StudioError } from '../ir/errors.ts';
import type { Diagnostic } from '../../../src-shared/config/index.ts';

/** One diagnostic as a line: `$[0].op_names[1] (node "fc"): message [code]`. */
export function formatDiagnostic(d: Diagnostic): string {
  const node = d.node === undefined ? '' : ` (node "${d.node}")`;
  return `${d.path ?? '$'}${node}: ${d.message} [${d.code}]`;
}

/**
 * A config list that is valid JSON-wise but cannot be applied to this model: a target that is not an initializer,
 * a group whose members disagree, an align pointing nowhere, a granularity that does not divide the tensor…
 * Every fault found in one pass is listed, each with its JSON path and node.
 */
export class CompressionConfigError extends StudioError {
  readonly diagnostics: readonly Diagnostic[];

  constructor(diagnostics: readonly Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.level === 'error');
    const count = `${errors.length} fault${errors.length === 1 ? '' : 's'}`;
    super(
      `the config list cannot be applied to this model (${count}):\n${errors.map((d) => `  ${formatDiagnostic(d)}`).join('\n')}`,
      'COMPRESSION_CONFIG',
      {
        diagnostics: errors,
      },
    );
    this.diagnostics = errors;
  }
}

/** A mask that does not fit its target (unknown node or target, wrong rank or dims, unsupported apply method). */
export class MaskApplyError extends StudioError {
  constructor(
    readonly node: string,
    readonly target: string,
    why: string,
  ) {
    super(`cannot apply the mask of ${target} on node "${node}": ${why}`, 'MASK_APPLY', { node, target });
  }
}

/** A pruning plan file that is malformed, or that was made for a different graph. */
export class PruningPlanError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'PRUNING_PLAN', details);
  }
}
