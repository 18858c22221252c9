/**
 * @file Speedup on the real-model corpus: 50 % L1 channel sparsity with automatic dependency groups (NNI's
 * L1NormPruner semantics), then ModelSpeedup. Each model must speed up, match its masked model within 1e-4
 * relative (ModelSpeedup refuses otherwise), lose MACs exactly as its weights shrink, and run in ORT.
 */
import { describe, expect, it } from 'vitest';
import { cloneModel, numel, type Model } from '../../src-main/core/ir/index.ts';
import { fuseModules } from '../../src-main/core/compress/fusion/index.ts';
import {
  L1NormPruner,
  groupPruningMasks,
  resolveAutoDependencyGroups,
} from '../../src-main/core/compress/pruning/index.ts';
import { keptAlong, type Masks } from '../../src-main/core/compress/masks.ts';
import { modelStats } from '../../src-main/core/analysis/stats.ts';
import { runModel, sampleInputs } from '../../src-main/node/runtime/index.ts';
import { ModelSpeedup, relErr } from '../../src-main/node/speedup/index.ts';
import { simulate } from '../../src-main/core/compress/simulate/index.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';
import { shapesOf } from './helpers.ts';

async function l1Masks(model: Model, opTypes = ['Conv', 'Gemm']) {
  const shapes = await shapesOf(model);
  const auto = resolveAutoDependencyGroups(
    [{ op_types: opTypes, sparse_ratio: 0.5, dependency_group_id: 'auto' }],
    model,
    shapes,
  );
  return { ...(await new L1NormPruner(model, auto.configList, undefined, { shapes }).compress()), auto, shapes };
}

/** Per Conv / Gemm: MACs scale exactly with the weight (same spatial sizes), and output widths follow the masks. */
async function expectMacsFollowWeights(model: Model, compact: Model, masks: Masks, lossless: boolean) {
  const before = modelStats(model, await shapesOf(model));
  const after = modelStats(compact, await shapesOf(compact));
  for (const n of model.graph.nodes.filter((x) => x.opType === 'Conv' || x.opType === 'Gemm')) {
    const w0 = n.input(1)!.initializer!;
    const w1 = compact.graph.node(n.name)!.input(1)!.initializer!;
    const m0 = before.nodes.find((s) => s.name === n.name)!.macs;
    const m1 = after.nodes.find((s) => s.name === n.name)!.macs;
    // MACs per weight element = output positions (Conv); Gemm adds its bias, a 1/K share
    expect(m1 / numel(w1.dims)).toBeCloseTo(m0 / numel(w0.dims), n.opType === 'Conv' ? 6 : 1);
    const mask = masks.get(n.name)?.get('weight');
    if (lossless && mask) {
      const axis = n.opType === 'Gemm' && !n.attrInt('transB', 0) ? 1 : 0;
      expect(w1.dims[axis]).toBe(keptAlong(mask, axis).filter(Boolean).length);
    }
  }
  return { before, after };
}

const CNNS = [
  'resnet18_op17_b1',
  'resnet50_op17_b1',
  'mobilenet_v2_op17_b1',
  'mobilenet_v3_small_op17_b1',
  'vgg11_bn_op17_b1',
  'squeezenet1_1_op17_b1',
];

