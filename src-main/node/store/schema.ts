/**
 * @file The experiment store's SQL schema as an ordered list of migrations, and the migrator that applies them
 * (each in its own transaction) and records them in `schema_version`. Imports only better-sqlite3's types; never
 * jobs, host or Electron.
 */
import type { Database } from 'better-sqlite3';

/** One schema change; `version` is the schema version after it. */
export interface Migration {
  version: number;
  description: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'experiments, runs, steps, metric series, snapshots, reports, artifacts',
    sql: `
      CREATE TABLE experiments (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
      );
      CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment_id TEXT NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled','interrupted')),
        plan_json TEXT NOT NULL,
        plan_sha256 TEXT NOT NULL,
        step_count INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        started_at TEXT,
        finished_at TEXT,
        error_json TEXT,
        host_pid INTEGER,
        worker_pid INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX runs_experiment ON runs(experiment_id);
      CREATE INDEX runs_status ON runs(status);
      CREATE TABLE steps (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending','running','done','failed','cancelled','interrupted')),
        started_at TEXT,
        finished_at TEXT,
        duration_ms REAL,
        result_json TEXT,
        error_json TEXT,
        PRIMARY KEY (run_id, idx)
      );
      CREATE TABLE metrics (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step_idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        x REAL NOT NULL,
        value REAL NOT NULL,
        t INTEGER NOT NULL
      );
      CREATE INDEX metrics_run_name ON metrics(run_id, name, x);
      CREATE TABLE snapshots (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        phase TEXT NOT NULL CHECK (phase IN ('before','after')),
        snapshot_json TEXT NOT NULL,
        PRIMARY KEY (run_id, phase)
      );
      CREATE TABLE reports (
        run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        report_json TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE artifacts (
        id INTEGER PRIMARY KEY,
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        step_idx INTEGER,
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        rel_path TEXT NOT NULL UNIQUE,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX artifacts_run ON artifacts(run_id, step_idx);
    `,
  },
  {
    version: 2,
    description: 'run notes and tags',
    sql: `
      ALTER TABLE runs ADD COLUMN notes TEXT NOT NULL DEFAULT '';
      CREATE TABLE run_tags (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        tag TEXT NOT NULL,
        PRIMARY KEY (run_id, tag)
      );
      CREATE INDEX run_tags_tag ON run_tags(tag);
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The database was written by a newer app than this one. */
export class SchemaVersionError extends Error {
  readonly code = 'STORE_SCHEMA_TOO_NEW';
  constructor(
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `the experiment store has schema version ${found}, newer than this app supports (${supported}); update the app`,
    );
    this.name = 'SchemaVersionError';
  }
}

/** The schema version recorded in the database (0 for an empty one). */
export function schemaVersion(db: Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_version').get() as { v: number | null };
  return row.v ?? 0;
}

/**
 * Applies the migrations after the database's version, up to `target` (default: latest). Each migration and its
 * `schema_version` row commit together, so a crash leaves the database at a recorded version.
 *
 * @example migrate(db) // → { from: 0, to: 2 }
 */
export function migrate(db: Database, target = LATEST_VERSION): { from: number; to: number } {
  db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)',
  );
  const from = schemaVersion(db);
  if (from > LATEST_VERSION) throw new SchemaVersionError(from, LATEST_VERSION);
  const record = db.prepare('INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)');
  for (const m of MIGRATIONS) {
    if (m.version <= from || m.version > target) continue;
    db.transaction(() => {
      db.exec(m.sql);
      record.run(m.version, m.description, new Date().toISOString());
    }).immediate();
  }
  return { from, to: schemaVersion(db) };
}
