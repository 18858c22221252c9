/**
 * @file One sensitivity scan point as a pure unit of work: prune one group alone at one ratio, speed the model up
 * (speedup verifies compact = masked), evaluate the compact model on the seeded evaluation subset and time it side
 * by side with the dense model on the chosen provider. Runs the same in a pool worker, in-process, or (later) on a
 * queue worker elsewhere. Caches what a worker reuses between points (model, traced shapes, data) by content.
 */
import { createHash } from 'node:crypto';
import {
  SCAN_PRUNERS,
  type EvalSubset,
  type ScanPointJob,
  type ScanPointResult,
} from '../../../src-shared/sensitivity.ts';
import type { DataSplit } from '../../../src-shared/experiment.ts';
import { StudioError, type Model } from '../../core/ir/index.ts';
import { Rng } from '../../core/util/random.ts';
import type { Masks } from '../../core/compress/masks.ts';
import { PRUNER_CLASSES } from '../../core/compress/pruning/index.ts';
import { compressorInfo, unknownCompressorMessage } from '../../../src-shared/compressors.ts';
import { READ_LIMITS, readInputFile } from '../io/guard.ts';
import { openModel } from '../io/open-model.ts';
import { sha256Of } from '../store/index.ts';
import { compareLatency, resolveInputShapes, trace } from '../runtime/index.ts';
import { ModelSpeedup } from '../speedup/index.ts';
import { ArrayDataset, loadDataset, loadSplit } from '../train/data.ts';
import { evaluateClassifier } from '../train/evaluate.ts';

/** A scan's input that no point can use (bad ratio, empty subset, changed model file, …). */
export class SensitivityError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, 'SENSITIVITY', details);
  }
}

interface Loaded {
  model: Model;
  shapes: Map<string, number[]>;
}

/** What a worker keeps between points: models by sha256, subsets by their definition. */
export class PointCache {
  private readonly models = new Map<string, Promise<Loaded>>();
  private readonly subsets = new Map<string, Promise<ArrayDataset>>();

  model(job: Pick<ScanPointJob, 'model' | 'shapes'>): Promise<Loaded> {
    let m = this.models.get(job.model.sha256);
    if (!m) {
      m = loadModel(job.model, job.shapes);
      this.models.set(job.model.sha256, m);
    }
    return m;
  }

  subset(e: EvalSubset): Promise<ArrayDataset> {
    const key = JSON.stringify([e.data, e.split, e.count, e.seed]);
    let s = this.subsets.get(key);
    if (!s) {
      s = loadSubset(e);
      this.subsets.set(key, s);
    }
    return s;
  }
}

async function loadModel(ref: { path: string; sha256: string }, shapes?: Record<string, number[]>): Promise<Loaded> {
  const sha = sha256Of(readInputFile(ref.path, { what: 'model', maxBytes: READ_LIMITS.model }));
  if (sha !== ref.sha256)
    throw new SensitivityError(
      `model file ${ref.path} changed since the scan began (sha256 ${sha.slice(0, 12)}… ≠ ${ref.sha256.slice(0, 12)}…)`,
      { path: ref.path },
    );
  const { model } = openModel(ref.path);
  const t = await trace(model, { shapes: resolveInputShapes(model, shapes) });
  return { model, shapes: new Map([...t.values].map(([k, v]) => [k, v.shape])) };
}

/**
 * The evaluation subset: `count` samples drawn without replacement by a seeded shuffle of the split (so the same
 * seed always evaluates the same samples, in the same order).
 * @throws SensitivityError when the count is not a positive integer or exceeds the split
 */
