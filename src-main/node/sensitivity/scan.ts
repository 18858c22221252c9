/**
 * @file The sensitivity scan (NNI 2.x's SensitivityAnalysis, on ONNX and measured on the target provider): find the
 * prunable groups, then for every group × ratio run one independent point through a dispatcher (a worker pool by
 * default), with progress, ETA and cancellation. The result is one JSON document stored with the run.
 */
import { statSync } from 'node:fs';
import { READ_LIMITS, readInputFile, readTextInput } from '../io/guard.ts';
import { resolve } from 'node:path';
import {
  DEFAULT_RATIOS,
  type EvalSubset,
  type ScanGroup,
  type ScanPointJob,
  type ScanSplit,
  type SensitivityScan,
} from '../../../src-shared/sensitivity.ts';
import type { Model } from '../../core/ir/index.ts';
import { openModel } from '../io/open-model.ts';
import { inspectModel } from '../inspect.ts';
import { sha256Of } from '../store/index.ts';
import { benchmark, resolveInputShapes, trace } from '../runtime/index.ts';
import { resolveAutoDependencyGroups } from '../../core/compress/pruning/index.ts';
import type { PruningConfig } from '../../../src-shared/config/index.ts';
import { evaluateClassifier } from '../train/evaluate.ts';
import { batchShapes, loadSubset, scanPruner, SensitivityError } from './point.ts';
import { localPool, type ScanDispatcher } from './pool.ts';

/** Op types whose output channels the scan prunes by default. */
export const SCAN_OP_TYPES = ['Conv', 'ConvTranspose', 'Gemm', 'MatMul'];

export interface ScanOptions {
  /** Path of the .onnx model. */
  model: string;
  /** Data set path (IDX folder, .npz, image folders; its test split when it has one), or a plan's split. */
  data: string | ScanSplit;
  ratios?: readonly number[];
  pruner?: string;
  ep?: string;
  /** Evaluation subset size (default 1000, at most the split). */
  evalCount?: number;
  /** Evaluation and latency batch size (default 64). */
  batchSize?: number;
  seed?: number;
  shapes?: Record<string, number[]>;
  opTypes?: string[];
  /** Side-by-side latency rounds per point (default 30). */
  latencyRuns?: number;
}

export interface ScanProgress {
  done: number;
  total: number;
  /** Estimated ms left (null until a point finished). */
  etaMs: number | null;
  message: string;
}

export interface ScanHooks {
  dispatcher?: ScanDispatcher;
  onProgress?: (p: ScanProgress) => void;
  signal?: AbortSignal;
}

function outChannels(opType: string, shape: readonly number[] | undefined): number {
  if (!shape || shape.length === 0) return 0;
  return opType === 'Conv' || opType === 'ConvTranspose' ? shape[1]! : shape[shape.length - 1]!;
}

/**
 * The groups a scan prunes one at a time: `dependency_group_id: "auto"` over the chosen op types, grouped by the id
 * the analysis gave (coupled layers are pruned together, as speedup needs).
 * @throws SensitivityError when nothing in the model can be pruned
 */
export async function scanGroups(
  model: Model,
  opTypes = SCAN_OP_TYPES,
  shapes?: Record<string, number[]>,
): Promise<ScanGroup[]> {
  const t = await trace(model, { shapes: resolveInputShapes(model, shapes) });
  const traced = new Map([...t.values].map(([k, v]) => [k, v.shape]));
  const auto = resolveAutoDependencyGroups(
    [{ op_types: opTypes, sparse_ratio: 0.5, dependency_group_id: 'auto' } as PruningConfig],
    model,
    traced,
  );
  const byId = new Map<string, ScanGroup>();
  for (const raw of auto.configList) {
    const entry = raw as Record<string, unknown> & { op_names: string[]; dependency_group_id: string };
    const node = model.graph.nodes.find((n) => n.name === entry.op_names[0])!;
    let g = byId.get(entry.dependency_group_id);
    if (!g) {
      g = {
        id: entry.dependency_group_id,
        nodes: [],
        opTypes: [],
        channels: outChannels(node.opType, traced.get(node.outputs[0]!.name)),
        configList: [],
      };
      byId.set(g.id, g);
    }
    g.nodes.push(node.name);
    g.opTypes.push(node.opType);
    g.configList.push(entry);
  }
  const groups = [...byId.values()].filter((g) => g.channels > 1);
  if (groups.length === 0) {
    const why = auto.diagnostics
      .filter((d) => d.level !== 'info')
      .slice(0, 3)
      .map((d) => `${d.node ?? ''}: ${d.message}`);
    throw new SensitivityError(
      `the model has no prunable layer (looked for ${opTypes.join(', ')} whose output channels can be removed)${why.length ? `; ${why.join('; ')}` : ''}`,
      { opTypes },
    );
  }
  return groups;
}

