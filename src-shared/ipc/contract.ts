/**
 * @file The contract between the renderer and the host, described once: services, their methods (request, reply
 * and optional progress schemas) and their event streams. Both sides derive their types from this table and
 * validate every payload against it on receipt. Pure TypeScript: imports only zod and src-shared.
 */
import { z } from 'zod';
import { issueSchema } from './dto.ts';
import * as dto from './dto.ts';
import * as analysis from './analysis-dto.ts';
import { allocationTargetSchema } from '../sensitivity.ts';

/** One method: what the caller sends, what comes back, and (for long calls) the progress it reports. */
export interface MethodSpec<
  Req extends z.ZodType = z.ZodType,
  Res extends z.ZodType = z.ZodType,
  Prog extends z.ZodType = z.ZodType,
> {
  request: Req;
  reply: Res;
  progress?: Prog;
  doc: string;
}

export interface ServiceSpec {
  methods: Record<string, MethodSpec>;
  events: Record<string, z.ZodType>;
}

export type ContractSpec = Record<string, ServiceSpec>;

const method = <Req extends z.ZodType, Res extends z.ZodType, Prog extends z.ZodType = z.ZodNever>(
  doc: string,
  request: Req,
  reply: Res,
  progress?: Prog,
): MethodSpec<Req, Res, Prog> => ({ doc, request, reply, ...(progress ? { progress } : {}) });

const none = z.strictObject({});
const runRef = z.strictObject({ runId: dto.runIdSchema });
const modelRef = z.strictObject({ modelId: z.string().min(1) });
const phaseProgress = z.object({ phase: z.string(), fraction: z.number().min(0).max(1) });

/**
 * The services of Compression Studio.
 *
 * @example
 * const { modelId, info } = await api.models.open({ source: { kind: 'example', id: 'mnist-cnn' } });
 * const off = api.runs.on('progress', ({ runId, event }) => bar(runId, event.overall));
 */
