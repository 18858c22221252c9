/**
 * @file The job queue's shared vocabulary (issue 22): the queue URL (parsed, and redacted so a password never reaches
 * a log, a plan, an exported record or the renderer), the job kinds a worker may run and the validation of their
 * payloads, and what the Workers panel shows. Pure TypeScript: imports only zod and siblings, never Node or DOM.
 */
import { z } from 'zod';
import { StudioError } from './errors.ts';
import type { ScanPointResult } from './sensitivity.ts';

/** The environment variable that names the queue when neither `--queue` nor the app's setting does. */
export const QUEUE_ENV = 'STUDIO_QUEUE';

/** A queue URL that is not a PostgreSQL URL (the message never holds the password). */
export class QueueUrlError extends StudioError {
  constructor(message: string) {
    super(message, 'QUEUE_URL');
  }
}

/** What a queue URL names, without its secret. */
export interface QueueTarget {
  host: string;
  port: number;
  database: string;
  user: string;
  /** The URL with its password replaced by `***` (for logs, records and the renderer). */
  redacted: string;
}

/**
 * Parse `postgres://user:password@host:port/db?…`. Never echoes the password: a malformed URL is reported by its
 * scheme and host only.
 * @example parseQueueUrl('postgres://me:pw@db.lan/studio').redacted // 'postgres://me:***@db.lan:5432/studio'
 * @throws QueueUrlError naming what is wrong
 */
export function parseQueueUrl(url: string): QueueTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1];
    throw new QueueUrlError(
      `queue URL is malformed${scheme ? ` (scheme "${scheme}")` : ''}: expected postgres://user:password@host:port/database`,
    );
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw new QueueUrlError(
      `queue URL must start with postgres:// or postgresql://, got "${u.protocol}//" (host ${u.hostname || 'none'})`,
    );
  if (!u.hostname) throw new QueueUrlError('queue URL names no host: expected postgres://user:password@host/database');
  const port = u.port ? Number(u.port) : 5432;
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
  const user = decodeURIComponent(u.username);
  const shown = new URL(u.href);
  if (shown.password) shown.password = '***';
  for (const k of [...shown.searchParams.keys()])
    if (/pass|secret|token|key/i.test(k)) shown.searchParams.set(k, '***');
  if (!shown.port) shown.port = String(port);
  return { host: u.hostname, port, database, user, redacted: shown.href };
}

/** A URL with its password hidden; anything unparsable is hidden whole. */
export function redactQueueUrl(url: string): string {
  try {
    return parseQueueUrl(url).redacted;
  } catch {
    return '(unparsable queue URL)';
  }
}

/** Remove every occurrence of a URL's password (raw and URL-decoded) from a text, e.g. a driver's error message. */
export function scrubSecret(text: string, url: string): string {
  let out = text;
  try {
    const u = new URL(url);
    out = out.split(url).join(redactQueueUrl(url));
    for (const s of new Set([u.password, decodeURIComponent(u.password)]))
      if (s.length >= 1) out = out.split(s).join('***');
  } catch {
    /* nothing to scrub in an unparsable URL beyond the URL itself */
    out = out.split(url).join('(queue URL)');
  }
  return out;
}

/** Content address of an artifact: lowercase hex SHA-256. */
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');

/** One file of a data set folder, by relative path and content hash. */
const ArtifactFile = z.strictObject({
  rel: z
    .string()
    .min(1)
    .max(400)
    .refine((r) => !r.split(/[\\/]/).some((p) => p === '..' || p === '') && !/^[\\/]|^[a-z]:/i.test(r), {
      message: 'a relative path inside the data set (no .., no absolute path)',
    }),
  sha256: Sha256,
  size: z.number().int().nonnegative(),
});

/** A model file or a data set (one file, or a folder of files) by content, never by the host's path. */
export const ArtifactRefSchema = z.strictObject({
  kind: z.enum(['file', 'folder']),
  /** File name (a model's `.onnx`, a `.npz`) or folder name; only used to name the worker's local copy. */
  name: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\\/\0]+$/, 'a plain name'),
  files: z.array(ArtifactFile).min(1).max(100_000),
});
export type ArtifactRef = z.infer<typeof ArtifactRefSchema>;

const ScanSplitSchema = z.strictObject({
  kind: z.string().min(1).max(40),
  /** Indexes into the job's `data` artifact files, in the split's order (the worker maps them to local paths). */
  paths: z.array(z.string().max(400)).max(16),
  limit: z.number().int().positive().optional(),
  preprocess: z
    .strictObject({
      scale: z.number().finite().optional(),
      mean: z.array(z.number().finite()).max(64).optional(),
      std: z.array(z.number().finite()).max(64).optional(),
    })
    .optional(),
});

/** The scan point job as it travels: every field of `ScanPointJob`, with paths replaced by artifacts. */
export const ScanPointPayloadSchema = z.strictObject({
  kind: z.literal('scan-point'),
  /** The scan this point belongs to (results are keyed by scan and index). */
  scan: z.string().regex(/^[0-9a-f]{32}$/),
  index: z.number().int().nonnegative(),
  model: ArtifactRefSchema,
  /** The data set: a folder or file for `loadDataset`, or the files of a plan's split. */
  data: ArtifactRefSchema,
  split: z.union([z.literal('dataset'), ScanSplitSchema]),
  group: z.strictObject({
    id: z.string().min(1).max(200),
    nodes: z.array(z.string().max(1000)).min(1).max(10_000),
    opTypes: z.array(z.string().max(100)).max(10_000),
    channels: z.number().int().positive(),
    configList: z.array(z.record(z.string(), z.unknown())).min(1).max(10_000),
  }),
  ratio: z.number().gt(0).lt(1),
  pruner: z.string().min(1).max(40),
  seed: z.number().int(),
  eval: z.strictObject({
    split: z.enum(['test', 'train']),
    count: z.number().int().positive(),
    seed: z.number().int(),
    batchSize: z.number().int().positive().max(65_536),
  }),
  ep: z.string().min(1).max(40),
  shapes: z.record(z.string(), z.array(z.number().int().nonnegative()).max(16)).optional(),
  latencyRuns: z.number().int().positive().max(100_000),
});
export type ScanPointPayload = z.infer<typeof ScanPointPayloadSchema>;

