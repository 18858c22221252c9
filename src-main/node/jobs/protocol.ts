/**
 * @file The host ↔ worker message protocol of the experiment runner: versioned (`v: 1`), typed, and validated
 * with zod on receipt by either side. Imports only zod and src-shared; never the store, Electron or ORT.
 *
 * host → worker: `start` (once), `cancel`.
 * worker → host: `ready`, then any of `progress` / `log` / `metric` / `snapshot` / `step-start` / `step-done`,
 * then exactly one of `done` / `failed` / `cancelled`.
 */
import { z } from 'zod';
import {
  logEventSchema,
  metricSnapshotSchema,
  progressEventSchema,
  serializedErrorSchema,
  type SerializedError,
} from '../../../src-shared/experiment.ts';

export const PROTOCOL_VERSION = 1;

const v = z.literal(PROTOCOL_VERSION);
const index = z.int().nonnegative();

export const startMessageSchema = z.object({
  v,
  type: z.literal('start'),
  runId: z.string(),
  attempt: z.int().positive(),
  /** The plan as stored; the worker validates it again after loading its step modules. */
  plan: z.unknown(),
  /** First step to run (steps before it are done and checkpointed). */
  startStep: index,
  /** Model the first step reads: the plan's model or the latest checkpoint. */
  inputModel: z.string(),
  /** sha256 the input model must have (a checkpoint); null for the plan's own model. */
  inputSha256: z.string().nullable(),
  /** Scratch folder of this attempt; step checkpoint dirs are made under it. */
  workDir: z.string(),
  /** Modules imported before running (they call `registerStep`, `registerStepKind`, `registerMeasure`). */
  stepModules: z.array(z.string()),
  heartbeatMs: z.int().positive(),
  /** False when the before-snapshot is already stored (a resumed run). */
  measureBefore: z.boolean(),
});

export const hostMessageSchema = z.discriminatedUnion('type', [
  startMessageSchema,
  z.object({ v, type: z.literal('cancel'), reason: z.string() }),
]);
export type HostMessage = z.infer<typeof hostMessageSchema>;
export type StartMessage = z.infer<typeof startMessageSchema>;

export const metricPointSchema = z.object({
  stepIndex: z.int(),
  name: z.string(),
  x: z.number(),
  value: z.number(),
  t: z.number(),
});

/** A file a step produced, hashed by the worker; the host copies it into the store and checks the hash. */
export const stepFileSchema = z.object({
  kind: z.string(),
  name: z.string(),
  path: z.string(),
  sha256: z.string(),
  size: z.number(),
});
export type StepFile = z.infer<typeof stepFileSchema>;

export const workerMessageSchema = z.discriminatedUnion('type', [
  z.object({ v, type: z.literal('ready'), pid: z.int() }),
  z.object({ v, type: z.literal('progress'), event: progressEventSchema }),
  z.object({ v, type: z.literal('log'), event: logEventSchema }),
  z.object({ v, type: z.literal('metric'), points: z.array(metricPointSchema) }),
  z.object({ v, type: z.literal('snapshot'), phase: z.enum(['before', 'after']), snapshot: metricSnapshotSchema }),
  z.object({ v, type: z.literal('step-start'), index, kind: z.string(), t: z.number() }),
  z.object({
    v,
    type: z.literal('step-done'),
    index,
    kind: z.string(),
    durationMs: z.number(),
    result: z.object({
      metrics: metricSnapshotSchema.partial().optional(),
      summary: z.record(z.string(), z.unknown()).optional(),
    }),
    files: z.array(stepFileSchema),
    /** Who ran the step: a queue worker adds itself; absent from this machine's own worker processes. */
    ranBy: z.object({ worker: z.string(), machine: z.string(), ep: z.string() }).optional(),
  }),
  z.object({ v, type: z.literal('done') }),
  z.object({ v, type: z.literal('failed'), stepIndex: z.int().nullable(), error: serializedErrorSchema }),
  z.object({ v, type: z.literal('cancelled'), stepIndex: z.int().nullable() }),
]);
export type WorkerMessage = z.infer<typeof workerMessageSchema>;
export type WorkerMessageOf<T extends WorkerMessage['type']> = Extract<WorkerMessage, { type: T }>;

/** A message that is not valid protocol (wrong version, unknown type, bad fields). */
export class ProtocolError extends Error {
  readonly code = 'PROTOCOL';
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function decode<T>(schema: z.ZodType<T>, raw: unknown, side: string): T {
  const version = (raw as { v?: unknown } | null)?.v;
  if (version !== PROTOCOL_VERSION)
    throw new ProtocolError(
      `${side} message has protocol version ${JSON.stringify(version)}, expected ${PROTOCOL_VERSION}`,
    );
  const r = schema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0]!;
    throw new ProtocolError(
      `bad ${side} message (${JSON.stringify((raw as { type?: unknown }).type)}): ${first.path.join('.') || '(root)'}: ${first.message}`,
    );
  }
  return r.data;
}

/** Validates a message received from the worker. */
export function decodeWorkerMessage(raw: unknown): WorkerMessage {
  return decode(workerMessageSchema, raw, 'worker');
}

/** Validates a message received from the host. */
export function decodeHostMessage(raw: unknown): HostMessage {
  return decode(hostMessageSchema, raw, 'host');
}

/**
 * An error as data, keeping its name, code and details.
 *
 * @example serializeError(new PlanError([...])) // { name: 'PlanError', code: 'PLAN_INVALID', message: '…', details: { issues } }
 */
export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const err = e as Error & { code?: unknown; details?: unknown };
    const out: SerializedError = {
      name: err.name,
      code: typeof err.code === 'string' ? err.code : 'ERROR',
      message: err.message,
    };
    if (err.details !== undefined) out.details = JSON.parse(JSON.stringify(err.details)) as unknown;
    return out;
  }
  return { name: 'Error', code: 'ERROR', message: String(e) };
}
