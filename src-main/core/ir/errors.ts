/** @file Named errors of the IR and of the passes built on it. Pure: imports only the shared error base. */
import { StudioError } from '../../../src-shared/errors.ts';

export { StudioError };

/** A structural fault in a graph (cycle, duplicate name, dangling use). */
export class GraphError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'GRAPH', details);
  }
}

/** An op a pass cannot handle; names the node and what to do about it. */
export class UnsupportedOpError extends StudioError {
  constructor(
    readonly opType: string,
    readonly nodeName: string,
    what: string,
    hint = '',
  ) {
    super(`${what}: op ${opType} (node "${nodeName}") is not supported${hint ? `; ${hint}` : ''}`, 'UNSUPPORTED_OP', {
      opType,
      node: nodeName,
    });
  }
}
