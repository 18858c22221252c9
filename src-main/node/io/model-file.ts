/**
 * @file Model files on disk: read a `.onnx` (with its external data, confined to the model's folder) and
 * write one (optionally with external data, written to a temporary name then renamed).
 */
import { quoted } from '../../../src-shared/errors.ts';
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  openSync,
  readSync,
  realpathSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { expandHome, PathError, readInputFile, READ_LIMITS } from './guard.ts';
import { basename, dirname, join, resolve, sep } from 'node:path';
import {
  decodeModel,
  encodeModel,
  ExternalDataPathError,
  inlineDataBytes,
  INLINE_DATA_LIMIT,
  MissingExternalDataError,
  ModelFormatError,
  type EncodeOptions,
} from '../../core/onnx/index.ts';
import { StudioError, type Model } from '../../core/ir/index.ts';

export interface LoadOptions {
  allowWeightless?: boolean;
}

/** Raised when a model file cannot be read at all (missing, a folder, unreadable). */
export class ModelFileError extends StudioError {
  constructor(message: string, path: string) {
    super(message, 'MODEL_FILE', { path });
  }
}

/** Read and decode a model file. External data is read lazily per tensor, only from inside the model folder. */
export function loadModelFile(path: string, opts: LoadOptions = {}): Model {
  const file = resolve(expandHome(path));
  let bytes: Uint8Array;
  try {
    bytes = readInputFile(file, { what: 'model file', maxBytes: READ_LIMITS.model });
  } catch (e) {
    if (e instanceof PathError) throw new ModelFileError(e.message, path);
    throw e;
  }
  const folder = realpathSync(dirname(file));
  return decodeModel(bytes, {
    allowWeightless: opts.allowWeightless,
    readExternal: ({ location, offset, length, tensor }) => readConfined(folder, location, offset, length, tensor),
  });
}

/** Decode model bytes that came without a file (no external data possible). */
export function loadModelBytes(bytes: Uint8Array, opts: LoadOptions = {}): Model {
  return decodeModel(bytes, { allowWeightless: opts.allowWeightless });
}

function readConfined(folder: string, location: string, offset: number, length: number, tensor: string): Uint8Array {
  const target = join(folder, location);
  let real: string;
  try {
    real = realpathSync(target);
  } catch {
    throw new MissingExternalDataError(
      `the model is valid ONNX but its weights are in the external data file ${quoted(location)}, which is not in the model's folder: put it beside the .onnx file`,
      { tensor },
    );
  }
  if (!real.startsWith(folder + sep)) {
    throw new ExternalDataPathError(`external data file ${quoted(location)} resolves outside the model folder`, {
      tensor,
    });
  }
  // Non-blocking: a FIFO named as external data must not hang the loader; only a regular file is read.
  const fd = openSync(real, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ModelFormatError(`external data ${quoted(location)} is not a regular file`, { tensor });
    const size = st.size;
    if (offset + length > size) {
      throw new ModelFormatError(
        `external data claims bytes ${offset}..${offset + length} but ${quoted(location)} holds ${size}`,
        {
          tensor,
          offset,
          file: location,
        },
      );
    }
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n <= 0)
        throw new ModelFormatError(`short read of external data ${quoted(location)}`, {
          tensor,
          offset: offset + done,
        });
      done += n;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** The inline limit this process starts with: `STUDIO_INLINE_DATA_LIMIT` (bytes) when set, so workers can be told. */
function initialInlineLimit(): number {
  const env = Number(process.env.STUDIO_INLINE_DATA_LIMIT);
  return process.env.STUDIO_INLINE_DATA_LIMIT && Number.isFinite(env) && env >= 0 ? env : INLINE_DATA_LIMIT;
}

let inlineLimit = initialInlineLimit();

/**
 * Bytes of tensor data above which a model is written with external data — when saved, and when handed to ORT
 * (runtime/model-source.ts). Protobuf's 2 GB limit less room for the graph by default; tests lower it to run a small
 * model through the same path. Returns the previous limit.
 * @example const before = setInlineDataLimit(1024); try { … } finally { setInlineDataLimit(before); }
 */
export function setInlineDataLimit(bytes: number): number {
  const before = inlineLimit;
  inlineLimit = bytes;
  return before;
}

/** Whether the model's tensor data is over the inline limit (so it is saved and run with external data). */
export function exceedsInlineLimit(model: Model): boolean {
  return inlineDataBytes(model) > inlineLimit;
}

/**
 * Bytes the model takes on disk as `saveModelFile` writes it: the .onnx file plus its external data, if it has any
 * (to a few bytes per external tensor: the data file's name is written in each). Nothing is copied (the external chunks are views of the weights).
 */
export function savedSize(model: Model): number {
  const enc = encodeModel(model, exceedsInlineLimit(model) ? { external: { location: 'model.onnx.data' } } : {});
  return enc.bytes.byteLength + (enc.external?.size ?? 0);
}

/**
 * The external data file `saveModelFile` wrote beside a model over the limit (`<file>.data`), when there is one: the
 * file that must travel with the model (a step's checkpoint, an export).
 */
export function savedDataFile(path: string): string | null {
  const data = `${resolve(path)}.data`;
  return existsSync(data) ? data : null;
}

export interface SaveResult {
  bytes: number;
  externalBytes: number;
  /** The external data file written beside the model (its name relative to the model's folder). */
  externalFile?: string;
}

/**
 * Encode and write a model. With `external`, large tensors go to a side file next to it; without it, a model whose
 * tensor data is over the inline limit (protobuf's 2 GB) goes the same way, to `<file name>.data` beside it.
 * Both files are written to temporary names and renamed, so a crash never leaves a half-written model.
 */
export function saveModelFile(model: Model, path: string, opts: EncodeOptions = {}): SaveResult {
  const file = resolve(path);
  const enc = encodeModel(
    model,
    opts.external || opts.weightless || !exceedsInlineLimit(model)
      ? opts
      : { ...opts, external: { location: `${basename(file)}.data` } },
  );
  let externalBytes = 0;
  if (enc.external) {
    const extPath = join(dirname(file), enc.external.location);
    const tmp = `${extPath}.tmp-${process.pid}`;
    const fd = openSync(tmp, 'w');
    try {
      // write(2) may take less than asked (Linux caps one call near 2 GB): loop until each chunk is down
      for (const c of enc.external.chunks) for (let at = 0; at < c.byteLength;) at += writeSync(fd, c, at);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, extPath);
    externalBytes = enc.external.size;
  }
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, enc.bytes);
  renameSync(tmp, file);
  return enc.external
    ? { bytes: enc.bytes.byteLength, externalBytes, externalFile: enc.external.location }
    : { bytes: enc.bytes.byteLength, externalBytes };
}
