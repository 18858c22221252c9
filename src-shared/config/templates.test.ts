/** @file Tests of the template tables, the template registry and the parameter roles. */
import { describe, expect, it } from 'vitest';
import {
  ConfigListError,
  getTemplate,
  PARAM_ROLES,
  paramRoles,
  PRUNING_TEMPLATES,
  QUANTIZATION_TEMPLATES,
  registerTemplate,
  type PruningSetting,
  type Template,
} from './index.ts';

const PRUNABLE_WEIGHT: PruningSetting = {
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
const ALIGNED_BIAS = { align: { module_name: null, target_name: 'weight', dims: [0] }, apply_method: 'mul' };
const QUANT_TARGET = { quant_dtype: null, quant_scheme: null, granularity: 'default', apply_method: 'clamp_round' };

describe('pruning table', () => {
  it('gives weight + aligned bias to Conv, ConvTranspose, Gemm, MatMul, BatchNormalization, LayerNormalization', () => {
    for (const op of ['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization', 'LayerNormalization']) {
      expect([op, getTemplate('pruning', op)]).toEqual([op, { weight: PRUNABLE_WEIGHT, bias: ALIGNED_BIAS }]);
    }
  });

  it('gives Gather (embedding) a weight only', () => {
    expect(getTemplate('pruning', 'Gather')).toEqual({ weight: PRUNABLE_WEIGHT });
  });

  it('gives activations input / output targets, no weights', () => {
    expect(getTemplate('pruning', 'Relu')).toEqual({
      _input_: { granularity: 'default', apply_method: 'mul' },
      _output_: { granularity: 'default', apply_method: 'mul' },
    });
    expect(getTemplate('pruning', 'TopK')).toBeUndefined();
    expect(Object.keys(PRUNING_TEMPLATES)).toEqual([
      'Conv',
      'ConvTranspose',
      'Gemm',
      'MatMul',
      'BatchNormalization',
      'LayerNormalization',
      'Gather',
    ]);
  });
});

describe('quantization table', () => {
  it('gives parameter ops _input_, weight, bias, _output_', () => {
    for (const op of ['Conv', 'ConvTranspose', 'Gemm', 'MatMul', 'BatchNormalization']) {
      const t = getTemplate('quantization', op);
      expect([op, Object.keys(t!)]).toEqual([op, ['_input_', 'weight', 'bias', '_output_']]);
      expect(t!.weight).toEqual(QUANT_TARGET);
    }
  });

  it('gives activation / pooling / Add / Concat ops _input_ and _output_ only', () => {
    const io = [
      'Relu',
      'Clip',
      'MaxPool',
      'AveragePool',
      'GlobalAveragePool',
      'Sigmoid',
      'HardSwish',
      'HardSigmoid',
      'Add',
      'Concat',
    ];
    for (const op of io)
      expect([op, getTemplate('quantization', op)]).toEqual([op, { _input_: QUANT_TARGET, _output_: QUANT_TARGET }]);
    expect(Object.keys(QUANTIZATION_TEMPLATES)).toHaveLength(15);
    expect(getTemplate('quantization', 'Softmax')).toBeUndefined();
  });
});

describe('distillation', () => {
  it('gives every op type the _output_ template', () => {
    for (const op of ['Gemm', 'Add', 'SomeCustomOp']) {
      expect(getTemplate('distillation', op)).toEqual({ _output_: { lambda: null, link: null, apply_method: null } });
    }
  });
});

describe('getTemplate', () => {
  it('returns a deep copy each time', () => {
    const first = getTemplate('pruning', 'Conv')!;
    first.bias!.align!.dims.push(1);
    first.weight!.sparse_ratio = 0.9;
    expect(getTemplate('pruning', 'Conv')).toEqual({ weight: PRUNABLE_WEIGHT, bias: ALIGNED_BIAS });
  });

  it('does not read inherited object keys as op types', () => {
    expect(getTemplate('pruning', 'constructor')).toBeUndefined();
  });
});

describe('registerTemplate', () => {
  it('registers the NNI docs custom-module template (p1, p2, _output_ aligned to p1)', () => {
    const custom: Template<'pruning'> = {
      p1: { ...PRUNABLE_WEIGHT, granularity: [1, -1] },
      p2: { ...PRUNABLE_WEIGHT, granularity: [1, -1] },
      _output_: {
        align: { module_name: null, target_name: 'p1', dims: [0] },
        apply_method: 'mul',
        granularity: [-1, 1],
      },
    };
    registerTemplate('pruning', 'CustomizedModule', custom);
    expect(getTemplate('pruning', 'CustomizedModule')).toEqual(custom);
  });

  it('stores a copy, and a second registration replaces the first', () => {
    const t = {
      _output_: {
        quant_dtype: 'uint8',
        quant_scheme: 'affine' as const,
        granularity: 'default' as const,
        apply_method: 'clamp_round' as const,
      },
    };
    registerTemplate('quantization', 'MyGelu', t);
    t._output_.quant_dtype = 'int4';
    expect(getTemplate('quantization', 'MyGelu')!._output_!.quant_dtype).toBe('uint8');
    registerTemplate('quantization', 'MyGelu', { _input_: { quant_dtype: null } });
    expect(getTemplate('quantization', 'MyGelu')).toEqual({ _input_: { quant_dtype: null } });
  });

  it('overrides the distillation default for one op type only', () => {
    registerTemplate('distillation', 'Split', { _output_1: { lambda: 0.5, link: 'auto', apply_method: 'kl' } });
    expect(getTemplate('distillation', 'Split')).toEqual({
      _output_1: { lambda: 0.5, link: 'auto', apply_method: 'kl' },
    });
    expect(getTemplate('distillation', 'Concat')).toEqual({
      _output_: { lambda: null, link: null, apply_method: null },
    });
  });

  it('rejects an invalid template with the path of each fault and keeps the old one', () => {
    const bad = { weight: { sparse_ratio: 2, granularity: 'rows' } } as unknown as Template<'pruning'>;
    expect(() => registerTemplate('pruning', 'Conv', bad)).toThrow(ConfigListError);
    try {
      registerTemplate('pruning', 'Conv', bad);
    } catch (err) {
      expect((err as ConfigListError).message).toBe(
        "invalid pruning template for 'Conv' (2 faults):\n" +
          '  template.weight.sparse_ratio: must be < 1\n' +
          "  template.weight.granularity: must be 'default', 'out_channel', 'in_channel', 'per_channel' or a non-empty list of block sizes (positive ints or -1)",
      );
    }
    expect(getTemplate('pruning', 'Conv')).toEqual({ weight: PRUNABLE_WEIGHT, bias: ALIGNED_BIAS });
  });
});

describe('PARAM_ROLES', () => {
  it('names the node input of weight and bias per op type', () => {
    expect(PARAM_ROLES).toEqual({
      Conv: { weight: 1, bias: 2 },
      ConvTranspose: { weight: 1, bias: 2 },
      Gemm: { weight: 1, bias: 2 },
      MatMul: { weight: 'constant-operand' },
      BatchNormalization: { weight: 1, bias: 2 },
      LayerNormalization: { weight: 1, bias: 2 },
      Gather: { weight: 0 },
    });
  });

  it('has a row for every op type of the pruning table, and paramRoles() looks one up', () => {
    expect(Object.keys(PARAM_ROLES).sort()).toEqual(Object.keys(PRUNING_TEMPLATES).sort());
    expect(paramRoles('Gemm')).toEqual({ weight: 1, bias: 2 });
    expect(paramRoles('Relu')).toBeUndefined();
    expect(paramRoles('toString')).toBeUndefined();
  });
});
