/**
 * @file The data that crosses the contract, as zod schemas (validated on receipt by both sides) and the types
 * inferred from them. Pure TypeScript: imports only zod and src-shared, never Node, DOM or Electron.
 */
import { z } from 'zod';
import {
  EXECUTION_PROVIDERS,
  logEventSchema,
  metricSnapshotSchema,
  progressEventSchema,
  RUN_STATUSES,
  runReportSchema,
  serializedErrorSchema,
  STEP_STATUSES,
  stepReportSchema,
  type Plan,
} from '../experiment.ts';

const dims = z.array(z.union([z.number(), z.string(), z.null()]));

// ---------------------------------------------------------------------------------------------------------------
// Models

export const tensorInfoSchema = z.object({ name: z.string(), dtype: z.string(), shape: dims.nullable() });

/** `ModelInfo` of src-shared/model-info.ts as a schema. */
export const modelInfoSchema = z.object({
  file: z.string().optional(),
  fileBytes: z.number().optional(),
  irVersion: z.number(),
  opset: z.number(),
  opsetImports: z.record(z.string(), z.number()),
  producer: z.string(),
  inputs: z.array(tensorInfoSchema),
  outputs: z.array(tensorInfoSchema),
  nodes: z.number(),
  loadedNodes: z.number().optional(),
  liftedConstantNodes: z.number().optional(),
  opTypes: z.record(z.string(), z.number()),
  params: z.number(),
  macs: z.number().nullable(),
  sizeBytes: z.number(),
  uncounted: z.array(z.object({ node: z.string(), opType: z.string(), reason: z.string() })),
  liftedConstants: z.boolean(),
  normalized: z.array(z.string()).optional(),
  controlFlow: z.array(z.string()),
  tracedInputs: z.record(z.string(), z.array(z.number())).optional(),
  traceError: z.string().optional(),
  values: z.array(z.object({ name: z.string(), dtype: z.string(), shape: z.array(z.number()) })).optional(),
});

/** Where a model comes from: a path on the host, bytes the user dropped, or a bundled example. */
export const modelSourceSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('path'), path: z.string().min(1) }),
  z.strictObject({ kind: z.literal('bytes'), name: z.string().min(1).max(255), bytes: z.instanceof(Uint8Array) }),
  z.strictObject({ kind: z.literal('example'), id: z.string().min(1) }),
]);
export type ModelSource = z.infer<typeof modelSourceSchema>;

export const openedModelSchema = z.object({
  /** Handle for the other model methods (valid while the host runs). */
  modelId: z.string(),
  /** The model file on the host (an uploaded file is saved first). */
  path: z.string(),
  name: z.string(),
  info: modelInfoSchema,
});
export type OpenedModel = z.infer<typeof openedModelSchema>;

export const GRAPH_NODE_KINDS = ['op', 'input', 'output'] as const;

/** One node of the graph view: an operator, or a graph input / output drawn as a node. */
export const graphNodeSchema = z.object({
  id: z.int().nonnegative(),
  kind: z.enum(GRAPH_NODE_KINDS),
  name: z.string(),
  opType: z.string(),
  /** Parameters (float initializer elements) the node reads. */
  params: z.number(),
  /** Shape of the first weight input, when it has one. */
  weightShape: z.array(z.number()).nullable(),
  /** Traced shape of the first output (or of the input / output value). */
  shape: dims.nullable(),
});
export const graphEdgeSchema = z.object({ from: z.int(), to: z.int(), value: z.string(), shape: dims.nullable() });
export const graphViewSchema = z.object({ nodes: z.array(graphNodeSchema), edges: z.array(graphEdgeSchema) });
export type GraphNode = z.infer<typeof graphNodeSchema>;
export type GraphEdge = z.infer<typeof graphEdgeSchema>;
export type GraphView = z.infer<typeof graphViewSchema>;

export const COMPRESSION_MODES = ['pruning', 'quantization', 'distillation'] as const;
export type CompressionMode = (typeof COMPRESSION_MODES)[number];

export const issueSchema = z.object({ path: z.string(), message: z.string() });
export type Issue = z.infer<typeof issueSchema>;
export const diagnosticSchema = z.object({
  level: z.enum(['info', 'warning', 'error']),
  code: z.string(),
  message: z.string(),
  path: z.string().optional(),
  node: z.string().optional(),
});

/** One (node, target) a config list selects, with its resolved setting. */
export const selectedTargetSchema = z.object({
  node: z.string(),
  opType: z.string(),
  target: z.string(),
  kind: z.string(),
  configIndex: z.int(),
  path: z.string(),
  setting: z.record(z.string(), z.unknown()),
});
export type SelectedTarget = z.infer<typeof selectedTargetSchema>;

