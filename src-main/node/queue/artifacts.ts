/**
 * @file Artifacts by content: models and data sets move between the host and the workers by SHA-256, never inside
 * job payloads and never by the host's path. They travel through the database itself (1 MiB chunks) or through a
 * shared folder (`<dir>/<sha256>`); a worker keeps a cache by hash and verifies every file against its hash before
 * use — a mismatch is refused. May import node:*.
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, relative, sep } from 'node:path';
import { StudioError } from '../../../src-shared/errors.ts';
import type { ArtifactRef } from '../../../src-shared/queue.ts';
import type { Queue } from './connect.ts';

/** Bytes per chunk row in the database. */
export const CHUNK_BYTES = 1 << 20;
/** The most files a data set folder may hold to travel as an artifact. */
const MAX_FILES = 100_000;

/** An artifact whose bytes do not hash to its name, or that is missing. */
export class ArtifactError extends StudioError {
  constructor(message: string, sha256: string, code = 'ARTIFACT') {
    super(message, code, { sha256 });
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Where artifacts live between machines: the queue's database, or a folder every machine mounts. */
export interface ArtifactStore {
  readonly where: string;
  has(sha: string): Promise<boolean>;
  put(sha: string, bytes: Buffer): Promise<void>;
  /** The bytes stored under `sha`, verified. @throws ArtifactError on a mismatch or a missing artifact */
  get(sha: string): Promise<Buffer>;
}

function verified(sha: string, bytes: Buffer, where: string): Buffer {
  const got = sha256(bytes);
  if (got !== sha)
    throw new ArtifactError(
      `artifact ${sha.slice(0, 12)}… from ${where} is refused: its bytes hash to ${got.slice(0, 12)}… (tampered or corrupted)`,
      sha,
      'ARTIFACT_HASH',
    );
  return bytes;
}

/** Artifacts in `studio_queue.artifact_chunk`, 1 MiB a row; an artifact is visible once all its chunks are in. */
export function databaseStore(q: Queue): ArtifactStore {
  return {
    where: `the queue database at ${q.target.host}`,
    async has(sha) {
      return (await q.sql('SELECT 1 FROM studio_queue.artifact WHERE sha256 = $1', [sha])).length > 0;
    },
    async put(sha, bytes) {
      if (await this.has(sha)) return;
      const chunks = Math.max(1, Math.ceil(bytes.length / CHUNK_BYTES));
      for (let i = 0; i < chunks; i++)
        await q.sql(
          'INSERT INTO studio_queue.artifact_chunk (sha256, idx, data) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [sha, i, bytes.subarray(i * CHUNK_BYTES, (i + 1) * CHUNK_BYTES)],
        );
      await q.sql(
        'INSERT INTO studio_queue.artifact (sha256, size, chunks) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
        [sha, bytes.length, chunks],
      );
    },
    async get(sha) {
      const head = await q.sql<{ size: string; chunks: number }>(
        'SELECT size, chunks FROM studio_queue.artifact WHERE sha256 = $1',
        [sha],
      );
      if (!head[0])
        throw new ArtifactError(`artifact ${sha.slice(0, 12)}… is not in ${this.where}`, sha, 'ARTIFACT_MISSING');
      const parts: Buffer[] = [];
      for (let i = 0; i < head[0].chunks; i++) {
        const row = await q.sql<{ data: Buffer }>(
          'SELECT data FROM studio_queue.artifact_chunk WHERE sha256 = $1 AND idx = $2',
          [sha, i],
        );
        if (!row[0]) throw new ArtifactError(`artifact ${sha.slice(0, 12)}… lacks chunk ${i} in ${this.where}`, sha);
        parts.push(row[0].data);
      }
      return verified(sha, Buffer.concat(parts), this.where);
    },
  };
}

/** Artifacts as `<dir>/<sha256>` in a folder every machine mounts (NFS, SMB, …). */
export function folderStore(dir: string): ArtifactStore {
  return {
    where: `the shared folder ${dir}`,
    async has(sha) {
      return existsSync(join(dir, sha));
    },
    async put(sha, bytes) {
      const path = join(dir, sha);
      if (existsSync(path)) return;
      mkdirSync(dir, { recursive: true });
      const tmp = `${path}.${process.pid}.part`;
      writeFileSync(tmp, bytes);
      renameSync(tmp, path);
    },
    async get(sha) {
      const path = join(dir, sha);
      if (!existsSync(path))
        throw new ArtifactError(`artifact ${sha.slice(0, 12)}… is not in ${this.where}`, sha, 'ARTIFACT_MISSING');
      return verified(sha, readFileSync(path), this.where);
    },
  };
}

/** Every regular file under a folder (sorted relative paths), bounded. */
function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(root, p).split(sep).join('/'));
      if (out.length > MAX_FILES)
        throw new ArtifactError(`${root} holds more than ${MAX_FILES} files; too many to send as an artifact`, '');
    }
  };
  walk(root);
  return out;
}

