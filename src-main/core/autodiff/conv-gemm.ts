/**
 * @file Training-time lowering of convolutions with few output positions to one GEMM over the whole batch.
 *
 * ORT's CPU Conv runs one GEMM per image, [M, C·K] × [C·K, P], and MLAS's kernel works on 16-column
 * panels: with P = 4 output positions (resnet18's last stage at 64×64) three quarters of every panel is
 * padding, and the same holds for the stride-1 adjoint conv of the backward pass. Here such a conv becomes
 *   colsᵀ = unfold(x) [N·P, C·K]  (a MatMul with a 0/1 selection matrix for small inputs: rules/linear.ts)
 *   yᵀ    = Gemm(colsᵀ, W [M, C·K], bias, transB) [N·P, M]  →  y [N, M, out…]
 * and the backward follows from the ordinary rules: dW = dyᵀᵀ·colsᵀ and dcolsᵀ = dyᵀ·W, each one GEMM with
 * N·P rows, and col2im as the unfold's adjoint (the transposed selection matrix). Measured on resnet18
 * 32×3×64×64, one thread: the 512-channel 2×2 convs run 2× faster forward and their input gradient 2–3×
 * faster. Pure: imports the IR and autodiff kit.
 */
import { numel, type Node, type Value } from '../ir/index.ts';
import { attr, type Emitter } from './emitter.ts';
import { convGeometry, unfold } from './rules/linear.ts';

/** Convs whose output has at most this many positions per image train as one batched GEMM. */
export const GEMM_CONV_MAX_POSITIONS = 8;

/** Whether `node` (a Conv with traced shapes) is lowered by {@link convAsGemm}. */
export function lowersToGemm(e: Emitter, node: Node): boolean {
  const [x, w] = node.inputs;
  if (node.opType !== 'Conv' || node.domain !== '' || !x || !w || node.outputs.length !== 1) return false;
  // ORT has no float64 Conv for the unfold; grouped convs keep their per-group kernels
  if (e.dtype(x) !== 'float32' || node.attrInt('group', 1) !== 1) return false;
  const ws = e.shape(w);
  const kernel = node.attrInts('kernel_shape') ?? ws.slice(2);
  const P = numel(e.shape(node.outputs[0]!).slice(2));
  // 1×1 kernels need no unfold and run fine as they are
  return numel(kernel) > 1 && P <= GEMM_CONV_MAX_POSITIONS;
}

/**
 * Emit `node` as unfold + Gemm on the emitter's tape (ordinary ops with gradient rules: the unfold is a MatMul
 * with a constant selection matrix for small inputs, a one-hot Conv otherwise) and return the value that
 * replaces its output. The node itself is untouched.
 */
export function convAsGemm(e: Emitter, node: Node): Value {
  const [x, w, b] = node.inputs as [Value, Value, Value | undefined];
  const xs = e.shape(x);
  const ws = e.shape(w);
  const ys = e.shape(node.outputs[0]!);
  const [n, cin] = [xs[0]!, xs[1]!];
  const m = ws[0]!;
  const kernel = node.attrInts('kernel_shape') ?? ws.slice(2);
  const g = convGeometry(node, xs.slice(2), kernel);
  const K = numel(kernel);
  const P = numel(ys.slice(2));
  const cols = e.reshape(unfold(e, x, g, ys.slice(2)), [n, cin * K, P]);
  const colsT = e.reshape(e.transpose(cols, [0, 2, 1]), [n * P, cin * K]);
  const w2 = e.reshape(w, [m, cin * K]);
  const yT = e.op('Gemm', b ? [colsT, w2, b] : [colsT, w2], { transB: attr.int(1) }, [n * P, m]);
  return e.reshape(e.transpose(e.reshape(yT, [n, P, m]), [0, 2, 1]), ys);
}
