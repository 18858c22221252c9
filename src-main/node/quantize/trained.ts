/**
 * @file Simulated = deployed for the trained quantizers (QAT, LSQ, LSQ+, DoReFa, BNN): after training, the simulated
 * model (the training graph's fake quantization with its final parameters) and the exported QDQ model are both
 * evaluated in ORT on the same data; their top-1 must agree within a tolerance (0.1 point by default), as
 * speedup's compact = masked check does, and ORT's optimized graph tells which nodes it fused. May import core,
 * node:* and the runtime.
 */
import { StudioError } from '../../core/ir/errors.ts';
import type { Model } from '../../core/ir/index.ts';
import type { CompressionEvaluator } from '../../core/compress/compressor.ts';
import type { LsqOptions, QATOptions } from '../../core/compress/quantization/trained.ts';
import type { DoReFaOptions } from '../../core/compress/quantization/dorefa-bnn.ts';
import {
  type TrainedQuantizer,
  type TrainedQuantizerName,
  type TrainedQuantResult,
} from '../../core/compress/quantization/trained.ts';
import { TRAINED_QUANTIZERS } from '../../core/compress/quantization/trained-registry.ts';
import type { QuantizerName } from '../../../src-shared/compressors.ts';
import type { ArrayDataset } from '../train/data.ts';
import { evaluate } from '../train/trainer.ts';
import { verifyFusion, type FusionReport } from './verify.ts';

/** The deployed model's accuracy is not the simulated model's. */
export class SimulatedDeployedMismatchError extends StudioError {
  constructor(
    readonly simulated: number,
    readonly deployed: number,
    readonly tolerance: number,
  ) {
    super(
      `the exported model scores ${(deployed * 100).toFixed(2)} % where the simulated (fake-quant) model scores ${(simulated * 100).toFixed(2)} %: more than ${(tolerance * 100).toFixed(2)} point apart`,
      'SIMULATED_DEPLOYED_MISMATCH',
      { simulated, deployed, tolerance },
    );
  }
}

export interface DeployedCheck {
  simulated: number;
  deployed: number;
  fusion: FusionReport;
}

/**
 * Evaluate the simulated and exported models of a trained quantizer on `data` and compare their top-1.
 *
 * @throws SimulatedDeployedMismatchError when they differ by more than `tolerance` (default 0.001 = 0.1 point)
 */
export async function checkDeployed(
  r: Pick<TrainedQuantResult, 'simulated' | 'exported' | 'targets' | 'applied'>,
  data: ArrayDataset,
  opts: { threads?: number; batchSize?: number; tolerance?: number } = {},
): Promise<DeployedCheck> {
  const o = { batchSize: opts.batchSize ?? 500, ...(opts.threads !== undefined ? { threads: opts.threads } : {}) };
  const simulated = (await evaluate(r.simulated, data, o)).top1;
  const deployed = (await evaluate(r.exported, data, o)).top1;
  const fusion = await verifyFusion(r.exported, r.targets, r.applied);
  const tolerance = opts.tolerance ?? 0.001;
  if (Math.abs(simulated - deployed) > tolerance + 1e-12)
    throw new SimulatedDeployedMismatchError(simulated, deployed, tolerance);
  return { simulated, deployed, fusion };
}

/** How every trained quantizer is built: NNI's `(model, config_list, evaluator, options)`. */
export type TrainedQuantizerClass = new (
  model: Model,
  configList: unknown,
  evaluator: CompressionEvaluator,
  options?: QATOptions & LsqOptions & DoReFaOptions,
) => TrainedQuantizer;

/** The implementation of every trained name in src-shared's quantizer registry (one missing does not compile). */
export const TRAINED_QUANTIZER_CLASSES = TRAINED_QUANTIZERS satisfies Record<
  Extract<QuantizerName, TrainedQuantizerName>,
  TrainedQuantizerClass
>;

/** Whether a registry name is one of the trained quantizers. */
export function isTrainedQuantizer(name: string): name is TrainedQuantizerName {
  return Object.hasOwn(TRAINED_QUANTIZER_CLASSES, name);
}
