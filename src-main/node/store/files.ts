/**
 * @file Files of the app data folder: its location, atomic writes (temporary name, fsync, rename), streaming
 * copies that hash as they go, and sha256 of files. Imports only node:*; never SQLite, jobs or Electron.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The app data folder: `$STUDIO_HOME`, else `~/.compression-studio`.
 *
 * @example studioHome({ STUDIO_HOME: '/tmp/s' }) // '/tmp/s'
 */
export function studioHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.STUDIO_HOME && env.STUDIO_HOME.length > 0 ? env.STUDIO_HOME : join(homedir(), '.compression-studio');
}

/** A temporary name next to `path`, unique to this process and call. */
export function tempNameFor(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** sha256 of bytes or a string, as hex. */
export function sha256Of(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Writes a file atomically: to a fresh temporary name (exclusive create, so never through a planted link),
 * fsync, then rename over `path`. On failure the temporary file is removed and `path` is untouched.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = tempNameFor(path);
  let fd: number | null = null;
  try {
    fd = openSync(tmp, 'wx');
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done);
    fsyncSync(fd);
    closeSync(fd);
    fd = null;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== null) closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** sha256 and size of a file, read as a stream (the event loop stays free). */
export async function hashFile(path: string): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}

/**
 * Copies `src` to `dest` atomically (temporary name, fsync, rename), hashing the bytes on the way.
 * Creates `dest`'s folder. On failure nothing is left at `dest` or at the temporary name.
 */
export async function copyFileAtomic(src: string, dest: string): Promise<{ sha256: string; size: number }> {
  await mkdir(dirname(dest), { recursive: true });
  const tmp = tempNameFor(dest);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.byteLength;
      cb(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(src, { highWaterMark: 1 << 20 }), tap, createWriteStream(tmp, { flags: 'wx' }));
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, dest);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  return { sha256: hash.digest('hex'), size };
}

/** Removes a file if it exists. */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}
