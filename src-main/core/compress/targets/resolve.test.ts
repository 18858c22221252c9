/** @file Target resolution pinned to NNI's rules: selection formula, prefix regex, shortcuts, target_settings, first wins, ONNX roles and layouts. */
import { describe, expect, it } from 'vitest';
import { parseConfigList } from '../../../../src-shared/config/index.ts';
import type { Model } from '../../ir/index.ts';
import { Tensor } from '../../ir/index.ts';
import { Builder } from '../../../../test/pruning/helpers.ts';
import { resolveTargets } from './index.ts';

/** conv1 → relu → conv2 → fc (Gemm, transB 0) → out; plus a free-standing attention-like MatMul of two activations. */
function smallGraph(): Model {
  const b = new Builder();
  const x = b.input('x', [1, 3, 8, 8]);
  const c2 = b.conv('conv2', b.op('Relu', 'relu', [b.conv('conv1', x, 8, 3)]), 8, 8, 3, { bias: false });
  const flat = b.op('Flatten', 'flat', [b.op('GlobalAveragePool', 'gap', [c2])]);
  const fc = b.gemm('fc', flat, 4, 8, 0);
  const q = b.input('q', [2, 4]);
  const att = b.op('MatMul', 'scores', [q, b.op('Transpose', 'kt', [q])]);
  const proj = b.op('MatMul', 'proj', [att, b.weight('proj.weight', [2, 6])]);
  b.g.outputs.push(proj);
  return b.output(fc, [1, 4]);
}

function resolve(model: Model, list: unknown[]) {
  return resolveTargets(model, parseConfigList(list, 'pruning').configs, 'pruning');
}

const names = (t: ReturnType<typeof resolve>) => t.targets.map((x) => `${x.nodeName}.${x.name}`);
const codes = (t: ReturnType<typeof resolve>) => t.diagnostics.map((d) => `${d.level}:${d.code}@${d.path}`);

describe('selection', () => {
  it('intersects names with op_types and subtracts excludes', () => {
    const m = smallGraph();
    const t = resolve(m, [{ op_names: ['conv1', 'fc'], op_types: ['Conv'], sparse_ratio: 0.5 }]);
    expect(names(t)).toEqual(['conv1.weight', 'conv1.bias']);
    expect(codes(t)).toContain('warning:filtered-by-op-types@$[0].op_names[1]');
    const u = resolve(m, [
      { op_types: ['Conv', 'Gemm'], exclude_op_names: ['conv1'], exclude_op_types: ['Gemm'], sparse_ratio: 0.5 },
    ]);
    expect(names(u)).toEqual(['conv2.weight']); // conv2 has no bias: the template's bias is skipped silently
    expect(u.diagnostics).toEqual([]);
  });

  it('reads op_names_re as a prefix match (Python re.match), excludes by regex too', () => {
    const b = new Builder();
    const x = b.input('x', [1, 2, 4, 4]);
    let v = x;
    for (const n of ['layer.1.conv', 'layer.10.conv', 'xlayer.1.conv', 'layer.2.conv']) v = b.conv(n, v, 2, 2, 1);
    const m = b.output(v, [1, 2, 4, 4]);
    const t = resolve(m, [{ op_names_re: ['layer\\.1'], target_names: ['weight'], sparse_ratio: 0.5 }]);
    expect(names(t)).toEqual(['layer.1.conv.weight', 'layer.10.conv.weight']);
    const u = resolve(m, [
      { op_names_re: ['layer'], exclude_op_names_re: ['layer\\.1'], target_names: ['weight'], sparse_ratio: 0.5 },
    ]);
    expect(names(u)).toEqual(['layer.2.conv.weight']);
  });

  it('warns for names, patterns and types that match nothing', () => {
    const t = resolve(smallGraph(), [
      { op_names: ['conv1', 'nope'], op_names_re: ['zzz'], sparse_ratio: 0.5 },
      { op_types: ['LSTM'], sparse_ratio: 0.5 },
      { op_types: ['Conv'], exclude_op_names: ['conv9'], sparse_ratio: 0.5 },
    ]);
    expect(codes(t)).toEqual(
      expect.arrayContaining([
        'warning:unmatched-op-name@$[0].op_names[1]',
        'warning:unmatched-op-name-re@$[0].op_names_re[0]',
        'warning:unmatched-op-type@$[1].op_types[0]',
        'warning:empty-selection@$[1]',
        'warning:unmatched-exclude@$[2].exclude_op_names[0]',
      ]),
    );
  });

  it('a list that selects no target at all is an error naming the nodes it could have selected', () => {
    const t = resolve(smallGraph(), [{ op_names: ['/conv9/Conv'], sparse_ratio: 0.5 }]);
    expect(t.targets).toEqual([]);
    const err = t.diagnostics.find((d) => d.code === 'no-targets')!;
    expect(err).toMatchObject({ level: 'error', path: '$' });
    expect(err.message).toContain('selects no pruning target');
    for (const n of ['conv1 (Conv)', 'conv2 (Conv)', 'fc (Gemm)']) expect(err.message).toContain(n);
    // One entry that selects something is enough.
    expect(
      codes(
        resolve(smallGraph(), [
          { op_names: ['/conv9/Conv'], sparse_ratio: 0.5 },
          { op_names: ['conv1'], sparse_ratio: 0.5 },
        ]),
      ),
    ).not.toContain('error:no-targets@$');
  });
});