describe('speedup on the corpus at 50 % L1 channel sparsity with auto dependency groups', () => {
  for (const name of CNNS) {
    it(`${name}: exact, smaller, MACs as the masks imply`, async () => {
      const model = loadCorpusModel(name, 0);
      const { masks, applyMethods } = await l1Masks(model);
      const { model: compact, report } = await new ModelSpeedup(model, masks, {
        applyMethods,
        benchmark: false,
        verifySamples: 1,
      }).speedupModel();
      expect(report.verification.maxRelErr).toBeLessThan(1e-4);
      expect(report.verification.reference).toBe('simulate');
      expect(report.sparsity.lost).toBe(0);
      expect(report.sparsity.requestedChannels).toBeGreaterThan(0);
      expect(report.macRatio).toBeLessThan(0.4);
      expect(report.after.params).toBeLessThan(report.before.params * 0.45);
      await expectMacsFollowWeights(model, compact, masks, true);
      const out = await runModel(compact, sampleInputs(compact, { seed: 9 }));
      expect(Object.values(out)[0]!.dims).toEqual([1, 1000]);
    });
  }

  it('shufflenet_v2_x1_0: exact; the shuffle couples channels across layers, the lost sparsity is reported', async () => {
    const model = loadCorpusModel('shufflenet_v2_x1_0_op17_b1', 0);
    const { masks, applyMethods } = await l1Masks(model);
    const { model: compact, report } = await new ModelSpeedup(model, masks, {
      applyMethods,
      benchmark: false,
      verifySamples: 1,
    }).speedupModel();
    expect(report.verification.maxRelErr).toBeLessThan(1e-4);
    expect(report.sparsity.lost).toBeGreaterThan(0);
    expect(report.groups.some((g) => !g.aligned && g.keptRequested > 0 && g.reasons.length > 0)).toBe(true);
    expect(report.macRatio).toBeLessThan(0.8);
    await expectMacsFollowWeights(model, compact, masks, false);
  });

  it('shufflenet_v2_x1_0 with group-aware masks: the shuffled channels go too', async () => {
    const model = loadCorpusModel('shufflenet_v2_x1_0_op17_b1', 0);
    const masks = groupPruningMasks(model, await shapesOf(model), { sparsity: 0.5 });
    const { model: compact, report } = await new ModelSpeedup(model, masks, {
      benchmark: false,
      verifySamples: 1,
    }).speedupModel();
    expect(report.verification.maxRelErr).toBeLessThan(1e-4);
    expect(report.sparsity.lost).toBe(0);
    expect(report.macRatio).toBeLessThan(0.4);
    await expectMacsFollowWeights(model, compact, masks, true);
  });

  it('transformer encoder: whole heads and FFN channels go, exactly', async () => {
    const model = loadCorpusModel('transformer_op17_b1', 0);
    const masks = groupPruningMasks(model, await shapesOf(model), { sparsity: 0.5 });
    const { model: compact, report } = await new ModelSpeedup(model, masks, { benchmark: false }).speedupModel();
    expect(report.verification.maxRelErr).toBeLessThan(1e-4);
    const g = compact.graph;
    for (const l of [0, 1]) {
      const p = `/encoder/layers.${l}`;
      expect(g.node(`${p}/self_attn/MatMul`)!.input(1)!.initializer!.dims).toEqual([64, 96]); // 2 of 4 heads × (q, k, v)
      expect(g.node(`${p}/self_attn/Gemm`)!.input(1)!.initializer!.dims).toEqual([64, 32]);
      expect(g.node(`${p}/linear1/MatMul`)!.input(1)!.initializer!.dims).toEqual([64, 64]);
      expect(g.node(`${p}/linear2/MatMul`)!.input(1)!.initializer!.dims).toEqual([64, 64]);
      expect(g.node(`${p}/self_attn/Reshape`)!.input(1)!.initializer!.toNumbers()).toEqual([16, 2, 16]);
    }
    expect(report.macRatio).toBeLessThan(0.6);
    expect(report.sparsity.lost).toBe(0);
  });

  it('transformer with the NNI-style pruner: FFN channels go; heads need group-aware masks and are reported kept', async () => {
    const model = loadCorpusModel('transformer_op17_b1', 0);
    const { masks, applyMethods, auto } = await l1Masks(model, ['MatMul', 'Gemm']);
    expect(auto.diagnostics.some((d) => d.code === 'no-channels')).toBe(true);
    const { model: compact, report } = await new ModelSpeedup(model, masks, {
      applyMethods,
      benchmark: false,
      verifySamples: 1,
    }).speedupModel();
    expect(report.verification.maxRelErr).toBeLessThan(1e-4);
    expect(compact.graph.node('/encoder/layers.0/linear1/MatMul')!.input(1)!.initializer!.dims).toEqual([64, 64]);
    expect(report.sparsity.lost).toBeGreaterThan(0);
  });

  for (const name of ['resnet18_bn_op17_b1', 'mobilenet_v2_bn_op17_b1']) {
    it(`${name}: BatchNorm β of removed channels is folded forward, exactly`, async () => {
      const model = loadCorpusModel(name, 0);
      const { masks, applyMethods } = await l1Masks(model);
      const { model: compact, report } = await new ModelSpeedup(model, masks, {
        applyMethods,
        benchmark: false,
        verifySamples: 1,
      }).speedupModel();
      expect(report.verification.maxRelErr).toBeLessThan(1e-4);
      expect(report.sparsity.lost).toBe(0);
      expect(report.macRatio).toBeLessThan(0.4);
      // folded β can arrive as constant Adds in front of BNs; quantization's BN folding still removes every BN
      const bns = (m: Model) => m.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length;
      const addBeforeBn = compact.graph.nodes.filter(
        (n) => n.opType === 'BatchNormalization' && n.input(0)?.producer?.opType === 'Add',
      ).length;
      // resnet18's 3×3 convs read removed channels through zero padding (a border map); mobilenet_v2's removed channels reach
      // only depthwise convs pruned along with them and 1×1 convs (a bias), so it has none
      if (name.startsWith('resnet18')) expect(addBeforeBn).toBeGreaterThan(0);
      const fused = cloneModel(compact);
      const r = fuseModules(fused, { auto: true });
      expect(r.diagnostics.filter((d) => d.code === 'fusion-add-moved')).toHaveLength(addBeforeBn);
      expect(bns(fused)).toBe(0);
      const feeds = sampleInputs(compact, { seed: 11 });
      const [a, b] = [await runModel(compact, feeds), await runModel(fused, feeds)];
      const k = Object.keys(a)[0]!;
      expect(relErr(a[k]!, b[k])).toBeLessThan(1e-5);
    });
  }

  for (const [name, out] of [
    ['shufflenet_v2_x1_0_op17_dyn', [3, 1000]],
    ['transformer_op17_dyn', [3, 10]],
  ] as const) {
    it(`${name} keeps its dynamic batch (shape computations are scaled, not baked)`, async () => {
      const model = loadCorpusModel(name, 0);
      const masks = groupPruningMasks(model, await shapesOf(model), { sparsity: 0.5 });
      const { model: compact } = await new ModelSpeedup(model, masks, {
        benchmark: false,
        verifySamples: 1,
      }).speedupModel();
      const feeds = sampleInputs(model, { seed: 4, dimSizes: { batch: 3 }, batchSize: 3 });
      const [a, b] = [await runModel(simulate(model, masks), feeds), await runModel(compact, feeds)];
      const k = Object.keys(a)[0]!;
      expect(b[k]!.dims).toEqual(out);
      expect(relErr(a[k]!, b[k])).toBeLessThan(1e-4);
    });
  }
});