export const CONTRACT = {
  models: {
    methods: {
      open: method(
        'Open a model (path, dropped bytes or a bundled example), trace it once and summarise it.',
        z.strictObject({ source: dto.modelSourceSchema }),
        dto.openedModelSchema,
        phaseProgress,
      ),
      inspect: method('The summary of an opened model.', modelRef, dto.modelInfoSchema),
      graph: method(
        'Nodes and edges of the main graph, with traced shapes, for the graph view.',
        modelRef,
        dto.graphViewSchema,
      ),
      targets: method(
        'Check a config list against the model: faults with JSON paths, or the (node, target) pairs it selects.',
        z.strictObject({ modelId: z.string().min(1), mode: z.enum(dto.COMPRESSION_MODES), configList: z.unknown() }),
        dto.targetsReplySchema,
      ),
      examples: method('Bundled example models and data sets.', none, dto.examplesSchema),
      node: method(
        'The node inspector: one node’s attributes, inputs / outputs with traced shapes, initializer statistics and histograms, the config entries that select it, the Q/DQ parameters around it.',
        z.strictObject({ modelId: z.string().min(1), node: z.string().min(1), configList: z.unknown().optional() }),
        analysis.nodeDetailsSchema,
      ),
    },
    events: {
      /** The shell asks the renderer to open a model (the File menu, a recent file, a file given on the command line). */
      openRequested: z.object({ path: z.string() }),
    },
  },
  experiments: {
    methods: {
      validate: method(
        'Validate a plan: schema, config lists, input files and available step executors.',
        z.strictObject({ plan: dto.planInputSchema }),
        z.object({ ok: z.boolean(), issues: z.array(issueSchema) }),
      ),
      create: method(
        'Create (or find) a named experiment that runs are grouped under.',
        z.strictObject({ name: z.string().min(1).max(200) }),
        dto.experimentSchema,
      ),
      list: method('All experiments.', none, z.array(dto.experimentSchema)),
      start: method(
        'Queue a run of a plan; progress arrives as runs events.',
        z.strictObject({
          plan: dto.planInputSchema,
          experiment: z.string().max(200).optional(),
          name: z.string().max(200).optional(),
          tags: z.array(z.string().max(60)).max(30).optional(),
          notes: z.string().max(10_000).optional(),
        }),
        z.object({ runId: z.string() }),
      ),
      sweep: method(
        "Queue one run per point of a grid over a run's plan (up to 3 JSON paths, each with its values); each point is tagged sweep:<id> and runs where runs run (the queue when one is configured).",
        z.strictObject({
          runId: z.string().min(1).max(100),
          grid: z
            .record(z.string().min(1).max(300), z.array(z.unknown()).min(1).max(20))
            .refine((g) => Object.keys(g).length >= 1 && Object.keys(g).length <= 3, {
              message: 'between 1 and 3 parameters',
            }),
        }),
        z.object({ sweepId: z.string(), runIds: z.array(z.string()) }),
      ),
      cancel: method('Ask a queued or running run to stop.', runRef, z.object({ cancelled: z.boolean() })),
      resume: method(
        'Continue a failed, cancelled or interrupted run at its first unfinished step.',
        runRef,
        z.object({ runId: z.string() }),
      ),
      capabilities: method('Step kinds this build can run and the execution providers.', none, dto.capabilitiesSchema),
    },
    events: {},
  },
  runs: {
    methods: {
      list: method('Runs, searchable and sortable.', dto.runFilterSchema, z.array(dto.runSummarySchema)),
      get: method('One run with its steps, artifacts and live progress.', runRef, dto.runDetailSchema),
      metrics: method(
        'Metric series of runs.',
        z.strictObject({ runIds: z.array(dto.runIdSchema).min(1).max(50), names: z.array(z.string()).optional() }),
        dto.metricSeriesSchema,
      ),
      layers: method('Per-layer output widths before and after the run.', runRef, z.array(dto.layerWidthSchema)),
      compare: method(
        'Two or more runs side by side: details, metric series and per-layer widths.',
        z.strictObject({ runIds: z.array(dto.runIdSchema).min(2).max(20) }),
        dto.compareReplySchema,
      ),
      remeasure: method(
        'Times the final models of some runs again now, one after another on this machine, each alternating with its original model (one thread, batch 1): latencies that can be set side by side.',
        z.strictObject({ runIds: z.array(dto.runIdSchema).min(1).max(12) }),
        dto.remeasureReplySchema,
      ),
      log: method('The log of a run.', runRef, z.object({ lines: z.array(z.string()) })),
      active: method(
        'Runs queued or running now, with their latest progress (for a resync after reconnecting).',
        none,
        z.array(dto.activeRunSchema),
      ),
      update: method(
        'Set the name, tags and notes of a run.',
        z.strictObject({
          runId: dto.runIdSchema,
          name: z.string().trim().min(1, 'a run needs a name').max(200).optional(),
          tags: z.array(z.string().max(60)).max(30).optional(),
          notes: z.string().max(10_000).optional(),
        }),
        dto.runSummarySchema,
      ),
      delete: method('Delete a finished run and its files.', runRef, z.object({ deleted: z.string() })),
    },
    events: {
      progress: dto.runProgressEventSchema,
      log: dto.runLogEventSchema,
      status: dto.runStatusEventSchema,
      step: dto.runStepEventSchema,
      /** A run finished and its report (before / after, factors, steps) is ready. */
      report: dto.runReportEventSchema,
      changed: dto.runChangedEventSchema,
    },
  },
  analysis: {
    methods: {
      scan: method(
        'The sensitivity scan a run stored (its sensitivity step’s sensitivity.json).',
        runRef,
        analysis.sensitivityScanSchema,
      ),
      allocate: method(
        'Per-layer sparsities from a run’s scan for a budget (latency ms or × speedup, MACs, params, size) within an accuracy drop: the knapsack’s choices, prediction and NNI config list; refined by default by measuring the choice whole (pruned + sped up) and correcting, then choosing among the allocations measured to meet the budget by a short-term fine-tune of each.',
        z.strictObject({
          runId: dto.runIdSchema,
          target: allocationTargetSchema,
          maxAccuracyDrop: z.number().min(0).max(1),
          roundTo: z.int().positive().optional(),
          /** Measure the choice whole and correct (default true); false keeps the scan-only prediction. */
          refine: z.boolean().optional(),
          /**
           * Steps of the short-term fine-tune choosing among the refined allocations that meet the budget (default
           * 100; 0 keeps the least one-shot drop).
           */
          shortTermSteps: z.int().min(0).max(10_000).optional(),
        }),
        analysis.allocationSchema,
      ),
      diff: method(
        'The before / after graph diff of a run: its input model against its latest model (widths per node, removed nodes, inserted Q/DQ, folded BNs), with both graphs.',
        runRef,
        analysis.runDiffSchema,
      ),
      checkAllocation: method(
        'A run whose plan came from an allocation: its model after pruning + speedup measured like a scan point (the scan’s evaluation subset, latency at the scan’s batch alternating with the original), beside the prediction.',
        runRef,
        analysis.allocationCheckSchema,
      ),
    },
    events: {},
  },
  exports: {
    methods: {
      run: method(
        'Export the compressed model, plan, report and experiment record of a run to a folder.',
        z.strictObject({ runId: dto.runIdSchema, dir: z.string().min(1), overwrite: z.boolean().optional() }),
        dto.exportResultSchema,
      ),
      suggestDir: method('A default export folder for a run.', runRef, z.object({ dir: z.string() })),
    },
    events: {},
  },
  queue: {
    methods: {
      status: method(
        'Connected workers (providers, slots, last heartbeat) and jobs by state on the configured queue.',
        none,
        dto.queueStatusSchema,
      ),
    },
    events: {},
  },
  settings: {
    methods: {
      get: method('Settings and facts about the shell.', none, dto.settingsSchema),
      set: method('Change settings.', dto.settingsPatchSchema, dto.settingsSchema),
      chooseFile: method(
        'Native "open file" dialog (Electron only).',
        z.strictObject({ title: z.string().optional(), filters: z.array(dto.fileFilterSchema).optional() }),
        dto.chosenPathSchema,
      ),
      chooseFolder: method(
        'Native "choose folder" dialog (Electron only).',
        z.strictObject({ title: z.string().optional() }),
        dto.chosenPathSchema,
      ),
    },
    events: {
      changed: dto.settingsSchema,
    },
  },
} as const satisfies ContractSpec;

