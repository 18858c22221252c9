/**
 * @file Model inputs: their declared specs, checks of user-given feeds against them, and seeded sample
 * inputs generated from declared shapes (symbolic dims sized by overrides, by other feeds, or by default).
 * Imports core only (no ORT), so it is usable wherever specs come from.
 */
import { Tensor, numel, type DataType, type Dim, type Model, type TensorData } from '../../core/ir/index.ts';
import { floatToBf16, floatToHalf } from '../../core/util/half.ts';
import { Rng } from '../../core/util/random.ts';
import { DynamicDimsError, InputMismatchError, UnresolvedInputError } from './errors.ts';

/** What a model declares for one input. */
export interface InputSpec {
  name: string;
  dtype: DataType | undefined;
  /** Declared dims (numbers, symbols, null for unknown); undefined when the rank is not declared. */
  shape: Dim[] | undefined;
}

/** The inputs a caller must feed: graph inputs that are not initializers. */
export function inputSpecs(model: Model): InputSpec[] {
  return model.graph.inputs
    .filter((v) => !v.isInitializer)
    .map((v) => ({ name: v.name, dtype: v.dtype, shape: v.shape ? [...v.shape] : undefined }));
}

export interface SampleInputOptions {
  /** Feeds to use as given (checked against the specs); the rest are generated. */
  inputs?: Record<string, Tensor>;
  /** PRNG seed (default 0). Each input draws from its own stream, so adding an input changes no other. */
  seed?: number;
  /** Full shapes per input name (must agree with the declared rank and fixed dims). */
  shapes?: Record<string, number[]>;
  /** Sizes of symbolic dims by symbol, e.g. `{ batch: 4, seq: 128 }`. */
  dimSizes?: Record<string, number>;
  /** Size of an unresolved leading (batch-like) dim (default 1). */
  batchSize?: number;
  /** Size of any other unresolved dim (default 1). */
  defaultDim?: number;
  /** Range [lo, hi) of integer inputs (default [0, 10)); clamped to the dtype's range. */
  intRange?: [number, number];
  /** Per-input value range [lo, hi): integers in [lo, hi), floats uniform in [lo, hi). */
  ranges?: Record<string, [number, number]>;
  /** Floats uniform in [lo, hi) instead of the default standard normal. */
  floatRange?: [number, number];
}

/** `float32[N,3,224,224]` */
export function describeType(dtype: DataType | undefined, shape: readonly (Dim | undefined)[] | undefined): string {
  const dims = shape ? `[${shape.map((d) => (d === null || d === undefined ? '?' : d)).join(',')}]` : '[…]';
  return `${dtype ?? '?'}${dims}`;
}

/**
 * Check feeds against the specs: every feed names an input, has its dtype, rank and fixed dims, and uses
 * each symbolic dim with one size throughout. Returns the symbol sizes the feeds fix.
 * Throws InputMismatchError naming the input, what was expected and what was given.
 */
export function checkInputs(
  specs: readonly InputSpec[],
  feeds: Record<string, Tensor>,
  opts: { requireAll?: boolean; dimSizes?: Record<string, number> } = {},
): Map<string, number> {
  const bound = new Map(Object.entries(opts.dimSizes ?? {}));
  const byName = new Map(specs.map((s) => [s.name, s]));
  for (const [name, t] of Object.entries(feeds)) {
    const spec = byName.get(name);
    if (!spec)
      throw new InputMismatchError(
        name,
        `one of the model's inputs (${specs.map((s) => s.name).join(', ')})`,
        'a feed of that name',
      );
    checkOne(spec, t, bound);
  }
  if (opts.requireAll) {
    for (const s of specs)
      if (!(s.name in feeds))
        throw new InputMismatchError(s.name, `a feed of ${describeType(s.dtype, s.shape)}`, 'none');
  }
  return bound;
}

