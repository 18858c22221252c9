/**
 * @file Sensitivity scan and budgeted allocation: the serializable shapes both processes (and a future job queue)
 * exchange — one scan point as a unit of work, its measured result, the whole scan, and an allocation. Pure types and
 * small pure helpers; imports nothing from Node, the DOM or Electron.
 */
import { z } from 'zod';
import { PRUNER_REGISTRY, PRUNERS } from './compressors.ts';

/** Pruners a scan can use: one-shot, needing no data and no training (registry order). */
export const SCAN_PRUNERS = PRUNERS.filter(
  (p) => !PRUNER_REGISTRY[p].needsTraining && PRUNER_REGISTRY[p].needsData === 'none',
);

/** An experiment plan's data split (IDX image + label files), as a scan point carries it by value. */
export interface ScanSplit {
  kind: string;
  paths: string[];
  limit?: number;
  preprocess?: { scale?: number; mean?: number[]; std?: number[] };
}

/** One channel dependency group (or a lone layer) that the scan prunes on its own. */
export interface ScanGroup {
  /** Stable id (the dependency group id the analysis gave). */
  id: string;
  /** ONNX node names pruned together (their output channels are coupled). */
  nodes: string[];
  /** Op types of those nodes, in the same order. */
  opTypes: string[];
  /** Output channels of the group (what a ratio removes a share of). */
  channels: number;
  /** The per-node config entries of the group (NNI config list entries, `sparse_ratio` set per point). */
  configList: Record<string, unknown>[];
}

/** Where a scan point reads its evaluation samples: a data set path, the split, and a seeded subset. */
export interface EvalSubset {
  /** A path `loadDataset` reads (IDX folder, .npz, image folders), or a plan's evaluation split. */
  data: string | ScanSplit;
  /** The test split when the data set has one, else the train split. */
  split: 'test' | 'train';
  /** How many samples (a seeded choice among the split's samples). */
  count: number;
  seed: number;
  /** Batch size for evaluation and for latency (the batch the budget is stated at). */
  batchSize: number;
}

/**
 * One scan point: prune `group` alone at `ratio`, speed the model up, measure. Everything a worker on another
 * machine needs is here by value or content hash; no live objects.
 */
export interface ScanPointJob {
  /** Index of the point in its scan (results are keyed by it). */
  index: number;
  model: { path: string; sha256: string };
  group: ScanGroup;
  ratio: number;
  pruner: string;
  seed: number;
  eval: EvalSubset;
  /** Execution provider the latency and accuracy are measured on. */
  ep: string;
  /** Sizes of inputs with dynamic dims (the batch dim is set to `eval.batchSize` for latency). */
  shapes?: Record<string, number[]>;
  /** Timed rounds of the side-by-side latency comparison. */
  latencyRuns: number;
}

/** What one scan point measured. */
export interface ScanPointResult {
  index: number;
  group: string;
  ratio: number;
  /** Accuracy (top-1) of the compact model on the evaluation subset. */
  accuracy: number;
  /** p50 ms of the compact and the dense model, timed alternately in one worker. */
  latencyMs: number;
  denseLatencyMs: number;
  /** Median over rounds of compact ÷ dense time (robust to load drifting during the point). */
  latencyRatio: number;
  macs: number;
  params: number;
  /** Largest relative error between the compact and the masked model (speedup's check). */
  maxRelErr: number;
  /** Output channels removed from the group. */
  removedChannels: number;
  /** A digest of the masks (same seed and inputs → same digest). */
  maskDigest: string;
  /** Provider that really ran (a fallback is recorded, never silent). */
  ep: string;
  ms: number;
}

/** The dense model's figures, measured once per scan with the same settings as the points. */
export interface ScanBaseline {
  accuracy: number;
  latencyMs: number;
  macs: number;
  params: number;
  sizeBytes: number;
}

export interface SensitivityScan {
  format: 'studio-sensitivity';
  version: 1;
  model: { path: string; sha256: string };
  pruner: string;
  ratios: number[];
  ep: string;
  eval: EvalSubset;
  groups: ScanGroup[];
  baseline: ScanBaseline;
  points: ScanPointResult[];
  workers: number;
  wallMs: number;
}

/** The budget an allocation must meet. Exactly one target kind; `maxAccuracyDrop` is absolute (0.02 = 2 points). */
export const allocationTargetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('latency'), ms: z.number().positive() }),
  z.strictObject({ kind: z.literal('speedup'), factor: z.number().gt(1, 'a speedup target must be above 1×') }),
  z.strictObject({ kind: z.literal('macs'), value: z.number().positive() }),
  z.strictObject({ kind: z.literal('params'), value: z.number().positive() }),
  /** Model file bytes; the size is predicted from the parameter count (weights dominate an ONNX file). */
  z.strictObject({ kind: z.literal('size'), bytes: z.number().positive() }),
]);
export type AllocationTarget = z.infer<typeof allocationTargetSchema>;

