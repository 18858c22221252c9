/** @file The quantization plan: per-channel axes per ONNX layout, granularities, reduce range, fused outputs, shared parameters, int32 biases, faults. */
import { describe, expect, it } from 'vitest';
import { parseConfigList } from '../../../../src-shared/config/index.ts';
import type { Model } from '../../ir/index.ts';
import { Builder } from '../../../../test/pruning/helpers.ts';
import { resolveTargets } from '../targets/index.ts';
import { fuseModules } from '../fusion/index.ts';
import { planQuantization, type PlanOptions } from './index.ts';

/** x → conv1 → relu → maxpool → conv2 → flatten(gap) → fc (Gemm transB per arg) ; plus MatMul with constant B. */
function net(transB = 1): Model {
  const b = new Builder();
  const x = b.input('x', [1, 3, 8, 8]);
  const r = b.op('Relu', 'relu', [b.conv('conv1', x, 4, 3)]);
  const p = b.op('MaxPool', 'pool', [r], {
    kernel_shape: { type: 'ints', value: [2, 2] },
    strides: { type: 'ints', value: [2, 2] },
  });
  const c2 = b.conv('conv2', p, 6, 4, 3);
  const flat = b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [c2])]);
  const fc = b.gemm('fc', flat, 5, 6, transB);
  const mm = b.op('MatMul', 'mm', [fc, b.weight('mm.weight', [5, 7])]);
  return b.output(mm, [1, 7]);
}

function plan(model: Model, list: unknown[], opts: PlanOptions = {}) {
  const table = resolveTargets(model, parseConfigList(list, 'quantization').configs, 'quantization');
  return planQuantization(model, table, opts);
}

const find = (p: ReturnType<typeof plan>, node: string, target: string) =>
  p.targets.find((t) => t.node === node && t.target === target)!;

describe('granularity on ONNX layouts', () => {
  it('reads out_channel on Conv axis 0, Gemm transB=1 axis 0, transB=0 axis 1, MatMul B axis 1; activations on axis 1', () => {
    const list = [
      {
        op_types: ['Conv', 'Gemm', 'MatMul'],
        target_names: ['weight', '_output_'],
        quant_dtype: 'int8',
        granularity: 'out_channel',
      },
    ];
    const p1 = plan(net(1), list);
    expect(find(p1, 'conv1', 'weight').granularity).toEqual({ kind: 'axis', axis: 0 });
    expect(find(p1, 'fc', 'weight').granularity).toEqual({ kind: 'axis', axis: 0 });
    expect(find(p1, 'mm', 'weight').granularity).toEqual({ kind: 'axis', axis: 1 });
    expect(find(p1, 'conv1', '_output_0').granularity).toEqual({ kind: 'axis', axis: 1 });
    expect(find(plan(net(0), list), 'fc', 'weight').granularity).toEqual({ kind: 'axis', axis: 1 });
  });

  it("reads 'default' as per tensor, 'in_channel' on the other axis, block lists as blocks", () => {
    const p = plan(net(0), [
      { op_names: ['conv1'], target_names: ['weight'], quant_dtype: 'int8' },
      { op_names: ['fc'], target_names: ['weight'], quant_dtype: 'int8', granularity: 'in_channel' },
      { op_names: ['conv2'], target_names: ['weight'], quant_dtype: 'int8', granularity: [2, -1, -1, -1] },
    ]);
    expect(find(p, 'conv1', 'weight').granularity).toEqual({ kind: 'tensor' });
    expect(find(p, 'fc', 'weight').granularity).toEqual({ kind: 'axis', axis: 0 });
    expect(find(p, 'conv2', 'weight').granularity).toMatchObject({ kind: 'blocks', kernel: [2, -1, -1, -1] });
  });

  it('rejects block granularity on activations and blocks that do not divide, naming the node', () => {
    const p = plan(net(), [
      { op_names: ['conv1'], target_names: ['_output_'], quant_dtype: 'uint8', granularity: [1, 2] },
      { op_names: ['conv2'], target_names: ['weight'], quant_dtype: 'int8', granularity: [4, -1, -1, -1] },
    ]);
    expect(p.diagnostics.filter((d) => d.level === 'error').map((d) => `${d.code}@${d.node}`)).toEqual([
      'bad-granularity@conv1',
      'bad-granularity@conv2',
    ]);
  });
});