export type Contract = typeof CONTRACT;
export type ServiceName = keyof Contract;
export const SERVICE_NAMES = Object.keys(CONTRACT) as ServiceName[];

// ---------------------------------------------------------------------------------------------------------------
// Types both sides derive from the table

type Methods<S extends ServiceSpec> = S['methods'];
type ProgressOf<M extends MethodSpec> =
  NonNullable<M['progress']> extends z.ZodType ? z.output<NonNullable<M['progress']>> : never;

/** What a caller passes with a call: progress listener and cancellation. */
export interface CallOptions<P = unknown> {
  onProgress?: (progress: P) => void;
  signal?: AbortSignalLike;
}

/** The part of `AbortSignal` the IPC layer uses (a plain object with these members crosses Electron's bridge). */
export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
}

export type Unsubscribe = () => void;

/** A service as the renderer sees it: one async function per method, and `on(event, listener)`. */
export type ServiceApi<S extends ServiceSpec> = {
  [K in keyof Methods<S>]: (
    request: z.input<Methods<S>[K]['request']>,
    options?: CallOptions<ProgressOf<Methods<S>[K]>>,
  ) => Promise<z.output<Methods<S>[K]['reply']>>;
} & {
  on<E extends keyof S['events'] & string>(event: E, listener: (data: z.output<S['events'][E]>) => void): Unsubscribe;
};

/** The whole API the preload (Electron) or the WebSocket client (browser) gives the renderer. */
export type StudioApi = { [K in ServiceName]: ServiceApi<Contract[K]> };

/** What the host gets with each call. */
export interface CallContext<P = unknown> {
  /** Aborted when the caller cancels or disconnects. */
  signal: AbortSignal;
  progress(update: P): void;
  /** Who called: the transport's description of the peer. */
  peer: PeerInfo;
}

export interface PeerInfo {
  id: string;
  kind: 'electron' | 'websocket' | 'http' | 'memory';
}

/** A service as the host implements it: requests arrive validated (zod output types). */
export type ServiceImpl<S extends ServiceSpec> = {
  [K in keyof Methods<S>]: (
    request: z.output<Methods<S>[K]['request']>,
    ctx: CallContext<ProgressOf<Methods<S>[K]>>,
  ) => Promise<z.input<Methods<S>[K]['reply']>> | z.input<Methods<S>[K]['reply']>;
};

export type StudioImpl = { [K in ServiceName]: ServiceImpl<Contract[K]> };

/** Payload type of an event. */
export type EventData<
  S extends ServiceName,
  E extends keyof Contract[S]['events'],
> = Contract[S]['events'][E] extends z.ZodType ? z.output<Contract[S]['events'][E]> : never;

/** Look up a method's spec (undefined when the contract has no such method). */
export function methodSpec(service: string, name: string): MethodSpec | undefined {
  const s = (CONTRACT as ContractSpec)[service];
  return s && Object.hasOwn(s.methods, name) ? s.methods[name] : undefined;
}

/** Look up an event's schema. */
export function eventSpec(service: string, name: string): z.ZodType | undefined {
  const s = (CONTRACT as ContractSpec)[service];
  return s && Object.hasOwn(s.events, name) ? s.events[name] : undefined;
}