function checkOne(spec: InputSpec, t: Tensor, bound: Map<string, number>): void {
  const given = describeType(t.dtype, t.dims);
  const fail = () => {
    const expected = spec.shape?.map((d) => (typeof d === 'string' && bound.has(d) ? `${d}=${bound.get(d)}` : d));
    throw new InputMismatchError(spec.name, describeType(spec.dtype, expected), given);
  };
  if (spec.dtype && spec.dtype !== t.dtype) fail();
  if (!spec.shape) return;
  if (spec.shape.length !== t.dims.length) fail();
  const local = new Map<string, number>();
  spec.shape.forEach((d, i) => {
    const n = t.dims[i]!;
    if (typeof d === 'number' && d >= 0 && d !== n) fail();
    if (typeof d === 'string') {
      const want = bound.get(d) ?? local.get(d);
      if (want !== undefined && want !== n) fail();
      local.set(d, n);
    }
  });
  for (const [k, v] of local) bound.set(k, v);
}

/**
 * Feeds for every input: the given ones (checked), the others generated from their declared dtype and
 * shape with a seeded PRNG.
 * @example
 * sampleInputs(model, { seed: 1, dimSizes: { batch: 2 } }) // { input: float32[2,3,224,224] ~ N(0,1) }
 */
export function sampleInputs(
  source: Model | readonly InputSpec[],
  opts: SampleInputOptions = {},
): Record<string, Tensor> {
  const specs = Array.isArray(source) ? (source as readonly InputSpec[]) : inputSpecs(source as Model);
  const given = opts.inputs ?? {};
  const bound = checkInputs(specs, given, { dimSizes: opts.dimSizes });
  const root = new Rng(opts.seed ?? 0);
  const out: Record<string, Tensor> = {};
  for (const spec of specs) {
    if (given[spec.name]) {
      out[spec.name] = given[spec.name]!;
      continue;
    }
    const dims = resolveShape(spec, opts, bound);
    out[spec.name] = randomTensor(spec, dims, root.fork(spec.name), opts);
  }
  return out;
}

/** Concrete dims of one input: override, else declared dims with symbols sized by `bound`, `dimSizes` or defaults. */
export function resolveShape(spec: InputSpec, opts: SampleInputOptions, bound = new Map<string, number>()): number[] {
  const override = opts.shapes?.[spec.name];
  if (override) {
    checkOne(spec, fakeTensor(spec, override), bound);
    return [...override];
  }
  if (!spec.shape) throw new UnresolvedInputError(spec.name, 'its rank is not declared; give its shape in `shapes`');
  return spec.shape.map((d, i) => {
    if (typeof d === 'number' && d >= 0) return d;
    const fallback = i === 0 ? (opts.batchSize ?? 1) : (opts.defaultDim ?? 1);
    if (typeof d !== 'string' || d === '') return fallback;
    const n = bound.get(d) ?? fallback;
    bound.set(d, n);
    return n;
  });
}

/**
 * Concrete shapes of every input for tracing: `given` shapes (checked against the declared ones), else the
 * declared dims with a dynamic leading dim sized 1 (a batch). Any other dynamic dim cannot be inferred and is
 * refused by name, since sizing it 1 silently would trace a model at a size it was never meant to run at.
 * @example resolveInputShapes(model, { x: [1, 3, 640, 640] }) // { x: [1, 3, 640, 640] }
 * @throws DynamicDimsError naming each unresolved input, dim and axis; InputMismatchError for a bad `given`
 */
export function resolveInputShapes(model: Model, given: Record<string, number[]> = {}): Record<string, number[]> {
  const specs = inputSpecs(model);
  for (const name of Object.keys(given)) {
    if (!specs.some((s) => s.name === name))
      throw new InputMismatchError(
        name,
        `one of the model's inputs (${specs.map((s) => s.name).join(', ')})`,
        'a shape for an unknown input',
      );
  }
  const out: Record<string, number[]> = {};
  const unresolved: ConstructorParameters<typeof DynamicDimsError>[0] = [];
  const bound = new Map<string, number>();
  for (const spec of specs) {
    if (given[spec.name]) {
      out[spec.name] = resolveShape(spec, { shapes: given }, bound);
      continue;
    }
    if (!spec.shape) throw new UnresolvedInputError(spec.name, 'its rank is not declared; give its shape with --shape');
    const dims = spec.shape
      .map((d, axis) => ({ d, axis }))
      .filter(({ d, axis }) => axis > 0 && !(typeof d === 'number' && d >= 0));
    const open = dims.filter(({ d }) => !(typeof d === 'string' && bound.has(d)));
    if (open.length > 0) {
      unresolved.push({
        input: spec.name,
        declared: spec.shape,
        dims: open.map(({ d, axis }) => ({ axis, name: typeof d === 'string' && d ? `"${d}"` : '?' })),
      });
      continue;
    }
    out[spec.name] = resolveShape(spec, {}, bound);
  }
  if (unresolved.length > 0) throw new DynamicDimsError(unresolved);
  return out;
}

