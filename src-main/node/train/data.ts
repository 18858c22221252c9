/**
 * @file The one data-set layer for training, calibration and evaluation: in-memory samples with int64 labels
 * (or float targets), loaded from IDX files (MNIST format, optionally gzipped), `.npy`/`.npz` arrays, or a
 * folder of images per class (decoded with sharp); `loadSplit` loads a plan's data split of any kind the plan
 * schema offers. Seeded shuffling and batching live in the trainer. Node layer.
 */
import { READ_LIMITS, readInputFile } from '../io/guard.ts';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync, inflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { StudioError, type Model } from '../../core/ir/index.ts';
import type { DataSplit } from '../../../src-shared/experiment.ts';
import { CalibrationDataError } from '../../core/compress/quantization/index.ts';

/** A data file that cannot be read or parsed. */
export class DatasetFormatError extends StudioError {
  constructor(message: string, file: string) {
    super(message, 'DATASET_FORMAT', { file });
  }
}

/**
 * Samples in memory, the one sample type of training, calibration and evaluation: `x` holds `length` samples of
 * `sampleShape` each, `y` an int64 label or float target each, or null for unlabelled samples (calibration only).
 */
export class ArrayDataset {
  readonly sampleSize: number;
  constructor(
    readonly x: Float32Array,
    readonly sampleShape: number[],
    readonly y: BigInt64Array | Float32Array | null,
    /** Shape of one target (empty for class labels). */
    readonly targetShape: number[] = [],
    readonly name = 'dataset',
  ) {
    this.sampleSize = sampleShape.reduce((a, b) => a * b, 1);
    const n = x.length / this.sampleSize;
    const per = targetShape.reduce((a, b) => a * b, 1);
    if (!Number.isInteger(n) || (y && y.length !== n * per)) {
      throw new DatasetFormatError(
        `${name}: ${x.length} values do not make whole samples of [${sampleShape}]${y ? ` matching ${y.length} labels` : ''}`,
        name,
      );
    }
  }

  get length(): number {
    return this.x.length / this.sampleSize;
  }

  /** Whether the targets are class labels. */
  get labelled(): boolean {
    return this.y instanceof BigInt64Array;
  }

  /**
   * The class labels, for a metric such as accuracy.
   * @throws DatasetFormatError when the set holds float targets instead
   */
  classLabels(): BigInt64Array {
    if (this.y instanceof BigInt64Array) return this.y;
    if (!this.y)
      throw new DatasetFormatError(
        `${this.name} holds no labels; accuracy and training need class labels (an IDX labels file, or a labels .npy)`,
        this.name,
      );
    throw new DatasetFormatError(
      `${this.name} holds float targets of [${this.targetShape}], not class labels; accuracy needs int labels`,
      this.name,
    );
  }

  /** Smallest and largest label. */
  labelRange(): [number, number] {
    const labels = this.targets();
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of labels) {
      const n = Number(v);
      if (n < lo) lo = n;
      if (n > hi) hi = n;
    }
    return [lo, hi];
  }

  /**
   * The labels or targets.
   * @throws DatasetFormatError when the set is unlabelled
   */
  targets(): BigInt64Array | Float32Array {
    if (!this.y)
      throw new DatasetFormatError(`${this.name} holds no labels or targets; training needs them`, this.name);
    return this.y;
  }

  /** Copy the samples at `indices` into batch buffers. */
  fill(indices: ArrayLike<number>, x: Float32Array, y: BigInt64Array | Float32Array): void {
    const targets = this.targets();
    const s = this.sampleSize;
    const per = this.targetShape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < indices.length; i++) {
      const k = indices[i]!;
      x.set(this.x.subarray(k * s, (k + 1) * s), i * s);
      if (targets instanceof BigInt64Array) (y as BigInt64Array)[i] = targets[k]!;
      else (y as Float32Array).set(targets.subarray(k * per, (k + 1) * per), i * per);
    }
  }

  /** The first `n` samples (a view). */
  head(n: number): ArrayDataset {
    return this.slice(0, n);
  }

  /** Samples `start` to `end` (exclusive; clamped to the set), a view; optionally renamed. */
  slice(start: number, end: number, name = this.name): ArrayDataset {
    const a = Math.max(0, Math.min(start, this.length));
    const b = Math.max(a, Math.min(end, this.length));
    const per = this.targetShape.reduce((p, d) => p * d, 1);
    const y = this.y ? (this.y.subarray(a * per, b * per) as BigInt64Array | Float32Array) : null;
    return new ArrayDataset(
      this.x.subarray(a * this.sampleSize, b * this.sampleSize),
      this.sampleShape,
      y,
      this.targetShape,
      name,
    );
  }
}