/** A config list checked against a model: faults (JSON paths) or the targets it selects, plus diagnostics. */
export const targetsReplySchema = z.object({
  ok: z.boolean(),
  issues: z.array(issueSchema),
  diagnostics: z.array(diagnosticSchema),
  targets: z.array(selectedTargetSchema),
});
export type TargetsReply = z.infer<typeof targetsReplySchema>;

// ---------------------------------------------------------------------------------------------------------------
// Plans, examples, capabilities

/**
 * A plan as the host stored it (validated there by `parsePlan`); on receipt only its outline is checked.
 * Typed as `Plan` so both sides share one type.
 */
export const storedPlanSchema = z.looseObject({
  model: z.string(),
  steps: z.array(z.looseObject({ kind: z.string() })),
}) as unknown as z.ZodType<Plan>;

/** A plan on its way to the host: any JSON value (the host's `parsePlan` reports faults with JSON paths). */
export const planInputSchema = z.unknown();

const datasetDto = z.record(z.string(), z.unknown());

export const examplesSchema = z.object({
  models: z.array(z.object({ id: z.string(), name: z.string(), description: z.string(), path: z.string() })),
  datasets: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      description: z.string(),
      dataset: datasetDto,
      inputShape: z.array(z.number()).optional(),
    }),
  ),
});
export type Examples = z.infer<typeof examplesSchema>;

const compressorDto = z.object({
  name: z.string(),
  label: z.string(),
  needsData: z.enum(['none', 'calibration', 'train']),
  needsTraining: z.boolean(),
});

export const capabilitiesSchema = z.object({
  /** Step kinds with an executor in this build (a plan may only use these). */
  stepKinds: z.array(z.string()),
  /** Every step kind the plan schema knows. */
  knownStepKinds: z.array(z.string()),
  executionProviders: z.array(z.object({ name: z.string(), available: z.boolean() })),
  /** The compressors a plan may name, by family (src-shared/compressors.ts's registries). */
  pruners: z.array(compressorDto),
  quantizers: z.array(compressorDto),
  distillers: z.array(compressorDto),
  observers: z.array(z.object({ name: z.string(), label: z.string() })),
});
export type Capabilities = z.infer<typeof capabilitiesSchema>;

export const experimentSchema = z.object({ id: z.string(), name: z.string(), createdAt: z.string() });

// ---------------------------------------------------------------------------------------------------------------
// Runs

export const runStatusSchema = z.enum(RUN_STATUSES);

export const runSummarySchema = z.object({
  id: z.string(),
  experimentId: z.string(),
  experimentName: z.string(),
  name: z.string(),
  status: runStatusSchema,
  plan: storedPlanSchema,
  stepCount: z.int(),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  error: serializedErrorSchema.nullable(),
  attempts: z.int(),
  notes: z.string(),
  tags: z.array(z.string()),
  report: runReportSchema.nullable(),
  before: metricSnapshotSchema.nullable(),
  after: metricSnapshotSchema.nullable(),
  /** Who ran its finished steps: `local (cpu)`, `w1@gpu-box (cuda)` (issue 22); absent before any step finished. */
  ranOn: z.array(z.string()).optional(),
});
export type RunSummary = z.infer<typeof runSummarySchema>;

/** A step as the store keeps it: the report's step fields, plus the executor's raw result and error. */
export const stepRecordSchema = stepReportSchema
  .pick({ index: true, kind: true, status: true, startedAt: true, finishedAt: true, durationMs: true })
  .extend({
    result: z
      .object({
        metrics: metricSnapshotSchema.partial().optional(),
        summary: z.record(z.string(), z.unknown()).optional(),
        /** Who ran the step: a queue worker, or `local`. */
        ranBy: z.object({ worker: z.string(), machine: z.string(), ep: z.string() }).optional(),
      })
      .nullable(),
    error: serializedErrorSchema.nullable(),
  });
export type StepRecordDto = z.infer<typeof stepRecordSchema>;

export const artifactSchema = z.object({
  stepIndex: z.int().nullable(),
  kind: z.string(),
  name: z.string(),
  relPath: z.string(),
  sha256: z.string(),
  size: z.number(),
});

export const runDetailSchema = runSummarySchema.extend({
  steps: z.array(stepRecordSchema),
  artifacts: z.array(artifactSchema),
  /** The latest progress event, while the run is active here. */
  progress: progressEventSchema.nullable(),
});
export type RunDetail = z.infer<typeof runDetailSchema>;

export const metricPointSchema = z.object({ stepIndex: z.int(), x: z.number(), value: z.number(), t: z.number() });
/** run id → metric name → points in x order. */
export const metricSeriesSchema = z.record(z.string(), z.record(z.string(), z.array(metricPointSchema)));
export type MetricSeries = z.infer<typeof metricSeriesSchema>;

/** Output width (channels / features) of one layer before and after compression. */
export const layerWidthSchema = z.object({
  node: z.string(),
  opType: z.string(),
  before: z.int(),
  after: z.int().nullable(),
});
export type LayerWidth = z.infer<typeof layerWidthSchema>;

