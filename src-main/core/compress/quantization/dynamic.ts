/**
 * @file Dynamic quantization for MatMul-heavy models (transformers): weights quantized once to int8, activations
 * quantized per run by DynamicQuantizeLinear, products in MatMulInteger, which ORT's CPU provider fuses into
 * DynamicQuantizeMatMul / MatMulIntegerToFloat. No calibration. Pure: imports only the IR and sibling modules.
 *
 * MatMul(x, W[K,N]) → DynamicQuantizeLinear(x) = (x_q uint8, s_x, zp_x);  MatMulInteger(x_q, W_q int8, zp_x, zp_W)
 * → Cast(float) → Mul(s_x · s_W). Gemm(x, B, C) (transA = 0) likewise with B read as [K, N], alpha folded into s_W
 * and β·C added after. Weights: NNI's symmetric int8 ([−127, 127], or [−63, 63] with reduce range), per output
 * column or per tensor.
 */
import { Tensor, cloneModel, type Model, type Node, type Value } from '../../ir/index.ts';
import { deadCode } from '../../passes/index.ts';
import type { Diagnostic } from '../../../../src-shared/config/index.ts';
import { quantRange } from './dtype.ts';
import { channelMinMax, qparams, quantizeTensor } from './qparams.ts';

export interface DynamicOptions {
  /** Only these nodes (default: every MatMul / Gemm with a constant 2-D float weight). */
  nodes?: readonly string[];
  /** One scale per output column (default true). */
  perChannel?: boolean;
  /** 7-bit weights (CPUs without VNNI). */
  reduceRange?: boolean;
}

export interface DynamicResult {
  model: Model;
  /** Nodes now running on integers. */
  quantized: string[];
  diagnostics: Diagnostic[];
}

/**
 * A dynamically quantized copy of the model.
 *
 * @example const { model: q, quantized } = quantizeDynamic(transformer); // quantized: ['/fc1/Gemm', …]
 */
export function quantizeDynamic(model: Model, opts: DynamicOptions = {}): DynamicResult {
  const out = cloneModel(model);
  const g = out.graph;
  const diagnostics: Diagnostic[] = [];
  const quantized: string[] = [];
  const wanted = opts.nodes ? new Set(opts.nodes) : null;
  for (const n of [...g.nodes]) {
    if (n.opType !== 'MatMul' && n.opType !== 'Gemm') continue;
    if (wanted && !wanted.has(n.name)) continue;
    const why = blocker(n);
    if (why) {
      if (wanted || n.input(1)?.isInitializer)
        diagnostics.push({
          level: wanted ? 'warning' : 'info',
          code: 'not-quantized',
          node: n.name,
          message: `${n.label} stays float: ${why}`,
        });
      continue;
    }
    rewrite(n, opts);
    quantized.push(n.name);
  }
  if (wanted)
    for (const name of wanted)
      if (!g.node(name) && !quantized.includes(name))
        diagnostics.push({
          level: 'warning',
          code: 'unmatched-op-name',
          node: name,
          message: `no node named "${name}"`,
        });
  g.sortTopologically();
  deadCode.run(out);
  return { model: out, quantized, diagnostics };
}

function blocker(n: Node): string | undefined {
  const w = n.input(1);
  if (!w?.initializer || w.initializer.dtype !== 'float32' || !w.initializer.hasData)
    return 'its weight (input 1) is not a float32 initializer';
  if (w.initializer.dims.length !== 2)
    return `its weight has rank ${w.initializer.dims.length}, MatMulInteger here needs rank 2`;
  if (n.input(0)?.isInitializer) return 'its input is a constant';
  if (n.opType === 'Gemm' && n.attrInt('transA', 0) !== 0) return 'transA = 1';
  if (n.opType === 'Gemm' && n.input(2) && !n.input(2)!.isInitializer) return 'its C input is not a constant';
  return undefined;
}

function rewrite(n: Node, opts: DynamicOptions): void {
  const g = n.graph;
  const w = n.input(1)!.initializer!;
  const transB = n.opType === 'Gemm' && n.attrInt('transB', 0) === 1;
  const [k, cols] = transB ? [w.dims[1]!, w.dims[0]!] : [w.dims[0]!, w.dims[1]!];
  const data = transB ? transpose(w.toFloat32(), w.dims[0]!, w.dims[1]!) : w.toFloat32();
  const alpha = n.opType === 'Gemm' ? n.attrFloat('alpha', 1) : 1;
  const range = quantRange(opts.reduceRange ? 'int7' : 'int8');
  const axis = opts.perChannel === false ? null : 1;
  const { min, max } = channelMinMax(data, [k, cols], axis);
  const p = qparams(min, max, range, 'symmetric');
  const wq = quantizeTensor(data, [k, cols], axis, p, range);
  const base = n.name || n.opType;
  const dimsS = axis === null ? [] : [cols];
  const wqv = g.addInitializer(
    `${n.input(1)!.name}_quantized`,
    new Tensor('int8', [k, cols], Int8Array.from(wq)),
    true,
  );
  const wzp = g.addInitializer(
    `${n.input(1)!.name}_zero_point`,
    new Tensor('int8', dimsS, new Int8Array(dimsS.length ? cols : 1)),
    true,
  );
  const ws = g.addInitializer(
    `${n.input(1)!.name}_scale`,
    new Tensor(
      'float32',
      dimsS,
      Float32Array.from(p.scale, (s) => s * alpha),
    ),
    true,
  );
  const dql = g.addNode({
    opType: 'DynamicQuantizeLinear',
    name: `${base}/DynamicQuantizeLinear`,
    inputs: [n.input(0)],
    outputs: 3,
  });
  const [xq, xs, xzp] = dql.outputs as [Value, Value, Value];
  const mmi = g.addNode({ opType: 'MatMulInteger', name: `${base}/MatMulInteger`, inputs: [xq, wqv, xzp, wzp] })
    .outputs[0]!;
  const cast = g.addNode({
    opType: 'Cast',
    name: `${base}/Cast`,
    inputs: [mmi],
    attributes: { to: { type: 'int', value: 1 } },
  }).outputs[0]!;
  const scale = g.addNode({ opType: 'Mul', name: `${base}/ScaleMul`, inputs: [xs, ws] }).outputs[0]!;
  let y = g.addNode({ opType: 'Mul', name: `${base}/Mul`, inputs: [cast, scale] }).outputs[0]!;
  const c = n.opType === 'Gemm' ? n.input(2) : null;
  if (c?.initializer) {
    const beta = n.attrFloat('beta', 1);
    const cv =
      beta === 1
        ? c
        : g.addInitializer(
            `${c.name}_beta`,
            new Tensor(
              'float32',
              c.initializer.dims,
              Float32Array.from(c.initializer.toFloat32(), (v) => v * beta),
            ),
            true,
          );
    y = g.addNode({ opType: 'Add', name: `${base}/BiasAdd`, inputs: [y, cv] }).outputs[0]!;
  }
  const old = n.outputs[0]!;
  const name = old.name;
  const type = old.type;
  old.replaceAllUsesWith(y);
  g.removeNode(n, true);
  g.renameValue(y, name);
  y.type = type;
}

function transpose(d: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(d.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = d[r * cols + c]!;
  return out;
}
