/** @file NNI's op-name regex semantics (Python `re.match`: anchored at the start only). Pure TypeScript: imports nothing, never Node or DOM. */

/**
 * True when `pattern` matches `name` as Python's `re.match` does: anchored at the start, not at the end, so
 * `'layer.1'` also matches `'layer.10'`. Patterns are read as JS regular expressions.
 *
 * @example matchesOpNameRe('encoder\\.layer\\.1', 'encoder.layer.11.attention') // true
 */
export function matchesOpNameRe(pattern: string, name: string): boolean {
  return new RegExp(`^(?:${pattern})`).test(name);
}