export const compareReplySchema = z.object({
  runs: z.array(runDetailSchema),
  series: metricSeriesSchema,
  layers: z.record(z.string(), z.array(layerWidthSchema)),
});
export type CompareReply = z.infer<typeof compareReplySchema>;

/** Latencies of several runs' final models measured now, each alternating with its original model in one session. */
export const remeasureReplySchema = z.object({
  measuredAt: z.string(),
  results: z.array(
    z.object({
      runId: z.string(),
      /** p50 of the run's final model, ms (null when it could not be measured: see `error`). */
      p50: z.number().nullable(),
      /** p50 of the original model in the same rounds, ms. */
      baselineP50: z.number().nullable(),
      /** original ÷ result over alternating rounds (> 1 = faster). */
      speedup: z.number().nullable(),
      ep: z.string().nullable(),
      error: z.string().nullable(),
    }),
  ),
});
export type RemeasureReply = z.infer<typeof remeasureReplySchema>;

export const runFilterSchema = z.strictObject({
  text: z.string().max(200).optional(),
  status: z.array(runStatusSchema).optional(),
  tag: z.string().optional(),
  sort: z.string().optional(),
  order: z.enum(['asc', 'desc']).optional(),
  limit: z.int().positive().max(10_000).optional(),
});
export type RunFilter = z.infer<typeof runFilterSchema>;

export const activeRunSchema = z.object({
  runId: z.string(),
  status: runStatusSchema,
  progress: progressEventSchema.nullable(),
});

export const runIdSchema = z.string().regex(/^[0-9a-f]{4,64}$/, 'must be a run id (hex)');

// ---------------------------------------------------------------------------------------------------------------
// Events

export const runProgressEventSchema = z.object({ runId: z.string(), event: progressEventSchema });
export const runLogEventSchema = z.object({ runId: z.string(), event: logEventSchema });
export const runStatusEventSchema = z.object({
  runId: z.string(),
  status: runStatusSchema,
  error: serializedErrorSchema.nullable(),
});
export const runStepEventSchema = z.object({
  runId: z.string(),
  index: z.int(),
  kind: z.string(),
  status: z.enum(STEP_STATUSES),
});
export const runChangedEventSchema = z.object({ runId: z.string(), change: z.enum(['created', 'updated', 'deleted']) });
export const runReportEventSchema = z.object({ runId: z.string(), report: runReportSchema });

// ---------------------------------------------------------------------------------------------------------------
// The job queue (Workers panel): never the URL's password

export const workerStatusSchema = z.object({
  name: z.string(),
  machine: z.string(),
  providers: z.array(z.string()),
  concurrency: z.int(),
  running: z.int(),
  done: z.int(),
  failed: z.int(),
  lastHeartbeat: z.string(),
  silentSeconds: z.number(),
});
export const queueStatusSchema = z.object({
  /** A queue is configured (settings.json `queue`, or STUDIO_QUEUE); without one everything runs locally. */
  configured: z.boolean(),
  /** The URL with its password hidden. */
  queue: z.string().nullable(),
  /** Why the queue could not be read (host named, password never). */
  error: z.string().nullable(),
  workers: z.array(workerStatusSchema),
  jobs: z.object({ queued: z.int(), running: z.int(), done: z.int(), failed: z.int() }),
});
export type QueueStatusDto = z.infer<typeof queueStatusSchema>;

// ---------------------------------------------------------------------------------------------------------------
// Exports and settings

export const exportResultSchema = z.object({
  dir: z.string(),
  files: z.array(z.object({ name: z.string(), sha256: z.string(), size: z.number() })),
});
export type ExportResultDto = z.infer<typeof exportResultSchema>;

export const THEMES = ['system', 'light', 'dark'] as const;
export const settingsSchema = z.object({
  theme: z.enum(THEMES),
  /** The execution provider new experiments start with (the wizard can change it per run). */
  executionProvider: z.enum(EXECUTION_PROVIDERS),
  recentFiles: z.array(z.string()),
  /** The app data folder (store, artifacts, uploaded models). */
  dataDir: z.string(),
  version: z.string(),
  /** Which shell hosts the renderer. */
  shell: z.enum(['electron', 'web', 'test']),
  /** Native file dialogs are available (Electron); the web mode types paths instead. */
  nativeDialogs: z.boolean(),
});
export type Settings = z.infer<typeof settingsSchema>;
export const settingsPatchSchema = z.strictObject({
  theme: z.enum(THEMES).optional(),
  executionProvider: z.enum(EXECUTION_PROVIDERS).optional(),
  recentFiles: z.array(z.string()).max(20).optional(),
});

export const fileFilterSchema = z.object({ name: z.string(), extensions: z.array(z.string()) });
export const chosenPathSchema = z.object({ path: z.string().nullable() });
