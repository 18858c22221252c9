/**
 * @file The quantize steps' speed check: the exported model against the step's input, side by side at batch 1 and
 * at the plan's evaluation batch size; a slower result is logged as a warning with ORT's reasons and lands in the
 * step's summary (the report and the run view show both).
 */
import type { Model } from '../../core/ir/index.ts';
import type { Plan, Step } from '../../../src-shared/experiment.ts';
import type { StepContext } from '../jobs/registry.ts';
import { compareQuantizedSpeed, formatSpeed, type FusionReport, type SpeedReport } from '../quantize/index.ts';

export async function speedCheck(
  ctx: Pick<StepContext<Step>, 'log'>,
  plan: Plan,
  input: Model,
  exported: Model,
  fusion: FusionReport | undefined,
  sampleShape?: readonly number[],
): Promise<SpeedReport> {
  const evalBatch = plan.evaluator?.batchSize ?? 64;
  const s = await compareQuantizedSpeed(input, exported, fusion, { batches: [1, evalBatch], sampleShape });
  for (const line of formatSpeed(s)) ctx.log(`latency vs the input, ${line}`);
  if (s.slowerAt.length)
    ctx.log(
      `the quantized model is SLOWER than its input at batch ${s.slowerAt.join(' and ')}: ${s.reasons.join('; ')}`,
      'warn',
    );
  return s;
}
