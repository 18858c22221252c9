/**
 * @file Gradient checking through ORT: analytic gradients from the emitted step graph against central finite
 * differences of the same training-mode forward. Helpers turn a float32 model into float64 and lower the ops
 * ORT has no float64 kernel for (Conv → Pad + strided Slice + Einsum, GlobalAveragePool → ReduceMean).
 * Node layer: imports ORT.
 */
import type * as ort from 'onnxruntime-node';
import { cloneModel, Tensor, type Model, type Node, type Value } from '../../core/ir/index.ts';
import { attr, buildTrainingStep, Emitter, type TrainingStepSpec } from '../../core/autodiff/index.ts';
import { Rng } from '../../core/util/random.ts';
import { createSession, ortTensor, toOrt, traceModel } from './ort.ts';

/** A copy of `model` computing in float64: float32 initializers, inputs, Casts and constants converted. */
export function toFloat64(model: Model): Model {
  const m = cloneModel(model);
  const g = m.graph;
  for (const v of g.initializers) {
    const t = v.initializer!;
    if (t.dtype === 'float32' && t.data)
      g.setInitializer(v, new Tensor('float64', [...t.dims], Float64Array.from(t.data as Float32Array)));
  }
  for (const v of g.values()) {
    if (v.type?.kind === 'tensor' && v.type.dtype === 'float32') v.type = { ...v.type, dtype: 'float64' };
  }
  for (const n of g.nodes) {
    if (n.opType === 'Cast' && n.attrInt('to', 0) === 1) n.setAttr('to', attr.int(11));
    for (const [k, a] of n.attributes) {
      if (a.type === 'tensor' && a.value.dtype === 'float32' && a.value.data) {
        n.setAttr(
          k,
          attr.tensor(new Tensor('float64', [...a.value.dims], Float64Array.from(a.value.data as Float32Array))),
        );
      }
    }
  }
  return m;
}

/** Output size of one conv axis. */
function convOut(n: number, k: number, s: number, d: number, p: number): number {
  return Math.floor((n + p - d * (k - 1) - 1) / s) + 1;
}

// Conv(x, W, b) = Σ_offsets x_pad[::s] · W[:, :, offset]: one Einsum over the stacked offsets and groups.
function lowerConv(e: Emitter, n: Node): Value {
  const x = n.inputs[0]!;
  const w = n.inputs[1]!;
  const [N, , H, W] = e.shape(x) as [number, number, number, number];
  const [M, Cg, kh, kw] = e.shape(w) as [number, number, number, number];
  const s = n.attrInts('strides') ?? [1, 1];
  const d = n.attrInts('dilations') ?? [1, 1];
  const p = n.attrInts('pads') ?? [0, 0, 0, 0];
  const gr = n.attrInt('group', 1);
  const Ho = convOut(H, kh, s[0]!, d[0]!, p[0]! + p[2]!);
  const Wo = convOut(W, kw, s[1]!, d[1]!, p[1]! + p[3]!);
  const xp = e.pad(x, [0, 0, p[0]!, p[1]!], [0, 0, p[2]!, p[3]!]);
  const cols: Value[] = [];
  for (let i = 0; i < kh; i++) {
    for (let j = 0; j < kw; j++) {
      const sl = e.slice(
        xp,
        [i * d[0]!, j * d[1]!],
        [i * d[0]! + (Ho - 1) * s[0]! + 1, j * d[1]! + (Wo - 1) * s[1]! + 1],
        [2, 3],
        s,
      );
      cols.push(e.reshape(sl, [N, gr, Cg, 1, Ho, Wo]));
    }
  }
  const stacked = e.concat(cols, 3);
  const wr = e.reshape(w, [gr, M / gr, Cg, kh * kw]);
  const y = e.op('Einsum', [stacked, wr], { equation: attr.string('ngckhw,gmck->ngmhw') }, [N, gr, M / gr, Ho, Wo]);
  const yr = e.reshape(y, [N, M, Ho, Wo]);
  const b = n.inputs[2];
  return b ? e.add(yr, e.reshape(b, [1, M, 1, 1])) : yr;
}