function readMaybeGz(file: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readInputFile(file, { what: 'data file', maxBytes: READ_LIMITS.data });
  } catch (e) {
    throw new DatasetFormatError((e as Error).message, file);
  }
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    // Bounded: a small gzip can claim gigabytes.
    return gunzipSync(bytes, { maxOutputLength: READ_LIMITS.data });
  } catch (e) {
    throw new DatasetFormatError(`${file} is not a readable gzip file (${(e as Error).message})`, file);
  }
}

export interface IdxArray {
  dims: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** Parse an IDX file (big-endian; types ubyte, byte, short, int, float, double), gzipped or not. */
export function readIdx(file: string): IdxArray {
  const b = readMaybeGz(file);
  if (b.length < 4 || b[0] !== 0 || b[1] !== 0)
    throw new DatasetFormatError(`${basename(file)} is not an IDX file (bad magic)`, file);
  const type = b[2]!;
  const rank = b[3]!;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const n = dims.reduce((a, c) => a * c, 1);
  const off = 4 + 4 * rank;
  const sizes: Record<number, number> = { 0x08: 1, 0x09: 1, 0x0b: 2, 0x0c: 4, 0x0d: 4, 0x0e: 8 };
  const size = sizes[type];
  if (!size) throw new DatasetFormatError(`${basename(file)}: unknown IDX element type 0x${type.toString(16)}`, file);
  if (b.length < off + n * size)
    throw new DatasetFormatError(
      `${basename(file)}: truncated (${b.length} bytes, header says ${off + n * size})`,
      file,
    );
  const read = (f: (i: number) => number, arr: IdxArray['data']) => {
    for (let i = 0; i < n; i++) arr[i] = f(off + i * size);
    return arr;
  };
  const data =
    type === 0x08
      ? b.slice(off, off + n)
      : type === 0x09
        ? new Int8Array(b.slice(off, off + n).buffer)
        : type === 0x0b
          ? read((p) => view.getInt16(p), new Int16Array(n))
          : type === 0x0c
            ? read((p) => view.getInt32(p), new Int32Array(n))
            : type === 0x0d
              ? read((p) => view.getFloat32(p), new Float32Array(n))
              : read((p) => view.getFloat64(p), new Float64Array(n));
  return { dims, data };
}

/** The factor raw values are multiplied by: the given one, else 1/255 for byte data and 1 otherwise. */
function scaleFor(data: unknown, scale: number | undefined): number {
  return scale ?? (data instanceof Uint8Array ? 1 / 255 : 1);
}

/** Images as float samples: [N, H, W] gains a channel axis; values multiplied by `scale`. */
function toSamples(dims: number[], data: ArrayLike<number>, scale: number): { x: Float32Array; shape: number[] } {
  const x = new Float32Array(data.length);
  for (let i = 0; i < x.length; i++) x[i] = data[i]! * scale;
  const shape = dims.length === 3 ? [1, dims[1]!, dims[2]!] : dims.slice(1);
  return { x, shape };
}

function toLabels(data: ArrayLike<number | bigint>): BigInt64Array {
  return BigInt64Array.from(Array.from(data, (v) => BigInt(v)));
}

/** An IDX image file and its label file as a data set (bytes / 255 unless `scale` is given, a channel axis added). */
export function loadIdxDataset(images: string, labels: string, scale?: number): ArrayDataset {
  const im = readIdx(images);
  const lb = readIdx(labels);
  if (im.dims[0] !== lb.dims[0])
    throw new DatasetFormatError(
      `${basename(images)} has ${im.dims[0]} samples but ${basename(labels)} ${lb.dims[0]} labels`,
      labels,
    );
  const { x, shape } = toSamples(im.dims, im.data, scaleFor(im.data, scale));
  return new ArrayDataset(x, shape, toLabels(lb.data), [], basename(images));
}

// ---- .npy / .npz ------------------------------------------------------------------------------------------

/** Parse a .npy array (little-endian f4/f8/u1/i1/i2/i4/i8/b1, C order). */
export function readNpy(bytes: Uint8Array, name = 'array.npy'): IdxArray | { dims: number[]; data: BigInt64Array } {
  const magic = String.fromCharCode(...bytes.subarray(1, 6));
  if (bytes[0] !== 0x93 || magic !== 'NUMPY') throw new DatasetFormatError(`${name} is not a .npy file`, name);
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const hstart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(hstart, hstart + hlen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || shapeText === undefined) throw new DatasetFormatError(`${name}: unreadable .npy header`, name);
  if (fortran) throw new DatasetFormatError(`${name}: Fortran-ordered arrays are not supported`, name);
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const n = dims.reduce((a, b) => a * b, 1);
  const off = hstart + hlen;
  // a copy, aligned at 0 (Buffer's slice is a view into a shared pool, so its .buffer is not this array)
  const raw = new Uint8Array(bytes.subarray(off));
  const kinds: Record<string, (buf: ArrayBuffer) => IdxArray['data'] | BigInt64Array> = {
    '<f4': (b) => new Float32Array(b, 0, n),
    '<f8': (b) => new Float64Array(b, 0, n),
    '|u1': (b) => new Uint8Array(b, 0, n),
    '|i1': (b) => new Int8Array(b, 0, n),
    '<i2': (b) => new Int16Array(b, 0, n),
    '<i4': (b) => new Int32Array(b, 0, n),
    '<i8': (b) => new BigInt64Array(b, 0, n),
    '|b1': (b) => new Uint8Array(b, 0, n),
    '<u2': (b) => new Uint16Array(b, 0, n) as never,
  };
  const make = kinds[descr];
  if (!make) throw new DatasetFormatError(`${name}: dtype ${descr} is not supported`, name);
  return { dims, data: make(raw.buffer) } as IdxArray;
}

/** The members of a .npz (zip) archive, parsed as .npy arrays, by name without the extension. */
export function readNpz(file: string): Map<string, ReturnType<typeof readNpy>> {
  const b = readMaybeGz(file);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 65557); i--)
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw new DatasetFormatError(`${basename(file)} is not a zip (.npz) archive`, file);
  const count = view.getUint16(eocd + 10, true);
  let p = view.getUint32(eocd + 16, true);
  const out = new Map<string, ReturnType<typeof readNpy>>();
  for (let k = 0; k < count; k++) {
    if (view.getUint32(p, true) !== 0x02014b50)
      throw new DatasetFormatError(`${basename(file)}: corrupt zip directory`, file);
    const method = view.getUint16(p + 10, true);
    const csize = view.getUint32(p + 20, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    const local = view.getUint32(p + 42, true);
    const name = new TextDecoder().decode(b.subarray(p + 46, p + 46 + nameLen));
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const comp = b.subarray(start, start + csize);
    const data = method === 0 ? comp : method === 8 ? inflateRawSync(comp) : null;
    if (!data) throw new DatasetFormatError(`${basename(file)}: member ${name} uses zip method ${method}`, file);
    out.set(name.replace(/\.npy$/, ''), readNpy(new Uint8Array(data), name));
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

function arrayDataset(
  x: ReturnType<typeof readNpy>,
  y: ReturnType<typeof readNpy>,
  name: string,
  scale?: number,
): ArrayDataset {
  if (x.data instanceof BigInt64Array)
    throw new DatasetFormatError(`${name}: the samples are int64 values; store them as float or uint8`, name);
  if (x.dims.length < 2)
    throw new DatasetFormatError(`${name}: samples of shape [${x.dims}] are not a batch [N, …]`, name);
  if (y.dims[0] !== x.dims[0])
    throw new DatasetFormatError(`${name}: ${x.dims[0]} samples but ${y.dims[0]} labels`, name);
  const { x: xs, shape } = toSamples(x.dims, Array.from(x.data as ArrayLike<number>), scaleFor(x.data, scale));
  if (y.data instanceof Float32Array || y.data instanceof Float64Array) {
    return new ArrayDataset(xs, shape, Float32Array.from(y.data), y.dims.slice(1), name);
  }
  return new ArrayDataset(xs, shape, toLabels(y.data as ArrayLike<number | bigint>), [], name);
}

export interface SplitData {
  train: ArrayDataset;
  test?: ArrayDataset;
}

const IMAGE = /\.(png|jpe?g|bmp|gif|webp|tiff?)$/i;

function subfolders(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => statSync(join(dir, f)).isDirectory())
    .sort();
}

function hasImageClasses(dir: string): boolean {
  return subfolders(dir).some((d) => readdirSync(join(dir, d)).some((f) => IMAGE.test(f)));
}

export interface ImageFolderOptions {
  /** [height, width] every image is resized to (default: the first image's size). */
  size?: [number, number];
  /** 1 (grey) or 3 (RGB); default: 1 when the first image is grey, else 3. */
  channels?: 1 | 3;
  /** Class names in label order (default: the sub-folder names, sorted). */
  classes?: string[];
  /** Factor the 0–255 pixel values are multiplied by (default 1/255). */
  scale?: number;
}

/**
 * A folder with one sub-folder of images per class (torchvision's ImageFolder layout): decoded with sharp,
 * resized to one size, pixels / 255 as [C, H, W] samples, labels by sorted class name.
 */
export async function loadImageFolder(dir: string, o: ImageFolderOptions = {}): Promise<ArrayDataset> {
  const classes = o.classes ?? subfolders(dir);
  const files: [string, number][] = [];
  classes.forEach((c, label) => {
    // a split may lack some classes of the train split (their label numbers stay those of the train split)
    if (!existsSync(join(dir, c))) return;
    for (const f of readdirSync(join(dir, c))
      .filter((f) => IMAGE.test(f))
      .sort())
      files.push([join(dir, c, f), label]);
  });
  if (files.length === 0) throw new DatasetFormatError(`${dir}: no images in class folders`, dir);
  const first = await sharp(files[0]![0])
    .metadata()
    .catch((e: Error) => {
      throw new DatasetFormatError(`cannot decode ${files[0]![0]}: ${e.message}`, files[0]![0]);
    });
  const [h, w] = o.size ?? [first.height ?? 0, first.width ?? 0];
  const ch = o.channels ?? ((first.channels ?? 3) <= 2 ? 1 : 3);
  const x = new Float32Array(files.length * ch * h * w);
  const scale = o.scale ?? 1 / 255;
  for (const [i, [file, _label]] of files.entries()) {
    let img = sharp(file).resize(w, h, { fit: 'fill' }).removeAlpha();
    img = ch === 1 ? img.toColourspace('b-w') : img.toColourspace('srgb');
    let raw: Buffer;
    try {
      raw = await img.raw().toBuffer();
    } catch (e) {
      throw new DatasetFormatError(`cannot decode ${file}: ${(e as Error).message}`, file);
    }
    const base = i * ch * h * w;
    // HWC bytes → CHW floats
    for (let p = 0; p < h * w; p++) for (let c = 0; c < ch; c++) x[base + c * h * w + p] = raw[p * ch + c]! * scale;
  }
  return new ArrayDataset(x, [ch, h, w], toLabels(files.map(([, l]) => l)), [], basename(dir));
}

/**
 * Load a data set from a path: a folder of IDX files (`train-images-idx3-ubyte[.gz]`, `train-labels…`,
 * `t10k-…`), an `.npz` with `x_train/y_train[/x_test/y_test]` or `x/y`, or a folder of images per class
 * (with optional `train/` and `test/` (or `val/`) splits of that layout).
 */
export async function loadDataset(path: string): Promise<SplitData> {
  if (!existsSync(path)) throw new DatasetFormatError(`data path ${path} does not exist`, path);
  if (statSync(path).isDirectory()) {
    const files = readdirSync(path);
    const find = (prefix: string, kind: string) =>
      files.find((f) => f.startsWith(prefix) && f.includes(kind) && /idx\d-ubyte(\.gz)?$/.test(f));
    const ti = find('train', 'images');
    const tl = find('train', 'labels');
    if (ti && tl) {
      const vi = find('t10k', 'images') ?? find('test', 'images');
      const vl = find('t10k', 'labels') ?? find('test', 'labels');
      return {
        train: loadIdxDataset(join(path, ti), join(path, tl)),
        test: vi && vl ? loadIdxDataset(join(path, vi), join(path, vl)) : undefined,
      };
    }
    const npz = files.find((f) => f.endsWith('.npz'));
    if (npz) return loadDataset(join(path, npz));
    const folders = await loadImageFolders(path);
    if (folders) return folders;
    throw new DatasetFormatError(`${path}: no IDX files, .npz or image folders found`, path);
  }
  if (path.endsWith('.npz')) return loadNpz(path);
  throw new DatasetFormatError(`${path}: expected a folder (IDX files) or an .npz archive`, path);
}

/** An `.npz` archive's `x_train`/`y_train` (or `x`/`y`) and, when present, `x_test`/`y_test`. */
function loadNpz(path: string, scale?: number): SplitData {
  const arrays = readNpz(path);
  const get = (k: string) => arrays.get(k);
  const xt = get('x_train') ?? get('x');
  const yt = get('y_train') ?? get('y');
  if (!xt || !yt)
    throw new DatasetFormatError(
      `${basename(path)} needs arrays x_train/y_train (or x/y); it has ${[...arrays.keys()].join(', ')}`,
      path,
    );
  const xv = get('x_test');
  const yv = get('y_test');
  return {
    train: arrayDataset(xt, yt, `${basename(path)}:train`, scale),
    test: xv && yv ? arrayDataset(xv, yv, `${basename(path)}:test`, scale) : undefined,
  };
}

/** A folder of images per class, or one with `train/` and `test/` (or `val/`) folders of that layout; undefined when neither. */
async function loadImageFolders(path: string, scale?: number): Promise<SplitData | undefined> {
  const trainDir = join(path, 'train');
  const testDir = ['test', 'val'].map((d) => join(path, d)).find((d) => existsSync(d) && hasImageClasses(d));
  const opts = scale === undefined ? {} : { scale };
  if (existsSync(trainDir) && hasImageClasses(trainDir)) {
    const train = await loadImageFolder(trainDir, opts);
    const size: [number, number] = [train.sampleShape[1]!, train.sampleShape[2]!];
    const classes = subfolders(trainDir);
    return {
      train,
      test: testDir
        ? await loadImageFolder(testDir, { ...opts, size, channels: train.sampleShape[0] as 1 | 3, classes })
        : undefined,
    };
  }
  if (hasImageClasses(path)) return { train: await loadImageFolder(path, opts) };
  return undefined;
}

/** A samples `.npy` [N, …] and its labels `.npy` [N] (int class labels, or float targets [N, …]). */
export function loadNpyPair(samples: string, labels: string, scale?: number): ArrayDataset {
  const x = readNpy(readMaybeGz(samples), basename(samples));
  const y = readNpy(readMaybeGz(labels), basename(labels));
  return arrayDataset(x, y, basename(samples), scale);
}

/** A split's preprocessing that does not fit the data or the model: names the field and both channel counts. */
export class PreprocessError extends StudioError {
  constructor(message: string, field: string) {
    super(message, 'PREPROCESS_MISMATCH', { field });
  }
}

/** The channel count of a model's first input (axis 1 of NCHW), when the model states it. */
export function modelChannels(model: Model): number | null {
  const input = model.graph.inputs.find((v) => !v.isInitializer);
  const c = input?.shape?.[1];
  return typeof c === 'number' && c > 0 ? c : null;
}

/**
 * Why `preprocess.mean` / `std` cannot apply to data or a model with `channels` channels: each must hold one value
 * (for every channel) or one per channel. Null when they fit.
 */
export function preprocessFault(
  split: Pick<DataSplit, 'preprocess'>,
  channels: number | null,
  field: string,
): string | null {
  if (channels === null) return null;
  for (const key of ['mean', 'std'] as const) {
    const values = split.preprocess?.[key];
    if (values && values.length !== 1 && values.length !== channels) {
      return `${field}.preprocess.${key} has ${values.length} values but the ${channels === 1 ? 'input has 1 channel' : `input has ${channels} channels`}; give one value, or one per channel`;
    }
  }
  return null;
}

/** The channel count of a sample: axis 0 of [C, …], 1 for flat samples. */
function sampleChannels(set: ArrayDataset): number {
  return set.sampleShape.length >= 2 ? set.sampleShape[0]! : 1;
}

/** (x − mean) / std per channel (axis 0 of a sample; one value applies to every channel), in place. */
function normalise(set: ArrayDataset, mean: number[] | undefined, std: number[] | undefined): void {
  if (!mean && !std) return;
  const channels = sampleChannels(set);
  const plane = set.sampleSize / channels;
  const at = (v: number[] | undefined, c: number, none: number) => (v ? v[v.length === 1 ? 0 : c]! : none);
  for (let i = 0; i < set.x.length; i++) {
    const c = Math.floor((i % set.sampleSize) / plane);
    set.x[i] = (set.x[i]! - at(mean, c, 0)) / at(std, c, 1);
  }
}

export interface LoadSplitOptions {
  /** The model the data feeds: `preprocess` must fit its input channels too. */
  model?: Model;
  /** The split's JSON path in the plan, for errors (default "dataset split"). */
  field?: string;
  /** The data set's name in logs and errors (default: the file's). */
  name?: string;
}

/**
 * Load a plan's data split (every kind the plan schema offers: idx, npy, npz, folder), with its `part`, `offset`, `limit`
 * and `preprocess` (x' = (x · scale − mean) / std per channel; scale defaults to 1/255 for byte data, 1 otherwise).
 *
 * @example await loadSplit({ kind: 'idx', paths: ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'], limit: 500 }, { name: 'evaluation' })
 * @throws DatasetFormatError naming the file when it is missing, unreadable or holds no samples of that kind;
 *   PreprocessError naming the field when mean / std fit neither the data's nor the model's channels
 */
export async function loadSplit(split: DataSplit, opts: LoadSplitOptions = {}): Promise<ArrayDataset> {
  const field = opts.field ?? 'dataset split';
  const name = opts.name;
  const pre = split.preprocess;
  const [first, second] = split.paths as [string, string | undefined];
  for (const p of split.paths)
    if (!existsSync(p)) throw new DatasetFormatError(`data path ${p} (a "${split.kind}" split) does not exist`, p);
  let set: ArrayDataset;
  if (split.kind === 'idx') set = loadIdxDataset(first, second!, pre?.scale);
  else if (split.kind === 'npy') set = loadNpyPair(first, second!, pre?.scale);
  else {
    let halves: SplitData | undefined;
    if (split.kind === 'npz') halves = loadNpz(first, pre?.scale);
    else {
      if (!statSync(first).isDirectory())
        throw new DatasetFormatError(`${first}: a "folder" split takes a folder of images per class`, first);
      halves = await loadImageFolders(first, pre?.scale);
      if (!halves)
        throw new DatasetFormatError(
          `${first}: no class folders with images (expected <class>/<image> or train/<class>/<image>)`,
          first,
        );
    }
    const part = split.part ?? 'train';
    const half = part === 'test' ? halves.test : halves.train;
    if (!half)
      throw new DatasetFormatError(`${first} has no test part (x_test/y_test, or a test/ or val/ folder)`, first);
    set = half;
  }
  if (split.offset !== undefined) {
    if (split.offset >= set.length)
      throw new DatasetFormatError(
        `offset ${split.offset} skips every sample of ${first} (it holds ${set.length})`,
        first,
      );
    set = set.slice(split.offset, set.length);
  }
  if (split.limit !== undefined) set = set.head(split.limit);
  const fault =
    preprocessFault(split, sampleChannels(set), field) ??
    (opts.model ? preprocessFault(split, modelChannels(opts.model), field) : null);
  if (fault) throw new PreprocessError(fault, field);
  normalise(set, pre?.mean, pre?.std);
  return name === undefined ? set : new ArrayDataset(set.x, set.sampleShape, set.y, set.targetShape, name);
}

/**
 * Read samples from one file or folder (calibration / evaluation data): IDX image files (MNIST format, labels
 * found beside them), `.npy` arrays (labels from a sibling `<name>_labels.npy` / `labels.npy` / `y.npy`), and whatever
 * `loadDataset` reads (`.npz` archives, IDX folders, image folders). Byte images are scaled by
 * 1/255 and get a channel axis when they are [N, H, W]. The set is named by its path.
 *
 * @example await loadSamples('resources/mnist/train-images-idx3-ubyte.gz', { limit: 500 }) // { sampleShape: [1, 28, 28], length: 500, y: labels }
 * @throws CalibrationDataError when the file is missing, unreadable or not an array of samples
 */
export async function loadSamples(path: string, opts: { limit?: number } = {}): Promise<ArrayDataset> {
  if (!existsSync(path)) throw new CalibrationDataError(`calibration data ${path} does not exist`, { file: path });
  try {
    const set =
      statSync(path).isDirectory() || path.endsWith('.npz')
        ? await fromDataset(path)
        : path.endsWith('.npy')
          ? fromNpy(path)
          : fromIdx(path);
    return opts.limit === undefined ? set : set.head(opts.limit);
  } catch (e) {
    if (e instanceof CalibrationDataError) throw e;
    throw new CalibrationDataError(`cannot read calibration data ${path}: ${(e as Error).message}`, { file: path });
  }
}

function toFloat(data: ArrayLike<number>, bytes: boolean): Float32Array {
  const x = new Float32Array(data.length);
  for (let i = 0; i < x.length; i++) x[i] = bytes ? data[i]! / 255 : data[i]!;
  return x;
}

function sampleShape(dims: number[], file: string): number[] {
  if (dims.length < 2)
    throw new CalibrationDataError(
      `${basename(file)} holds an array of shape [${dims}], not a batch of samples [N, …]`,
      { file },
    );
  return dims.length === 3 ? [1, dims[1]!, dims[2]!] : dims.slice(1);
}

function fromIdx(file: string): ArrayDataset {
  const im = readIdx(file);
  const shape = sampleShape(im.dims, file);
  const labelFile = [file.replace('images-idx3', 'labels-idx1'), file.replace('images', 'labels')].find(
    (f) => f !== file && existsSync(f),
  );
  const labels = labelFile ? BigInt64Array.from(Array.from(readIdx(labelFile).data, (v) => BigInt(v))) : undefined;
  return new ArrayDataset(toFloat(im.data, im.data instanceof Uint8Array), shape, labels ?? null, [], file);
}

function fromNpy(file: string): ArrayDataset {
  const arr = readNpy(
    new Uint8Array(readInputFile(file, { what: 'calibration data', maxBytes: READ_LIMITS.data })),
    basename(file),
  );
  if (arr.data instanceof BigInt64Array)
    throw new CalibrationDataError(`${basename(file)} holds int64 values, not samples`, { file });
  const shape = sampleShape(arr.dims, file);
  const stem = file.replace(/\.npy$/, '');
  const labelFile = [
    `${stem}_labels.npy`,
    `${stem}.labels.npy`,
    join(dirname(file), 'labels.npy'),
    join(dirname(file), 'y.npy'),
  ].find(existsSync);
  let labels: BigInt64Array | undefined;
  if (labelFile) {
    const y = readNpy(
      new Uint8Array(readInputFile(labelFile, { what: 'labels file', maxBytes: READ_LIMITS.data })),
      basename(labelFile),
    );
    labels = BigInt64Array.from(Array.from(y.data as ArrayLike<number | bigint>, (v) => BigInt(Math.round(Number(v)))));
  }
  return new ArrayDataset(
    toFloat(arr.data as ArrayLike<number>, arr.data instanceof Uint8Array),
    shape,
    labels ?? null,
    [],
    file,
  );
}

async function fromDataset(path: string): Promise<ArrayDataset> {
  const d = (await loadDataset(path)).train;
  return new ArrayDataset(d.x, d.sampleShape, d.labelled ? d.y : null, [], path);
}
