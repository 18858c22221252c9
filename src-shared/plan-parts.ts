/**
 * @file The pieces every part of the plan is checked with: JSON paths, `PlanIssue` / `PlanError`, zod issues turned
 * into plan issues, config lists checked through src-shared/config, and the small shared schemas (paths, counts,
 * config lists). Pure TypeScript: imports only zod and src-shared, never Node, DOM, Electron or src-main.
 */
import { z } from 'zod';
import { ConfigListError, parseConfigList } from './config/index.ts';
import { StudioError } from './errors.ts';

// ---------------------------------------------------------------------------------------------------------------
// JSON paths and the plan error

/** One fault in a plan: where (a JSON path such as `$.steps[2].kind`) and what. */
export interface PlanIssue {
  path: string;
  message: string;
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * Formats path segments as a JSON path.
 *
 * @example planPath(['steps', 2, 'kind']) // '$.steps[2].kind'
 */
export function planPath(segments: readonly PropertyKey[], root = '$'): string {
  return segments.reduce<string>((path, s) => {
    if (typeof s === 'number') return `${path}[${s}]`;
    const key = String(s);
    return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
  }, root);
}

/**
 * A plan that fails validation; `issues` lists every fault found in one pass.
 *
 * @example
 * // invalid experiment plan (1 fault):
 * //   $.steps[2].kind: unknown step kind "prun" (did you mean "prune"?)
 */
export class PlanError extends StudioError {
  readonly issues: readonly PlanIssue[];
  declare readonly details: { issues: readonly PlanIssue[] };

  constructor(issues: readonly PlanIssue[]) {
    const count = `${issues.length} fault${issues.length === 1 ? '' : 's'}`;
    super(
      `invalid experiment plan (${count}):\n${issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`,
      'PLAN_INVALID',
      { issues },
    );
    this.issues = issues;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Shared pieces

export const path = z.string().min(1, 'must be a non-empty path');
export const positiveInt = z.int().positive();
export const nonNegativeInt = z.int().nonnegative();
/** A config list as far as this layer checks it: an array of objects (the NNI keys are src-shared/config's job). */
export const configList = z.array(z.record(z.string(), z.unknown()), 'must be an array of objects (a config list)');

/** A config list as the plan keeps it (JSON objects). */
export type ConfigListJson = z.infer<typeof configList>;
/** The options a registry entry declares, as values. */
export type OptionsOf<E> = E extends { options: infer O extends z.ZodRawShape } ? z.infer<z.ZodObject<O>> : never;

/** One schema for several: the only one, or their union. */
export function unionOf(schemas: z.ZodType[]): z.ZodType {
  return schemas.length === 1 ? schemas[0]! : z.union(schemas as [z.ZodType, z.ZodType, ...z.ZodType[]]);
}

/** A plain object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns zod issues into plan issues; an unknown key becomes one issue at its own path. */
export function toPlanIssues(zodIssues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[]): PlanIssue[] {
  return zodIssues.flatMap((iss) => {
    const at = [...prefix, ...iss.path];
    if (iss.code === 'unrecognized_keys')
      return iss.keys.map((key) => ({ path: planPath([...at, key]), message: `unknown option "${key}"` }));
    return [{ path: planPath(at), message: iss.message }];
  });
}

/**
 * The config list checked by src-shared/config (NNI 3.0 keys, values, cross-key rules), its faults re-rooted at
 * `path` (`$[0].sparse_ratio` → `$.steps[1].configList[0].sparse_ratio`). The plan keeps the user's list as
 * written; steps parse it again for the typed entries.
 */
export function configListIssues(
  list: unknown,
  mode: 'pruning' | 'quantization' | 'distillation',
  path: string,
): PlanIssue[] {
  try {
    parseConfigList(list, mode);
    return [];
  } catch (e) {
    if (e instanceof ConfigListError)
      return e.issues.map((i) => ({ path: path + i.path.slice(1), message: i.message }));
    return [{ path, message: (e as Error).message }];
  }
}
