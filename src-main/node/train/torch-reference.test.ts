/**
 * @file Whole-model gradients of corpus graphs (resnet18 and mobilenet_v2 with BatchNorm in training mode,
 * the transformer encoder) against torch autograd in float64, from the small reference files
 * test/fixtures/grad/make_grad_refs.py writes. Weights come from the same counter-based hash on both sides.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { Tensor, type Model } from '../../core/ir/index.ts';
import { buildTrainingStep } from '../../core/autodiff/index.ts';
import { loadModelFile } from '../io/model-file.ts';
import { toOrt, traceModel } from './ort.ts';
import { StepRunner } from './step-runner.ts';

interface RefEntry {
  source: string;
  shape: number[];
  transpose: boolean;
  trainable: boolean;
  norm?: number;
  idx?: number[];
  ref?: number[];
}
interface Ref {
  corpus: string;
  input: { shape: number[]; labels: number[] };
  loss: number;
  initializers: Record<string, RefEntry>;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The generator of make_grad_refs.py: u_i = fmix32(fnv1a(name) + i·0x9E3779B1)/2³²·2 − 1, mapped by role. */
export function hashValues(name: string, shape: number[]): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const h = fnv1a(name);
  const out = new Float32Array(n);
  const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    let x = (h + Math.imul(i, 0x9e3779b1)) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    const u = ((x >>> 0) / 4294967296) * 2 - 1;
    out[i] = name.endsWith('running_var')
      ? 1 + 0.25 * u
      : name.endsWith('running_mean')
        ? 0.1 * u
        : shape.length >= 2
          ? u * Math.sqrt(6 / fanIn)
          : name.endsWith('weight')
            ? 1 + 0.2 * u
            : 0.1 * u;
  }
  return out;
}

function transpose2(a: Float32Array, [r, c]: number[]): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < r!; i++) for (let j = 0; j < c!; j++) out[j * r! + i] = a[i * c! + j]!;
  return out;
}

function materialize(ref: Ref): Model {
  const model = loadModelFile(`test/corpus/models/${ref.corpus}`, { allowWeightless: true });
  const g = model.graph;
  for (const v of g.initializers) {
    const t = v.initializer!;
    if (t.dtype !== 'float32') continue;
    const e = ref.initializers[v.name];
    if (!e) throw new Error(`no reference source for initializer ${v.name}`);
    const vals = hashValues(e.source, e.shape);
    g.setInitializer(v, new Tensor('float32', [...t.dims], e.transpose ? transpose2(vals, e.shape) : vals));
  }
  const input = g.inputs.find((v) => !v.initializer)!;
  if (input.type?.kind === 'tensor') input.type = { ...input.type, shape: [...ref.input.shape] };
  for (const o of g.outputs) if (o.type?.kind === 'tensor') o.type = { ...o.type, shape: undefined };
  return model;
}

describe.each(['resnet18', 'mobilenet_v2', 'transformer'])('%s: gradients equal torch autograd (float64)', (name) => {
  it('loss and every parameter gradient within 1e-3 (ORT float32)', async () => {
    const ref = JSON.parse(readFileSync(`test/fixtures/grad/${name}.json`, 'utf8')) as Ref;
    const model = materialize(ref);
    const x = new Tensor('float32', ref.input.shape, hashValues('input', ref.input.shape));
    const input = model.graph.inputs.find((v) => !v.initializer)!.name;
    const { shapes, dtypes, intValues } = await traceModel(model, { [input]: toOrt(x) }, { threads: 1 });
    const trainable = Object.entries(ref.initializers)
      .filter(([, e]) => e.trainable)
      .map(([k]) => k);
    const step = buildTrainingStep(model, {
      shapes,
      dtypes,
      intValues,
      trainable,
      loss: { type: 'cross_entropy' },
      optimizer: { type: 'sgd' },
      observe: trainable.map((n) => ({ name: n, kind: 'grad' as const })),
    });
    const runner = await StepRunner.create(step, (n) => model.graph.get(n)!.initializer!, { threads: 1 });
    const r = await runner.run(
      { [input]: toOrt(x), labels: toOrt(Tensor.int64([ref.input.labels.length], ref.input.labels)) },
      { main: 0 },
      1,
    );
    await runner.release();
    expect(Math.abs(r.loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
    let worst = 0;
    // tensors whose true gradient is 0 (a bias followed by BatchNorm) are compared on the model's scale
    const floor = 1e-3 * Math.max(...trainable.flatMap((n) => ref.initializers[n]!.ref!.map(Math.abs)));
    const normFloor = 1e-3 * Math.max(...trainable.map((n) => ref.initializers[n]!.norm!));
    for (const n of trainable) {
      const e = ref.initializers[n]!;
      const g = r.observed[`grad:${n}`]!.data as Float32Array;
      const norm = Math.sqrt(g.reduce((a, v) => a + v * v, 0));
      const scale = Math.max(...e.ref!.map(Math.abs), floor);
      const err = Math.max(...e.idx!.map((i, k) => Math.abs(g[i]! - e.ref![k]!))) / scale;
      const normErr = Math.abs(norm - e.norm!) / Math.max(e.norm!, normFloor);
      worst = Math.max(worst, err, normErr);
      expect(err, `${n}: sampled entries rel ${err}`).toBeLessThan(1e-3);
      expect(normErr, `${n}: norm rel ${normErr}`).toBeLessThan(1e-3);
    }
    console.log(
      `${name}: loss ${r.loss} (torch ${ref.loss}), worst rel error ${worst.toExponential(2)} over ${trainable.length} tensors`,
    );
  });
});