/** Replace Conv (2-D) and GlobalAveragePool by ops ORT runs in float64. Shapes come from `shapes`. */
export function lowerForFloat64(model: Model, shapes: ReadonlyMap<string, readonly number[]>): Model {
  const m = cloneModel(model);
  const g = m.graph;
  const e = new Emitter(g, m.opset, 'lower');
  for (const v of g.values()) {
    const s = shapes.get(v.name);
    if (s) e.shapes.set(v, [...s]);
    e.dtypes.set(v, 'float64');
  }
  for (const n of [...g.nodes]) {
    let out: Value | null = null;
    if (n.opType === 'Conv') out = lowerConv(e, n);
    else if (n.opType === 'GlobalAveragePool')
      out = e.reduce(
        'ReduceMean',
        n.inputs[0]!,
        e
          .shape(n.inputs[0]!)
          .slice(2)
          .map((_, i) => i + 2),
        true,
      );
    if (!out) continue;
    const y = n.outputs[0]!;
    const name = y.name;
    y.replaceAllUsesWith(out);
    g.removeNode(n, true);
    g.renameValue(out, name);
  }
  g.sortTopologically();
  return m;
}

export interface GradCheckOptions {
  /** Forward model; the tensors in `wrt` are its initializers. */
  model: Model;
  /** Model used for the finite differences (e.g. its float64 lowering); default `model`. */
  fdModel?: Model;
  feeds?: Record<string, Tensor>;
  wrt: string[];
  /** Step size of the central differences (default 1e-6). */
  h?: number;
  /** Entries checked per tensor (default 40; all when smaller). */
  samples?: number;
  seed?: number;
  spec?: Partial<TrainingStepSpec>;
}

export interface GradCheckResult {
  tensor: string;
  /** max |analytic − fd| over the checked entries. */
  maxAbs: number;
  /** maxAbs / max |fd|. */
  rel: number;
  checked: number;
}

/** The objective Σ y·R (R fixed, seeded): every output entry gets a distinct weight. */
function objective(seed: number) {
  return {
    type: 'custom' as const,
    build: (c: import('../../core/autodiff/index.ts').LossContext) => {
      const y = c.output();
      const shape = c.e.shape(y);
      const rng = new Rng(seed);
      const n = shape.reduce((a, b) => a * b, 1);
      const dt = c.e.dtype(y);
      const data = dt === 'float64' ? new Float64Array(n) : new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = rng.uniform() * 2 - 1;
      return c.e.reduceSum(c.e.mul(y, c.e.constant(new Tensor(dt, shape, data), 'objective')), [], false);
    },
  };
}

/** ORT feeds for the model's own graph inputs, or for every entry when `all`. */
function feedsOf(m: Model, base: Record<string, Tensor>, all = false): Record<string, ort.Tensor> {
  const f: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(base)) if (all || m.graph.inputs.some((v) => v.name === k)) f[k] = toOrt(t);
  return f;
}

