/** @file Tests of resolveSettings (NNI's ModuleSetting.get) and defaultGranularity, with NNI doc configs. */
import { describe, expect, it } from 'vitest';
import {
  defaultGranularity,
  NoTemplateError,
  normaliseTargetNames,
  parseConfigList,
  resolveSettings,
  type Diagnostic,
  type Mode,
} from './index.ts';

/** Parses one entry and resolves it for one op type; returns plain objects for exact comparison. */
function resolve(mode: Mode, opType: string, entry: unknown, diagnostics?: Diagnostic[]): Record<string, unknown> {
  const { configs } = parseConfigList([entry], mode);
  return Object.fromEntries(resolveSettings(mode, opType, configs[0]!, { diagnostics, path: '$[0]', node: 'n1' }));
}

const WEIGHT_UNSET = {
  sparse_ratio: null,
  sparse_threshold: null,
  max_sparse_ratio: null,
  min_sparse_ratio: null,
  global_group_id: null,
  dependency_group_id: null,
  internal_metric_block: null,
  granularity: 'default',
  apply_method: 'mul',
};
const BIAS = { align: { module_name: null, target_name: 'weight', dims: [0] }, apply_method: 'mul' };

describe('shortcut keys', () => {
  it("NNI's shorthand {op_types: ['Linear'], sparse_ratio: 0.8} lands the ratio on weight, not on bias", () => {
    expect(resolve('pruning', 'Gemm', { op_types: ['Linear'], sparse_ratio: 0.8 })).toEqual({
      weight: { ...WEIGHT_UNSET, sparse_ratio: 0.8 },
      bias: BIAS,
    });
  });

  it('is equivalent to the explicit standard config of the NNI docs (bias align replaced whole: dict update is shallow)', () => {
    const standard = {
      op_names: ['fc1', 'fc2'],
      target_names: ['weight', 'bias'],
      target_settings: {
        weight: { ...WEIGHT_UNSET, sparse_ratio: 0.8 },
        bias: { align: { target_name: 'weight', dims: [0] }, apply_method: 'mul' },
      },
    };
    const explicit = resolve('pruning', 'Gemm', standard);
    const shorthand = resolve('pruning', 'Gemm', { op_types: ['Linear'], sparse_ratio: 0.8 });
    expect(explicit.weight).toEqual(shorthand.weight);
    expect(explicit.bias).toEqual({ align: { target_name: 'weight', dims: [0] }, apply_method: 'mul' });
  });

  it('copies a shortcut only into targets that declare the key (granularity: weight yes, bias no)', () => {
    expect(resolve('pruning', 'Conv', { op_types: ['Conv2d'], sparse_ratio: 0.5, granularity: 'out_channel' })).toEqual(
      {
        weight: { ...WEIGHT_UNSET, sparse_ratio: 0.5, granularity: 'out_channel' },
        bias: BIAS,
      },
    );
  });

  it('lets apply_method, declared by both targets, land on both', () => {
    const out = resolve('pruning', 'Conv', { op_types: ['Conv'], apply_method: 'add' });
    expect([
      (out.weight as { apply_method: string }).apply_method,
      (out.bias as { apply_method: string }).apply_method,
    ]).toEqual(['add', 'add']);
  });

  it('drops a shortcut no target declares (align on a weight-only Gather template)', () => {
    const out = resolve('pruning', 'Gather', {
      op_types: ['Embedding'],
      sparse_ratio: 0.3,
      align: { target_name: 'weight', dims: [1] },
    });
    expect(out).toEqual({ weight: { ...WEIGHT_UNSET, sparse_ratio: 0.3 } });
  });

  it('does not treat selection, target or fuse keys as shortcuts', () => {
    const out = resolve('quantization', 'Conv', {
      op_names: ['conv1'],
      target_names: ['weight'],
      quant_dtype: 'int8',
      fuse_names: [['conv1', 'bn1']],
    });
    expect(out).toEqual({
      weight: { quant_dtype: 'int8', quant_scheme: null, granularity: 'default', apply_method: 'clamp_round' },
    });
  });
});

