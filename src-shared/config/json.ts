/** @file Tiny helpers for JSON-shaped values (plain objects, arrays, primitives). Pure TypeScript: imports nothing, never Node or DOM. */

/** A JSON object as parsed from user input. */
export type JsonObject = Record<string, unknown>;

/** True for a non-null, non-array object. */
export function isPlainObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Deep copy of a JSON-shaped value (settings, templates, config entries); like Python's `deepcopy` for them.
 *
 * @example cloneJson({ dims: [0] }) // a new object with a new array
 */
export function cloneJson<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => cloneJson(v)) as T;
  if (!isPlainObject(value)) return value;
  const copy: JsonObject = {};
  for (const [k, v] of Object.entries(value)) copy[k] = cloneJson(v);
  return copy as T;
}

/** Short human description of a value for error messages: `"int64"`, `1.5`, `null`, `a list`, `an object`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}
