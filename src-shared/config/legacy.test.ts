/** @file Tests of the NNI 2.x → 3.0 translation, directly and through parseConfigList (paths point at what the user wrote). */
import { describe, expect, it } from 'vitest';
import {
  ConfigListError,
  isLegacyConfigList,
  parseConfigList,
  resolveSettings,
  translateLegacyConfigList,
} from './index.ts';

function faultLines(json: unknown, mode: 'pruning' | 'quantization'): string[] {
  try {
    parseConfigList(json, mode);
  } catch (err) {
    return (err as ConfigListError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigListError');
}

describe('trigger', () => {
  it('is the first config holding exclude, sparsity, sparsity_per_layer, total_sparsity or quant_types', () => {
    for (const key of ['exclude', 'sparsity', 'sparsity_per_layer', 'total_sparsity', 'quant_types']) {
      expect(isLegacyConfigList([{ op_types: ['Conv2d'], [key]: 0.5 }])).toBe(true);
    }
    expect(isLegacyConfigList([{ op_types: ['Conv2d'], op_partial_names: ['x'] }])).toBe(false);
    expect(
      isLegacyConfigList([
        { op_types: ['Conv'], sparse_ratio: 0.5 },
        { op_types: ['Gemm'], sparsity: 0.5 },
      ]),
    ).toBe(false);
    expect(isLegacyConfigList([])).toBe(false);
  });

  it('leaves a 3.0 list untouched', () => {
    const list = [{ op_types: ['Conv'], sparse_ratio: 0.5 }];
    expect(translateLegacyConfigList(list)).toEqual({
      configs: list,
      translated: false,
      issues: [],
      diagnostics: [],
      aliases: new Map(),
    });
  });
});

describe('pruning keys', () => {
  it('sparsity → weight sparse_ratio with default granularity, targets weight and bias, and says so', () => {
    const { configs, diagnostics } = parseConfigList([{ op_types: ['Conv2d'], sparsity: 0.5 }], 'pruning');
    expect(configs).toEqual([
      {
        op_types: ['Conv'],
        target_names: ['weight', 'bias'],
        target_settings: { weight: { sparse_ratio: 0.5, granularity: 'default' } },
      },
    ]);
    expect(diagnostics.filter((d) => d.code === 'legacy-config')).toEqual([
      {
        level: 'warning',
        code: 'legacy-config',
        path: '$',
        message: "legacy NNI 2.x config list (the first config has 'sparsity') translated to NNI 3.0 keys",
      },
      { level: 'info', code: 'legacy-config', path: '$[0]', message: 'sparsity → target_settings.weight.sparse_ratio' },
    ]);
  });

  it('sparsity_per_layer wins over sparsity; max_sparsity_per_layer → max_sparse_ratio', () => {
    const { configs } = translateLegacyConfigList([
      { op_names: ['fc1'], sparsity_per_layer: 0.3, sparsity: 0.9, max_sparsity_per_layer: 0.6 },
    ]);
    expect(configs).toEqual([
      {
        op_names: ['fc1'],
        target_names: ['weight', 'bias'],
        target_settings: { weight: { sparse_ratio: 0.3, granularity: 'default', max_sparse_ratio: 0.6 } },
      },
    ]);
  });

  it('total_sparsity → one global_group_id shared by every op the config selects', () => {
    const { configs } = parseConfigList(
      [
        { op_types: ['Linear'], total_sparsity: 0.5 },
        { op_types: ['Conv2d'], total_sparsity: 0.2 },
      ],
      'pruning',
    );
    expect(configs[0]!.target_settings!.weight).toEqual({
      sparse_ratio: 0.5,
      granularity: 'default',
      global_group_id: 'legacy_total_sparsity_0',
    });
    expect(configs[1]!.target_settings!.weight!.global_group_id).toBe('legacy_total_sparsity_1');
    const gemm = resolveSettings('pruning', 'Gemm', configs[0]!).get('weight');
    const matmul = resolveSettings('pruning', 'MatMul', configs[0]!).get('weight');
    expect([gemm?.global_group_id, matmul?.global_group_id, gemm?.sparse_ratio]).toEqual([
      'legacy_total_sparsity_0',
      'legacy_total_sparsity_0',
      0.5,
    ]);
  });

  it('exclude: true lends its names and types to every config; that config then selects nothing', () => {
    const { configs } = translateLegacyConfigList([
      { op_types: ['Linear'], sparsity: 0.5, exclude_op_names: ['head'] },
      { exclude: true, op_names: ['fc3'], op_types: ['Conv2d'] },
    ]);
    expect(configs).toEqual([
      {
        op_types: ['Linear'],
        exclude_op_names: ['head', 'fc3'],
        exclude_op_types: ['Conv2d'],
        target_names: ['weight', 'bias'],
        target_settings: { weight: { sparse_ratio: 0.5, granularity: 'default' } },
      },
      { op_names: ['fc3'], op_types: ['Conv2d'], exclude_op_names: ['fc3'], exclude_op_types: ['Conv2d'] },
    ]);
  });

  it('exclude: false excludes nothing; a non-boolean exclude is a fault', () => {
    expect(
      translateLegacyConfigList([
        { op_types: ['Linear'], sparsity: 0.5 },
        { exclude: false, op_names: ['fc3'] },
      ]).configs[1],
    ).toEqual({ op_names: ['fc3'] });
    expect(
      faultLines(
        [
          { op_types: ['Linear'], sparsity: 0.5 },
          { exclude: 'yes', op_names: ['fc3'] },
        ],
        'pruning',
      ),
    ).toEqual(['$[1].exclude: must be true or false, got "yes"']);
  });

  it('op_partial_names → op_names_re with .*p.*', () => {
    const { configs } = translateLegacyConfigList([{ op_partial_names: ['attention', 'ffn'], sparsity: 0.4 }]);
    expect((configs[0] as { op_names_re: string[] }).op_names_re).toEqual(['.*attention.*', '.*ffn.*']);
  });

  it('reports faults in translated values at the keys the user wrote', () => {
    expect(faultLines([{ op_types: ['Conv2d'], sparsity: 1.5, max_sparsity_per_layer: 0 }], 'pruning')).toEqual([
      '$[0].sparsity: must be < 1',
      '$[0].max_sparsity_per_layer: must be > 0',
    ]);
    expect(faultLines([{ op_partial_names: ['(?P<x>a)'], sparsity: 0.5 }], 'pruning')[0]).toMatch(
      /^\$\[0\]\.op_partial_names\[0\]: not a valid regular expression/,
    );
  });
});

describe('quantization keys', () => {
  it('quant_types + per-type quant_bits → _input_ / weight / _output_ with int{bits}', () => {
    const { configs } = parseConfigList(
      [
        {
          op_types: ['Conv2d'],
          quant_types: ['input', 'weight', 'output'],
          quant_bits: { input: 8, weight: 4, output: 8 },
        },
      ],
      'quantization',
    );
    expect(configs).toEqual([
      {
        op_types: ['Conv'],
        target_names: ['_input_', 'weight', '_output_'],
        target_settings: {
          _input_: { quant_dtype: 'int8' },
          weight: { quant_dtype: 'int4' },
          _output_: { quant_dtype: 'int8' },
        },
      },
    ]);
  });

  it('an integer quant_bits applies to every quant type; weight alone does not add bias', () => {
    const { configs } = translateLegacyConfigList([{ op_names: ['fc'], quant_types: ['weight'], quant_bits: 8 }]);
    expect(configs).toEqual([
      { op_names: ['fc'], target_names: ['weight'], target_settings: { weight: { quant_dtype: 'int8' } } },
    ]);
  });

  it('faults: a missing per-type width, an unknown quant type, a width out of 1..32', () => {
    expect(
      faultLines(
        [{ op_types: ['Conv2d'], quant_types: ['input', 'weight', 'bogus'], quant_bits: { input: 8 } }],
        'quantization',
      ),
    ).toEqual([
      "$[0].quant_bits.weight: is required for quant type 'weight'",
      "$[0].quant_types[2]: must be 'input', 'weight' or 'output'",
    ]);
    expect(faultLines([{ op_types: ['Conv2d'], quant_types: ['weight'], quant_bits: 64 }], 'quantization')).toEqual([
      '$[0].quant_bits: must be an integer bit width in 1..32, got 64',
    ]);
  });
});
