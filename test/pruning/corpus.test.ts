/**
 * @file Pruning real architectures from the corpus: the simulated models run in onnxruntime, masked weights are
 * exactly zero where the masks say so (and untouched elsewhere), plans replay on a fresh load, FPGM on ResNet-50.
 */
import { describe, expect, it } from 'vitest';
import {
  FPGMPruner,
  L1NormPruner,
  LevelPruner,
  PruningPlanError,
  applyPlan,
  expandMask,
  planFromJson,
  planToJson,
  simulate,
  type Model,
  type PruneResult,
} from '../../src-main/index.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';
import { randomInput, runOrt } from './helpers.ts';

/** Every masked parameter of `sim` is 0 where its mask is 0 and the original value where it is 1. */
function expectExactMasking(model: Model, sim: Model, result: PruneResult): number {
  let checked = 0;
  for (const t of result.plan.targets) {
    if (t.kind !== 'parameter') continue;
    const before = model.graph.node(t.node)!;
    const after = sim.graph.node(t.node)!;
    const index = before.inputs.findIndex((v) => v?.name === t.value);
    const orig = before.input(index)!.initializer!.toFloat32();
    const masked = after.input(index)!.initializer!.toFloat32();
    const full = expandMask(
      result.masks.get(t.node)!.get(t.target)!,
      before.input(index)!.initializer!.dims as number[],
    );
    for (let i = 0; i < full.length; i++) {
      if (full[i] ? masked[i] !== orig[i] : masked[i] !== 0)
        throw new Error(`${t.node}.${t.target}[${i}]: ${masked[i]} (mask ${full[i]}, was ${orig[i]})`);
    }
    checked++;
  }
  return checked;
}