/**
 * Upload a file or a folder (every file in it) and describe it by content.
 * @example const ref = await publish(store, 'resources/mnist'); // { kind: 'folder', name: 'mnist', files: [...] }
 */
export async function publish(store: ArtifactStore, path: string, rels?: string[]): Promise<ArtifactRef> {
  const folder = statSync(path).isDirectory();
  const list = folder ? (rels ?? filesUnder(path)) : [basename(path)];
  const files: ArtifactRef['files'] = [];
  for (const rel of list) {
    const bytes = readFileSync(folder ? join(path, rel) : path);
    const sha = sha256(bytes);
    await store.put(sha, bytes);
    files.push({ rel, sha256: sha, size: bytes.length });
  }
  return { kind: folder ? 'folder' : 'file', name: basename(path), files };
}

/** Upload a list of files (a plan's split) as one folder-like artifact whose entries are `<i>-<name>`. */
export async function publishFiles(store: ArtifactStore, paths: string[], name: string): Promise<ArtifactRef> {
  const files: ArtifactRef['files'] = [];
  for (const [i, p] of paths.entries()) {
    const bytes = readFileSync(p);
    const sha = sha256(bytes);
    await store.put(sha, bytes);
    files.push({ rel: `${i}-${basename(p)}`, sha256: sha, size: bytes.length });
  }
  return { kind: 'folder', name, files };
}

/**
 * A worker's cache: blobs by hash under `<dir>/blobs`, and each artifact laid out (hard links, else copies) under
 * `<dir>/tree/<digest of its listing>/<name>`. A blob is hashed again before each use unless this process already
 * verified it at the same size and modification time; a cached blob that no longer matches is dropped and fetched
 * again, and the store's copy is verified as it arrives.
 */
export class ArtifactCache {
  private readonly checked = new Map<string, string>();
  /** Bytes fetched from the store by this cache (for the bench's bytes-per-job figure). */
  fetchedBytes = 0;

  constructor(
    readonly dir: string,
    private readonly store: ArtifactStore,
  ) {}

  private async blob(sha: string): Promise<string> {
    const path = join(this.dir, 'blobs', sha);
    if (existsSync(path)) {
      const st = statSync(path);
      const stamp = `${st.size}:${st.mtimeMs}`;
      if (this.checked.get(sha) === stamp) return path;
      if (sha256(readFileSync(path)) === sha) {
        this.checked.set(sha, stamp);
        return path;
      }
      rmSync(path, { force: true }); // a cached copy changed under us: never used, fetched again
    }
    const bytes = await this.store.get(sha);
    this.fetchedBytes += bytes.length;
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.part`;
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
    const st = statSync(path);
    this.checked.set(sha, `${st.size}:${st.mtimeMs}`);
    return path;
  }

  /** The local path of an artifact: the file itself, or the folder holding its files. */
  async materialize(ref: ArtifactRef): Promise<string> {
    const digest = createHash('sha256').update(JSON.stringify(ref)).digest('hex').slice(0, 24);
    const root = join(this.dir, 'tree', digest);
    const top = join(root, ref.name);
    for (const f of ref.files) {
      const blob = await this.blob(f.sha256);
      const dest = ref.kind === 'folder' ? join(top, ...f.rel.split('/')) : top;
      if (existsSync(dest) && statSync(dest).ino === statSync(blob).ino) continue;
      mkdirSync(dirname(dest), { recursive: true });
      rmSync(dest, { force: true });
      try {
        linkSync(blob, dest);
      } catch {
        copyFileSync(blob, dest);
        // a copy is verified too: it is what the job reads
        if (sha256(readFileSync(dest)) !== f.sha256)
          throw new ArtifactError(`copy of ${f.rel} does not match its hash`, f.sha256, 'ARTIFACT_HASH');
      }
    }
    return top;
  }
}
