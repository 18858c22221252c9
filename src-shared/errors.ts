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

/** Control characters, line and paragraph separators, and bidirectional overrides: never printed raw. */
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * A string with every unprintable character written as an escape, so a name read from a file cannot break a
 * message into lines, move the cursor or reorder text.
 *
 * @example printable('a\nb\u202e') // 'a\\nb\\u202e'
 */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A name from a file or a user, quoted and escaped for a message: `"conv\\n1"`.
 *
 * @example quoted('conv\n1') // '"conv\\n1"'
 */
export function quoted(name: string): string {
  return `"${printable(name)}"`;
}

/**
 * One line of printable text for an error: its name and message, the lines of a multi-fault message joined
 * with "; ", every unprintable character escaped.
 *
 * @example errorLine(new ConfigListError([...])) // 'ConfigListError: invalid config list (2 faults): $[0].x: …; $[1].y: …'
 */
export function errorLine(err: { name?: string; message?: string }): string {
  const lines = String(err.message ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const [head = '', ...rest] = lines;
  const text = rest.length ? `${head}${head.endsWith(':') ? '' : ':'} ${rest.join('; ')}` : head;
  return printable(`${err.name ?? 'Error'}: ${text}`);
}
