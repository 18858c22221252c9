/**
 * @file Running models in ONNX Runtime: IR Tensor ⇄ ort.Tensor conversion, a reusable `ModelRunner`
 * holding one session for many runs, and the one-shot `runModel`. May import core and onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
import { Tensor, type DataType, type Model } from '../../core/ir/index.ts';
import { ortMessage, RunError, UnsupportedDTypeError } from './errors.ts';
import { withSessionSource } from './model-source.ts';
import { checkInputs, inputSpecs, type InputSpec } from './inputs.ts';
import {
  createSession,
  type Fallback,
  type ProviderName,
  type SessionHandle,
  type SessionOptions,
} from './providers.ts';

/** ORT's name for each IR dtype; null where onnxruntime-node has no tensor type for it. */
const ORT_TYPE: Record<DataType, ort.Tensor.Type | null> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  bfloat16: null,
  int8: 'int8',
  uint8: 'uint8',
  int16: 'int16',
  uint16: 'uint16',
  int32: 'int32',
  uint32: 'uint32',
  int64: 'int64',
  uint64: 'uint64',
  int4: 'int4',
  uint4: 'uint4',
  bool: 'bool',
  string: 'string',
};

const IR_TYPE = new Map<string, DataType>(
  Object.entries(ORT_TYPE)
    .filter(([, o]) => o !== null)
    .map(([ir, o]) => [o as string, ir as DataType]),
);

/**
 * An ort.Tensor sharing the IR tensor's storage (float16 as raw bits, bool as bytes, int64 as BigInt64Array).
 * @example toOrtTensor(Tensor.float32([2], [1, 2])) // ort.Tensor<float32>[2]
 */
export function toOrtTensor(t: Tensor, what = 'tensor'): ort.Tensor {
  const type = ORT_TYPE[t.dtype];
  if (!type) throw new UnsupportedDTypeError(t.dtype, what);
  const data = t.require(what);
  return new ort.Tensor(type, data as ort.Tensor.DataTypeMap[typeof type], [...t.dims]);
}

/** An IR tensor sharing the ort.Tensor's storage (ORT's outputs own fresh buffers). */
export function fromOrtTensor(t: ort.Tensor, what = 'output'): Tensor {
  const dtype = IR_TYPE.get(t.type);
  if (!dtype) throw new UnsupportedDTypeError(t.type, what);
  const data = t.data;
  return new Tensor(dtype, [...t.dims], Array.isArray(data) ? [...data] : (data as Exclude<typeof data, string[]>));
}

/** Input specs as ORT reports them (symbolic dims by name, unnamed free dims as null). */
export function sessionInputSpecs(session: ort.InferenceSession): InputSpec[] {
  return session.inputMetadata.map((m) => {
    if (!m.isTensor) return { name: m.name, dtype: undefined, shape: undefined };
    return {
      name: m.name,
      dtype: IR_TYPE.get(m.type),
      shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : typeof d === 'string' && d !== '' ? d : null)),
    };
  });
}

export interface RunOptions {
  /** Output names to fetch (default: all graph outputs). */
  outputs?: string[];
}

/**
 * One ORT session for many runs.
 * @example
 * const runner = await ModelRunner.create(model, { threads: 1 });
 * const { output } = await runner.run({ input: Tensor.float32([1, 4], [1, 2, 3, 4]) });
 * await runner.release();
 */
export class ModelRunner {
  private constructor(
    private readonly handle: SessionHandle,
    /** What the model declares for its inputs (from the IR when given one, else from ORT). */
    readonly inputs: InputSpec[],
  ) {}

  static async create(model: Model | Uint8Array | string, opts: SessionOptions = {}): Promise<ModelRunner> {
    const handle = await withSessionSource(model, (source) => createSession(source, opts));
    const specs =
      typeof model === 'string' || model instanceof Uint8Array ? sessionInputSpecs(handle.session) : inputSpecs(model);
    return new ModelRunner(handle, specs);
  }

  get session(): ort.InferenceSession {
    return this.handle.session;
  }

  /** The provider the session runs on. */
  get ep(): ProviderName {
    return this.handle.ep;
  }

  get fallback(): Fallback | undefined {
    return this.handle.fallback;
  }

  get createMs(): number {
    return this.handle.createMs;
  }

  get inputNames(): readonly string[] {
    return this.handle.session.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.handle.session.outputNames;
  }

  /** Check feeds against the inputs and convert them once (for repeated runs, e.g. benchmarks). */
  prepare(feeds: Record<string, Tensor>): Record<string, ort.Tensor> {
    checkInputs(this.inputs, feeds, { requireAll: true });
    return Object.fromEntries(Object.entries(feeds).map(([k, t]) => [k, toOrtTensor(t, `input "${k}"`)]));
  }

  /** Run on prepared feeds and return ORT's tensors. */
  async runPrepared(
    feeds: Record<string, ort.Tensor>,
    outputs?: readonly string[],
  ): Promise<ort.InferenceSession.ReturnType> {
    if (outputs) {
      const unknown = outputs.filter((o) => !this.outputNames.includes(o));
      if (unknown.length)
        throw new RunError(
          `no output named ${unknown.map((o) => `"${o}"`).join(', ')}; outputs: ${this.outputNames.join(', ')}`,
        );
    }
    try {
      return outputs ? await this.session.run(feeds, [...outputs]) : await this.session.run(feeds);
    } catch (e) {
      throw new RunError(ortMessage(e), { ep: this.ep });
    }
  }

  /** Run once; IR tensors by output name. */
  async run(feeds: Record<string, Tensor>, opts: RunOptions = {}): Promise<Record<string, Tensor>> {
    const result = await this.runPrepared(this.prepare(feeds), opts.outputs);
    return Object.fromEntries(Object.entries(result).map(([k, t]) => [k, fromOrtTensor(t, `output "${k}"`)]));
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

/**
 * Run a model once and release its session.
 * @example const { y } = await runModel(model, { x: Tensor.float32([2], [-1, 1]) }); // y: Tensor
 */
export async function runModel(
  model: Model | Uint8Array,
  feeds: Record<string, Tensor>,
  opts: SessionOptions & RunOptions = {},
): Promise<Record<string, Tensor>> {
  const runner = await ModelRunner.create(model, opts);
  try {
    return await runner.run(feeds, opts);
  } finally {
    await runner.release();
  }
}