describe('target_settings', () => {
  it('merges last, over both template and shortcuts', () => {
    const out = resolve('pruning', 'Conv', {
      op_types: ['Conv'],
      sparse_ratio: 0.5,
      granularity: 'out_channel',
      target_settings: { weight: { sparse_ratio: 0.7 }, bias: { apply_method: 'bypass' } },
    });
    expect(out).toEqual({
      weight: { ...WEIGHT_UNSET, sparse_ratio: 0.7, granularity: 'out_channel' },
      bias: { ...BIAS, apply_method: 'bypass' },
    });
  });

  it('may add keys the template lacks (a ratio on bias) and new targets, which join the default target list', () => {
    const out = resolve('pruning', 'Conv', {
      op_types: ['Conv'],
      target_settings: { bias: { sparse_ratio: 0.25 }, _output_: { sparse_ratio: 0.5, granularity: 'per_channel' } },
    });
    expect(Object.keys(out)).toEqual(['weight', 'bias', '_output_0']);
    expect(out.bias).toEqual({ ...BIAS, sparse_ratio: 0.25 });
    expect(out._output_0).toEqual({ sparse_ratio: 0.5, granularity: 'per_channel' });
  });

  it('the BN-aligned-to-conv doc config resolves to one aligned weight target', () => {
    const out = resolve('pruning', 'BatchNormalization', {
      op_names: ['bn1'],
      target_names: ['weight'],
      target_settings: {
        weight: { align: { module_name: 'conv1', target_name: 'weight', dims: [0] }, granularity: 'out_channel' },
      },
    });
    expect(out).toEqual({
      weight: {
        ...WEIGHT_UNSET,
        granularity: 'out_channel',
        align: { module_name: 'conv1', target_name: 'weight', dims: [0] },
      },
    });
  });
});

describe('target names', () => {
  it('default to every template target with _input_ / _output_ normalised to index 0 at the end', () => {
    const out = resolve('quantization', 'Gemm', { op_types: ['Linear'], quant_dtype: 'int8' });
    expect(Object.keys(out)).toEqual(['weight', 'bias', '_input_0', '_output_0']);
    expect(out.bias).toEqual({
      quant_dtype: 'int8',
      quant_scheme: null,
      granularity: 'default',
      apply_method: 'clamp_round',
    });
  });

  it('the NNI doc quantization config: _input_ → _input_0, _output_ → _output_0, int8 affine on each', () => {
    const out = resolve('quantization', 'Conv', {
      op_names: ['conv1'],
      target_names: ['_input_', 'weight', '_output_'],
      quant_dtype: 'int8',
      quant_scheme: 'affine',
      granularity: 'default',
      fuse_names: [['conv1', 'batchnorm1']],
    });
    const setting = {
      quant_dtype: 'int8',
      quant_scheme: 'affine',
      granularity: 'default',
      apply_method: 'clamp_round',
    };
    expect(out).toEqual({ weight: setting, _input_0: setting, _output_0: setting });
    expect(Object.keys(out)).toEqual(['weight', '_input_0', '_output_0']);
  });

  it('an empty target_names means every template target (NNI)', () => {
    expect(
      Object.keys(resolve('pruning', 'Conv', { op_types: ['Conv'], target_names: [], sparse_ratio: 0.5 })),
    ).toEqual(['weight', 'bias']);
  });

  it('normaliseTargetNames keeps order, moves the bare prefixes last and collapses duplicates', () => {
    expect(normaliseTargetNames(['_output_', 'weight', '_input_', '_input_0', 'weight'])).toEqual([
      'weight',
      '_input_0',
      '_output_0',
    ]);
  });
});

