/**
 * @file NNI's wrapper assertion for fusion compression (NNI-SEMANTICS §8) on a single Conv: a Movement pruner masking
 * the conv's input, weight, bias and output and a QAT quantizer fake-quantizing its input, weight and output,
 * chained with `fromCompressor` and trained in ONE run, leave a simulated model computing
 *   out = FQ_out(conv(FQ_in(x)·m_in, FQ_w(w)·m_w, b·m_b))·m_out
 * with the masks and quantization parameters the two compressors return — checked against that formula evaluated
 * independently in float64 from those masks and parameters — and, in the graph, the order per target: the weight's
 * fake quantization before its mask, the output's mask after its fake quantization.
 */
import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../../src-main/core/ir/index.ts';
import { attr } from '../../src-main/core/autodiff/index.ts';
import { MovementPruner } from '../../src-main/core/compress/pruning/training.ts';
import { QATQuantizer } from '../../src-main/core/compress/quantization/trained.ts';
import { DynamicLayerwiseDistiller } from '../../src-main/core/compress/distillation/index.ts';
import { paramKey, type TargetParams } from '../../src-main/core/compress/quantization/calibration.ts';
import { expandMask } from '../../src-main/core/compress/masks.ts';
import { Evaluator } from '../../src-main/node/train/evaluator.ts';
import { ArrayDataset } from '../../src-main/node/train/data.ts';
import { ModelRunner } from '../../src-main/node/runtime/index.ts';
import { Rng } from '../../src-main/core/util/random.ts';

const [B, C, K, H] = [8, 4, 6, 6];

function convModel(rng: Rng, relu = false): Model {
  const m = new Model();
  m.opsetImports.set('', 17);
  const g = m.graph;
  const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: ['batch', C, H, H] });
  const rand = (dims: number[], s: number) =>
    new Tensor(
      'float32',
      dims,
      Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => (rng.next() * 2 - 1) * s),
    );
  const w = g.addInitializer('w', rand([K, C, 3, 3], 0.4));
  const b = g.addInitializer('b', rand([K], 0.2));
  const conv = g.addNode({
    opType: 'Conv',
    name: 'conv',
    inputs: [x, w, b],
    outputs: ['y'],
    attributes: { pads: attr.ints([1, 1, 1, 1]) },
  });
  if (!relu) g.addOutput(conv.outputs[0]!);
  else g.addOutput(g.addNode({ opType: 'Relu', name: 'relu', inputs: [conv.outputs[0]!], outputs: ['z'] }).outputs[0]!);
  return m;
}

/** NNI's clamp_round fake quantization with one scale / zero point per channel along `axis` (or per tensor). */
function fq(data: Float64Array, dims: readonly number[], p: TargetParams, qmin: number, qmax: number): Float64Array {
  const inner = p.axis === null ? 1 : dims.slice(p.axis + 1).reduce((a, b) => a * b, 1);
  const channels = p.scale.length;
  return data.map((v, i) => {
    const c = channels === 1 ? 0 : Math.floor(i / inner) % channels;
    const s = p.scale[c]!;
    const z = p.zeroPoint[c]!;
    const u = Math.min(qmax, Math.max(qmin, v / s + z));
    const r = Math.abs(u - Math.trunc(u)) === 0.5 ? 2 * Math.round(u / 2) : Math.round(u);
    return (r - z) * s;
  });
}

function conv3x3(x: Float64Array, w: Float64Array, b: Float64Array, n: number): Float64Array {
  const y = new Float64Array(n * K * H * H);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < K; k++)
      for (let r = 0; r < H; r++)
        for (let c = 0; c < H; c++) {
          let acc = b[k]!;
          for (let ci = 0; ci < C; ci++)
            for (let dr = 0; dr < 3; dr++)
              for (let dc = 0; dc < 3; dc++) {
                const rr = r + dr - 1;
                const cc = c + dc - 1;
                if (rr < 0 || cc < 0 || rr >= H || cc >= H) continue;
                acc += x[((i * C + ci) * H + rr) * H + cc]! * w[((k * C + ci) * 3 + dr) * 3 + dc]!;
              }
          y[((i * K + k) * H + r) * H + c] = acc;
        }
  return y;
}

