/**
 * @file Opening the job queue: pg-boss on the PostgreSQL a URL names, plus the few tables of our own (artifacts by
 * SHA-256, recorded results, connected workers, cancelled scans) in schema `studio_queue`. Every failure is a named
 * error that names the URL's host and never its password. May import node:* and pg-boss.
 */
import { hostname } from 'node:os';
import { createRequire } from 'node:module';
import PgBoss from 'pg-boss';
import { StudioError } from '../../../src-shared/errors.ts';
import { parseQueueUrl, scrubSecret, type QueueTarget } from '../../../src-shared/queue.ts';

/** The pg-boss schema version this build speaks (pg-boss 10). */
export const PGBOSS_SCHEMA_VERSION: number = (
  createRequire(import.meta.url)('pg-boss/version.json') as { schema: number }
).schema;

/** The queue's database cannot be reached, refused us, or is not PostgreSQL. */
export class QueueUnreachableError extends StudioError {
  constructor(target: QueueTarget, reason: string) {
    super(
      `cannot use the job queue at ${target.host}:${target.port} (database "${target.database}"): ${reason}`,
      'QUEUE_UNREACHABLE',
      { host: target.host, port: target.port },
    );
  }
}

/** The database holds a pg-boss schema of another version than this build's. */
export class QueueSchemaError extends StudioError {
  constructor(target: QueueTarget, found: number) {
    super(
      `the job queue at ${target.host}:${target.port} holds a pg-boss schema of version ${found}; this build speaks version ${PGBOSS_SCHEMA_VERSION} (pg-boss 10). Upgrade Compression Studio on every machine, or use another database`,
      'QUEUE_SCHEMA',
      { host: target.host, found, expected: PGBOSS_SCHEMA_VERSION },
    );
  }
}

/** The SQL of our tables; run under an advisory lock so that many workers starting at once do not race. */
const SCHEMA_SQL = `
BEGIN;
SELECT pg_advisory_xact_lock(720022);
CREATE SCHEMA IF NOT EXISTS studio_queue;
CREATE TABLE IF NOT EXISTS studio_queue.artifact (
  sha256 text PRIMARY KEY, size bigint NOT NULL, chunks integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS studio_queue.artifact_chunk (
  sha256 text NOT NULL, idx integer NOT NULL, data bytea NOT NULL, PRIMARY KEY (sha256, idx));
CREATE TABLE IF NOT EXISTS studio_queue.result (
  seq bigserial UNIQUE, scan text NOT NULL, idx integer NOT NULL, job_id uuid NOT NULL, result jsonb NOT NULL,
  worker text NOT NULL, machine text NOT NULL, ep text NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (scan, idx));
CREATE TABLE IF NOT EXISTS studio_queue.scan (
  scan text PRIMARY KEY, total integer NOT NULL, cancelled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS studio_queue.worker (
  id text PRIMARY KEY, name text NOT NULL, machine text NOT NULL, providers text[] NOT NULL, concurrency integer NOT NULL,
  running integer NOT NULL DEFAULT 0, done integer NOT NULL DEFAULT 0, failed integer NOT NULL DEFAULT 0,
  started_at timestamptz NOT NULL DEFAULT now(), heartbeat timestamptz NOT NULL DEFAULT now(), stopped boolean NOT NULL DEFAULT false);
CREATE TABLE IF NOT EXISTS studio_queue.run_job (
  key text PRIMARY KEY, run_id text NOT NULL, cancelled boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS studio_queue.run_message (
  seq bigserial PRIMARY KEY, key text NOT NULL, worker_id text NOT NULL, msg jsonb NOT NULL,
  sent_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS run_message_key ON studio_queue.run_message (key, seq);
COMMIT;`;

/** An open queue: pg-boss and a way to run our own SQL on its pool. */
export interface Queue {
  readonly target: QueueTarget;
  readonly boss: PgBoss;
  sql<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /** Create a provider queue if it does not exist (idempotent). */
  ensureQueue(name: string): Promise<void>;
  close(): Promise<void>;
}

export interface OpenQueueOptions {
  /** Connection attempts give up after this long (default 10 s): never a hang. */
  connectTimeoutMs?: number;
  /** Pool size (default 4). */
  max?: number;
  /** Called with pg-boss's asynchronous errors, already scrubbed of the password. */
  onError?: (message: string) => void;
}

/** A short reason from a driver error, scrubbed of the URL's secret. */
function reasonOf(e: unknown, url: string): string {
  const err = e as { code?: string; message?: string };
  const text = err?.message || err?.code || String(e);
  const hint =
    err?.code === 'ECONNREFUSED'
      ? 'connection refused'
      : err?.code === 'ENOTFOUND'
        ? 'host not found'
        : err?.code === '28P01'
          ? 'password authentication failed'
          : err?.code === '3D000'
            ? 'database does not exist'
            : /timeout/i.test(text)
              ? 'no answer within the connection timeout (is it PostgreSQL, and reachable?)'
              : /terminated unexpectedly|unexpected message|invalid response|protocol/i.test(text)
                ? 'the server did not speak the PostgreSQL protocol'
                : text;
  return scrubSecret(hint === text ? text : `${hint} (${text})`, url);
}

/**
 * Connect, install or check pg-boss's schema, and create our tables.
 * @example const q = await openQueue('postgres://studio:pw@db.lan/studio'); … await q.close();
 * @throws QueueUrlError, QueueUnreachableError (naming host and port, never the password), QueueSchemaError
 */
export async function openQueue(url: string, opts: OpenQueueOptions = {}): Promise<Queue> {
  const target = parseQueueUrl(url);
  const boss = new PgBoss({
    connectionString: url,
    // pg's Pool reads these two; pg-boss passes its options through to the pool
    ...({ connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000 } as object),
    max: opts.max ?? 4,
    application_name: `studio@${hostname()}`,
    supervise: false,
    schedule: false,
    migrate: true,
  });
  boss.on('error', (e: Error) => opts.onError?.(reasonOf(e, url)));
  const db = boss.getDb();
  const sql = async <T>(text: string, values: unknown[] = []) =>
    (await db.executeSql(text, values as unknown[])).rows as T[];
  try {
    // pg-boss installs its schema or migrates an older one; a newer one it leaves alone, and we refuse it by name
    await boss.start().catch(async (e: unknown) => {
      throw new QueueUnreachableError(target, reasonOf(e, url));
    });
    const found = Number(await boss.schemaVersion());
    if (found !== PGBOSS_SCHEMA_VERSION) throw new QueueSchemaError(target, found);
    await sql(SCHEMA_SQL).catch((e: unknown) => {
      throw new QueueUnreachableError(target, `creating the studio_queue tables failed: ${reasonOf(e, url)}`);
    });
  } catch (e) {
    await boss.stop({ graceful: false, wait: true, close: true }).catch(() => undefined);
    throw e;
  }
  const created = new Set<string>();
  return {
    target,
    boss,
    sql,
    async ensureQueue(name) {
      if (created.has(name)) return;
      if (!(await boss.getQueue(name)))
        await boss.createQueue(name, { name, policy: 'standard' }).catch(() => undefined);
      created.add(name);
    },
    async close() {
      await boss.stop({ graceful: false, wait: true, close: true }).catch(() => undefined);
    },
  };
}