describe('settings', () => {
  it('lands shortcut keys only where the template declares them', () => {
    const t = resolve(smallGraph(), [
      { op_names: ['conv1'], sparse_ratio: 0.5, granularity: 'in_channel', dependency_group_id: 3 },
    ]);
    const w = t.get('conv1', 'weight')!.setting;
    const b = t.get('conv1', 'bias')!.setting;
    expect([w.sparse_ratio, w.granularity, w.dependency_group_id]).toEqual([0.5, 'in_channel', 3]);
    expect(b).toEqual({ align: { module_name: null, target_name: 'weight', dims: [0] }, apply_method: 'mul' });
  });

  it('merges target_settings last, new keys allowed', () => {
    const t = resolve(smallGraph(), [
      {
        op_names: ['conv1'],
        sparse_ratio: 0.5,
        target_settings: { weight: { sparse_ratio: 0.25 }, bias: { sparse_ratio: 0.1 } },
      },
    ]);
    expect(t.get('conv1', 'weight')!.setting.sparse_ratio).toBe(0.25);
    expect(t.get('conv1', 'bias')!.setting).toMatchObject({ sparse_ratio: 0.1, align: { target_name: 'weight' } });
  });

  it('keeps the first config per (node, target) and warns about the later one', () => {
    const t = resolve(smallGraph(), [
      { op_names: ['conv1'], target_names: ['weight'], sparse_ratio: 0.5 },
      { op_types: ['Conv'], sparse_ratio: 0.9 },
    ]);
    expect(t.get('conv1', 'weight')!.setting.sparse_ratio).toBe(0.5);
    expect(t.get('conv1', 'weight')!.path).toBe('$[0]');
    expect(t.get('conv1', 'bias')!.path).toBe('$[1]');
    expect(t.get('conv2', 'weight')!.setting.sparse_ratio).toBe(0.9);
    expect(t.diagnostics.filter((d) => d.code === 'duplicate-target').map((d) => `${d.node}@${d.path}`)).toEqual([
      'conv1@$[1]',
    ]);
  });

  it('normalises _input_ / _output_ to index 0 and binds them to the node inputs / outputs', () => {
    const m = smallGraph();
    const t = resolve(m, [
      {
        op_names: ['conv1'],
        target_names: ['_input_', '_output_', '_input_1'],
        target_settings: { _input_: { apply_method: 'mul' }, _output_: { apply_method: 'add' } },
      },
    ]);
    expect(names(t)).toEqual(['conv1._input_1', 'conv1._input_0', 'conv1._output_0']);
    expect(t.get('conv1', '_output_0')!.setting.apply_method).toBe('add');
    expect(t.get('conv1', '_input_0')!.value.name).toBe('x');
    expect(t.get('conv1', '_input_1')!.kind).toBe('input');
    expect(t.get('conv1', '_output_0')!.value).toBe(m.graph.node('conv1')!.outputs[0]);
  });
});

