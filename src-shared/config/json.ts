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

/** Keys that reach an object's prototype machinery when used as property names: refused anywhere in user JSON. */
export const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest JSON nesting checked by {@link findUnsafeKeys}; deeper values are a fault of their own. */
export const MAX_JSON_DEPTH = 64;

/**
 * Walks a JSON value without recursion and returns the paths (as segments) of every prototype-named key, and of
 * any value nested deeper than {@link MAX_JSON_DEPTH}. `JSON.parse` keeps `"__proto__"` as an own key, which zod's
 * records then drop silently and property lookups resolve to the prototype: both are refused instead.
 *
 * @example findUnsafeKeys(JSON.parse('[{"__proto__": {}}]')) // [{ path: [0, '__proto__'], reason: 'prototype' }]
 */
export function findUnsafeKeys(value: unknown): { path: PropertyKey[]; reason: 'prototype' | 'depth' }[] {
  const out: { path: PropertyKey[]; reason: 'prototype' | 'depth' }[] = [];
  const stack: { value: unknown; path: PropertyKey[] }[] = [{ value, path: [] }];
  while (stack.length > 0 && out.length < 100) {
    const { value: v, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (path.length >= MAX_JSON_DEPTH) {
      out.push({ path, reason: 'depth' });
      continue;
    }
    const entries: [PropertyKey, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [k, x] = entries[i]!;
      if (typeof k === 'string' && PROTOTYPE_KEYS.has(k)) out.push({ path: [...path, k], reason: 'prototype' });
      else stack.push({ value: x, path: [...path, k] });
    }
  }
  return out;
}
