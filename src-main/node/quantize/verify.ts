/**
 * @file Does ORT really run the exported QDQ model on integers? Load it in ORT's CPU provider with
 * `optimizedModelFilePath`, read the optimized graph back and count the integer kernels (QLinearConv,
 * MatMulInteger, QLinear*, ConvInteger, …); every node the plan quantized that is still a float op there is
 * reported by name, with the reason we can tell. May import core, node:* and onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Model } from '../../core/ir/index.ts';
import { loadModelFile } from '../io/model-file.ts';
import type { Applied, QuantTarget } from '../../core/compress/quantization/index.ts';
import { paramKey } from '../../core/compress/quantization/index.ts';
import type { Diagnostic } from '../../../src-shared/config/index.ts';
import { ortSessionOptions, SessionCreateError, withSessionSource, type OptimizationLevel } from '../runtime/index.ts';

/** Integer kernels of ORT's CPU provider that QDQ groups fuse into. */
export const INTEGER_OPS = new Set([
  'QLinearConv',
  'QLinearMatMul',
  'MatMulInteger',
  'ConvInteger',
  'QGemm',
  'QLinearAdd',
  'QLinearMul',
  'QLinearGlobalAveragePool',
  'QLinearAveragePool',
  'QLinearConcat',
  'QLinearSigmoid',
  'QLinearLeakyRelu',
  'QLinearSoftmax',
  'QLinearConvTranspose',
  'QLinearWhere',
  'QLinearReduceMean',
  'DynamicQuantizeMatMul',
  'MatMulIntegerToFloat',
  'DynamicQuantizeLSTM',
  'QAttention',
  'MatMulNBits',
]);

/** Float ops that should have become integer ones when their node is quantized. */
const FLOAT_LINEAR = new Set(['Conv', 'FusedConv', 'ConvTranspose', 'Gemm', 'FusedGemm', 'MatMul', 'FusedMatMul']);

export interface FusionReport {
  /** Op-type counts of ORT's optimized graph. */
  counts: Record<string, number>;
  /** Nodes running an integer kernel. */
  integerOps: number;
  /** Linear nodes (Conv / Gemm / MatMul / ConvTranspose) still on float in the optimized graph. */
  floatLinear: number;
  /** Quantized nodes ORT left on float, with why (as far as we can tell). */
  unfused: { node: string; opType: string; reason: string }[];
  /** Level the optimized graph was made with. */
  optimization: OptimizationLevel;
}

/** ORT's session settings that write the optimized model's initializers to a file beside it. */
const OPTIMIZED_EXTERNAL = { optimized_model_external_initializers_file_name: 'optimized.onnx.data' };

