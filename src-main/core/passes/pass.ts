/**
 * @file The pass contract: every graph pass says whether it edits in place and returns whether it changed
 * anything. Pure: imports only the IR.
 */
import type { Model } from '../ir/index.ts';

export interface PassResult {
  model: Model;
  modified: boolean;
  /** What the pass changed, one entry per rewrite (normalization passes fill it; others may leave it out). */
  changes?: PassChange[];
}

/** One rewrite a pass made: the node it replaced, the pattern it recognised, and what stands there now. */
export interface PassChange {
  node: string;
  pattern: string;
  result: string;
}

export interface Pass {
  readonly name: string;
  /** True when the pass edits the model it is given (callers clone first if they need the original). */
  readonly inPlace: boolean;
  run(model: Model): PassResult;
}

/** Run passes in order, threading the model through. */
export function runPasses(model: Model, passes: readonly Pass[]): PassResult {
  let modified = false;
  for (const p of passes) {
    const r = p.run(model);
    model = r.model;
    modified ||= r.modified;
  }
  return { model, modified };
}
