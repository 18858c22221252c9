/** @file Tests of parseConfigList: validation faults with exact JSON paths, NNI doc configs accepted, list-level warnings. */
import { describe, expect, it } from 'vitest';
import { ConfigListError, parseConfigList } from './index.ts';
import type { Mode } from './schema.ts';

/** The faults of a list that must fail, as `path: message` strings. */
function faults(json: unknown, mode: Mode): string[] {
  try {
    parseConfigList(json, mode);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigListError);
    return (err as ConfigListError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ConfigListError');
}

describe('ConfigListError', () => {
  it('names every fault with its JSON path in the message, and carries them as issues', () => {
    let error: unknown;
    try {
      parseConfigList(
        [{ op_types: ['Conv'], target_settings: { weight: { sparse_ratio: 1.2 } } }, { sparse_ratio: 0.5 }],
        'pruning',
      );
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigListError);
    const e = error as ConfigListError;
    expect(e.name).toBe('ConfigListError');
    expect(e.code).toBe('CONFIG_LIST_INVALID');
    expect(e.message).toBe(
      'invalid config list (2 faults):\n' +
        '  $[0].target_settings.weight.sparse_ratio: must be < 1\n' +
        '  $[1]: needs at least one of op_types, op_names, op_names_re',
    );
    expect(e.issues).toEqual([
      { path: '$[0].target_settings.weight.sparse_ratio', message: 'must be < 1' },
      { path: '$[1]', message: 'needs at least one of op_types, op_names, op_names_re' },
    ]);
  });

  it('reports every fault of the whole list in one pass', () => {
    const list = [
      {
        op_types: ['Conv'],
        sparse_ratio: 1.5,
        sparse_threshold: 0.1,
        min_sparse_ratio: 0.5,
        max_sparse_ratio: 0.2,
        internal_metric_block: 1.5,
        granularity: [0, 4],
        global_group_id: true,
        foo: 1,
      },
      { op_names: 'conv1' },
      5,
    ];
    expect(faults(list, 'pruning')).toEqual([
      '$[0].sparse_ratio: must be < 1',
      '$[0].global_group_id: must be an integer or a string',
      '$[0].internal_metric_block: must be an integer',
      '$[0].granularity[0]: block sizes must be positive integers or -1',
      "$[0].foo: unknown key 'foo'",
      '$[0].sparse_threshold: cannot be set together with sparse_ratio (set only one)',
      '$[0].min_sparse_ratio: must be ≤ max_sparse_ratio (0.2)',
      '$[1].op_names: expected a list, got "conv1"',
      '$[2]: expected an object, got 5',
    ]);
  });

  it('rejects a non-array list at the root', () => {
    expect(faults({ op_types: ['Conv'] }, 'pruning')).toEqual(['$: expected a list of config objects, got an object']);
  });

  it('rejects an unknown mode as a programming error, not a config fault', () => {
    expect(() => parseConfigList([], 'sparsify' as Mode)).toThrow(TypeError);
  });
});

describe('selection keys', () => {
  it('requires one of op_types / op_names / op_names_re; excludes alone do not select', () => {
    expect(faults([{ exclude_op_names: ['fc'], sparse_ratio: 0.5 }], 'pruning')).toEqual([
      '$[0]: needs at least one of op_types, op_names, op_names_re',
    ]);
  });

  it('accepts all six selection keys together', () => {
    const entry = {
      op_types: ['Gemm'],
      op_names: ['fc1'],
      op_names_re: ['encoder\\.layer\\.\\d+'],
      exclude_op_names: ['fc2'],
      exclude_op_names_re: ['.*head.*'],
      exclude_op_types: ['MatMul'],
      sparse_ratio: 0.5,
    };
    expect(parseConfigList([entry], 'pruning').configs).toEqual([entry]);
  });

  it('rejects a regex JavaScript cannot compile (Python-only named groups)', () => {
    const [fault] = faults([{ op_names_re: ['(?P<layer>fc)'] }], 'distillation');
    expect(fault).toMatch(/^\$\[0\]\.op_names_re\[0\]: not a valid regular expression \(/);
  });
});

describe('pruning keys', () => {
  it('accepts sparse_ratio in [0, 1) and rejects 1 (every weight masked), negatives, and negative thresholds', () => {
    expect(
      parseConfigList(
        [
          { op_types: ['Conv'], sparse_ratio: 0 },
          { op_types: ['Gemm'], sparse_ratio: 0.999 },
        ],
        'pruning',
      ).configs,
    ).toHaveLength(2);
    expect(faults([{ op_types: ['Conv'], sparse_ratio: -0.1 }], 'pruning')).toEqual(['$[0].sparse_ratio: must be ≥ 0']);
    expect(faults([{ op_types: ['Conv'], sparse_ratio: 1 }], 'pruning')).toEqual(['$[0].sparse_ratio: must be < 1']);
    expect(
      faults([{ op_types: ['Conv'], target_settings: { weight: { sparse_threshold: -0.5 } } }], 'pruning'),
    ).toEqual(['$[0].target_settings.weight.sparse_threshold: must be ≥ 0']);
  });

  it('refuses null entries and settings, and prototype-named keys at any depth, with their paths', () => {
    expect(faults([null, { op_types: ['Conv'], target_settings: { weight: null } }], 'pruning')).toEqual([
      '$[0]: expected an object, got null',
      '$[1].target_settings.weight: expected an object, got null',
    ]);
    for (const text of [
      '[{"op_types":["Conv"],"__proto__":{"sparse_ratio":0.5}}]',
      '[{"op_types":["Conv"],"target_settings":{"constructor":{"sparse_ratio":0.5}}}]',
    ]) {
      const [fault] = faults(JSON.parse(text), 'pruning');
      expect(fault).toMatch(
        /^\$\[0\](\.target_settings)?\.(__proto__|constructor): the key '(__proto__|constructor)' is not allowed/,
      );
    }
  });

  it('bounds max_sparse_ratio to (0, 1] and min_sparse_ratio to [0, 1)', () => {
    expect(faults([{ op_types: ['Conv'], max_sparse_ratio: 0, min_sparse_ratio: 1 }], 'pruning')).toEqual([
      '$[0].max_sparse_ratio: must be > 0',
      '$[0].min_sparse_ratio: must be < 1',
    ]);
    expect(
      parseConfigList(
        [{ op_types: ['Conv'], max_sparse_ratio: 1, min_sparse_ratio: 0, sparse_threshold: 0.1 }],
        'pruning',
      ).configs,
    ).toHaveLength(1);
  });

  it('rejects sparse_ratio with sparse_threshold at the top level and inside a target setting', () => {
    const list = [
      {
        op_types: ['Conv'],
        sparse_ratio: 0.5,
        sparse_threshold: 0.1,
        target_settings: { weight: { sparse_ratio: 0.5, sparse_threshold: 0.2 } },
      },
    ];
    expect(faults(list, 'pruning')).toEqual([
      '$[0].target_settings.weight.sparse_threshold: cannot be set together with sparse_ratio (set only one)',
      '$[0].sparse_threshold: cannot be set together with sparse_ratio (set only one)',
    ]);
  });

  it('treats null as unset for only_one (the explicit form of the NNI docs writes both keys, one null)', () => {
    const list = [{ op_names: ['fc1'], target_settings: { weight: { sparse_ratio: 0.8, sparse_threshold: null } } }];
    expect(parseConfigList(list, 'pruning').configs[0]!.target_settings!.weight).toEqual({
      sparse_ratio: 0.8,
      sparse_threshold: null,
    });
  });

  it('rejects min_sparse_ratio above max_sparse_ratio inside a target setting', () => {
    const list = [
      {
        op_names: ['fc1'],
        target_settings: { weight: { sparse_threshold: 0.1, min_sparse_ratio: 0.6, max_sparse_ratio: 0.4 } },
      },
    ];
    expect(faults(list, 'pruning')).toEqual([
      '$[0].target_settings.weight.min_sparse_ratio: must be ≤ max_sparse_ratio (0.4)',
    ]);
  });

  it('reports the out-of-range target ratio with its full path', () => {
    expect(faults([{ op_names: ['fc1'], target_settings: { weight: { sparse_ratio: 1.01 } } }], 'pruning')).toEqual([
      '$[0].target_settings.weight.sparse_ratio: must be < 1',
    ]);
  });

  it('quotes target names that are not identifiers in paths', () => {
    expect(faults([{ op_names: ['fc1'], target_settings: { 'my.weight': { sparse_ratio: 2 } } }], 'pruning')).toEqual([
      '$[0].target_settings["my.weight"].sparse_ratio: must be < 1',
    ]);
  });

  it('accepts group ids as ints or strings and dependency_group_id "auto"', () => {
    const list = [
      { op_names: ['fc1'], sparse_ratio: 0.5, global_group_id: 1 },
      { op_names: ['fc2'], sparse_ratio: 0.5, global_group_id: 'g1', dependency_group_id: 'auto' },
    ];
    expect(parseConfigList(list, 'pruning').configs.map((c) => [c.global_group_id, c.dependency_group_id])).toEqual([
      [1, undefined],
      ['g1', 'auto'],
    ]);
    expect(faults([{ op_names: ['fc1'], dependency_group_id: 1.5 }], 'pruning')).toEqual([
      '$[0].dependency_group_id: must be an integer or a string',
    ]);
  });

  it('requires internal_metric_block to be an integer ≥ 1', () => {
    expect(faults([{ op_types: ['Conv'], internal_metric_block: 0 }], 'pruning')).toEqual([
      '$[0].internal_metric_block: must be ≥ 1',
    ]);
  });

  it('accepts the four granularity keywords and block lists of positive ints or -1', () => {
    const grains = ['default', 'out_channel', 'in_channel', 'per_channel', [4, 4], [-1, 1], [1, -1, -1, -1]];
    const list = grains.map((granularity) => ({ op_types: ['Conv'], granularity }));
    expect(parseConfigList(list, 'pruning').configs.map((c) => c.granularity)).toEqual(grains);
  });

  it('rejects an unknown granularity word, an empty block list and a zero block', () => {
    const list = [
      { op_types: ['Conv'], granularity: 'channel' },
      { op_types: ['Conv'], granularity: [] },
      { op_types: ['Conv'], granularity: [2, 0] },
    ];
    const expected =
      "must be 'default', 'out_channel', 'in_channel', 'per_channel' or a non-empty list of block sizes (positive ints or -1)";
    expect(faults(list, 'pruning')).toEqual([
      `$[0].granularity: ${expected}`,
      '$[1].granularity: a block list needs at least one size',
      '$[2].granularity[1]: block sizes must be positive integers or -1',
    ]);
  });

  it('accepts the public and internal apply methods and rejects others', () => {
    const methods = ['mul', 'add', 'bypass', 'movement_mul', 'movement_add', 'slim_mul'];
    expect(
      parseConfigList(
        methods.map((apply_method) => ({ op_types: ['Gemm'], apply_method })),
        'pruning',
      ).configs,
    ).toHaveLength(6);
    expect(faults([{ op_types: ['Gemm'], apply_method: 'clamp_round' }], 'pruning')).toEqual([
      '$[0].apply_method: must be one of "mul", "add", "bypass", "movement_mul", "movement_add", "slim_mul"; got "clamp_round"',
    ]);
  });

  it('validates align strictly (module_name optional/null, target_name required, dims ints)', () => {
    const ok = {
      op_names: ['bn1'],
      target_settings: { weight: { align: { module_name: 'conv1', target_name: 'weight', dims: [0] } } },
    };
    expect(parseConfigList([ok], 'pruning').configs[0]).toEqual(ok);
    const bad = { op_names: ['bn1'], target_settings: { weight: { align: { module: 'conv1', dims: [0.5] } } } };
    expect(faults([bad], 'pruning')).toEqual([
      '$[0].target_settings.weight.align.target_name: is required',
      '$[0].target_settings.weight.align.dims[0]: must be an integer',
      "$[0].target_settings.weight.align.module: unknown key 'module'",
    ]);
  });
});

describe('unknown keys', () => {
  it('rejects an unknown key at the top level and inside a target setting, each with its path', () => {
    expect(
      faults([{ op_types: ['Conv'], sparse_ration: 0.5, target_settings: { weight: { ratio: 0.5 } } }], 'pruning'),
    ).toEqual([
      "$[0].target_settings.weight.ratio: unknown key 'ratio'",
      "$[0].sparse_ration: unknown key 'sparse_ration'",
    ]);
  });

  it('says when a key belongs to another mode, and that fuse_names is quantization-only', () => {
    expect(
      faults([{ op_types: ['Conv'], quant_dtype: 'int8', lambda: 1, fuse_names: [['a', 'b']] }], 'pruning'),
    ).toEqual([
      "$[0].quant_dtype: unknown key 'quant_dtype' (a quantization key; this is a pruning config list)",
      "$[0].lambda: unknown key 'lambda' (a distillation key; this is a pruning config list)",
      "$[0].fuse_names: unknown key 'fuse_names' (fuse_names is for quantization only)",
    ]);
  });

  it('says a 2.x key is translated only when the first config is legacy', () => {
    expect(
      faults(
        [
          { op_types: ['Conv'], sparse_ratio: 0.5 },
          { op_types: ['Gemm'], sparsity: 0.5 },
        ],
        'pruning',
      ),
    ).toEqual([
      "$[1].sparsity: unknown key 'sparsity' (an NNI 2.x key; 2.x lists are translated only when the first config has exclude, sparsity, sparsity_per_layer, total_sparsity or quant_types)",
    ]);
  });
});

describe('quantization keys', () => {
  it('accepts int{N} / uint{N} for N in 1..32 and null (= int8)', () => {
    const dtypes = ['int8', 'uint8', 'int4', 'uint6', 'int1', 'uint32', null];
    const list = dtypes.map((quant_dtype) => ({ op_types: ['Conv'], quant_dtype }));
    expect(parseConfigList(list, 'quantization').configs.map((c) => c.quant_dtype)).toEqual(dtypes);
  });

  it('rejects other dtypes with the accepted form in the message', () => {
    const bad = ['int0', 'int33', 'int64', 'float8', 'INT8', 'int08x'];
    const msg = "must be 'int{N}' or 'uint{N}' with N in 1..32, or null for int8";
    expect(
      faults(
        bad.map((quant_dtype) => ({ op_types: ['Conv'], quant_dtype })),
        'quantization',
      ),
    ).toEqual(bad.map((_, i) => `$[${i}].quant_dtype: ${msg}`));
    expect(faults([{ op_types: ['Conv'], quant_dtype: 8 }], 'quantization')).toEqual([
      '$[0].quant_dtype: expected a string, got 8',
    ]);
  });

  it('accepts quant_scheme affine / symmetric / null and rejects others', () => {
    expect(
      parseConfigList(
        [
          { op_types: ['Conv'], quant_scheme: null },
          { op_types: ['Conv'], quant_scheme: 'symmetric' },
        ],
        'quantization',
      ).configs,
    ).toHaveLength(2);
    expect(
      faults([{ op_types: ['Conv'], target_settings: { weight: { quant_scheme: 'asymmetric' } } }], 'quantization'),
    ).toEqual(['$[0].target_settings.weight.quant_scheme: must be one of "affine", "symmetric"; got "asymmetric"']);
  });

  it('accepts the three quantization apply methods only', () => {
    expect(faults([{ op_types: ['Conv'], apply_method: 'mul' }], 'quantization')).toEqual([
      '$[0].apply_method: must be one of "bypass", "clamp_round", "qat_clamp_round"; got "mul"',
    ]);
  });

  it('accepts the NNI doc quantization config with a conv-bn fusion', () => {
    const entry = {
      op_names: ['conv1'],
      target_names: ['_input_', 'weight', '_output_'],
      quant_dtype: 'int8',
      quant_scheme: 'affine',
      granularity: 'default',
      fuse_names: [['conv1', 'batchnorm1']],
    };
    expect(parseConfigList([entry], 'quantization')).toEqual({ configs: [entry], diagnostics: [] });
  });

  it('checks the fuse_names shape: a list of 2- or 3-name lists', () => {
    const list = [{ op_names: ['a', 'd'], fuse_names: [['a'], ['d', 'e', 'f', 'g'], 'x', [['a', 'b']]] }];
    expect(faults(list, 'quantization')).toEqual([
      '$[0].fuse_names[0]: a fusion group lists 2 or 3 op names',
      '$[0].fuse_names[1]: a fusion group lists 2 or 3 op names',
      '$[0].fuse_names[2]: expected a list, got "x"',
      '$[0].fuse_names[3][0]: expected a string, got a list',
      '$[0].fuse_names[3]: a fusion group lists 2 or 3 op names',
    ]);
    expect(
      parseConfigList([{ op_names: ['conv1'], fuse_names: [['conv1', 'bn1', 'relu1']] }], 'quantization').configs,
    ).toHaveLength(1);
  });

  it('rejects an op in two fusion groups across the list, even next to other faults', () => {
    const list = [
      { op_names: ['conv1'], quant_dtype: 'int64', fuse_names: [['conv1', 'bn1']] },
      { op_names: ['bn1'], fuse_names: [['bn1', 'relu1']] },
    ];
    expect(faults(list, 'quantization')).toEqual([
      "$[0].quant_dtype: must be 'int{N}' or 'uint{N}' with N in 1..32, or null for int8",
      "$[1].fuse_names[0][0]: 'bn1' is already fused at $[0].fuse_names[0][1]; an op may be in one fusion group only",
    ]);
  });

  it('requires the first op of a fusion group to be selected by the same config when it selects by name', () => {
    expect(faults([{ op_names: ['conv2'], fuse_names: [['conv1', 'bn1']] }], 'quantization')).toEqual([
      "$[0].fuse_names[0][0]: 'conv1' must be selected by this config's op_names or op_names_re",
    ]);
    const byRegex = [{ op_names_re: ['backbone\\.conv'], fuse_names: [['backbone.conv1', 'backbone.bn1']] }];
    expect(parseConfigList(byRegex, 'quantization').configs).toHaveLength(1);
    const byType = [{ op_types: ['Conv'], fuse_names: [['conv1', 'bn1']] }];
    expect(parseConfigList(byType, 'quantization').configs).toHaveLength(1);
  });
});

describe('distillation keys', () => {
  it('accepts the BERT tutorial configs (link list + mse, link name + kl)', () => {
    const list = [
      {
        op_names: ['bert.encoder.layer.10'],
        link: ['bert.encoder.layer.10', 'bert.encoder.layer.11'],
        lambda: 0.9,
        apply_method: 'mse',
      },
      { op_names: ['classifier'], link: ['classifier'], lambda: 0.9, apply_method: 'kl' },
      { op_types: ['Gemm'], link: 'auto' },
    ];
    expect(parseConfigList(list, 'distillation').configs).toEqual(list);
  });

  it('rejects a numeric link, a string lambda and an unknown loss', () => {
    expect(faults([{ op_names: ['fc'], link: 3, lambda: '0.9', apply_method: 'l1' }], 'distillation')).toEqual([
      '$[0].lambda: expected a number, got "0.9"',
      "$[0].link: must be a teacher op name, a list of names, or 'auto'",
      '$[0].apply_method: must be one of "mse", "kl"; got "l1"',
    ]);
  });
});

describe('NNI doc configs', () => {
  it('accepts the global budget example (two configs sharing global_group_id)', () => {
    const list = [
      { op_names: ['fc1', 'fc2'], sparse_ratio: 0.5, global_group_id: 'linear_group_1' },
      { op_names: ['fc3'], sparse_ratio: 0.5, global_group_id: 'linear_group_1' },
    ];
    expect(parseConfigList(list, 'pruning')).toEqual({ configs: list, diagnostics: [] });
  });

  it('accepts the explicit form with every template key written out, nulls included', () => {
    const standard = {
      op_names: ['fc1', 'fc2'],
      target_names: ['weight', 'bias'],
      target_settings: {
        weight: {
          sparse_ratio: 0.8,
          max_sparse_ratio: null,
          min_sparse_ratio: null,
          sparse_threshold: null,
          global_group_id: null,
          dependency_group_id: null,
          granularity: 'default',
          internal_metric_block: null,
          apply_method: 'mul',
        },
        bias: { align: { target_name: 'weight', dims: [0] }, apply_method: 'mul' },
      },
    };
    expect(parseConfigList([standard], 'pruning').configs).toEqual([standard]);
  });

  it('accepts the "temporarily setting update" example (no ratio anywhere: NNI only_one is optional)', () => {
    const list = [
      { op_names: ['conv1', 'conv2'], granularity: 'out_channel' },
      {
        op_names: ['bn1'],
        target_settings: {
          weight: { align: { module_name: 'conv1', target_name: 'weight', dims: [0] }, granularity: 'out_channel' },
        },
      },
    ];
    expect(parseConfigList(list, 'pruning').configs).toEqual(list);
  });
});

describe('list-level warnings', () => {
  it('warns that an empty list compresses nothing', () => {
    expect(parseConfigList([], 'pruning')).toEqual({
      configs: [],
      diagnostics: [
        {
          level: 'warning',
          code: 'empty-config-list',
          path: '$',
          message: 'the config list is empty: nothing will be compressed',
        },
      ],
    });
  });

  it('warns that an empty target_names means every template target', () => {
    expect(
      parseConfigList([{ op_types: ['Conv'], target_names: [], sparse_ratio: 0.5 }], 'pruning').diagnostics,
    ).toEqual([
      {
        level: 'warning',
        code: 'empty-target-names',
        path: '$[0].target_names',
        message: 'target_names is empty; NNI reads an empty list as every target of the template',
      },
    ]);
  });

  it('does not mutate the caller’s JSON', () => {
    const json = [{ op_types: ['Conv2d'], sparse_ratio: 0.5 }];
    const snapshot = structuredClone(json);
    parseConfigList(json, 'pruning');
    expect(json).toEqual(snapshot);
  });
});
