/**
 * @file The one path guard every reader and writer goes through (CLI, steps, host, export). Inputs are regular files
 * only, opened without blocking (a FIFO never hangs a read) and read in bounded chunks up to a stated limit (so
 * `--config /dev/zero` fails at once instead of filling memory); output folders are created one component at a time,
 * never under pseudo-filesystems (`/proc`, `/sys`, `/dev`: a recursive mkdir there spins forever) and, where the caller
 * names roots, only inside them; `~` is expanded, `~user` refused. May import node:*.
 */
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  realpathSync,
  statfsSync,
  statSync,
  type Stats,
} from 'node:fs';
import { stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { StudioError } from '../../core/ir/errors.ts';
import { quoted } from '../../../src-shared/errors.ts';

/** A path the guard refuses: names the path, what it was for, and why. */
export class PathError extends StudioError {
  constructor(
    message: string,
    readonly path: string,
    readonly reason:
      | 'not-found'
      | 'not-a-file'
      | 'special'
      | 'too-large'
      | 'outside-roots'
      | 'not-a-folder'
      | 'home'
      | 'unreadable'
      | 'relative',
  ) {
    super(message, 'PATH_REFUSED', { path, reason });
  }
}

const MiB = 1 << 20;

/** Size limits of what the product reads whole into memory. */
export const READ_LIMITS = {
  /** Config lists and plans: JSON a person writes. */
  json: 16 * MiB,
  /** An `.onnx` file: protobuf cannot address more than 2 GiB (bigger models keep weights in external data). */
  model: 2 * 1024 * MiB - 1,
  /** A data file (IDX, .npy, .npz, an image). */
  data: 4 * 1024 * MiB - 1,
} as const;

/** Chunk size of bounded reads. */
const CHUNK = 4 * MiB;

/**
 * `~` and `~/x` → the home folder; `~user/x` is refused (whose home it means depends on the machine's user table).
 *
 * @example expandHome('~/models/a.onnx') // '/home/me/models/a.onnx'
 */
export function expandHome(path: string): string {
  if (path === '~' || path.startsWith('~/') || path.startsWith(`~${sep}`)) return join(homedir(), path.slice(1));
  if (path.startsWith('~')) {
    throw new PathError(`${quoted(path)}: "~user" paths are not expanded; write the folder out in full`, path, 'home');
  }
  return path;
}

/** Linux pseudo-filesystems (statfs f_type): their files are not data and their folders cannot hold output. */
const PSEUDO_FS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0x6165676c, 'pstore'],
  [0xde5e81e4, 'efivarfs'],
]);

/** Folders whose contents are devices or kernel state on Unix-like systems, whatever filesystem backs them. */
const SPECIAL_ROOTS = process.platform === 'win32' ? [] : ['/proc', '/sys', '/dev'];

