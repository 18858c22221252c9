/**
 * @file A pruning plan as data: the masks per target, the config list and pruner that made them, and fingerprints of
 * the model they were made on. Saved and loaded as JSON (masks bit-packed by masks.ts) and replayable on a fresh
 * copy of the same model. Pure: imports only the IR, the mask contract, simulation and hashing.
 */
import type { Dim, Model } from '../../ir/index.ts';
import { masksFromJson, type MaskJson, type Masks } from '../masks.ts';
import { simulate, type ApplyMethod, type ApplyMethods } from '../simulate/index.ts';
import type { TargetKind } from '../targets/index.ts';
import { Hasher } from '../../util/hash.ts';
import { PruningPlanError } from '../errors.ts';
import type { Diagnostic } from '../../../../src-shared/config/index.ts';

export const PLAN_FORMAT = 'compression-studio/pruning-plan';
export const PLAN_VERSION = 1;

/** One masked target as recorded in a plan. */
export interface PlanTarget {
  node: string;
  opType: string;
  target: string;
  kind: TargetKind;
  /** Name of the tensor (initializer or activation). */
  value: string;
  /** ONNX shape of the target. */
  shape: Dim[];
  applyMethod: ApplyMethod;
  /** JSON path of the config entry that configured it. */
  config: string;
  /** Fraction of the target's elements masked. */
  sparsity: number;
}

/** A pruning plan. */
export interface PruningPlan {
  format: typeof PLAN_FORMAT;
  version: typeof PLAN_VERSION;
  /** 'level' | 'l1' | 'l2' | 'fpgm'. */
  pruner: string;
  model: { name: string; graphHash: string; weightsHash: string };
  /** The config list as the user gave it. */
  configList: unknown;
  targets: PlanTarget[];
  masks: Record<string, Record<string, MaskJson>>;
}

/**
 * Fingerprint of a graph's structure: opsets, nodes (name, op, domain, inputs, outputs), initializers (name, dtype,
 * dims), graph inputs and outputs. Weight values are not included (see weightsHash).
 */
export function graphHash(model: Model): string {
  const h = new Hasher();
  const g = model.graph;
  for (const [domain, version] of model.opsetImports) h.string(`opset:${domain}:${version}`);
  for (const v of g.inputs) h.string(`in:${v.name}`);
  for (const v of g.initializers) h.string(`init:${v.name}:${v.initializer!.dtype}:${v.initializer!.dims.join(',')}`);
  for (const n of g.nodes)
    h.string(
      `node:${n.name}:${n.domain}:${n.opType}:${n.inputs.map((v) => v?.name ?? '').join(',')}:${n.outputs.map((v) => v.name).join(',')}`,
    );
  for (const v of g.outputs) h.string(`out:${v.name}`);
  return h.hex();
}

/** Fingerprint of the initializers' values (names and bytes). */
export function weightsHash(model: Model): string {
  const h = new Hasher();
  for (const v of model.graph.initializers) {
    const d = v.initializer!.data;
    h.string(v.name);
    if (d === null) h.string('<weightless>');
    else if (Array.isArray(d)) d.forEach((s) => h.string(s));
    else h.bytes(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  return h.hex();
}

/** The plan as JSON text. */
export function planToJson(plan: PruningPlan): string {
  return JSON.stringify(plan, null, 1);
}

/**
 * A plan read back from JSON text or a parsed object, checked for its format and shape.
 *
 * @throws PruningPlanError naming what is missing or wrong
 */
export function planFromJson(json: string | unknown): PruningPlan {
  let obj: unknown = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (e) {
      throw new PruningPlanError(`the plan is not JSON: ${(e as Error).message}`);
    }
  }
  const p = obj as Partial<PruningPlan> | null;
  if (!p || typeof p !== 'object') throw new PruningPlanError('the plan is not a JSON object');
  if (p.format !== PLAN_FORMAT)
    throw new PruningPlanError(`not a pruning plan (format is ${JSON.stringify(p.format)}, expected "${PLAN_FORMAT}")`);
  if (p.version !== PLAN_VERSION)
    throw new PruningPlanError(`pruning plan version ${String(p.version)} is not supported (expected ${PLAN_VERSION})`);
  if (!p.model || typeof p.model.graphHash !== 'string') throw new PruningPlanError('the plan has no model.graphHash');
  if (!Array.isArray(p.targets)) throw new PruningPlanError('the plan has no targets list');
  if (!p.masks || typeof p.masks !== 'object') throw new PruningPlanError('the plan has no masks');
  try {
    masksFromJson(p.masks);
  } catch (e) {
    throw new PruningPlanError(`the plan's masks are malformed: ${(e as Error).message}`);
  }
  return p as PruningPlan;
}

/** The plan's masks. */
export function planMasks(plan: PruningPlan): Masks {
  return masksFromJson(plan.masks);
}

/** The plan's apply methods, as `simulate` takes them. */
export function planApplyMethods(plan: PruningPlan): ApplyMethods {
  const out: Record<string, Record<string, string>> = {};
  for (const t of plan.targets) (out[t.node] ??= {})[t.target] = t.applyMethod;
  return out;
}

/**
 * Replays a plan on a model: checks that the graph is the one the plan was made for, then simulates its masks.
 * Different weight values (e.g. the same architecture fine-tuned) are allowed and reported.
 *
 * @example const { model: simulated } = applyPlan(loadModelFile('resnet.onnx'), planFromJson(readFileSync('plan.json', 'utf8')));
 * @throws PruningPlanError when the graph differs from the plan's
 */
export function applyPlan(model: Model, plan: PruningPlan): { model: Model; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const gh = graphHash(model);
  if (gh !== plan.model.graphHash) {
    throw new PruningPlanError(
      `the plan was made for another graph ("${plan.model.name}", graph hash ${plan.model.graphHash}; this one is ${gh})`,
      {
        expected: plan.model.graphHash,
        actual: gh,
      },
    );
  }
  if (weightsHash(model) !== plan.model.weightsHash) {
    diagnostics.push({
      level: 'info',
      code: 'plan-weights-differ',
      message: `the weights differ from those the plan was computed on ("${plan.model.name}"); its masks are applied as they are`,
    });
  }
  return { model: simulate(model, planMasks(plan), { applyMethods: planApplyMethods(plan) }), diagnostics };
}
