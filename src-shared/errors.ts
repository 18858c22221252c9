/**
 * @file The base of every expected error, shared by both processes: a stable `code` and JSON `details`, so an
 * error crosses IPC as `{ name, code, message, details }` and is recognised on the other side. Pure: no Node, no DOM.
 */
export class StudioError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(message: string, code: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}