export async function loadSubset(e: EvalSubset): Promise<ArrayDataset> {
  if (!Number.isInteger(e.count) || e.count < 1)
    throw new SensitivityError(`evaluation subset must hold at least 1 sample, got ${e.count}`, { count: e.count });
  const set = await samplesOf(e);
  const where = typeof e.data === 'string' ? `${e.data} (${e.split})` : 'the evaluation split';
  if (e.count > set.length)
    throw new SensitivityError(`evaluation subset of ${e.count} samples asked, but ${where} holds ${set.length}`, {
      count: e.count,
      available: set.length,
    });
  const order = Array.from({ length: set.length }, (_, i) => i);
  const rng = new Rng(e.seed);
  for (let i = 0; i < e.count; i++) {
    const j = rng.int(i, order.length);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const x = new Float32Array(e.count * set.sampleSize);
  const labels = new BigInt64Array(e.count);
  set.fill(order.slice(0, e.count), x, labels);
  return new ArrayDataset(x, set.sampleShape, labels, [], `${where} subset`);
}

/**
 * The one-shot pruner class of a name; the scan prunes without data or training, so only those pruners qualify.
 * @throws SensitivityError naming the pruner and the ones available
 */
export function scanPruner(name: string) {
  const info = compressorInfo('pruner', name);
  if (!info || !Object.hasOwn(PRUNER_CLASSES, name))
    throw new SensitivityError(unknownCompressorMessage('pruner', name), { pruner: name });
  if (info.needsTraining || info.needsData !== 'none')
    throw new SensitivityError(
      `pruner "${name}" needs ${info.needsTraining ? 'training' : 'data'}; a sensitivity scan prunes one-shot (use ${SCAN_PRUNERS.join(', ')})`,
      { pruner: name },
    );
  return PRUNER_CLASSES[name as keyof typeof PRUNER_CLASSES];
}

/** A data set path's test (else train) split, or a plan's split; labels required. */
async function samplesOf(e: EvalSubset): Promise<ArrayDataset> {
  const set =
    typeof e.data !== 'string'
      ? await loadSplit(e.data as DataSplit, { field: '$.dataset.evaluation', name: 'the evaluation split' })
      : await loadDataset(e.data).then((d) => (e.split === 'test' && d.test ? d.test : d.train));
  if (!set.labelled)
    throw new SensitivityError(
      `${typeof e.data === 'string' ? e.data : set.name}: the scan needs class labels to measure accuracy`,
      { data: typeof e.data === 'string' ? e.data : set.name },
    );
  return set;
}

/** A stable hex digest of masks (node, target, dims and bits, in sorted order). */
export function maskDigest(masks: Masks): string {
  const h = createHash('sha256');
  for (const node of [...masks.keys()].sort()) {
    const m = masks.get(node)!;
    for (const t of [...m.keys()].sort()) {
      const mask = m.get(t)!;
      h.update(`${node}\0${t}\0${mask.dims.join(',')}\0`);
      h.update(mask.data);
    }
  }
  return h.digest('hex').slice(0, 16);
}

/** The input shapes at the evaluation batch: the first input's leading dim set to the batch, the sample shape after. */
export function batchShapes(
  model: Model,
  batch: number,
  sample: number[],
  given?: Record<string, number[]>,
): Record<string, number[]> {
  const input = model.graph.inputs.find((v) => !v.isInitializer)!;
  return { ...given, [input.name]: [batch, ...sample] };
}

/**
 * Run one point. Deterministic for a given job (pruner metrics, seeded subset, seeded verification samples); only the
 * latency figures vary with the machine.
 * @throws SensitivityError, SpeedupVerificationError (compact ≠ masked), CompressionConfigError
 */
export async function runScanPoint(job: ScanPointJob, cache = new PointCache()): Promise<ScanPointResult> {
  const t0 = performance.now();
  if (!(job.ratio > 0 && job.ratio < 1))
    throw new SensitivityError(`ratio ${job.ratio} is outside (0, 1)`, { ratio: job.ratio });
  const Pruner = scanPruner(job.pruner);
  const [{ model, shapes }, subset] = await Promise.all([cache.model(job), cache.subset(job.eval)]);
  const configList = job.group.configList.map((c) => ({ ...c, sparse_ratio: job.ratio }));
  const pruner = new Pruner(model, configList, undefined, { shapes });
  const { masks, applyMethods } = await pruner.compress();
  const { model: compact, report } = await new ModelSpeedup(model, masks, {
    applyMethods,
    benchmark: false,
    shapes: job.shapes,
    session: { ep: job.ep },
  }).speedupModel();
  // one intra-op thread: a pool runs one point per core, and more threads per point would only contend for them
  const acc = await evaluateClassifier(compact, subset, { batchSize: job.eval.batchSize, ep: job.ep, threads: 1 });
  const lat = await compareLatency(model, compact, {
    threads: 1,
    warmup: 3,
    runs: job.latencyRuns,
    ep: job.ep,
    seed: job.seed,
    shapes: batchShapes(model, job.eval.batchSize, subset.sampleShape, job.shapes),
  });
  return {
    index: job.index,
    group: job.group.id,
    ratio: job.ratio,
    accuracy: acc.top1,
    latencyMs: lat.b.p50,
    denseLatencyMs: lat.a.p50,
    latencyRatio: lat.roundRatio,
    macs: report.after.macs,
    params: report.after.params,
    maxRelErr: report.verification.maxRelErr,
    removedChannels: report.sparsity.removedChannels,
    maskDigest: maskDigest(masks),
    ep: lat.fallbackB ? 'cpu' : lat.ep,
    ms: performance.now() - t0,
  };
}