/** ORT's optimized graph of a model (CPU provider), read back into the IR. */
export async function optimizedGraph(
  model: Model | Uint8Array,
  optimization: OptimizationLevel = 'all',
): Promise<Model> {
  const dir = mkdtempSync(join(tmpdir(), 'studio-optimized-'));
  const file = join(dir, 'optimized.onnx');
  try {
    const session = await withSessionSource(model, async (source) => {
      const opts = { ...ortSessionOptions('cpu', { optimization, threads: 1 }), optimizedModelFilePath: file };
      // a model over protobuf's limit came by external data, and ORT must write its optimized graph the same way
      if (typeof source === 'string') {
        const extra = opts.extra as { session?: object } | undefined;
        opts.extra = { ...extra, session: { ...extra?.session, ...OPTIMIZED_EXTERNAL } };
      }
      try {
        return await ort.InferenceSession.create(source as Uint8Array, opts);
      } catch (e) {
        throw new SessionCreateError((e as Error).message.split('\n')[0]!);
      }
    });
    await session.release();
    return loadModelFile(file, { allowWeightless: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Which quantized nodes ORT turned into integer kernels.
 *
 * @example
 * const report = await verifyFusion(exported, plan.targets, applied);
 * report.counts.QLinearConv // 20
 * report.unfused // [{ node: '/fc/Gemm', opType: 'Gemm', reason: 'its input is not quantized' }]
 */
export async function verifyFusion(
  exported: Model,
  targets: readonly QuantTarget[],
  applied: ReadonlyMap<string, Applied>,
  optimization: OptimizationLevel = 'all',
): Promise<FusionReport> {
  const optimized = await optimizedGraph(exported, optimization);
  const counts: Record<string, number> = {};
  for (const n of optimized.graph.allNodes()) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  const integerOps = Object.entries(counts).reduce((s, [k, v]) => s + (INTEGER_OPS.has(k) ? v : 0), 0);
  const floatByName = new Map<string, string>();
  let floatLinear = 0;
  for (const n of optimized.graph.allNodes()) {
    if (!FLOAT_LINEAR.has(n.opType) && !(n.domain.includes('nchwc') && n.opType === 'Conv')) continue;
    floatLinear++;
    floatByName.set(n.name, n.opType);
  }
  const unfused: FusionReport['unfused'] = [];
  for (const node of quantizedLinearNodes(targets, applied)) {
    const left = floatByName.get(node.name);
    if (left === undefined) continue;
    unfused.push({ node: node.name, opType: left, reason: whyNotFused(exported, targets, applied, node.name) });
  }
  return { counts, integerOps, floatLinear, unfused, optimization };
}

/** Linear nodes whose weight went to Q/DQ: ORT should run them on integers. */
function quantizedLinearNodes(
  targets: readonly QuantTarget[],
  applied: ReadonlyMap<string, Applied>,
): { name: string; opType: string }[] {
  const out: { name: string; opType: string }[] = [];
  for (const t of targets) {
    if (t.role !== 'weight' || !FLOAT_LINEAR.has(t.opType)) continue;
    if (applied.get(paramKey(t.node, t.target)) === 'qdq') out.push({ name: t.node, opType: t.opType });
  }
  return out;
}

/** Our best reading of why ORT did not fuse a node. */
function whyNotFused(
  model: Model,
  targets: readonly QuantTarget[],
  applied: ReadonlyMap<string, Applied>,
  name: string,
): string {
  const n = model.graph.node(name);
  if (!n) return 'unknown';
  const fromDq = (i: number) => n.input(i)?.producer?.opType === 'DequantizeLinear';
  if (!fromDq(0))
    return "its input is not quantized (no DequantizeLinear feeds input 0): add _input_ to its targets or quantize the producer's _output_";
  const act = targets.find((t) => t.node === name && t.target === '_input_0');
  if (act && act.granularity.kind !== 'tensor')
    return "its input is quantized per channel; ORT's integer kernels need a per-tensor input scale";
  const bias = n.input(2);
  if (bias && !fromDq(2)) return 'its bias is float: quantize its input and weight so the bias becomes int32';
  const out = n.outputs[0]!;
  const consumers = out.consumers();
  const quantizedOut =
    consumers.length > 0 &&
    consumers.every(
      (c) =>
        c.opType === 'QuantizeLinear' ||
        (['Relu', 'Clip'].includes(c.opType) && c.outputs[0]!.consumers().every((d) => d.opType === 'QuantizeLinear')),
    );
  if (!quantizedOut) return 'its output is not quantized (no QuantizeLinear follows): add _output_ to its targets';
  const w = targets.find((t) => t.node === name && t.role === 'weight');
  if (w && applied.get(paramKey(w.node, w.target)) !== 'qdq') return 'its weight is not stored as integers';
  const outT = targets.find(
    (t) =>
      t.kind === 'output' &&
      t.value === (consumers[0]?.opType === 'QuantizeLinear' ? out.name : consumers[0]?.outputs[0]?.name),
  );
  if (outT && outT.range.signed && outT.scheme === 'affine' && consumers.some((c) => c.opType !== 'QuantizeLinear')) {
    return "a Relu / Clip sits between it and an int8 affine output whose zero point is not −128 (NNI's narrow range); use uint8 activations";
  }
  return 'ORT has no integer kernel for this combination of types and layouts';
}

/** One `not-fused` warning per node ORT left on float. */
export function fusionDiagnostics(report: FusionReport): Diagnostic[] {
  return report.unfused.map((u) => ({
    level: 'warning' as const,
    code: 'not-fused',
    node: u.node,
    message: `ORT runs quantized ${u.opType} "${u.node}" in float: ${u.reason}`,
  }));
}
