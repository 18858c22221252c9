/**
 * @file The `sensitivity` step: the scan of every prunable group at each ratio over the evaluation split (through
 * the local worker pool, or as jobs on the queue when STUDIO_QUEUE is set), stored with the run as `sensitivity.json`; the model passes on unchanged, so a plan may
 * scan first and prune after. Cancelling the run kills the pool or cancels the jobs.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SensitivityStep, StepResult } from '../../../src-shared/experiment.ts';
import { StudioError } from '../../core/ir/errors.ts';
import type { StepContext } from '../jobs/registry.ts';
import { scanDispatcher } from '../queue/choose.ts';
import { sensitivityScan } from '../sensitivity/scan.ts';
import { ranOn } from '../../../src-shared/queue.ts';

export class NoEvaluationSplitError extends StudioError {
  constructor() {
    super(
      'a sensitivity step measures accuracy on dataset.evaluation, which the plan does not set',
      'NO_EVALUATION_SPLIT',
      { path: '$.dataset.evaluation' },
    );
  }
}

export async function sensitivityStep(ctx: StepContext<SensitivityStep>): Promise<StepResult> {
  const { step, plan } = ctx;
  const evaluation = plan.dataset?.evaluation;
  if (!evaluation) throw new NoEvaluationSplitError();
  const controller = new AbortController();
  const off = ctx.token.onCancel((reason) => controller.abort(reason));
  try {
    const scan = await sensitivityScan(
      {
        model: ctx.inputModel,
        data: evaluation,
        ratios: step.ratios,
        pruner: step.pruner,
        ep: plan.executionProvider,
        evalCount: step.evalCount,
        batchSize: step.batchSize,
        seed: plan.seed,
        shapes: plan.inputShapes,
        latencyRuns: step.latencyRuns,
      },
      {
        // the local pool, or the queue when STUDIO_QUEUE is set (never from the plan: a plan file holds no
        // credentials); keyed by run and step, so a resumed run re-attaches to its points in flight
        dispatcher: scanDispatcher({
          workers: step.workers,
          queueOptions: { key: `${ctx.runId}:${ctx.index}`, log: (line) => ctx.log(line) },
        }),
        signal: controller.signal,
        onProgress: (p) => {
          ctx.progress({
            fraction: 0.05 + 0.95 * (p.done / Math.max(1, p.total)),
            message: `${p.done}/${p.total}${p.etaMs === null ? '' : ` (ETA ${Math.round(p.etaMs / 1000)} s)`} ${p.message}`,
          });
          if (p.done > 0) ctx.log(p.message);
        },
      },
    );
    ctx.token.throwIfCancelled();
    const file = join(ctx.checkpointDir, 'sensitivity.json');
    writeFileSync(file, `${JSON.stringify(scan, null, 1)}\n`);
    // the most sensitive group: the largest accuracy drop at the middle scanned ratio
    const mid = scan.ratios[Math.floor(scan.ratios.length / 2)]!;
    const atMid = scan.points.filter((p) => p.ratio === mid).sort((a, b) => a.accuracy - b.accuracy);
    return {
      artifacts: [{ name: 'sensitivity.json', path: file, kind: 'sensitivity' }],
      summary: {
        groups: scan.groups.length,
        points: scan.points.length,
        workers: scan.workers,
        ranOn: ranOn(scan.points),
        wallSeconds: Math.round(scan.wallMs / 100) / 10,
        mostSensitiveAt: mid,
        mostSensitive: atMid[0]?.group ?? null,
        leastSensitive: atMid.at(-1)?.group ?? null,
      },
    };
  } finally {
    off();
  }
}