/** The pseudo-filesystem a real path lies on, or null. */
function pseudoFilesystem(real: string): string | null {
  for (const root of SPECIAL_ROOTS) if (real === root || real.startsWith(`${root}/`)) return root;
  try {
    const type = Number(statfsSync(real).type);
    return PSEUDO_FS.get(type) ?? null;
  } catch {
    return null;
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a named pipe (FIFO)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

export interface ReadOptions {
  /** What the file is for, for messages: "config list", "model", "plan". */
  what: string;
  /** Largest size accepted, in bytes. */
  maxBytes: number;
}

/**
 * Check an input path without opening it: `~` expanded, exists, a regular file (after symlinks), not on a
 * pseudo-filesystem, within the size limit. Returns the absolute path and size.
 */
export function checkInputFile(path: string, opts: ReadOptions): { path: string; size: number } {
  const abs = resolve(expandHome(path));
  let st: Stats;
  try {
    st = statSync(abs);
  } catch (e) {
    throw notReadable(path, opts.what, e);
  }
  if (!st.isFile())
    throw new PathError(`${opts.what} ${quoted(path)} is ${kindOf(st)}, not a regular file`, path, 'not-a-file');
  const pseudo = pseudoFilesystem(realpathSync(abs));
  if (pseudo)
    throw new PathError(
      `${opts.what} ${quoted(path)} is kernel state on ${pseudo}, not a file of data`,
      path,
      'special',
    );
  if (st.size > opts.maxBytes) throw tooLarge(path, opts, st.size);
  return { path: abs, size: st.size };
}

/**
 * Read a whole input file, safely: opened non-blocking (a FIFO or device never blocks the open), refused unless it is
 * a regular file on a real filesystem, and read in chunks of 4 MiB that stop at `maxBytes` — a file that grows
 * while it is read, or reports size 0 (as `/proc` files do), cannot push memory past the limit.
 *
 * @example readInputFile('cfg.json', { what: 'config list', maxBytes: READ_LIMITS.json })
 */
export function readInputFile(path: string, opts: ReadOptions): Buffer {
  const abs = resolve(expandHome(path));
  let fd: number;
  try {
    fd = openSync(abs, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw notReadable(path, opts.what, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile())
      throw new PathError(`${opts.what} ${quoted(path)} is ${kindOf(st)}, not a regular file`, path, 'not-a-file');
    const pseudo = pseudoFilesystem(realpathSync(abs));
    if (pseudo)
      throw new PathError(
        `${opts.what} ${quoted(path)} is kernel state on ${pseudo}, not a file of data`,
        path,
        'special',
      );
    if (st.size > opts.maxBytes) throw tooLarge(path, opts, st.size);
    return readBounded(fd, path, opts, st.size);
  } finally {
    closeSync(fd);
  }
}

/** {@link readInputFile} as UTF-8 text. */
export function readTextInput(path: string, opts: ReadOptions): string {
  return readInputFile(path, opts).toString('utf8');
}

function readBounded(fd: number, path: string, opts: ReadOptions, expected: number): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    const want = Math.min(CHUNK, opts.maxBytes + 1 - total);
    const buf = Buffer.allocUnsafe(Math.max(want, 1));
    const n = readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    chunks.push(n === buf.length ? buf : buf.subarray(0, n));
    total += n;
    if (total > opts.maxBytes) throw tooLarge(path, opts, total, expected !== total);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
}

export interface OutputDirOptions {
  /** What the folder is for, for messages: "output folder", "export folder". */
  what: string;
  /** When given, the folder must lie inside one of these (after `~` expansion and symlinks). */
  roots?: readonly string[];
  /** Refuse a relative path instead of resolving it against the working folder (the browser mode: whose folder?). */
  requireAbsolute?: boolean;
}

/**
 * Make sure an output folder exists and may be written, creating missing folders one at a time. Refused with the
 * reason: a `~user` path, a relative path where `requireAbsolute` is set, a path outside `roots`, a path on a
 * pseudo-filesystem, a path through an existing non-folder. Never calls a recursive mkdir on an unchecked path.
 * Returns the absolute real path.
 *
 * @example prepareOutputDir('~/exports/run1', { what: 'export folder', roots: ['~/exports'] })
 */
export function prepareOutputDir(path: string, opts: OutputDirOptions): string {
  if (opts.requireAbsolute && !isAbsolute(path) && !path.startsWith('~')) {
    throw new PathError(`${opts.what} ${quoted(path)} must be an absolute path`, path, 'relative');
  }
  const abs = resolve(expandHome(path));
  // The nearest existing ancestor decides where the folder really is (symlinks resolved).
  const missing: string[] = [];
  let base = abs;
  for (;;) {
    let st: Stats | null = null;
    try {
      st = lstatSync(base);
    } catch {
      st = null;
    }
    if (st) break;
    const parent = dirname(base);
    if (parent === base) break;
    missing.unshift(base.slice(parent.length).replace(/^[\\/]+/, ''));
    base = parent;
  }
  let real: string;
  try {
    real = realpathSync(base);
  } catch (e) {
    throw notReadable(path, opts.what, e);
  }
  if (!statSync(real).isDirectory()) {
    throw new PathError(
      `${opts.what} ${quoted(path)}: ${quoted(base)} exists and is not a folder`,
      path,
      'not-a-folder',
    );
  }
  const target = join(real, ...missing);
  const pseudo = pseudoFilesystem(real);
  if (pseudo)
    throw new PathError(
      `${opts.what} ${quoted(path)} lies on ${pseudo}, which holds kernel state, not files`,
      path,
      'special',
    );
  if (opts.roots) {
    const roots = opts.roots.map((r) => realRoot(r));
    if (!roots.some((r) => r !== null && isWithin(target, r))) {
      const list = opts.roots.length ? opts.roots.map((r) => quoted(r)).join(', ') : 'none are configured';
      throw new PathError(
        `${opts.what} ${quoted(path)} is outside the folders allowed for it (${list}); add its folder to the export roots in the settings`,
        path,
        'outside-roots',
      );
    }
  }
  let dir = real;
  for (const part of missing) {
    dir = join(dir, part);
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw notWritable(path, opts.what, e);
    }
    const st = lstatSync(dir);
    if (!st.isDirectory())
      throw new PathError(`${opts.what} ${quoted(path)}: ${quoted(dir)} is not a folder`, path, 'not-a-folder');
  }
  return target;
}

/** Whether `path` is `root` or inside it (both absolute and real). */
export function isWithin(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** A root's real path; a root that does not exist yet is its nearest existing ancestor's real path plus the rest. */
function realRoot(root: string): string | null {
  try {
    let base = resolve(expandHome(root));
    const rest: string[] = [];
    for (;;) {
      try {
        return join(realpathSync(base), ...rest);
      } catch {
        const parent = dirname(base);
        if (parent === base) return null;
        rest.unshift(base.slice(parent.length).replace(/^[\\/]+/, ''));
        base = parent;
      }
    }
  } catch {
    return null;
  }
}

function notReadable(path: string, what: string, e: unknown): PathError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new PathError(`${what} ${quoted(path)} does not exist`, path, 'not-found');
  if (e instanceof PathError) return e;
  return new PathError(`${what} ${quoted(path)} cannot be read (${code ?? (e as Error).message})`, path, 'unreadable');
}

function notWritable(path: string, what: string, e: unknown): PathError {
  const code = (e as NodeJS.ErrnoException).code;
  return new PathError(
    `${what} ${quoted(path)} cannot be created (${code ?? (e as Error).message})`,
    path,
    'unreadable',
  );
}

function tooLarge(path: string, opts: ReadOptions, size: number, grew = false): PathError {
  const mib = (n: number) => `${(n / MiB).toFixed(n < 10 * MiB ? 1 : 0)} MiB`;
  return new PathError(
    `${opts.what} ${quoted(path)} ${grew ? 'kept growing past' : `is ${mib(size)}, over`} the ${mib(opts.maxBytes)} limit`,
    path,
    'too-large',
  );
}

/** How long the host waits for the first touch of a path a client named (a hung network mount, a stuck device). */
export const PROBE_TIMEOUT_MS = 10_000;

/**
 * The first touch of a path a client named, off the event loop (libuv's thread pool) and bounded in time: `stat` of
 * the path, or of its nearest existing ancestor for an output folder. The host calls this before the synchronous
 * guarded work, so a path that hangs the file system stalls one request (which gets a PathError after
 * `timeoutMs`), never the loop that answers every other client.
 */
export async function probePath(
  path: string,
  opts: { what: string; timeoutMs?: number; output?: boolean },
): Promise<void> {
  const abs = resolve(expandHome(path));
  const probe = async () => {
    for (let p = abs; ;) {
      try {
        await stat(p);
        return;
      } catch (e) {
        const parent = dirname(p);
        if (!opts.output || (e as NodeJS.ErrnoException).code !== 'ENOENT' || parent === p) return; // the sync guard names the fault
        p = parent;
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = opts.timeoutMs ?? PROBE_TIMEOUT_MS;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new PathError(
            `${opts.what} ${quoted(path)} did not answer within ${timeoutMs / 1000} s (a hung mount or device?)`,
            path,
            'unreadable',
          ),
        ),
      timeoutMs,
    );
  });
  try {
    await Promise.race([probe(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
