/**
 * @file The one helper every test and benchmark uses to load a corpus model: the committed graphs carry no
 * weight data, so weights are materialized here from a seeded generator — He-normal for conv / linear
 * weights, sensible BatchNorm statistics, small values elsewhere. Same seed, same weights, everywhere.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tensor, isFloatType, type Model, type Node, type Value } from '../../src-main/core/ir/index.ts';
import { Rng } from '../../src-main/core/util/random.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';

export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'models');
export const FIXTURES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

export interface CorpusEntry {
  name: string;
  model: string;
  opset: number;
  batch: 'static' | 'dynamic';
  keepsBatchNorm: boolean;
  inputShape: (number | string)[];
  outputShape: (number | string)[];
  nodeCount: number;
  opTypes: Record<string, number>;
  paramCount: number;
  torchMacs: number;
}

/** The corpus manifest written by make_corpus.py. */
export function corpusManifest(): CorpusEntry[] {
  return JSON.parse(readFileSync(join(CORPUS_DIR, 'manifest.json'), 'utf8')).models;
}

/** Load a corpus model (file name with or without `.onnx`) with materialized weights. */
export function loadCorpusModel(name: string, seed = 0, opts: MaterializeOptions = {}): Model {
  const file = name.endsWith('.onnx') ? name : `${name}.onnx`;
  const model = loadModelFile(join(CORPUS_DIR, file), { allowWeightless: true });
  materializeWeights(model, seed, opts);
  return model;
}

export interface MaterializeOptions {
  /**
   * Multiplies the standard deviation of every Conv weight whose output is read only by Add nodes — the last conv
   * of a residual branch, BatchNorm folded in (and a conv shortcut, as ResNet's downsample) — default 1: plain
   * He-normal. The draws are the same at every value (same seed, same normals, only those weights scaled), and
   * nothing else changes. Below 1 it keeps a deep residual network whose normalization was folded away from
   * doubling its residual stream's variance at every block (what the zero-initialized last BatchNorm of a
   * residual branch does in training), while the main path stays He-normal and the output depends on the input.
   */
  residualGain?: number;
}

/** Fill every weightless float initializer of the model in place; returns how many were filled. */
export function materializeWeights(model: Model, seed = 0, opts: MaterializeOptions = {}): number {
  const residualGain = opts.residualGain ?? 1;
  if (!(residualGain > 0) || !Number.isFinite(residualGain))
    throw new RangeError(`materializeWeights: residualGain must be a positive number, got ${residualGain}`);
  const rng = new Rng(seed);
  let filled = 0;
  for (const v of model.graph.initializers) {
    const t = v.initializer!;
    if (t.data !== null) continue;
    if (!isFloatType(t.dtype) || t.dtype !== 'float32') {
      v.initializer = Tensor.zeros(t.dtype, t.dims);
      continue;
    }
    const data = new Float32Array(t.size);
    fill(v, data, rng, residualGain);
    v.initializer = new Tensor('float32', t.dims, data);
    filled++;
  }
  return filled;
}

type Role = { node: Node; index: number };

/** The first reader of a weight, looking through Identity nodes (torch's de-duplicated initializers). */
function roleOf(v: Value): Role | undefined {
  const u = v.uses[0];
  if (u?.node.opType === 'Identity' && u.node.outputs[0]!.uses.length > 0) return roleOf(u.node.outputs[0]!);
  return u && { node: u.node, index: u.index };
}

/**
 * Fast seeded fills: a table of 65,536 standard normals drawn from the seeded Rng, indexed by a 32-bit LCG
 * seeded from the same Rng. VGG's 132 M weights fill in well under a second instead of ~18 s of Box–Muller,
 * and the values are still N(0,1) to the table's resolution.
 */
const TABLE = 1 << 16;
const tables = new WeakMap<Rng, Float32Array>();
function normalTable(rng: Rng): Float32Array {
  let t = tables.get(rng);
  if (!t) {
    t = new Float32Array(TABLE);
    for (let i = 0; i < TABLE; i++) t[i] = rng.normal();
    tables.set(rng, t);
  }
  return t;
}
const normal = (rng: Rng, out: Float32Array, mean: number, std: number) => {
  const t = normalTable(rng);
  let x = rng.int(0, 2 ** 31) | 1;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) | 0;
    out[i] = mean + std * t[x >>> 16]!;
  }
};
const uniform = (rng: Rng, out: Float32Array, lo: number, hi: number) => {
  let x = rng.int(0, 2 ** 31) | 1;
  for (let i = 0; i < out.length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) | 0;
    out[i] = lo + ((hi - lo) * (x >>> 8)) / 16777216;
  }
};

/** Whether a node's one output is read only by Add nodes (the last layer of a residual branch). */
const feedsAddOnly = (n: Node) => {
  const uses = n.outputs[0]?.uses ?? [];
  return uses.length > 0 && uses.every((u) => u.node.opType === 'Add');
};

function fill(v: Value, out: Float32Array, rng: Rng, residualGain: number): void {
  const dims = v.initializer!.dims;
  const role = roleOf(v);
  const op = role?.node.opType;
  const idx = role?.index ?? -1;
  if ((op === 'Conv' || op === 'ConvTranspose') && idx === 1) {
    const fanIn =
      op === 'Conv' ? dims.slice(1).reduce((a, b) => a * b, 1) : dims[0]! * dims.slice(2).reduce((a, b) => a * b, 1);
    normal(rng, out, 0, (op === 'Conv' && feedsAddOnly(role!.node) ? residualGain : 1) * Math.sqrt(2 / fanIn));
  } else if (op === 'Gemm' && idx === 1) {
    const fanIn = role!.node.attrInt('transB', 0) ? dims[1]! : dims[0]!;
    normal(rng, out, 0, Math.sqrt(2 / fanIn));
  } else if (op === 'MatMul' && dims.length >= 2) {
    normal(rng, out, 0, Math.sqrt(2 / dims[dims.length - 2]!));
  } else if (op === 'BatchNormalization') {
    // inputs: X, scale, B, mean, var
    if (idx === 1) uniform(rng, out, 0.5, 1.5);
    else if (idx === 4) uniform(rng, out, 0.5, 2);
    else normal(rng, out, 0, 0.1);
  } else if (op === 'LayerNormalization' && idx === 1) {
    uniform(rng, out, 0.8, 1.2);
  } else {
    normal(rng, out, 0, 0.05);
  }
}