/**
 * Scan every group at every ratio. Each point prunes only its group, speeds the model up (verified) and measures
 * accuracy and side-by-side latency; results come back in (group, ratio) order whatever the pool's order was.
 * @example const scan = await sensitivityScan({ model: 'resources/mnist-cnn.onnx', data: 'resources/mnist' });
 * @throws SensitivityError (bad ratios, empty subset, no prunable layer), CancelledError on abort
 */
export async function sensitivityScan(opts: ScanOptions, hooks: ScanHooks = {}): Promise<SensitivityScan> {
  const t0 = performance.now();
  const ratios = [...(opts.ratios ?? DEFAULT_RATIOS)];
  const bad = ratios.filter((r) => !(r > 0 && r < 1));
  if (ratios.length === 0 || bad.length)
    throw new SensitivityError(`ratios must lie in (0, 1); got ${bad.length ? bad.join(', ') : 'none'}`, {
      ratios: bad,
    });
  scanPruner(opts.pruner ?? 'l1');
  const path = resolve(opts.model);
  const bytes = readInputFile(path, { what: 'model', maxBytes: READ_LIMITS.model });
  const ref = { path, sha256: sha256Of(bytes) };
  const { model } = openModel(path);
  const evalSet: EvalSubset = {
    data: typeof opts.data === 'string' ? resolve(opts.data) : opts.data,
    split: 'test',
    count: opts.evalCount ?? 1000,
    seed: opts.seed ?? 0,
    batchSize: opts.batchSize ?? 64,
  };
  if (!Number.isInteger(evalSet.batchSize) || evalSet.batchSize < 1)
    throw new SensitivityError(`batch size must be a positive integer, got ${evalSet.batchSize}`, {
      batchSize: evalSet.batchSize,
    });
  const subset = await loadSubset(evalSet);
  const groups = await scanGroups(model, opts.opTypes, opts.shapes);
  const ep = opts.ep ?? 'cpu';
  hooks.onProgress?.({
    done: 0,
    total: groups.length * ratios.length,
    etaMs: null,
    message: `dense baseline (${groups.length} groups × ${ratios.length} ratios to scan)`,
  });
  const dense = await evaluateClassifier(model, subset, { batchSize: evalSet.batchSize, ep, threads: 1 });
  const shapes = batchShapes(model, evalSet.batchSize, subset.sampleShape, opts.shapes);
  const lat = await benchmark(model, {
    threads: 1,
    warmup: 3,
    runs: opts.latencyRuns ?? 30,
    ep,
    shapes,
    seed: evalSet.seed,
  });
  // counted at the shapes the points' speedup counts them at (the given ones, else batch 1), so ratios compare like
  // with like; latency above is timed at the evaluation batch
  const info = await inspectModel(model, { shapes: opts.shapes });
  const jobs: ScanPointJob[] = [];
  for (const group of groups) {
    for (const ratio of ratios) {
      jobs.push({
        index: jobs.length,
        model: ref,
        group,
        ratio,
        pruner: opts.pruner ?? 'l1',
        seed: evalSet.seed,
        eval: evalSet,
        ep,
        shapes: opts.shapes,
        latencyRuns: opts.latencyRuns ?? 30,
      });
    }
  }
  const dispatcher = hooks.dispatcher ?? localPool();
  const tScan = performance.now();
  let done = 0;
  const points = await dispatcher.run(jobs, {
    signal: hooks.signal,
    onResult: (r) => {
      done++;
      const elapsed = performance.now() - tScan;
      hooks.onProgress?.({
        done,
        total: jobs.length,
        etaMs: (elapsed / done) * (jobs.length - done),
        message: `${r.group} at ${r.ratio}: accuracy ${(r.accuracy * 100).toFixed(2)}%, latency ×${r.latencyRatio.toFixed(3)}`,
      });
    },
  });
  return {
    format: 'studio-sensitivity',
    version: 1,
    model: ref,
    pruner: opts.pruner ?? 'l1',
    ratios,
    ep,
    eval: evalSet,
    groups,
    baseline: {
      accuracy: dense.top1,
      latencyMs: lat.p50,
      macs: info.macs ?? 0,
      params: info.params,
      sizeBytes: statSync(path).size,
    },
    points,
    workers: dispatcher.workers,
    wallMs: performance.now() - t0,
  };
}

/** Read a stored scan, refusing what is not one. */
export function readScan(path: string): SensitivityScan {
  const text = readTextInput(path, { what: 'sensitivity scan', maxBytes: READ_LIMITS.json });
  let scan: SensitivityScan;
  try {
    scan = JSON.parse(text) as SensitivityScan;
  } catch (e) {
    throw new SensitivityError(`${path}: not JSON (${(e as Error).message})`, { path });
  }
  if (
    scan?.format !== 'studio-sensitivity' ||
    scan.version !== 1 ||
    !Array.isArray(scan.points) ||
    !Array.isArray(scan.groups)
  ) {
    throw new SensitivityError(`${path}: not a sensitivity scan (expected format "studio-sensitivity", version 1)`, {
      path,
    });
  }
  return scan;
}
