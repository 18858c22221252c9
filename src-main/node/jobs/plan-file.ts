/**
 * @file Plans on disk: read and validate a plan file, resolve its relative paths against the file's folder, and
 * check that the model and data files it names exist. Imports node:* and src-shared; never the store or Electron.
 */
import { existsSync, statSync } from 'node:fs';
import { PathError, READ_LIMITS, readTextInput } from '../io/guard.ts';
import { dirname, isAbsolute, resolve } from 'node:path';
import {
  mapPlanPaths,
  parsePlan,
  PlanError,
  planInputs,
  type Plan,
  type PlanIssue,
} from '../../../src-shared/experiment.ts';

/**
 * Reads a plan file, validates it and makes its paths absolute (relative to the plan file's folder).
 * Throws `PlanError` (with JSON paths) for an unreadable, invalid or incomplete plan.
 *
 * @example const plan = loadPlanFile('experiments/resnet.json');
 */
export function loadPlanFile(path: string, opts: { checkInputs?: boolean } = {}): Plan {
  let text: string;
  try {
    text = readTextInput(path, { what: 'plan file', maxBytes: READ_LIMITS.json });
  } catch (e) {
    if (e instanceof PathError) throw new PlanError([{ path: '$', message: e.message }]);
    throw e;
  }
  const plan = resolvePlanPaths(parsePlan(text), dirname(resolve(path)));
  if (opts.checkInputs !== false) assertPlanInputs(plan);
  return plan;
}

/** The plan with every relative path resolved against `baseDir`. */
export function resolvePlanPaths(plan: Plan, baseDir: string): Plan {
  return mapPlanPaths(plan, (f) => (isAbsolute(f) ? f : resolve(baseDir, f)));
}

/** "file not found" issues for the model and data files a plan names. */
export function checkPlanInputs(plan: Plan): PlanIssue[] {
  const issues: PlanIssue[] = [];
  for (const { path, file } of planInputs(plan)) {
    if (!existsSync(file)) issues.push({ path, message: `file not found: ${file}` });
    else if (path === '$.model' && !statSync(file).isFile()) issues.push({ path, message: `not a file: ${file}` });
  }
  return issues;
}

/** Throws `PlanError` when an input file is missing. */
export function assertPlanInputs(plan: Plan): void {
  const issues = checkPlanInputs(plan);
  if (issues.length > 0) throw new PlanError(issues);
}
