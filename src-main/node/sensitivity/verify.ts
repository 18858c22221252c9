/**
 * @file Check an allocation on the real model: prune with its config list (auto dependency groups), speed up
 * (verified), evaluate on the scan's subset and time the compact model side by side with the dense one at the scan's
 * batch — the measured figures next to the allocation's predicted ones.
 */
import type { Allocation, SensitivityScan } from '../../../src-shared/sensitivity.ts';
import type { Model } from '../../core/ir/index.ts';
import { openModel } from '../io/open-model.ts';
import { compareLatency } from '../runtime/index.ts';
import { ModelSpeedup } from '../speedup/index.ts';
import { shapesForAutoGroups } from '../steps/auto-groups.ts';
import { evaluateClassifier } from '../train/evaluate.ts';
import { batchShapes, loadSubset, scanPruner } from './point.ts';

export interface AllocationCheck {
  predicted: { speedup: number; latencyMs: number; accuracy: number };
  measured: {
    speedup: number;
    latencyMs: number;
    denseLatencyMs: number;
    accuracy: number;
    macs: number;
    params: number;
    maxRelErr: number;
  };
  /** |measured − predicted| ÷ predicted, on the latency ratio. */
  latencyError: number;
  compact: Model;
}

/** The dense model and its compact form under a config list (prune with the scan's pruner, speed up, verified). */
export async function compactOf(scan: SensitivityScan, configList: readonly Record<string, unknown>[]) {
  const { model } = openModel(scan.model.path);
  const Pruner = scanPruner(scan.pruner);
  const shapes = await shapesForAutoGroups(model, configList);
  const { masks, applyMethods } = await new Pruner(model, [...configList], undefined, { shapes }).compress();
  const { model: compact, report } = await new ModelSpeedup(model, masks, {
    applyMethods,
    benchmark: false,
    session: { ep: scan.ep },
  }).speedupModel();
  return { model, compact, report };
}

/** Prune + speed up a model with a config list and measure it like a scan point (accuracy, side-by-side latency). */
export async function measureConfigList(
  scan: SensitivityScan,
  configList: readonly Record<string, unknown>[],
  latencyRuns = 60,
): Promise<Omit<AllocationCheck, 'predicted' | 'latencyError'>> {
  const { model, compact, report } = await compactOf(scan, configList);
  const m = await measureCompact(scan, model, compact, latencyRuns);
  return {
    measured: { ...m, macs: report.after.macs, params: report.after.params, maxRelErr: report.verification.maxRelErr },
    compact,
  };
}

/**
 * A compact model measured like a scan point: accuracy on the scan's evaluation subset, latency at the scan's batch
 * timed alternately with the dense model (speedup = median over rounds of dense ÷ compact).
 */
export async function measureCompact(
  scan: SensitivityScan,
  dense: Model,
  compact: Model,
  latencyRuns = 60,
): Promise<{ speedup: number; latencyMs: number; denseLatencyMs: number; accuracy: number }> {
  const subset = await loadSubset(scan.eval);
  const acc = await evaluateClassifier(compact, subset, { batchSize: scan.eval.batchSize, ep: scan.ep, threads: 1 });
  const lat = await compareLatency(dense, compact, {
    threads: 1,
    warmup: 5,
    runs: latencyRuns,
    ep: scan.ep,
    seed: scan.eval.seed,
    shapes: batchShapes(dense, scan.eval.batchSize, subset.sampleShape),
  });
  return { speedup: 1 / lat.roundRatio, latencyMs: lat.b.p50, denseLatencyMs: lat.a.p50, accuracy: acc.top1 };
}

/** Measure an allocation and set it beside its prediction. */
export async function checkAllocation(
  scan: SensitivityScan,
  a: Allocation,
  latencyRuns = 60,
): Promise<AllocationCheck> {
  const m = await measureConfigList(scan, a.configList, latencyRuns);
  const predictedRatio = 1 / a.predicted.speedup;
  return {
    predicted: { speedup: a.predicted.speedup, latencyMs: a.predicted.latencyMs, accuracy: a.predicted.accuracy },
    ...m,
    latencyError: Math.abs(1 / m.measured.speedup - predictedRatio) / predictedRatio,
  };
}