describe('ONNX roles and layout', () => {
  it('binds weight / bias by position and reads out channels on the ONNX axis that holds them', () => {
    const t = resolve(smallGraph(), [{ op_types: ['Conv', 'Gemm', 'MatMul'], sparse_ratio: 0.5 }]);
    expect(t.get('fc', 'weight')!.value.name).toBe('fc.weight');
    expect(t.get('fc', 'weight')!.perm).toEqual([1, 0]); // transB = 0: B is [K, N]
    expect(t.get('fc', 'bias')!.index).toBe(2);
    expect(t.get('conv1', 'weight')!.perm).toEqual([0, 1, 2, 3]);
    expect(t.get('proj', 'weight')!.value.name).toBe('proj.weight'); // MatMul: the constant operand
    expect(t.get('proj', 'weight')!.perm).toEqual([1, 0]);
    expect(t.get('proj', 'bias')).toBeUndefined(); // MatMul has no bias input
  });

  it('reads ConvTranspose out channels on axis 1 and Gemm transB = 1 on axis 0', () => {
    const b = new Builder();
    const x = b.input('x', [1, 4, 4, 4]);
    const w = b.weight('up.weight', [4, 6, 2, 2]);
    const up = b.op('ConvTranspose', 'up', [x, w, b.weight('up.bias', [6])], {
      kernel_shape: { type: 'ints', value: [2, 2] },
      strides: { type: 'ints', value: [2, 2] },
    });
    const m = b.output(up, [1, 6, 8, 8]);
    const t = resolve(m, [{ op_types: ['ConvTranspose'], sparse_ratio: 0.5 }]);
    expect(t.get('up', 'weight')!.perm).toEqual([1, 0, 2, 3]);
    const g = resolve(smallGraphTransB1(), [{ op_types: ['Gemm'], sparse_ratio: 0.5 }]);
    expect(g.get('fc', 'weight')!.perm).toEqual([0, 1]);
  });

  it('skips a weight that is not an initializer with a warning, and errs when op_names named the node', () => {
    const m = smallGraph();
    const swept = resolve(m, [{ op_types: ['MatMul'], sparse_ratio: 0.5 }]);
    expect(names(swept)).toEqual(['proj.weight']);
    expect(codes(swept)).toEqual(['warning:not-an-initializer@$[0]']);
    const named = resolve(m, [{ op_names: ['proj', 'scores'], sparse_ratio: 0.5 }]);
    expect(codes(named)).toEqual(['error:not-an-initializer@$[0].op_names[1]']);
    expect(named.diagnostics[0]!.node).toBe('scores');
    expect(named.diagnostics[0]!.message).toMatch(/weight of MatMul "scores" must be an initializer/);
  });

  it('errs on op types without a template when asked for by type or name, warns for a regex sweep', () => {
    const m = smallGraph();
    const b = new Builder();
    const topk = b.g.addNode({
      opType: 'TopK',
      name: 'top',
      inputs: [b.input('v', [1, 8]), b.g.addInitializer('k', Tensor.int64([1], [2]))],
      outputs: ['top_v', 'top_i'],
    });
    b.g.outputs.push(topk.outputs[0]!);
    expect(codes(resolve(b.model, [{ op_types: ['TopK'], sparse_ratio: 0.5 }]))).toEqual(['error:no-template@$[0]']);
    expect(codes(resolve(b.model, [{ op_names: ['top'], sparse_ratio: 0.5 }]))).toEqual([
      'error:no-template@$[0].op_names[0]',
    ]);
    const sweep = resolve(m, [{ op_names_re: ['conv1', 'kt'], sparse_ratio: 0.5 }]);
    expect(names(sweep)).toEqual(['conv1.weight', 'conv1.bias', 'kt._input_0', 'kt._output_0']);
  });

  it('gives ops without weights input / output targets (masked through align), where a ratio does not land', () => {
    const t = resolve(smallGraph(), [{ op_types: ['Relu'], sparse_ratio: 0.5 }]);
    expect(names(t)).toEqual(['relu._input_0', 'relu._output_0']);
    expect(t.targets.every((x) => x.setting.sparse_ratio === undefined)).toBe(true);
  });

  it('errs on targets the node does not have', () => {
    const t = resolve(smallGraph(), [
      { op_names: ['conv1'], target_names: ['_input_7'], target_settings: { _input_: { apply_method: 'mul' } } },
    ]);
    expect(codes(t)).toEqual(['error:unknown-target@$[0]']);
    expect(t.diagnostics[0]!.message).toMatch(/has 3 inputs/);
    const u = resolve(smallGraph(), [
      { op_names: ['conv1'], target_names: ['running_mean'], target_settings: { running_mean: { sparse_ratio: 0.5 } } },
    ]);
    expect(codes(u)).toEqual(['error:unknown-target@$[0]']);
  });
});

function smallGraphTransB1(): Model {
  const b = new Builder();
  return b.output(b.gemm('fc', b.input('x', [1, 8]), 4, 8, 1), [1, 4]);
}