/** Compare the analytic gradients of `wrt` with central finite differences. */
export async function gradCheck(o: GradCheckOptions): Promise<GradCheckResult[]> {
  const seed = o.seed ?? 1;
  const feeds = o.feeds ?? {};
  const trace = await traceModel(o.model, feedsOf(o.model, feeds));
  const spec: TrainingStepSpec = {
    shapes: trace.shapes,
    dtypes: trace.dtypes,
    intValues: trace.intValues,
    trainable: o.wrt,
    loss: objective(seed),
    optimizer: { type: 'sgd' },
    observe: o.wrt.map((name) => ({ name, kind: 'grad' as const })),
    ...o.spec,
  };
  const step = buildTrainingStep(o.model, spec);
  const fdSource = o.fdModel ?? o.model;
  const fdTrace = o.fdModel ? await traceModel(o.fdModel, feedsOf(o.fdModel, toDtypeFeeds(feeds, o.fdModel))) : trace;
  const fd = buildTrainingStep(fdSource, {
    ...spec,
    shapes: fdTrace.shapes,
    dtypes: fdTrace.dtypes,
    forwardOnly: true,
    observe: [],
  });
  const init = (m: Model, name: string) => m.graph.get(name)!.initializer!;
  const stepFeeds: Record<string, ort.Tensor> = feedsOf(o.model, feeds, true);
  for (const p of step.signature.params) stepFeeds[p.name] = toOrt(init(o.model, p.name));
  for (const s of step.signature.state)
    stepFeeds[s.name] =
      s.init === 'zeros'
        ? ortTensor(s.dtype, new Float64Array(s.shape.reduce((a, b) => a * b, 1)) as never, s.shape)
        : toOrt(init(o.model, s.name));
  const pdt = step.signature.params[0]!.dtype;
  for (const k of [...Object.values(step.signature.lr), step.signature.step])
    stepFeeds[k] = ortTensor(pdt, pdt === 'float64' ? new Float64Array([0]) : new Float32Array([0]), []);
  const noise = new Map<string, Tensor>();
  const nrng = new Rng(seed + 3);
  for (const nz of step.signature.noise) {
    const t = new Tensor(
      nz.dtype,
      nz.shape,
      nz.dtype === 'float64'
        ? new Float64Array(nz.shape.reduce((a, b) => a * b, 1))
        : new Float32Array(nz.shape.reduce((a, b) => a * b, 1)),
    );
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = nrng.uniform();
    noise.set(nz.name, t);
    stepFeeds[nz.name] = toOrt(t);
  }
  const s1 = await createSession(step.model);
  const analytic = await s1.run(stepFeeds);
  await s1.release();

  const fdFeeds: Record<string, ort.Tensor> = feedsOf(fdSource, toDtypeFeeds(feeds, fdSource), true);
  const fdParams = new Map<string, Float64Array | Float32Array>();
  for (const p of fd.signature.params) {
    const t = init(fdSource, p.name);
    const copy = (t.data as Float64Array | Float32Array).slice();
    fdParams.set(p.name, copy);
    fdFeeds[p.name] = ortTensor(t.dtype, copy, t.dims);
  }
  for (const s of fd.signature.state) fdFeeds[s.name] = toOrt(init(fdSource, s.name));
  for (const nz of fd.signature.noise)
    fdFeeds[nz.name] = toOrt(toDtypeFeeds({ t: noise.get(nz.name)! }, fdSource, nz.dtype).t!);
  const s2 = await createSession(fd.model);
  const lossAt = async () => Number((await s2.run(fdFeeds))[fd.signature.loss]!.data[0]);
  const h = o.h ?? 1e-6;
  const rng = new Rng(seed + 7);
  const results: GradCheckResult[] = [];
  for (const ob of step.signature.observed) {
    const a = analytic[ob.output]!.data as Float32Array | Float64Array;
    const p = fdParams.get(ob.name)!;
    const n = p.length;
    const want = Math.min(n, o.samples ?? 40);
    const idx = want === n ? Array.from({ length: n }, (_, i) => i) : Array.from({ length: want }, () => rng.int(0, n));
    let maxAbs = 0;
    let maxRef = 0;
    for (const i of idx) {
      const keep = p[i]!;
      p[i] = keep + h;
      const up = await lossAt();
      p[i] = keep - h;
      const down = await lossAt();
      p[i] = keep;
      const num = (up - down) / (2 * h);
      maxAbs = Math.max(maxAbs, Math.abs(num - a[i]!));
      maxRef = Math.max(maxRef, Math.abs(num));
    }
    results.push({ tensor: ob.name, maxAbs, rel: maxAbs / Math.max(maxRef, 1e-30), checked: idx.length });
  }
  await s2.release();
  return results;
}

/** Convert float feeds to the dtype the model's matching inputs declare. */
function toDtypeFeeds(feeds: Record<string, Tensor>, m: Model, dtype?: string): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) {
    const want = dtype ?? m.graph.get(k)?.dtype;
    out[k] =
      want === 'float64' && t.dtype === 'float32'
        ? new Tensor('float64', [...t.dims], Float64Array.from(t.data as Float32Array))
        : t;
  }
  return out;
}