/** A plan's file paths travel as `artifact:<i>`, an index into the run payload's artifacts. */
export const RUN_ARTIFACT_PREFIX = 'artifact:';

/**
 * A whole run (a sweep point, or the history's "run again") as it travels: the stored plan with every file path
 * replaced by `artifact:<i>`, the artifacts by hash, and where the run starts. The worker validates the plan again
 * with its own step modules; none are named here.
 */
export const RunPayloadSchema = z.strictObject({
  kind: z.literal('run'),
  /** Names this dispatch of the run (run id and attempt): messages and cancel are keyed by it. */
  key: z.string().regex(/^[0-9a-f]{32}$/),
  runId: z.string().min(1).max(100),
  attempt: z.number().int().positive(),
  plan: z.record(z.string(), z.unknown()),
  artifacts: z.array(ArtifactRefSchema).min(1).max(64),
  /** The model the first step reads: an index into `artifacts`. */
  inputModel: z.number().int().nonnegative(),
  inputSha256: Sha256.nullable(),
  startStep: z.number().int().nonnegative(),
  measureBefore: z.boolean(),
  heartbeatMs: z.number().int().positive().max(60_000),
  ep: z.string().min(1).max(40),
});
export type RunPayload = z.infer<typeof RunPayloadSchema>;

/**
 * The job kinds a queue worker runs: one schema per kind. A payload whose kind is not here, or whose fields do not
 * validate, is refused by name — nothing from the queue is executed as code.
 */
export const QUEUE_JOB_KINDS = { 'scan-point': ScanPointPayloadSchema, run: RunPayloadSchema } as const;
export type QueueJobKind = keyof typeof QUEUE_JOB_KINDS;
export type QueuePayload = ScanPointPayload | RunPayload;

/** A job payload that failed validation: names the field (JSON path) and the kinds a worker accepts. */
export class QueuePayloadError extends StudioError {
  constructor(message: string, path: string) {
    super(message, 'QUEUE_PAYLOAD', { path });
  }
}

/**
 * Validate a payload read from the queue.
 * @throws QueuePayloadError naming the JSON path of the first fault
 */
export function parseQueuePayload(raw: unknown): QueuePayload {
  const kind = (raw as { kind?: unknown } | null)?.kind;
  if (typeof kind !== 'string' || !Object.hasOwn(QUEUE_JOB_KINDS, kind))
    throw new QueuePayloadError(
      `job kind ${JSON.stringify(kind ?? null)} is not one a worker runs (kinds: ${Object.keys(QUEUE_JOB_KINDS).join(', ')})`,
      '$.kind',
    );
  const parsed = QUEUE_JOB_KINDS[kind as QueueJobKind].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = `$${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`;
    throw new QueuePayloadError(`job payload ${path}: ${issue.message}`, path);
  }
  return parsed.data;
}

/** The provider-specific queue name a job of a kind goes to (a CUDA job is only on the CUDA queue). */
export function queueName(kind: QueueJobKind, ep: string): string {
  return `studio-${kind}-${ep.replace(/[^a-z0-9]/gi, '').toLowerCase()}`;
}

/** Who ran a job: shown on each scan point and step (`worker: 'local'` for this machine's own pool). */
export interface RanBy {
  worker: string;
  machine: string;
  ep: string;
}

/** `w1@gpu-box (cuda)`, or `local (cpu)`. */
export function ranByLabel(r: RanBy): string {
  return r.worker === 'local' ? `local (${r.ep})` : `${r.worker}@${r.machine} (${r.ep})`;
}

/** A scan point result as a worker records it. */
export type QueuedPointResult = ScanPointResult & { ranBy?: RanBy };

/** Who ran the points: `w1@gpu-box (cuda) ×9, …` for queue workers, `local pool` otherwise. */
export function ranOn(points: readonly QueuedPointResult[]): string {
  const by = new Map<string, number>();
  for (const p of points)
    if (p.ranBy) {
      const k = `${p.ranBy.worker}@${p.ranBy.machine} (${p.ranBy.ep})`;
      by.set(k, (by.get(k) ?? 0) + 1);
    }
  return by.size ? [...by].map(([k, n]) => `${k} ×${n}`).join(', ') : 'local pool';
}

/** One connected worker, as the Workers panel lists it. */
export interface WorkerStatus {
  name: string;
  machine: string;
  providers: string[];
  concurrency: number;
  running: number;
  done: number;
  failed: number;
  /** ISO time of the last heartbeat. */
  lastHeartbeat: string;
  /** Seconds since the last heartbeat, as the database clock measured it. */
  silentSeconds: number;
}

/** Queue totals for the Workers panel. */
export interface QueueStatus {
  /** Redacted URL. */
  queue: string;
  workers: WorkerStatus[];
  jobs: { queued: number; running: number; done: number; failed: number };
}
