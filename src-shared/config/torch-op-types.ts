/** @file PyTorch module class names accepted in op_types / exclude_op_types, read as the ONNX op types PyTorch exports
 * them to; one table. Pure TypeScript: imports only sibling modules, never Node or DOM.
 */
import type { Diagnostic } from './diagnostics.ts';
import { jsonPath } from './errors.ts';

/** How one PyTorch class name reads in ONNX. */
export interface TorchOpTypeRule {
  /** The ONNX op types it selects; `[]` = nothing selectable. */
  onnx: readonly string[];
  /** Appended to the info diagnostic, e.g. when a mapping is narrower than the PyTorch class. */
  note?: string;
  /** Why the class has no single ONNX op (warning; the name is kept and matches no node). */
  unselectable?: string;
}

const to = (onnx: string, note?: string): TorchOpTypeRule =>
  note === undefined ? { onnx: [onnx] } : { onnx: [onnx], note };

/**
 * PyTorch class → ONNX op types. Names already equal in both (Softmax, Sigmoid, Tanh) map to themselves and
 * produce no diagnostic; names not listed pass through unchanged (ONNX or custom op types).
 */
export const TORCH_OP_TYPES: Readonly<Record<string, TorchOpTypeRule>> = {
  Conv1d: to('Conv'),
  Conv2d: to('Conv'),
  Conv3d: to('Conv'),
  ConvTranspose1d: to('ConvTranspose'),
  ConvTranspose2d: to('ConvTranspose'),
  ConvTranspose3d: to('ConvTranspose'),
  Linear: { onnx: ['Gemm', 'MatMul'], note: 'MatMul only where its weight operand is a constant' },
  BatchNorm1d: to('BatchNormalization'),
  BatchNorm2d: to('BatchNormalization'),
  BatchNorm3d: to('BatchNormalization'),
  LayerNorm: to('LayerNormalization'),
  GroupNorm: to('GroupNormalization'),
  Embedding: to('Gather'),
  ReLU: to('Relu'),
  ReLU6: to('Clip'),
  Hardtanh: to('Clip'),
  MaxPool1d: to('MaxPool'),
  MaxPool2d: to('MaxPool'),
  MaxPool3d: to('MaxPool'),
  AvgPool1d: to('AveragePool'),
  AvgPool2d: to('AveragePool'),
  AvgPool3d: to('AveragePool'),
  AdaptiveAvgPool2d: to('GlobalAveragePool', 'output size 1 only'),
  Softmax: to('Softmax'),
  Sigmoid: to('Sigmoid'),
  Tanh: to('Tanh'),
  GELU: to('Gelu', 'an Erf-based GELU pattern (exports before opset 20) is not matched'),
  Hardswish: to('HardSwish'),
  Hardsigmoid: to('HardSigmoid'),
  SiLU: { onnx: [], unselectable: 'PyTorch exports it as Sigmoid followed by Mul; no single ONNX op to select' },
};

const quote = (s: string): string => `'${s}'`;

/**
 * Reads a list of op type names (`op_types` or `exclude_op_types` of config `index`) as ONNX op types, deduplicated,
 * pushing one diagnostic per PyTorch name read.
 *
 * @example
 * mapTorchOpTypes(['Conv2d', 'Conv1d'], 'op_types', 0, diagnostics) // ['Conv'], two info diagnostics
 */
export function mapTorchOpTypes(
  types: readonly string[],
  key: string,
  index: number,
  diagnostics: Diagnostic[],
): string[] {
  const out = new Set<string>();
  types.forEach((name, k) => {
    const rule = Object.hasOwn(TORCH_OP_TYPES, name) ? TORCH_OP_TYPES[name] : undefined;
    const path = jsonPath([index, key, k]);
    if (rule?.unselectable !== undefined) {
      diagnostics.push({
        level: 'warning',
        code: 'unselectable-op-type',
        path,
        message: `${key} ${quote(name)} matches no ONNX op: ${rule.unselectable}`,
      });
    }
    if (rule === undefined || rule.onnx.length === 0 || (rule.onnx.length === 1 && rule.onnx[0] === name)) {
      out.add(name);
      return;
    }
    for (const onnx of rule.onnx) out.add(onnx);
    const note = rule.note === undefined ? '' : ` (${rule.note})`;
    diagnostics.push({
      level: 'info',
      code: 'torch-op-type',
      path,
      message: `${key} ${quote(name)} read as ONNX ${rule.onnx.map(quote).join(', ')}${note}`,
    });
  });
  return [...out];
}
