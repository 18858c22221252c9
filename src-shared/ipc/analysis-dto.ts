/**
 * @file The data of the views that explain a model, as zod schemas validated on receipt: a sensitivity scan and an
 * allocation from it (src-shared/sensitivity.ts's types), the node inspector's details of one node, the before /
 * after graph diff of a run, and an allocation's prediction checked against the run that used it. Pure TypeScript:
 * imports only zod and src-shared.
 */
import { z } from 'zod';
import { allocationTargetSchema } from '../sensitivity.ts';
import { graphViewSchema } from './dto.ts';

const num = z.number();
const record = z.record(z.string(), z.unknown());

const scanSplitSchema = z.object({
  kind: z.string(),
  paths: z.array(z.string()),
  limit: num.optional(),
  preprocess: z
    .object({ scale: num.optional(), mean: z.array(num).optional(), std: z.array(num).optional() })
    .optional(),
});

export const scanGroupSchema = z.object({
  id: z.string(),
  nodes: z.array(z.string()),
  opTypes: z.array(z.string()),
  channels: num,
  configList: z.array(record),
});

export const scanPointResultSchema = z.object({
  index: num,
  group: z.string(),
  ratio: num,
  accuracy: num,
  latencyMs: num,
  denseLatencyMs: num,
  latencyRatio: num,
  macs: num,
  params: num,
  maxRelErr: num,
  removedChannels: num,
  maskDigest: z.string(),
  ep: z.string(),
  ms: num,
});

/** `SensitivityScan` (src-shared/sensitivity.ts) as a schema. */
export const sensitivityScanSchema = z.object({
  format: z.literal('studio-sensitivity'),
  version: z.literal(1),
  model: z.object({ path: z.string(), sha256: z.string() }),
  pruner: z.string(),
  ratios: z.array(num),
  ep: z.string(),
  eval: z.object({
    data: z.union([z.string(), scanSplitSchema]),
    split: z.enum(['test', 'train']),
    count: num,
    seed: num,
    batchSize: num,
  }),
  groups: z.array(scanGroupSchema),
  baseline: z.object({ accuracy: num, latencyMs: num, macs: num, params: num, sizeBytes: num }),
  points: z.array(scanPointResultSchema),
  workers: num,
  wallMs: num,
});

/** `Allocation` (src-shared/sensitivity.ts) as a schema. */
export const allocationSchema = z.object({
  target: allocationTargetSchema,
  maxAccuracyDrop: num,
  choices: z.array(
    z.object({
      group: z.string(),
      nodes: z.array(z.string()),
      ratio: num,
      sparseRatio: num,
      keptChannels: num,
      accuracyDrop: num,
      latencySavedMs: num,
    }),
  ),
  predicted: z.object({ latencyMs: num, accuracy: num, macs: num, params: num, speedup: num }),
  configList: z.array(record),
  refinement: z
    .object({
      axis: z.enum(['latency', 'macs', 'params']),
      rounds: z.array(z.object({ sparseRatios: z.array(num), modelled: num, predicted: num, measured: num })),
      chosen: num,
      met: z.boolean(),
      shortTerm: z
        .object({
          steps: num,
          heldOut: num,
          candidates: z.array(
            z.object({
              sparseRatios: z.array(num),
              source: z.enum(['frontier', 'uniform', 'step']),
              measured: num,
              predictedDrop: num,
              oneShot: num,
              shortTerm: num,
            }),
          ),
          chosen: num,
        })
        .optional(),
    })
    .optional(),
});

const tensorStatsSchema = z.object({
  count: num,
  min: num,
  max: num,
  mean: num,
  std: num,
  sparsity: num,
  histogram: z.object({ lo: num, hi: num, counts: z.array(num) }),
});

const portSchema = z.object({
  name: z.string(),
  dtype: z.string().nullable(),
  shape: z.array(z.union([num, z.string(), z.null()])).nullable(),
  producer: z.string().nullable(),
  consumers: z.array(z.string()),
  initializer: tensorStatsSchema.optional(),
  quantization: z
    .object({
      node: z.string(),
      opType: z.string(),
      scale: z.array(num),
      zeroPoint: z.array(num),
      axis: num.nullable(),
    })
    .optional(),
});

/** The node inspector's data (node/inspect-node.ts's `NodeDetails`), plus the pruning targets the config selects. */
export const nodeDetailsSchema = z.object({
  name: z.string(),
  opType: z.string(),
  domain: z.string(),
  attributes: record,
  inputs: z.array(portSchema),
  outputs: z.array(portSchema),
  selectedBy: z.array(z.object({ index: num, path: z.string() })),
});
export type NodeDetailsDto = z.infer<typeof nodeDetailsSchema>;

const diffKinds = z.enum(['removed', 'added', 'narrowed', 'quantized', 'folded-bn', 'qdq']);
const nodeChangeSchema = z.object({
  name: z.string(),
  opType: z.string(),
  kinds: z.array(diffKinds),
  widths: z.array(z.object({ input: num, value: z.string(), before: z.array(num), after: z.array(num) })),
});

/** core/analysis/graph-diff.ts's `GraphDiff` and both graphs for the side-by-side view. */
export const runDiffSchema = z.object({
  /** Which model of the run the "after" side is (its step index and kind). */
  after: z.object({ stepIndex: num, stepKind: z.string(), path: z.string() }),
  diff: z.object({
    nodesBefore: num,
    nodesAfter: num,
    removed: z.array(nodeChangeSchema),
    added: z.array(nodeChangeSchema),
    changed: z.array(nodeChangeSchema),
    summary: z.object({
      removed: num,
      added: num,
      narrowed: num,
      quantized: num,
      foldedBn: num,
      qdqPairs: num,
    }),
  }),
  before: graphViewSchema,
  compressed: graphViewSchema,
});
export type RunDiff = z.infer<typeof runDiffSchema>;
export type NodeChangeDto = z.infer<typeof nodeChangeSchema>;

/** Predicted vs measured after pruning + speedup, at the scan's batch and on its evaluation subset. */
export const allocationCheckSchema = z.object({
  scanRun: z.string(),
  batchSize: num,
  evalCount: num,
  ep: z.string(),
  /** The model measured: the run's model after its speedup step. */
  stepIndex: num,
  predicted: z.object({ speedup: num, latencyMs: num, accuracy: num }),
  measured: z.object({ speedup: num, latencyMs: num, denseLatencyMs: num, accuracy: num }),
  /** |measured − predicted| ÷ predicted latency ratio. */
  latencyError: num,
});
export type AllocationCheckDto = z.infer<typeof allocationCheckSchema>;
