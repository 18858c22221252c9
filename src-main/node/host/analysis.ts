/**
 * @file The analysis service: what explains a run — its sensitivity scan, a budgeted allocation from that scan, the
 * before / after graph diff of its models, and an allocation's prediction checked against the run that used it.
 * Reuses the libraries behind `studio sensitivity / allocate / diff`; imports node/*, core and src-shared, never
 * Electron or the transports.
 */
import { existsSync } from 'node:fs';
import type { Contract, ServiceImpl } from '../../../src-shared/ipc/contract.ts';
import type { AllocationCheckDto, RunDiff } from '../../../src-shared/ipc/analysis-dto.ts';
import { IpcError } from '../../../src-shared/ipc/errors.ts';
import type { Allocation, SensitivityScan } from '../../../src-shared/sensitivity.ts';
import { allocate } from '../../core/compress/pruning/index.ts';
import { readScan } from '../sensitivity/scan.ts';
import type { measureCompact } from '../sensitivity/verify.ts';
import type { Store } from '../store/index.ts';
import { offLoopOnce } from './models.ts';

/**
 * How long a refined allocation may take on its thread: each measured candidate is pruned, sped up and timed, and up
 * to six get a short-term fine-tune (minutes on a loaded 2-core machine for the bundled model).
 */
export const ALLOCATE_TIMEOUT_MS = 3_600_000;

type OffLoop = { workerEntry?: string; timeoutMs?: number };

const fault = (name: string, code: string, message: string, details?: Record<string, unknown>) =>
  new IpcError({ name, code, message, ...(details ? { details } : {}) });

/** The scan stored by a run's sensitivity step (the latest one when it has several). */
export function runScan(store: Store, runId: string): SensitivityScan {
  return readScan(runScanPath(store, runId));
}

/** The file of the scan `runScan` reads. */
function runScanPath(store: Store, runId: string): string {
  const id = store.resolveRunId(runId);
  const art = store
    .listArtifacts(id)
    .filter((a) => a.kind === 'sensitivity')
    .at(-1);
  if (!art)
    throw fault('NoScanError', 'NO_SCAN', `run ${id} has no sensitivity scan (it has no finished sensitivity step)`, {
      runId: id,
    });
  if (!existsSync(art.path))
    throw fault('NoScanError', 'NO_SCAN', `the scan file of run ${id} is gone (${art.path})`, { runId: id });
  return art.path;
}

async function runDiff(store: Store, runId: string, offLoop: OffLoop): Promise<RunDiff> {
  const id = store.resolveRunId(runId);
  const run = store.getRun(id)!;
  const latest = store.latestModel(id);
  if (!latest || !existsSync(latest.model.path))
    throw fault('NoModelError', 'NO_MODEL', `run ${id} kept no model of its own (it changed nothing yet)`, {
      runId: id,
    });
  if (!existsSync(run.plan.model))
    throw fault('NoModelError', 'NO_MODEL', `the original model of run ${id} is gone: ${run.plan.model}`, {
      runId: id,
      path: run.plan.model,
    });
  // both models decoded and traced on a one-shot worker thread, off the host's event loop
  const d = await offLoopOnce<Omit<RunDiff, 'after'>>(
    'graphDiff',
    { before: run.plan.model, after: latest.model.path },
    { ...offLoop, what: `the graph diff of run ${id}` },
  );
  const stepIndex = latest.model.stepIndex ?? 0;
  return { after: { stepIndex, stepKind: run.plan.steps[stepIndex]?.kind ?? 'step', path: latest.model.path }, ...d };
}

async function checkAllocation(store: Store, runId: string, offLoop: OffLoop): Promise<AllocationCheckDto> {
  const id = store.resolveRunId(runId);
  const run = store.getRun(id)!;
  const a = run.plan.allocation;
  if (!a)
    throw fault('NoAllocationError', 'NO_ALLOCATION', `run ${id} was not built from an allocation`, { runId: id });
  const speedupAt = run.plan.steps.findIndex((s) => s.kind === 'speedup');
  if (speedupAt < 0)
    throw fault(
      'NoAllocationError',
      'NO_SPEEDUP',
      `run ${id} has no speedup step: nothing to set beside the prediction`,
      {
        runId: id,
      },
    );
  const compactFile = store.latestModel(id, speedupAt + 1);
  if (!compactFile || compactFile.model.stepIndex !== speedupAt || !existsSync(compactFile.model.path))
    throw fault('NoModelError', 'NO_MODEL', `run ${id} has no model from its speedup step (step ${speedupAt + 1})`, {
      runId: id,
    });
  const scanPath = runScanPath(store, a.scanRun);
  const scan = readScan(scanPath);
  // both models opened, evaluated and timed on a one-shot worker thread, off the host's event loop
  const m = await offLoopOnce<Awaited<ReturnType<typeof measureCompact>>>(
    'measureAllocation',
    { scanPath, dense: run.plan.model, compact: compactFile.model.path },
    { ...offLoop, what: `measuring the allocation of run ${id}`, timeoutMs: ALLOCATE_TIMEOUT_MS },
  );
  const predictedRatio = 1 / a.predicted.speedup;
  return {
    scanRun: a.scanRun,
    batchSize: scan.eval.batchSize,
    evalCount: scan.eval.count,
    ep: scan.ep,
    stepIndex: speedupAt,
    predicted: { speedup: a.predicted.speedup, latencyMs: a.predicted.latencyMs, accuracy: a.predicted.accuracy },
    measured: m,
    latencyError: Math.abs(1 / m.speedup - predictedRatio) / predictedRatio,
  };
}

/**
 * The analysis service over the store.
 * @example const analysis = createAnalysisService(store); await analysis.allocate({ runId, target: { kind: 'speedup', factor: 2 }, maxAccuracyDrop: 0.02 }, ctx)
 */
export function createAnalysisService(store: Store, offLoop: OffLoop = {}): ServiceImpl<Contract['analysis']> {
  return {
    scan: ({ runId }) => runScan(store, runId),
    allocate: ({ runId, target, maxAccuracyDrop, roundTo, refine, shortTermSteps }) => {
      if (refine === false) return allocate(runScan(store, runId), { target, maxAccuracyDrop, roundTo });
      // the refinement prunes, speeds up, times and fine-tunes candidates: minutes of work, on a one-shot worker
      // thread so that the host keeps answering. A cancelled call is not passed on: terminating a thread while it is
      // inside an onnxruntime call aborts the whole process (seen in CI: "terminate called after throwing an
      // instance of 'Napi::Error'"), so the work runs to its end and its answer is dropped
      return offLoopOnce<Allocation>(
        'refineAllocation',
        { scanPath: runScanPath(store, runId), options: { target, maxAccuracyDrop, roundTo }, shortTermSteps },
        {
          ...offLoop,
          what: `refining the allocation of run ${store.resolveRunId(runId)}`,
          timeoutMs: ALLOCATE_TIMEOUT_MS,
        },
      );
    },
    diff: ({ runId }) => runDiff(store, runId, offLoop),
    checkAllocation: ({ runId }) => checkAllocation(store, runId, offLoop),
  };
}
