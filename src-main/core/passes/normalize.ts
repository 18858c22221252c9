/**
 * @file Normalization on load: the passes that turn what exporters write into the form compression expects
 * (every parameter an initializer of its own), and the check that refuses an exporter pattern none of them
 * knows. Not in place: the passes run on a copy, so a refused model is left exactly as it was.
 * Pure: imports only the IR and the passes.
 */
import { cloneModel, StudioError, type Graph, type Model, type Node, type Value } from '../ir/index.ts';
import { foldIdentity } from './fold-identity.ts';
import { foldWeights, FOLD_RULES } from './fold-weights.ts';
import { fuseLayerNorm } from './fuse-layernorm.ts';
import { liftConstants } from './lift-constants.ts';
import type { Pass } from './pass.ts';

/** What one normalization pass changed. */
export interface NormalizationStep {
  pass: string;
  /** Rewrites, one per node replaced (lift-constants reports a count only). */
  changes: { node: string; pattern: string; result: string }[];
  count: number;
}

export interface NormalizationReport {
  steps: NormalizationStep[];
  /** True when any pass changed the model. */
  modified: boolean;
  /** One line per pass that changed something, e.g. "fold-identity: 16 Identity nodes over initializers …". */
  summary: string[];
}

/** A weight computed from constants by ops no pass folds: names the reading node, the producer and the pattern. */
export class UnknownExportPatternError extends StudioError {
  constructor(
    readonly nodeName: string,
    readonly pattern: string,
  ) {
    super(
      `node "${nodeName}" reads a parameter computed from constants by a pattern no normalization pass knows: ${pattern}; ` +
        'the model was left as it was (export with constant folding on, or register a fold rule for the op)',
      'UNKNOWN_EXPORT_PATTERN',
      { node: nodeName, pattern },
    );
  }
}

/** The normalization passes, in order. */
export const NORMALIZATION_PASSES: readonly Pass[] = [liftConstants, foldIdentity, foldWeights, fuseLayerNorm];

const SUMMARY: Record<string, string> = {
  'lift-constants': 'weights held in Constant nodes lifted to initializers',
  'fold-identity': 'Identity nodes over initializers (de-duplicated weights) given their own initializer',
  'fold-weights': 'constant Cast / Reshape / Transpose / Squeeze / Unsqueeze / Flatten of weights folded',
  'fuse-layernorm':
    'decomposed layer norms (ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div) fused into LayerNormalization',
};

/** Parameter inputs per op type: where a weight must be an initializer for compression to see it. */
const PARAM_INPUTS: Record<string, readonly number[]> = {
  Conv: [1, 2],
  ConvTranspose: [1, 2],
  Gemm: [1, 2],
  BatchNormalization: [1, 2, 3, 4],
  LayerNormalization: [1, 2],
  InstanceNormalization: [1, 2],
  GroupNormalization: [1, 2],
};

/** Ops whose constant output is a known, deliberate form (a QDQ model's weights), never an unknown pattern. */
const KEPT = new Set(['DequantizeLinear']);

/**
 * Normalize a model: lift Constant-node weights, undo initializer de-duplication, fold constant layout and type
 * ops over weights, fuse decomposed layer norms. Returns a normalized copy (tensors shared) and a report of each
 * pass's changes.
 * @example const { model, report } = normalizeModel(loadModelFile('densenet121.onnx')); console.log(report.summary);
 * @throws UnknownExportPatternError when a parameter is still computed from constants afterwards (input untouched)
 */
export function normalizeModel(input: Model): { model: Model; report: NormalizationReport } {
  const model = cloneModel(input);
  const steps: NormalizationStep[] = [];
  for (const pass of NORMALIZATION_PASSES) {
    const before = pass === liftConstants ? countConstants(model.graph) : 0;
    const r = pass.run(model);
    const changes = r.changes ?? [];
    steps.push({
      pass: pass.name,
      changes,
      count: pass === liftConstants ? before - countConstants(model.graph) : changes.length,
    });
  }
  checkParameters(model.graph);
  const modified = steps.some((s) => s.count > 0);
  const summary = steps.filter((s) => s.count > 0).map((s) => `${s.pass}: ${s.count} × ${SUMMARY[s.pass] ?? s.pass}`);
  return { model, report: { steps, modified, summary } };
}

function countConstants(g: Graph): number {
  let n = 0;
  for (const node of g.allNodes()) if (node.opType === 'Constant') n++;
  return n;
}

/** Refuse a parameter input still computed purely from constants (a pattern the passes did not fold). */
function checkParameters(g: Graph): void {
  const constant = new Map<Value, boolean>();
  const isConstant = (v: Value): boolean => {
    if (v.initializer) return !v.isGraphInput;
    const cached = constant.get(v);
    if (cached !== undefined) return cached;
    const p = v.producer;
    const inputs = p?.inputs.filter((x) => x !== null) ?? [];
    const result =
      !!p &&
      p.graph === g &&
      p.subgraphs().length === 0 &&
      !p.opType.startsWith('Random') &&
      inputs.length > 0 &&
      inputs.every(isConstant);
    constant.set(v, result);
    return result;
  };
  for (const node of g.nodes) {
    for (const i of PARAM_INPUTS[node.opType] ?? []) {
      const v = node.input(i);
      if (!v || v.initializer || !isConstant(v)) continue;
      if (KEPT.has(v.producer!.opType)) continue;
      throw new UnknownExportPatternError(node.name, `${node.opType} input ${i} ← ${describe(v.producer!, 3)}`);
    }
  }
}

/** A readable rendering of a constant cone, e.g. `Mul "m"(initializer "a", Sqrt "s"(initializer "b"))`. */
function describe(node: Node, depth: number): string {
  const known = FOLD_RULES.has(node.opType) ? ' (not foldable here)' : '';
  const args = node.inputs.map((v) =>
    v === null
      ? '∅'
      : v.initializer
        ? `initializer "${v.name}"`
        : depth > 0 && v.producer
          ? describe(v.producer, depth - 1)
          : `"${v.name}"`,
  );
  return `${node.opType} "${node.name}"${known}(${args.join(', ')})`;
}
