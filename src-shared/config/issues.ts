/** @file Turns zod issues into config faults `{ path, message }` with short messages ("must be ≤ 1") and hints for
 * unknown keys. Pure TypeScript: imports only zod and sibling modules, never Node or DOM.
 */
import type { z } from 'zod';
import { jsonPath, type ConfigIssue } from './errors.ts';
import { describeValue } from './json.ts';
import { LEGACY_KEYS } from './legacy.ts';
import { MODES, SETTING_KEYS, type Mode } from './schema.ts';

const EXPECTED: Record<string, string> = {
  number: 'a number',
  int: 'an integer',
  string: 'a string',
  array: 'a list',
  object: 'an object',
  boolean: 'true or false',
  null: 'null',
};

/** Per-parse zod error map: short messages for the generic issue codes; schema-level messages win over it. */
export const configErrorMap: z.core.$ZodErrorMap = (iss) => {
  switch (iss.code) {
    case 'invalid_type':
      return iss.input === undefined
        ? 'is required'
        : `expected ${EXPECTED[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    case 'too_big':
      return iss.origin === 'number'
        ? `must be ${iss.inclusive ? '≤' : '<'} ${iss.maximum}`
        : `must have at most ${iss.maximum} items`;
    case 'too_small':
      return iss.origin === 'number'
        ? `must be ${iss.inclusive ? '≥' : '>'} ${iss.minimum}`
        : `must have at least ${iss.minimum} items`;
    case 'invalid_value':
      return `must be one of ${iss.values.map((v) => JSON.stringify(v)).join(', ')}; got ${describeValue(iss.input)}`;
    default:
      return undefined;
  }
};

/** Options of `toConfigIssues`. */
export interface IssueContext {
  mode: Mode;
  /** Segments put before every issue path, e.g. the config index. */
  prefix?: readonly PropertyKey[];
  /** JSON path root; `$` for the user's list. */
  root?: string;
  /** Translated path → the user's path (from the legacy translation). */
  aliases?: ReadonlyMap<string, string>;
}

/**
 * Converts zod issues to config faults: one fault per unknown key, a fault that repeats the path of a type error
 * dropped (zod adds a size check on the same value), legacy paths mapped back to what the user wrote.
 */
export function toConfigIssues(issues: readonly z.core.$ZodIssue[], ctx: IssueContext): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const typeFaults = new Set<string>();
  for (const issue of issues) {
    const segments = [...(ctx.prefix ?? []), ...issue.path];
    const path = jsonPath(segments, ctx.root);
    if (typeFaults.has(path)) continue;
    if (issue.code === 'invalid_type') typeFaults.add(path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: jsonPath([...segments, key], ctx.root), message: unknownKeyMessage(key, ctx.mode) });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out.map((i) => ({ ...i, path: unalias(i.path, ctx.aliases) }));
}

/** "unknown key 'x'" plus why, when we can tell: another mode's key, quantization-only fuse_names, or a 2.x key. */
export function unknownKeyMessage(key: string, mode: Mode): string {
  return `unknown key '${key}'${unknownKeyHint(key, mode)}`;
}

function unknownKeyHint(key: string, mode: Mode): string {
  if (key === 'fuse_names') return ' (fuse_names is for quantization only)';
  if (LEGACY_KEYS.has(key)) {
    return ' (an NNI 2.x key; 2.x lists are translated only when the first config has exclude, sparsity, sparsity_per_layer, total_sparsity or quant_types)';
  }
  const other = MODES.find((m) => m !== mode && SETTING_KEYS[m].includes(key));
  return other === undefined ? '' : ` (a ${other} key; this is a ${mode} config list)`;
}

/** Replaces the longest aliased prefix of `path` with the user's original path. */
function unalias(path: string, aliases: ReadonlyMap<string, string> | undefined): string {
  if (!aliases) return path;
  let best: string | undefined;
  for (const from of aliases.keys()) {
    const covers = path === from || path.startsWith(`${from}.`) || path.startsWith(`${from}[`);
    if (covers && (best === undefined || from.length > best.length)) best = from;
  }
  return best === undefined ? path : aliases.get(best)! + path.slice(best.length);
}