/** A data-less tensor with the spec's dtype and the given dims, for checking an override like a feed. */
function fakeTensor(spec: InputSpec, dims: number[]): Tensor {
  return new Tensor(spec.dtype ?? 'float32', dims, null);
}

const INT_LIMITS: Partial<Record<DataType, [number, number]>> = {
  int8: [-128, 128],
  uint8: [0, 256],
  int16: [-32768, 32768],
  uint16: [0, 65536],
  int32: [-(2 ** 31), 2 ** 31],
  uint32: [0, 2 ** 32],
  int64: [-(2 ** 53), 2 ** 53],
  uint64: [0, 2 ** 53],
  int4: [-8, 8],
  uint4: [0, 16],
  bool: [0, 2],
};

type Draw = () => number;

/** Fill a typed array of `dtype` with `n` draws. */
const FILL: Record<Exclude<DataType, 'string'>, (n: number, draw: Draw) => TensorData> = {
  float32: (n, d) => Float32Array.from({ length: n }, d),
  float64: (n, d) => Float64Array.from({ length: n }, d),
  float16: (n, d) => Uint16Array.from({ length: n }, () => floatToHalf(d())),
  bfloat16: (n, d) => Uint16Array.from({ length: n }, () => floatToBf16(d())),
  int8: (n, d) => Int8Array.from({ length: n }, d),
  uint8: (n, d) => Uint8Array.from({ length: n }, d),
  int16: (n, d) => Int16Array.from({ length: n }, d),
  uint16: (n, d) => Uint16Array.from({ length: n }, d),
  int32: (n, d) => Int32Array.from({ length: n }, d),
  uint32: (n, d) => Uint32Array.from({ length: n }, d),
  int64: (n, d) => BigInt64Array.from({ length: n }, () => BigInt(d())),
  uint64: (n, d) => BigUint64Array.from({ length: n }, () => BigInt(d())),
  bool: (n, d) => Uint8Array.from({ length: n }, d),
  // two 4-bit values per byte, element 2k in the low nibble
  int4: (n, d) => packNibbles(n, d),
  uint4: (n, d) => packNibbles(n, d),
};

function packNibbles(n: number, draw: Draw): Uint8Array {
  const out = new Uint8Array(Math.ceil(n / 2));
  for (let i = 0; i < n; i++) out[i >> 1]! |= (draw() & 0xf) << ((i & 1) * 4);
  return out;
}

function randomTensor(spec: InputSpec, dims: number[], rng: Rng, opts: SampleInputOptions): Tensor {
  const dtype = spec.dtype;
  if (!dtype) throw new UnresolvedInputError(spec.name, 'its element type is not declared');
  if (dtype === 'string') throw new UnresolvedInputError(spec.name, 'string inputs have no generator; give the feed');
  const range = opts.ranges?.[spec.name];
  let draw: Draw;
  if (dtype === 'bool') draw = () => rng.int(0, 2);
  else if (INT_LIMITS[dtype]) {
    const [lo, hi] = range ?? opts.intRange ?? [0, 10];
    const [tlo, thi] = INT_LIMITS[dtype]!;
    const a = Math.max(Math.ceil(lo), tlo);
    const b = Math.min(Math.ceil(hi), thi);
    if (b <= a) throw new UnresolvedInputError(spec.name, `integer range [${lo}, ${hi}) is empty for ${dtype}`);
    draw = () => rng.int(a, b);
  } else {
    const r = range ?? opts.floatRange;
    draw = r ? () => rng.uniform(r[0], r[1]) : () => rng.normal();
  }
  return new Tensor(dtype, dims, FILL[dtype](numel(dims), draw));
}