describe('input / output fallback', () => {
  it('_input_1 not in the template takes the _input_ setting, shortcuts included', () => {
    const out = resolve('quantization', 'Add', {
      op_types: ['Add'],
      target_names: ['_input_0', '_input_1'],
      quant_dtype: 'uint8',
    });
    const setting = { quant_dtype: 'uint8', quant_scheme: null, granularity: 'default', apply_method: 'clamp_round' };
    expect(out).toEqual({ _input_0: setting, _input_1: setting });
  });

  it('falls back to the merged _input_ (target_settings included)', () => {
    const out = resolve('quantization', 'Concat', {
      op_types: ['Concat'],
      target_names: ['_input_2'],
      target_settings: { _input_: { quant_scheme: 'affine' } },
    });
    expect(out).toEqual({
      _input_2: { quant_dtype: null, quant_scheme: 'affine', granularity: 'default', apply_method: 'clamp_round' },
    });
  });

  it('a target_settings entry for _input_1 itself is taken as written, not merged with _input_ (NNI)', () => {
    const out = resolve('quantization', 'Add', {
      op_types: ['Add'],
      target_names: ['_input_1'],
      quant_dtype: 'int8',
      target_settings: { _input_1: { quant_scheme: 'affine' } },
    });
    expect(out).toEqual({ _input_1: { quant_scheme: 'affine' } });
  });

  it('_output_ of a distilled op resolves through the any-op template', () => {
    const out = resolve('distillation', 'Add', {
      op_names: ['bert.encoder.layer.0'],
      link: ['bert.encoder.layer.0', 'bert.encoder.layer.1'],
      lambda: 0.9,
      apply_method: 'mse',
    });
    expect(out).toEqual({
      _output_0: { lambda: 0.9, link: ['bert.encoder.layer.0', 'bert.encoder.layer.1'], apply_method: 'mse' },
    });
  });
});

describe('faults found while resolving', () => {
  it('a target neither the template nor target_settings defines is left out with an error diagnostic naming it', () => {
    const diagnostics: Diagnostic[] = [];
    const out = resolve(
      'pruning',
      'BatchNormalization',
      { op_names: ['bn1'], target_names: ['weight', 'running_mean'], sparse_ratio: 0.5 },
      diagnostics,
    );
    expect(Object.keys(out)).toEqual(['weight']);
    expect(diagnostics).toEqual([
      {
        level: 'error',
        code: 'unknown-target',
        path: '$[0].target_names',
        node: 'n1',
        message:
          "target 'running_mean' is defined neither by the pruning template of BatchNormalization (weight, bias) nor by target_settings",
      },
    ]);
  });

  it('an _output_ on a template without _output_ has no fallback', () => {
    const diagnostics: Diagnostic[] = [];
    expect(
      resolve('pruning', 'Conv', { op_types: ['Conv'], target_names: ['_output_'], sparse_ratio: 0.5 }, diagnostics),
    ).toEqual({});
    expect(diagnostics.map((d) => d.message)).toEqual([
      "target '_output_0' is defined neither by the pruning template of Conv (weight, bias) nor by target_settings",
    ]);
  });

  it('min above max and ratio with threshold, each legal alone, are flagged once merged', () => {
    const diagnostics: Diagnostic[] = [];
    resolve(
      'pruning',
      'Conv',
      {
        op_types: ['Conv'],
        sparse_ratio: 0.5,
        min_sparse_ratio: 0.6,
        target_settings: { weight: { sparse_threshold: 0.1, max_sparse_ratio: 0.4 } },
      },
      diagnostics,
    );
    expect(diagnostics.map((d) => [d.level, d.code, d.message])).toEqual([
      [
        'warning',
        'ratio-and-threshold',
        "target 'weight' has both sparse_ratio and sparse_threshold after merging; both rules apply",
      ],
      ['error', 'min-above-max', "target 'weight' has min_sparse_ratio 0.6 > max_sparse_ratio 0.4 after merging"],
    ]);
  });

  it('ops without weights that simulation can mask have input / output pruning targets by default', () => {
    const { configs } = parseConfigList(
      [
        {
          op_types: ['Softmax'],
          apply_method: 'add',
          target_settings: { _input_: { align: { module_name: 'fc', target_name: 'weight', dims: [0] } } },
        },
      ],
      'pruning',
    );
    const r = resolveSettings('pruning', 'Softmax', configs[0]!);
    expect([...r.keys()]).toEqual(['_input_0', '_output_0']);
    expect(r.get('_input_0')).toEqual({
      granularity: 'default',
      apply_method: 'add',
      align: { module_name: 'fc', target_name: 'weight', dims: [0] },
    });
    expect(r.get('_output_0')).toEqual({ granularity: 'default', apply_method: 'add' });
  });

  it('an op type without a template throws NoTemplateError naming it (pruning and quantization)', () => {
    const { configs } = parseConfigList([{ op_types: ['TopK'], sparse_ratio: 0.5 }], 'pruning');
    expect(() => resolveSettings('pruning', 'TopK', configs[0]!, { node: 'topk_3' })).toThrow(NoTemplateError);
    try {
      resolveSettings('pruning', 'TopK', configs[0]!, { node: 'topk_3' });
    } catch (err) {
      const e = err as NoTemplateError;
      expect([e.name, e.code, e.opType, e.mode]).toEqual(['NoTemplateError', 'NO_TEMPLATE', 'TopK', 'pruning']);
      expect(e.message).toBe(
        "no pruning template for ONNX op type 'TopK' (node \"topk_3\"); register one with registerTemplate('pruning', 'TopK', { <target>: { …setting } })",
      );
    }
    const q = parseConfigList([{ op_types: ['Softmax'], quant_dtype: 'int8' }], 'quantization').configs[0]!;
    expect(() => resolveSettings('quantization', 'Softmax', q)).toThrow(
      /no quantization template for ONNX op type 'Softmax'/,
    );
  });

  it('does not mutate the entry or the registry', () => {
    const { configs } = parseConfigList(
      [{ op_types: ['Conv'], sparse_ratio: 0.5, target_settings: { bias: { sparse_ratio: 0.1 } } }],
      'pruning',
    );
    const before = structuredClone(configs[0]);
    const first = resolveSettings('pruning', 'Conv', configs[0]!);
    first.get('weight')!.sparse_ratio = 0.99;
    expect(configs[0]).toEqual(before);
    expect(resolveSettings('pruning', 'Conv', configs[0]!).get('weight')!.sparse_ratio).toBe(0.5);
  });
});

