/** @file The five training-time quantizers by name (the registry's implementations, typed against its names). */
import { BNNQuantizer, DoReFaQuantizer } from './dorefa-bnn.ts';
import { LsqPlusQuantizer, LsqQuantizer, QATQuantizer, type TrainedQuantizerName } from './trained.ts';

export const TRAINED_QUANTIZERS = {
  qat: QATQuantizer,
  lsq: LsqQuantizer,
  lsqplus: LsqPlusQuantizer,
  dorefa: DoReFaQuantizer,
  bnn: BNNQuantizer,
} as const satisfies Record<TrainedQuantizerName, unknown>;