describe('fusion compression: NNI’s wrapper assertion on a single Conv', () => {
  it('out = FQ_out(conv(FQ_in(x)·m_in, FQ_w(w)·m_w, b·m_b))·m_out, in one training run', async () => {
    const rng = new Rng(5);
    const model = convModel(rng);
    const n = 64;
    const xs = Float32Array.from({ length: n * C * H * H }, () => rng.next() * 2 - 1);
    const ys = Float32Array.from({ length: n * K * H * H }, () => rng.next() - 0.5);
    const data = new ArrayDataset(xs, [C, H, H], ys, [K, H, H], 'random');
    const ev = new Evaluator(model, {
      train: data,
      loss: { type: 'mse' },
      optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9 },
      batchSize: B,
      epochs: 1,
      seed: 1,
      threads: 1,
    });
    const shapes = new Map([
      ['x', [B, C, H, H]],
      ['y', [B, K, H, H]],
    ]);
    const pruner = new MovementPruner(
      model,
      [
        {
          op_names: ['conv'],
          target_names: ['_input_', 'weight', 'bias', '_output_'],
          // m_w per (output, input) channel pair; m_b, m_in and m_out follow it along their channel axis (a channel
          // goes where all its pairs went): 21 of 24 pairs masked leave ≥ 1 input and ≥ 3 output channels masked
          sparse_ratio: 0.875,
          target_settings: {
            weight: { granularity: [1, 1, -1, -1] },
            _input_: { align: { module_name: 'conv', target_name: 'weight', dims: [1] } },
            _output_: { align: { module_name: 'conv', target_name: 'weight', dims: [0] } },
          },
        },
      ],
      ev,
      { warmupSteps: 1, cooldownBeginStep: 3, shapes },
    );
    const qat = QATQuantizer.fromCompressor(
      pruner,
      [
        {
          op_names: ['conv'],
          target_names: ['_input_', 'weight', '_output_'],
          quant_dtype: 'uint8',
          quant_scheme: 'affine',
          target_settings: { weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' } },
        },
      ],
      { fuse: 'none' as const, quantStartStep: 0 },
    );
    let runs = 0;
    const train = ev.train.bind(ev);
    ev.train = async (o) => (runs++, train(o));
    const q = await qat.compress({ maxSteps: 4 });
    expect(runs).toBe(1);
    const masks = pruner.result!.masks.get('conv')!;
    expect([...masks.keys()].sort()).toEqual(['_input_0', '_output_0', 'bias', 'weight']);

    // the simulated model as trained: masks, fake quantization and trained weights, evaluated in ORT
    const x = Float32Array.from({ length: B * C * H * H }, () => rng.next() * 2 - 1);
    const runner = await ModelRunner.create(q.simulated, { threads: 1 });
    const out = (await runner.run({ x: new Tensor('float32', [B, C, H, H], x) }))['y']!.toFloat32();
    await runner.release();

    // the formula, in float64, from the returned masks and parameters and the trained weights
    const p = (t: string) => q.params.get(paramKey('conv', t))!;
    const mask = (t: string, dims: number[]) => Float64Array.from(expandMask(masks.get(t)!, dims));
    const range = (t: string) => q.targets.find((u) => u.target === t)!.range;
    const f64 = (name: string) => Float64Array.from(q.trained.graph.get(name)!.initializer!.toFloat32());
    const mul = (a: Float64Array, m: Float64Array) => a.map((v, i) => v * m[i % m.length]!);
    const xDims = [B, C, H, H];
    const yDims = [B, K, H, H];
    const wDims = [K, C, 3, 3];
    const xIn = mul(
      fq(Float64Array.from(x), xDims, p('_input_0'), range('_input_0').qmin, range('_input_0').qmax),
      mask('_input_0', xDims),
    );
    const wIn = mul(
      fq(f64('w'), wDims, p('weight'), range('weight').qmin, range('weight').qmax),
      mask('weight', wDims),
    );
    const bIn = mul(f64('b'), mask('bias', [K]));
    const yRef = mul(
      fq(conv3x3(xIn, wIn, bIn, B), yDims, p('_output_0'), range('_output_0').qmin, range('_output_0').qmax),
      mask('_output_0', yDims),
    );

    // every mask and every fake quantization does something
    for (const t of ['_input_0', 'weight', 'bias', '_output_0']) {
      const m = masks.get(t)!.data;
      expect(m.some((v) => v === 0) && m.some((v) => v === 1)).toBe(true);
    }
    const sOut = p('_output_0').scale[0]!;
    // equal on the output grid: float32 vs float64 arithmetic may only move a value sitting on a rounding tie by one step
    let off = 0;
    for (let i = 0; i < yRef.length; i++) {
      const d = Math.abs(out[i]! - yRef[i]!);
      if (d <= 1e-5 * sOut) continue;
      expect(d).toBeCloseTo(sOut, 5);
      off++;
    }
    expect(off).toBeLessThanOrEqual(2);
    expect(out.some((v) => v !== 0)).toBe(true);

    // the order per target, in the graph: w → fake quant → mask → conv; conv → fake quant → mask → y
    const g = q.simulated.graph;
    const conv = g.node('conv')!;
    const wMask = conv.input(1)!.producer!;
    expect(wMask.name).toBe('conv/prune_mask');
    expect(wMask.input(0)!.producer!.name).toMatch(/^qat\/conv\/weight\//);
    const yMask = g.outputs[0]!.producer!;
    expect(yMask.name).toMatch(/^conv\/prune_mask/);
    expect(yMask.input(0)!.producer!.name).toMatch(/^qat\/conv\/_output_0\//);
  });

  it('a distiller chained after them records the output after its fake quantization and its mask', async () => {
    const rng = new Rng(7);
    const model = convModel(rng, true);
    const n = 32;
    const xs = Float32Array.from({ length: n * C * H * H }, () => rng.next() * 2 - 1);
    const ys = Float32Array.from({ length: n * K * H * H }, () => rng.next());
    const ev = new Evaluator(model, {
      train: new ArrayDataset(xs, [C, H, H], ys, [K, H, H], 'random'),
      loss: { type: 'mse' },
      optimizer: { type: 'sgd', lr: 0.01 },
      batchSize: B,
      epochs: 1,
      seed: 1,
      threads: 1,
    });
    const pruner = new MovementPruner(
      model,
      [
        {
          op_names: ['conv'],
          target_names: ['weight', '_output_'],
          sparse_ratio: 0.5,
          target_settings: { _output_: { align: { module_name: 'conv', target_name: 'weight', dims: [0] } } },
        },
      ],
      ev,
      { warmupSteps: 1, cooldownBeginStep: 2, shapes: new Map([['y', [B, K, H, H]]]) },
    );
    const qat = QATQuantizer.fromCompressor(
      pruner,
      [{ op_names: ['conv'], target_names: ['_output_'], quant_dtype: 'uint8', quant_scheme: 'affine' }],
      { fuse: 'none' as const },
    );
    const kd = DynamicLayerwiseDistiller.fromCompressor(qat, [{ op_names: ['conv'], lambda: 1 }], { teacher: model });
    const { links } = await kd.compress({ maxSteps: 2 });
    expect(links[0]!.studentValue).toBe('y'); // the conv's own output, when the distiller was built
    const g = ev.model.graph;
    const recorded = g.get(links[0]!.recorded!)!;
    expect(recorded.producer!.name).toMatch(/^conv\/prune_mask/); // the mask, last
    expect(recorded.producer!.input(0)!.producer!.name).toMatch(/^qat\/conv\/_output_0\//); // after fake quantization
    expect(g.node('relu')!.input(0)).toBe(recorded); // and that is what the rest of the network reads
  });
});
