/**
 * @file Errors as they cross the process boundary: `{ name, code, message, details }`, never flattened to a message.
 * `IpcError` is what a client rejects with; `toSerializedError` is what a server sends. Pure TypeScript: imports
 * only src-shared, never Node, DOM or Electron.
 */
import { serializedErrorSchema, type SerializedError } from '../experiment.ts';

export { serializedErrorSchema, type SerializedError };

/** Codes the IPC layer itself produces; services add their own (`PLAN_INVALID`, `RUN_NOT_FOUND`, …). */
export const IPC_CODES = {
  badRequest: 'BAD_REQUEST',
  badReply: 'BAD_REPLY',
  unknownMethod: 'UNKNOWN_METHOD',
  cancelled: 'CANCELLED',
  disconnected: 'DISCONNECTED',
  forbidden: 'FORBIDDEN',
  notSupported: 'NOT_SUPPORTED',
  internal: 'INTERNAL',
} as const;

/**
 * An error received from the other side (or raised by the IPC layer), keeping the remote name, code and details.
 *
 * @example
 * try { await api.experiments.start({ plan }) } catch (e) {
 *   if (e instanceof IpcError && e.code === 'PLAN_INVALID') showIssues(e.details);
 * }
 */
export class IpcError extends Error {
  readonly code: string;
  readonly details: unknown;

  constructor(error: SerializedError) {
    super(error.message);
    this.name = error.name;
    this.code = error.code;
    this.details = error.details;
  }

  toJSON(): SerializedError {
    return toSerializedError(this);
  }
}

/** The request named a service or method the contract does not have. */
export function unknownMethodError(service: string, method: string): IpcError {
  return new IpcError({
    name: 'IpcError',
    code: IPC_CODES.unknownMethod,
    message: `no method ${service}.${method} in the contract`,
  });
}

/**
 * An error as data. Errors with a string `code` keep it; anything else is a bug on the sending side and crosses
 * as `INTERNAL` with its name and message.
 *
 * @example toSerializedError(new PlanError([...])) // { name: 'PlanError', code: 'PLAN_INVALID', message: '…', details: { issues } }
 */
export function toSerializedError(e: unknown): SerializedError {
  if (isSerializedError(e) && !(e instanceof Error))
    return {
      name: e.name,
      code: e.code,
      message: e.message,
      ...(e.details !== undefined ? { details: e.details } : {}),
    };
  if (e instanceof Error) {
    const err = e as Error & { code?: unknown; details?: unknown };
    const out: SerializedError = {
      name: err.name || 'Error',
      code:
        typeof err.code === 'string' ? err.code : err.name === 'AbortError' ? IPC_CODES.cancelled : IPC_CODES.internal,
      message: err.message,
    };
    if (err.details !== undefined) out.details = jsonSafe(err.details);
    return out;
  }
  return { name: 'Error', code: IPC_CODES.internal, message: String(e) };
}

/** Any rejection reason as an `IpcError` (an `IpcError` stays itself; a serialized error is rehydrated). */
export function asIpcError(reason: unknown): IpcError {
  if (reason instanceof IpcError) return reason;
  return new IpcError(toSerializedError(reason));
}

export function isSerializedError(v: unknown): v is SerializedError {
  return serializedErrorSchema.safeParse(v).success;
}

/** Details must survive JSON and structured clone: drop functions, cycles and class instances. */
function jsonSafe(v: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(v)) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * One line for the user: the message, plus the first issues when the details carry `{ issues: [{ path, message }] }`.
 *
 * @example describeError(e) // 'invalid experiment plan (1 fault): $.steps[0].kind: unknown step kind "prun"'
 */
export function describeError(e: unknown): string {
  const err = asIpcError(e);
  return err.message.split('\n')[0] ?? err.message;
}

/** The `{ path, message }` issues an error carries in its details (plan and config-list errors), else []. */
export function errorIssues(e: unknown): { path: string; message: string }[] {
  const details = asIpcError(e).details as { issues?: unknown } | undefined;
  if (!details || !Array.isArray(details.issues)) return [];
  return details.issues.filter(
    (i): i is { path: string; message: string } => typeof i?.path === 'string' && typeof i?.message === 'string',
  );
}
