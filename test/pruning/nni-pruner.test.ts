/**
 * @file NNI's own pruner test, reproduced on ONNX (NNI-SEMANTICS §4, test_pruner.py): an MNIST-like CNN pruned by
 * each one-shot pruner with sparse_ratio 0.75 on output channels — every weight mask exactly 0.75 sparse, every bias
 * mask "row of the weight mask not all zero", conv2 and conv3 (one dependency group) identical — and the simulated
 * model runs in onnxruntime with the masked weights exactly zero.
 */
import { describe, expect, it } from 'vitest';
import {
  FPGMPruner,
  L1NormPruner,
  L2NormPruner,
  LevelPruner,
  simulate,
  keptAlong,
  maskSparsity,
} from '../../src-main/index.ts';
import { mnistCnn, randomInput, runOrt } from './helpers.ts';

const CONFIG = [
  { op_names: ['conv2', 'conv3'], dependency_group_id: 1, sparse_ratio: 0.75, granularity: 'out_channel' },
  { op_types: ['Conv', 'Gemm'], exclude_op_names: ['fc2'], sparse_ratio: 0.75, granularity: 'out_channel' },
];

const PRUNED = { conv1: 16, conv2: 32, conv3: 32, fc1: 64 } as const;

describe.each([
  ['level', LevelPruner],
  ['l1', L1NormPruner],
  ['l2', L2NormPruner],
  ['fpgm', FPGMPruner],
] as const)('%s pruner on the MNIST-like CNN', (kind, P) => {
  it('masks exactly 75% of the output channels, aligns biases, shares the dependency-group mask and runs', async () => {
    const model = mnistCnn();
    const before = new Map(model.graph.initializers.map((v) => [v.name, v.initializer!] as const));
    const snapshot = new Map([...before].map(([k, t]) => [k, Float32Array.from(t.toFloat32())] as const));
    const pruner = new P(model, CONFIG);
    const { masks, applyMethods, plan } = await pruner.compress();
    expect(plan.pruner).toBe(kind);

    for (const [node, channels] of Object.entries(PRUNED)) {
      const w = masks.get(node)!.get('weight')!;
      const b = masks.get(node)!.get('bias')!;
      expect(w.dims[0]).toBe(channels);
      expect(w.dims.slice(1).every((d) => d === 1)).toBe(true);
      expect(maskSparsity(w)).toBe(0.75);
      expect([...b.data].map(Boolean)).toEqual(keptAlong(w, 0));
    }
    expect(masks.get('fc2')).toBeUndefined();
    expect([...masks.get('conv2')!.get('weight')!.data]).toEqual([...masks.get('conv3')!.get('weight')!.data]);
    // the first config won conv2 / conv3; the second says so
    const dup = pruner.diagnostics.filter((d) => d.code === 'duplicate-target');
    expect(dup.map((d) => `${d.node}.${d.path}`).sort()).toEqual([
      'conv2.$[1]',
      'conv2.$[1]',
      'conv3.$[1]',
      'conv3.$[1]',
    ]);

    // the model is untouched: same Tensor objects, same values
    for (const v of model.graph.initializers) {
      expect(v.initializer).toBe(before.get(v.name));
      expect(v.initializer!.toFloat32()).toEqual(snapshot.get(v.name));
    }

    const simulated = simulate(model, masks, { applyMethods });
    for (const node of Object.keys(PRUNED)) {
      const n = simulated.graph.node(node)!;
      const w = n.input(1)!.initializer!;
      const keep = keptAlong(masks.get(node)!.get('weight')!, 0);
      const rowSize = w.size / w.dims[0]!;
      const data = w.toFloat32();
      for (let r = 0; r < keep.length; r++) {
        const row = data.subarray(r * rowSize, (r + 1) * rowSize);
        if (keep[r]) expect(row).toEqual(snapshot.get(`${node}.weight`)!.subarray(r * rowSize, (r + 1) * rowSize));
        else expect(row.every((x) => x === 0)).toBe(true);
      }
    }
    const out = await runOrt(simulated, { input: randomInput([1, 1, 28, 28]) });
    expect(out[simulated.graph.outputs[0]!.name]!.length).toBe(10);
    expect([...out[simulated.graph.outputs[0]!.name]!].every(Number.isFinite)).toBe(true);
  });
});
