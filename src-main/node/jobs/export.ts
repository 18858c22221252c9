/**
 * @file Export of a run into a folder the user names: the compressed model (with its external data), the plan,
 * the report and an experiment record (plan, versions, metrics, hashes). Never writes outside that folder
 * (refuses `..` and symbolic links), and writes every file to a temporary name first, renaming only when all
 * were written, so a full disk leaves nothing half-written. Imports the store, node:* and src-shared.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, lstatSync, readFileSync, renameSync, rmSync, type Stats } from 'node:fs';
import { expandHome, PathError, prepareOutputDir } from '../io/guard.ts';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { basename, join, resolve } from 'node:path';
import type { RunReport } from '../../../src-shared/experiment.ts';
import type { Store } from '../store/index.ts';

/** The one write primitive export uses; tests inject a failing one to simulate a full disk. */
export interface ExportIo {
  /** Creates `path` (it must not exist) from `chunks` and flushes it to disk. */
  writeFile(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void>;
}

export const diskIo: ExportIo = {
  async writeFile(path, chunks) {
    const fh = await open(path, 'wx');
    try {
      for await (const chunk of chunks) {
        let done = 0;
        while (done < chunk.byteLength) done += (await fh.write(chunk, done, chunk.byteLength - done)).bytesWritten;
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
};

export type ExportErrorCode =
  'EXPORT_PATH' | 'EXPORT_EXISTS' | 'EXPORT_STATE' | 'EXPORT_DISK_FULL' | 'EXPORT_WRITE' | 'EXPORT_CORRUPT';

/** An export that did not happen; nothing was left in the folder. */
export class ExportError extends Error {
  constructor(
    readonly code: ExportErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ExportError';
  }
}

export interface ExportedFile {
  name: string;
  sha256: string;
  size: number;
}

export interface ExportResult {
  dir: string;
  files: ExportedFile[];
}

export interface Versions {
  app: string | null;
  'onnxruntime-node': string | null;
  node: string;
  opset: number | null;
}

/** The experiment record written as `experiment.json`. */
export interface ExperimentRecordFile {
  format: 'compression-studio/experiment-record';
  formatVersion: 1;
  exportedAt: string;
  run: {
    id: string;
    name: string;
    experiment: string;
    status: string;
    createdAt: string;
    startedAt: string | null;
    finishedAt: string | null;
    tags: string[];
    notes: string;
  };
  versions: Versions;
  plan: unknown;
  metrics: Pick<RunReport, 'before' | 'after' | 'factors'>;
  steps: RunReport['steps'];
  /** sha256 of every other exported file, by name. */
  hashes: Record<string, string>;
}

/** One file to export: a name in the folder and where its bytes come from. */
interface Source {
  name: string;
  chunks: () => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** The sha256 the bytes must have (checked as they stream). */
  expect?: string;
}

/**
 * Exports a succeeded run into `dir` (created if missing): `model.onnx` (or the model's own file name, with its
 * external data files), `plan.json`, `report.json`, `experiment.json`.
 *
 * @example await exportRun(store, 'a1b2c3', '/home/me/exports/resnet-50pct');
 */
export async function exportRun(
  store: Store,
  runId: string,
  dir: string,
  opts: { io?: ExportIo; overwrite?: boolean; roots?: readonly string[] } = {},
): Promise<ExportResult> {
  const io = opts.io ?? diskIo;
  const run = store.getRun(runId);
  const report = store.getReport(runId);
  if (!run || !report)
    throw new ExportError(
      'EXPORT_STATE',
      `run ${runId} has no report to export (status ${run?.status ?? 'unknown'}); only finished runs can be exported`,
    );
  const folder = prepareFolder(dir, opts.roots);

  const sources: Source[] = [];
  const latest = store.latestModel(runId);
  if (latest) {
    for (const a of [latest.model, ...latest.data])
      sources.push({
        name: a.name,
        chunks: () => createReadStream(a.path, { highWaterMark: 1 << 20 }),
        expect: a.sha256,
      });
  } else {
    sources.push({
      name: basename(run.plan.model),
      chunks: () => createReadStream(run.plan.model, { highWaterMark: 1 << 20 }),
    });
  }
  const planArtifact = store.listArtifacts(runId).find((a) => a.kind === 'plan');
  const planText = planArtifact ? readFileSync(planArtifact.path) : Buffer.from(JSON.stringify(run.plan, null, 2));
  sources.push({ name: 'plan.json', chunks: () => [planText] });
  sources.push({ name: 'report.json', chunks: () => [Buffer.from(JSON.stringify(report, null, 2))] });

  for (const s of sources) checkTarget(folder, s.name, opts.overwrite ?? false);
  checkTarget(folder, 'experiment.json', opts.overwrite ?? false);

  const temps: { tmp: string; final: string }[] = [];
  const files: ExportedFile[] = [];
  try {
    for (const s of sources) files.push(await writeTemp(io, folder, s, temps));
    const record: ExperimentRecordFile = {
      format: 'compression-studio/experiment-record',
      formatVersion: 1,
      exportedAt: new Date().toISOString(),
      run: {
        id: run.id,
        name: run.name,
        experiment: run.experimentName,
        status: run.status,
        createdAt: run.createdAt,
        startedAt: run.startedAt,
        finishedAt: run.finishedAt,
        tags: run.tags,
        notes: run.notes,
      },
      versions: versions(report.after.opset ?? report.before.opset ?? null),
      plan: JSON.parse(planText.toString('utf8')) as unknown,
      metrics: { before: report.before, after: report.after, factors: report.factors },
      steps: report.steps,
      hashes: Object.fromEntries(files.map((f) => [f.name, f.sha256])),
    };
    files.push(
      await writeTemp(
        io,
        folder,
        { name: 'experiment.json', chunks: () => [Buffer.from(JSON.stringify(record, null, 2))] },
        temps,
      ),
    );
  } catch (e) {
    for (const t of temps) rmSync(t.tmp, { force: true });
    if (e instanceof ExportError) throw e;
    const err = e as NodeJS.ErrnoException & { file?: string };
    const full = err.code === 'ENOSPC' || err.code === 'EDQUOT';
    throw new ExportError(
      full ? 'EXPORT_DISK_FULL' : 'EXPORT_WRITE',
      `could not export run ${runId} to ${folder}: ${full ? 'the disk is full' : (err.message ?? String(e))}${err.file ? ` while writing ${err.file}` : ''}; nothing was written`,
      { errno: err.code ?? null, file: err.file ?? null },
    );
  }
  // Every byte is on disk under a temporary name; now the renames (the record last, as the commit mark).
  const renamed: string[] = [];
  try {
    for (const t of temps) {
      renameSync(t.tmp, t.final);
      renamed.push(t.final);
    }
  } catch (e) {
    for (const t of temps) rmSync(t.tmp, { force: true });
    if (!opts.overwrite) for (const f of renamed) rmSync(f, { force: true });
    throw new ExportError('EXPORT_WRITE', `could not export run ${runId} to ${folder}: ${(e as Error).message}`);
  }
  return { dir: folder, files };
}

/**
 * Resolves the user's folder, refusing `..`, a symbolic link, a pseudo-filesystem and (with `roots`) anything outside
 * the roots or not absolute; creates it when missing, one folder at a time. Returns its real path.
 */
function prepareFolder(dir: string, roots?: readonly string[]): string {
  if (dir.trim() === '') throw new ExportError('EXPORT_PATH', 'no export folder given');
  if (dir.split(/[\\/]+/).includes('..'))
    throw new ExportError('EXPORT_PATH', `export folder "${dir}" contains "..": name the folder directly`);
  let abs: string;
  try {
    abs = resolve(expandHome(dir));
  } catch (e) {
    throw new ExportError('EXPORT_PATH', (e as Error).message);
  }
  const st = lstatOrNull(abs);
  if (st?.isSymbolicLink())
    throw new ExportError('EXPORT_PATH', `export folder ${abs} is a symbolic link; name the real folder`);
  if (st && !st.isDirectory()) throw new ExportError('EXPORT_PATH', `${abs} exists and is not a folder`);
  try {
    return prepareOutputDir(dir, { what: 'export folder', roots, requireAbsolute: roots !== undefined });
  } catch (e) {
    if (e instanceof PathError) throw new ExportError('EXPORT_PATH', e.message, { reason: e.reason });
    throw e;
  }
}

/** A target must be a plain name directly in the folder, not a link, and new unless overwriting. */
function checkTarget(folder: string, name: string, overwrite: boolean): void {
  if (name !== basename(name) || name === '..' || name === '.' || name.startsWith('.'))
    throw new ExportError('EXPORT_PATH', `refusing to export a file named "${name}"`);
  const st = lstatOrNull(join(folder, name));
  if (!st) return;
  if (st.isSymbolicLink())
    throw new ExportError('EXPORT_PATH', `${join(folder, name)} is a symbolic link; refusing to write through it`);
  if (!st.isFile()) throw new ExportError('EXPORT_EXISTS', `${join(folder, name)} exists and is not a file`);
  if (!overwrite)
    throw new ExportError(
      'EXPORT_EXISTS',
      `${join(folder, name)} already exists (export with overwrite to replace it)`,
    );
}

async function writeTemp(
  io: ExportIo,
  folder: string,
  source: Source,
  temps: { tmp: string; final: string }[],
): Promise<ExportedFile> {
  const final = join(folder, source.name);
  const tmp = join(folder, `.${source.name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  temps.push({ tmp, final });
  const hash = createHash('sha256');
  let size = 0;
  async function* tapped() {
    for await (const chunk of source.chunks()) {
      hash.update(chunk);
      size += chunk.byteLength;
      yield chunk;
    }
  }
  try {
    await io.writeFile(tmp, tapped());
  } catch (e) {
    throw Object.assign(e instanceof Error ? e : new Error(String(e)), { file: source.name });
  }
  const sha256 = hash.digest('hex');
  if (source.expect && sha256 !== source.expect) {
    throw new ExportError(
      'EXPORT_CORRUPT',
      `stored artifact ${source.name} does not match its recorded sha256; it was changed or damaged on disk`,
      { file: source.name },
    );
  }
  return { name: source.name, sha256, size };
}

function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

const require = createRequire(import.meta.url);

/** Versions for the record: the app (package.json), onnxruntime-node (its package.json, not loaded), Node, opset. */
export function versions(opset: number | null): Versions {
  const read = (file: string): string | null => {
    try {
      return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? null;
    } catch {
      return null;
    }
  };
  let ort: string | null = null;
  try {
    ort = read(require.resolve('onnxruntime-node/package.json'));
  } catch {
    ort = null;
  }
  return {
    app: read(new URL('../../../package.json', import.meta.url).pathname),
    'onnxruntime-node': ort,
    node: process.versions.node,
    opset,
  };
}