/**
 * The allocation a plan's prune step came from (the wizard writes it when it loads an allocation): the scan's run,
 * the budget and what the allocation predicted, so the run's report can set the measured figures beside it.
 */
export const planAllocationSchema = z.strictObject({
  /** The run holding the sensitivity scan. */
  scanRun: z.string().min(1),
  target: allocationTargetSchema,
  maxAccuracyDrop: z.number().min(0).max(1),
  predicted: z.strictObject({
    latencyMs: z.number().nonnegative(),
    accuracy: z.number().min(0).max(1),
    speedup: z.number().positive(),
    macs: z.number().nonnegative(),
    params: z.number().nonnegative(),
  }),
});
export type PlanAllocation = z.infer<typeof planAllocationSchema>;

export interface AllocationChoice {
  group: string;
  nodes: string[];
  /** The scanned ratio chosen (0 = left dense). */
  ratio: number;
  /** The ratio written to the config list (after width rounding). */
  sparseRatio: number;
  keptChannels: number;
  accuracyDrop: number;
  latencySavedMs: number;
}

/**
 * One allocation the refinement measured whole (pruned + sped up), as ratios of the dense model on the target's axis
 * (latency, MACs or parameters).
 */
export interface RefinementRound {
  /** The `sparse_ratio` written per group, in the scan's group order (0 = dense). */
  sparseRatios: number[];
  /** The scan-only model: the product of the groups' single-group ratios. */
  modelled: number;
  /** That model times the correction learnt from the rounds before (what was expected before measuring). */
  predicted: number;
  /** Measured on the whole model (latency: median per-round ratio, timed alternately with the dense model). */
  measured: number;
}

/** How an allocation was refined by measuring candidates whole, and which one it returned. */
export interface AllocationRefinement {
  axis: 'latency' | 'macs' | 'params';
  rounds: RefinementRound[];
  /** Index in `rounds` of the allocation returned (its `measured` is the allocation's prediction). */
  chosen: number;
  /** Whether the returned allocation's measured cost met the target. */
  met: boolean;
  /** The short-term fine-tune that chose among the allocations measured to meet the target (absent when off). */
  shortTerm?: ShortTermSelection;
}

/** One candidate of the short-term selection: an allocation measured to meet the target, then briefly fine-tuned. */
export interface ShortTermCandidate {
  sparseRatios: number[];
  /**
   * Where it came from: the knapsack's frontier; the same scanned ratio for every group (the least that meets the
   * target); or a NetAdapt step — the largest uniform sparsity that misses the target with one group one scanned
   * ratio further.
   */
  source: 'frontier' | 'uniform' | 'step';
  /** Its whole-model measurement on the target's axis (ratio of dense). */
  measured: number;
  /** The scan's summed one-shot drop (what the frontier ranks by). */
  predictedDrop: number;
  /** Top-1 on the held-out slice, pruned + sped up, before any training. */
  oneShot: number;
  /** Top-1 on the held-out slice after the short-term fine-tune. */
  shortTerm: number;
}

/** NetAdapt's short-term fine-tune: each candidate trained the same few steps, the best held-out top-1 returned. */
export interface ShortTermSelection {
  steps: number;
  heldOut: number;
  candidates: ShortTermCandidate[];
  /** Index in `candidates` of the allocation returned. */
  chosen: number;
}

export interface Allocation {
  target: AllocationTarget;
  maxAccuracyDrop: number;
  choices: AllocationChoice[];
  /**
   * The prediction: without refinement, from the scan alone (product of single-group cost ratios, summed drops);
   * after refinement, the target's axis is the allocation measured whole at allocation time.
   */
  predicted: { latencyMs: number; accuracy: number; macs: number; params: number; speedup: number };
  /** The NNI config list with a per-layer `sparse_ratio` (what the wizard loads as the prune step). */
  configList: Record<string, unknown>[];
  /** Present when the allocation was refined by measurement (`refineAllocation`, `studio allocate`). */
  refinement?: AllocationRefinement;
}

/** Parse `--ratios 0.1,0.2,…` style lists; every ratio must lie in (0, 1). */
export function parseRatios(text: string): number[] {
  const parts = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const out = parts.map(Number);
  const bad = parts.filter((_, i) => !(out[i]! > 0 && out[i]! < 1));
  if (parts.length === 0 || bad.length)
    throw new RangeError(
      `ratios must be numbers in (0, 1); bad: ${bad.length ? bad.map((b) => JSON.stringify(b)).join(', ') : '(none given)'}`,
    );
  return [...new Set(out)].sort((a, b) => a - b);
}

/** The NNI-style default scan ratios 0.1 … 0.9. */
export const DEFAULT_RATIOS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
