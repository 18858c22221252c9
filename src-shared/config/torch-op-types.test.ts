/** @file Tests of reading PyTorch class names in op_types / exclude_op_types as ONNX op types, with diagnostics. */
import { describe, expect, it } from 'vitest';
import { mapTorchOpTypes, parseConfigList, TORCH_OP_TYPES, type Diagnostic } from './index.ts';

describe('TORCH_OP_TYPES', () => {
  it('maps each PyTorch class to the ONNX op it exports to', () => {
    const expected: Record<string, string[]> = {
      Conv1d: ['Conv'],
      Conv2d: ['Conv'],
      Conv3d: ['Conv'],
      ConvTranspose1d: ['ConvTranspose'],
      ConvTranspose2d: ['ConvTranspose'],
      ConvTranspose3d: ['ConvTranspose'],
      Linear: ['Gemm', 'MatMul'],
      BatchNorm1d: ['BatchNormalization'],
      BatchNorm2d: ['BatchNormalization'],
      BatchNorm3d: ['BatchNormalization'],
      LayerNorm: ['LayerNormalization'],
      GroupNorm: ['GroupNormalization'],
      Embedding: ['Gather'],
      ReLU: ['Relu'],
      ReLU6: ['Clip'],
      Hardtanh: ['Clip'],
      MaxPool2d: ['MaxPool'],
      AvgPool2d: ['AveragePool'],
      AdaptiveAvgPool2d: ['GlobalAveragePool'],
      Softmax: ['Softmax'],
      Sigmoid: ['Sigmoid'],
      Tanh: ['Tanh'],
      GELU: ['Gelu'],
      Hardswish: ['HardSwish'],
      Hardsigmoid: ['HardSigmoid'],
      SiLU: [],
    };
    for (const [torch, onnx] of Object.entries(expected))
      expect([torch, TORCH_OP_TYPES[torch]?.onnx]).toEqual([torch, onnx]);
  });
});

describe('op_types through parseConfigList', () => {
  it("reads 'Conv2d' as 'Conv' with an info diagnostic at the name's path", () => {
    const { configs, diagnostics } = parseConfigList(
      [{ op_types: ['Conv2d'], sparse_ratio: 0.5, granularity: 'out_channel' }],
      'pruning',
    );
    expect(configs[0]!.op_types).toEqual(['Conv']);
    expect(diagnostics).toEqual([
      {
        level: 'info',
        code: 'torch-op-type',
        path: '$[0].op_types[0]',
        message: "op_types 'Conv2d' read as ONNX 'Conv'",
      },
    ]);
  });

  it("reads 'Linear' as Gemm and MatMul and says MatMul needs a constant weight", () => {
    const { configs, diagnostics } = parseConfigList([{ op_types: ['Linear'], sparse_ratio: 0.8 }], 'pruning');
    expect(configs[0]!.op_types).toEqual(['Gemm', 'MatMul']);
    expect(diagnostics.map((d) => d.message)).toEqual([
      "op_types 'Linear' read as ONNX 'Gemm', 'MatMul' (MatMul only where its weight operand is a constant)",
    ]);
  });

  it('deduplicates names that read as the same ONNX op, one diagnostic per name', () => {
    const { configs, diagnostics } = parseConfigList(
      [{ op_types: ['Conv1d', 'Conv2d', 'Conv'], sparse_ratio: 0.5 }],
      'pruning',
    );
    expect(configs[0]!.op_types).toEqual(['Conv']);
    expect(diagnostics.map((d) => d.path)).toEqual(['$[0].op_types[0]', '$[0].op_types[1]']);
  });

  it('applies the same reading to exclude_op_types', () => {
    const { configs, diagnostics } = parseConfigList(
      [{ op_names_re: ['.*'], exclude_op_types: ['BatchNorm2d', 'ReLU'], quant_dtype: 'int8' }],
      'quantization',
    );
    expect(configs[0]!.exclude_op_types).toEqual(['BatchNormalization', 'Relu']);
    expect(diagnostics.map((d) => [d.path, d.message])).toEqual([
      ['$[0].exclude_op_types[0]', "exclude_op_types 'BatchNorm2d' read as ONNX 'BatchNormalization'"],
      ['$[0].exclude_op_types[1]', "exclude_op_types 'ReLU' read as ONNX 'Relu'"],
    ]);
  });

  it('warns that SiLU is not selectable and keeps the name, so it matches no node (never "no type filter")', () => {
    const { configs, diagnostics } = parseConfigList([{ op_names_re: ['.*'], op_types: ['SiLU'] }], 'distillation');
    expect(configs[0]!.op_types).toEqual(['SiLU']);
    expect(diagnostics).toEqual([
      {
        level: 'warning',
        code: 'unselectable-op-type',
        path: '$[0].op_types[0]',
        message:
          "op_types 'SiLU' matches no ONNX op: PyTorch exports it as Sigmoid followed by Mul; no single ONNX op to select",
      },
    ]);
  });

  it('notes that GELU matches only a Gelu op, not the Erf pattern', () => {
    const diagnostics: Diagnostic[] = [];
    expect(mapTorchOpTypes(['GELU'], 'op_types', 3, diagnostics)).toEqual(['Gelu']);
    expect(diagnostics[0]).toEqual({
      level: 'info',
      code: 'torch-op-type',
      path: '$[3].op_types[0]',
      message:
        "op_types 'GELU' read as ONNX 'Gelu' (an Erf-based GELU pattern (exports before opset 20) is not matched)",
    });
  });

  it('passes ONNX names and same-named classes (Softmax, Sigmoid, Tanh) through silently', () => {
    const diagnostics: Diagnostic[] = [];
    expect(mapTorchOpTypes(['Gemm', 'Softmax', 'Sigmoid', 'Tanh', 'MyCustomOp'], 'op_types', 0, diagnostics)).toEqual([
      'Gemm',
      'Softmax',
      'Sigmoid',
      'Tanh',
      'MyCustomOp',
    ]);
    expect(diagnostics).toEqual([]);
  });

  it('does not treat Object.prototype names as table entries', () => {
    const diagnostics: Diagnostic[] = [];
    expect(mapTorchOpTypes(['constructor', 'toString'], 'op_types', 0, diagnostics)).toEqual([
      'constructor',
      'toString',
    ]);
    expect(diagnostics).toEqual([]);
  });
});