describe('defaultGranularity', () => {
  it('norm-family pruners: out_channel on parameters, per_channel on inputs / outputs', () => {
    expect(['weight', 'bias', '_input_0', '_output_1'].map((t) => defaultGranularity('norm', t))).toEqual([
      'out_channel',
      'out_channel',
      'per_channel',
      'per_channel',
    ]);
  });

  it('LevelPruner is element-wise and quantizers per-tensor (null) on every target', () => {
    expect(['weight', '_output_0'].map((t) => defaultGranularity('level', t))).toEqual([null, null]);
    expect(['weight', '_input_0'].map((t) => defaultGranularity('quantizer', t))).toEqual([null, null]);
  });
});

describe('null for a key whose template value is unset', () => {
  // docs/pruning.md "null means unset": NNI's templates hold None for these keys and its docs write them out as None.
  const UNSET_KEYS = {
    pruning: [
      'sparse_ratio',
      'sparse_threshold',
      'max_sparse_ratio',
      'min_sparse_ratio',
      'global_group_id',
      'dependency_group_id',
      'internal_metric_block',
    ],
    quantization: ['quant_dtype', 'quant_scheme'],
  } as const;

  it('resolves to exactly the settings of leaving the key out, at the top level and in target_settings', () => {
    for (const key of UNSET_KEYS.pruning) {
      const base = {
        op_types: ['Conv'],
        ...(key === 'sparse_ratio' ? { sparse_threshold: 0.1 } : { sparse_ratio: 0.5 }),
      };
      const without = resolve('pruning', 'Conv', base);
      expect(resolve('pruning', 'Conv', { ...base, [key]: null }), key).toEqual(without);
      expect(resolve('pruning', 'Conv', { ...base, target_settings: { weight: { [key]: null } } }), key).toEqual(
        without,
      );
    }
    for (const key of UNSET_KEYS.quantization) {
      const base = { op_types: ['Conv'], target_names: ['weight'] };
      expect(resolve('quantization', 'Conv', { ...base, [key]: null }), key).toEqual(
        resolve('quantization', 'Conv', base),
      );
    }
  });

  it('is refused with its JSON path where a value or an object is required', () => {
    const required = {
      op_types: null,
      target_names: null,
      target_settings: null,
      granularity: null,
      apply_method: null,
      align: null,
    };
    for (const [key, value] of Object.entries(required)) {
      const entry = { op_types: ['Conv'], sparse_ratio: 0.5, [key]: value };
      expect(() => parseConfigList([entry], 'pruning'), key).toThrow(new RegExp(`\\$\\[0\\]\\.${key}: `));
    }
    expect(() =>
      parseConfigList(
        [{ op_types: ['Conv'], target_settings: { bias: { align: { target_name: null, dims: [0] } } } }],
        'pruning',
      ),
    ).toThrow(/\$\[0\]\.target_settings\.bias\.align\.target_name: /);
  });
});