describe('ranges and schemes', () => {
  it('defaults the scheme to symmetric and the dtype to int8; reduce range narrows int8 weights only', () => {
    const p = plan(net(), [{ op_names: ['conv1'], quant_dtype: null }], { reduceRange: true });
    expect(find(p, 'conv1', 'weight')).toMatchObject({
      scheme: 'symmetric',
      range: { name: 'int7', qmin: -63, qmax: 63 },
      requested: { name: 'int8' },
    });
    expect(find(p, 'conv1', '_input_0').range.name).toBe('int8');
  });

  it('skips bypass targets with an info', () => {
    const p = plan(net(), [
      { op_names: ['conv1'], target_names: ['weight'], quant_dtype: 'int8', apply_method: 'bypass' },
    ]);
    expect(p.targets).toEqual([]);
    expect(p.diagnostics.map((d) => d.code)).toEqual(['bypass']);
  });
});

describe('derived targets', () => {
  const full = [
    {
      op_types: ['Conv', 'Gemm'],
      target_names: ['_input_', 'weight', 'bias', '_output_'],
      quant_dtype: 'uint8',
      quant_scheme: 'affine',
      target_settings: { weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' } },
    },
  ];

  it('stores the bias of a node with quantized input and weight as int32 (per channel like the weight)', () => {
    const p = plan(net(), full);
    expect(find(p, 'conv1', 'bias')).toMatchObject({
      int32Bias: true,
      range: { name: 'int32' },
      granularity: { kind: 'axis', axis: 0 },
    });
    expect(p.diagnostics.filter((d) => d.code === 'int32-bias').map((d) => d.node)).toEqual(['conv1', 'conv2', 'fc']);
    const noInput = plan(net(), [{ op_names: ['conv1'], target_names: ['weight', 'bias'], quant_dtype: 'int8' }]);
    expect(find(noInput, 'conv1', 'bias').int32Bias).toBeUndefined();
  });

  it("counts the producer's output quantization as the node's input quantization", () => {
    const p = plan(net(), [
      { op_names: ['conv1'], target_names: ['_output_'], quant_dtype: 'uint8', quant_scheme: 'affine' },
      { op_names: ['pool'], target_names: ['_output_'], quant_dtype: 'uint8', quant_scheme: 'affine' },
      { op_names: ['conv2'], target_names: ['weight', 'bias'], quant_dtype: 'int8' },
    ]);
    expect(find(p, 'conv2', 'bias').int32Bias).toBe(true);
  });

  it('lets MaxPool share its input parameters, and so every target reading its output with the same settings', () => {
    const p = plan(net(), [
      { op_types: ['MaxPool'], quant_dtype: 'uint8', quant_scheme: 'affine' },
      { op_names: ['conv2'], target_names: ['_input_'], quant_dtype: 'uint8', quant_scheme: 'affine' },
    ]);
    expect(find(p, 'pool', '_output_0').shareWith).toEqual({ node: 'pool', target: '_input_0' });
    expect(find(p, 'conv2', '_input_0').shareWith).toEqual({ node: 'pool', target: '_input_0' });
  });

  it('reads a fused head output after its activation (fuse_names, and automatically when asked)', () => {
    const m = net();
    const fused = fuseModules(m, { groups: [{ names: ['conv1', 'relu'], path: '$[0].fuse_names[0]' }] });
    const p = plan(
      m,
      [
        {
          op_names: ['conv1'],
          target_names: ['weight', '_output_'],
          quant_dtype: 'uint8',
          fuse_names: [['conv1', 'relu']],
        },
      ],
      { fused: fused.groups },
    );
    expect(find(p, 'conv1', '_output_0').value).toBe(m.graph.node('relu')!.outputs[0]!.name);
    const auto = plan(net(), full, { autoActivations: true });
    expect(find(auto, 'conv1', '_output_0').value).toBe('relu_out');
    expect(find(plan(net(), full), 'conv1', '_output_0').value).toBe('conv1_out');
  });

  it('refuses a config on a fused activation and a fused head without _output_, as NNI does', () => {
    const m = net();
    const fused = fuseModules(m, { groups: [{ names: ['conv1', 'relu'], path: '$[0].fuse_names[0]' }] });
    const p = plan(
      m,
      [
        { op_names: ['conv1'], target_names: ['weight'], quant_dtype: 'int8', fuse_names: [['conv1', 'relu']] },
        { op_names: ['relu'], quant_dtype: 'uint8' },
      ],
      { fused: fused.groups },
    );
    expect(
      p.diagnostics
        .filter((d) => d.level === 'error')
        .map((d) => `${d.code}@${d.node}`)
        .sort(),
    ).toEqual(['fused-activation-needs-output@conv1', 'fused-node-configured@relu', 'fused-node-configured@relu']);
  });
});