/** Index of the first differing element (bitwise, so -0 ≠ 0 and NaN = NaN), or -1 when equal. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return 0;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

async function runs(sim: Model, shape: number[]): Promise<Float32Array> {
  const out = await runOrt(sim, { input: randomInput(shape) });
  const y = out[sim.graph.outputs[0]!.name]!;
  expect([...y].every(Number.isFinite)).toBe(true);
  return y;
}

describe('corpus models', () => {
  it('resnet18: L1 on every Conv and the classifier, simulated model runs', async () => {
    const model = loadCorpusModel('resnet18_op17_b1', 0);
    const pruner = new L1NormPruner(model, [{ op_types: ['Conv', 'Gemm'], sparse_ratio: 0.5 }], undefined, {
      modelName: 'resnet18',
    });
    const result = await pruner.compress();
    expect(result.plan.targets.length).toBe(42);
    expect(result.plan.targets.every((t) => t.sparsity === 0.5)).toBe(true);
    const sim = simulate(model, result.masks, { applyMethods: result.applyMethods });
    expect(expectExactMasking(model, sim, result)).toBe(42);
    const y = await runs(sim, [1, 3, 224, 224]);
    expect(y.length).toBe(1000);
  });

  it('mobilenet_v2 (BatchNorm kept): FPGM on convs, BN weights / biases by ratio and alignment, runs', async () => {
    const model = loadCorpusModel('mobilenet_v2_bn_op17_b1', 0);
    const list = [
      { op_types: ['Conv'], sparse_ratio: 0.25 },
      { op_types: ['BatchNormalization'], sparse_ratio: 0.25 },
    ];
    const result = await new FPGMPruner(model, list).compress();
    expect(result.plan.targets.filter((t) => t.opType === 'Conv').length).toBe(52);
    expect(result.plan.targets.filter((t) => t.opType === 'BatchNormalization').length).toBe(104);
    const sim = simulate(model, result.masks, { applyMethods: result.applyMethods });
    expect(expectExactMasking(model, sim, result)).toBe(156);
    await runs(sim, [1, 3, 224, 224]);
  });

  it('transformer: Level on the constant MatMuls, Gemms and LayerNorms; attention MatMuls skipped with warnings; runs', async () => {
    const model = loadCorpusModel('transformer_op17_b1', 0);
    const pruner = new LevelPruner(model, [{ op_types: ['MatMul', 'Gemm', 'LayerNormalization'], sparse_ratio: 0.6 }]);
    const skipped = pruner.diagnostics.filter((d) => d.code === 'not-an-initializer').map((d) => d.node);
    expect(skipped).toEqual([
      '/encoder/layers.0/self_attn/MatMul_1',
      '/encoder/layers.0/self_attn/MatMul_2',
      '/encoder/layers.1/self_attn/MatMul_1',
      '/encoder/layers.1/self_attn/MatMul_2',
    ]);
    const result = await pruner.compress();
    const weights = result.plan.targets.filter((t) => t.target === 'weight');
    expect(weights.length).toBe(6 + 3 + 4);
    for (const t of weights)
      expect(t.sparsity).toBeCloseTo(
        Math.floor(t.shape.reduce<number>((a, b) => a * (b as number), 1) * 0.6) /
          t.shape.reduce<number>((a, b) => a * (b as number), 1),
        12,
      );
    const sim = simulate(model, result.masks, { applyMethods: result.applyMethods });
    expectExactMasking(model, sim, result);
    const y = await runs(sim, [1, 16, 64]);
    expect(y.length).toBe(10);
  });
});

describe('pruning plans', () => {
  it('a plan made on one load replays on a second load to identical simulated weights', async () => {
    const first = loadCorpusModel('resnet18_op17_b1', 0);
    const list = [
      { op_names_re: ['/layer[12]'], op_types: ['Conv'], sparse_ratio: 0.5, global_group_id: 'early' },
      { op_types: ['Conv'], sparse_ratio: 0.3 },
    ];
    const result = await new L1NormPruner(first, list, undefined, { modelName: 'resnet18' }).compress();
    const expected = simulate(first, result.masks, { applyMethods: result.applyMethods });
    const text = planToJson(result.plan);
    const plan = planFromJson(text);
    expect(plan.configList).toEqual(list);
    expect(plan.pruner).toBe('l1');

    const second = loadCorpusModel('resnet18_op17_b1', 0);
    const { model: replayed, diagnostics } = applyPlan(second, plan);
    expect(diagnostics).toEqual([]);
    const byName = new Map(expected.graph.initializers.map((v) => [v.name, v.initializer!.toFloat32()] as const));
    expect(replayed.graph.initializers.length).toBe(expected.graph.initializers.length);
    for (const v of replayed.graph.initializers)
      expect(firstDifference(v.initializer!.toFloat32(), byName.get(v.name)!), v.name).toBe(-1);

    // other weights, same graph: applied, and said so; another graph: refused
    expect(applyPlan(loadCorpusModel('resnet18_op17_b1', 1), plan).diagnostics.map((d) => d.code)).toEqual([
      'plan-weights-differ',
    ]);
    expect(() => applyPlan(loadCorpusModel('resnet18_op13_b1', 0), plan)).toThrow(PruningPlanError);
    expect(() => applyPlan(loadCorpusModel('mobilenet_v2_op17_b1', 0), plan)).toThrow(/made for another graph/);
    expect(() => planFromJson('{"format":"x"}')).toThrow(/not a pruning plan/);
  });
});

describe('FPGM speed', () => {
  it('ranks every conv and the classifier of resnet50', async () => {
    const model = loadCorpusModel('resnet50_op17_b1', 0);
    const pruner = new FPGMPruner(model, [{ op_types: ['Conv', 'Gemm'], target_names: ['weight'], sparse_ratio: 0.5 }]);
    const t0 = performance.now();
    const { plan } = await pruner.compress();
    const seconds = (performance.now() - t0) / 1000;
    expect(plan.targets.length).toBe(54);
    // about 1–2 s on an idle core (10.7 G multiply-adds through the WebAssembly SIMD Gram kernel); generous for shared CI
    expect(seconds).toBeLessThan(30);
  });
});
