/**
 * @file The `quantize` step. Trained quantizers (QAT, LSQ, LSQ+, DoReFa, BNN) go to quantize-trained.ts; post-training: calibrate on the plan's calibration split with an observer, fold
 * Conv/Gemm + BatchNormalization first, and write the QDQ model ORT fuses into integer kernels.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { QuantizeStep, StepResult } from '../../../src-shared/experiment.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../inspect.ts';
import type { StepContext } from '../jobs/registry.ts';
import { imageEvaluator, isTrainedQuantizer, QUANTIZER_CLASSES } from '../quantize/index.ts';
import type { TrainedQuantizerName } from '../../core/compress/quantization/trained.ts';
import { trainedQuantizeStep } from './quantize-trained.ts';
import { neverSlower } from './quantize-speed.ts';
import { loadSplit } from '../train/data.ts';
import { MissingSplitError } from './finetune.ts';

export async function quantizeStep(ctx: StepContext<QuantizeStep>): Promise<StepResult> {
  if (isTrainedQuantizer(ctx.step.quantizer))
    return trainedQuantizeStep(ctx as StepContext<Extract<QuantizeStep, { quantizer: TrainedQuantizerName }>>);
  const { step: raw, plan } = ctx;
  const step = raw as Exclude<QuantizeStep, { quantizer: TrainedQuantizerName }>;
  const calSplit = plan.dataset?.calibration ?? plan.dataset?.train;
  if (!calSplit) throw new MissingSplitError('quantize', 'calibration');
  const { model } = openModel(ctx.inputModel);
  const batchSize = 32;
  const cal = await loadSplit(
    { ...calSplit, limit: Math.min(calSplit.limit ?? Infinity, step.calibrationBatches * batchSize) },
    { model, field: plan.dataset?.calibration ? '$.dataset.calibration' : '$.dataset.train' },
  );
  const evaluator = imageEvaluator(model, { calibration: cal, batchSize });
  ctx.progress({ fraction: 0.1, message: `calibrating (${step.observer} observer, ${cal.length} samples)` });
  const q = new QUANTIZER_CLASSES[step.quantizer](model, step.configList, evaluator, {
    observer: step.observer,
    fuse: 'auto',
  });
  const { calibration } = await q.compress();
  ctx.token.throwIfCancelled();
  ctx.progress({ fraction: 0.7, message: 'exporting QDQ and checking what ORT fuses' });
  const exported = await q.exportQDQ();
  for (const d of [...q.diagnostics, ...exported.diagnostics])
    if (d.level !== 'info')
      ctx.log(`${d.code}${d.node ? ` (${d.node})` : ''}: ${d.message}`, d.level === 'error' ? 'error' : 'warn');
  const counts = exported.fusion?.counts ?? {};
  ctx.log(
    `ORT integer kernels: ${
      Object.entries(counts)
        .map(([k, v]) => `${k}×${v}`)
        .join(' ') || 'none'
    }`,
  );
  // never slower than the input: timed at batch 1 and the evaluation batch; slower layers (then the model) to fp32
  const {
    model: final,
    speed,
    mixedPrecision,
  } = await neverSlower(ctx, plan, model, exported.model, exported.fusion, {
    latencyAware: step.latencyAware,
    reExport: { fused: q.fused, targets: q.activeTargets(), params: q.parameters },
    sampleShape: cal.sampleShape,
  });
  const out = join(ctx.checkpointDir, 'quantized.onnx');
  saveModelFile(final, out);
  const calFile = join(ctx.checkpointDir, 'calibration.json');
  writeFileSync(calFile, JSON.stringify(calibration, null, 1));
  return {
    outputModel: out,
    artifacts: [{ name: 'calibration.json', path: calFile, kind: 'calibration' }],
    summary: {
      targets: q.activeTargets().length,
      ...(mixedPrecision ? { mixedPrecision } : {}),
      reduceRange: q.reduceRange,
      integerKernels: counts,
      latency: speed.batches,
      ...(speed.slowerAt.length ? { slower: speed.reasons } : {}),
    },
  };
}
