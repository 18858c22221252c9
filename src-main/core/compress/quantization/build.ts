/**
 * @file Writes quantization into the graph: the simulated model (fake quantization, NNI's `clamp_round`) and the
 * exported QDQ model that ORT fuses into integer kernels are built here by one routine, so what is simulated is
 * what is exported. Pure: imports only the IR, the dead-code pass and sibling modules.
 *
 * Per target:
 * | target | storable in ONNX (dtype.ts) | simulate | export |
 * |---|---|---|---|
 * | weight / bias constant | yes | QuantizeLinear(float w) → DequantizeLinear | integer initializer → DequantizeLinear |
 * | weight / bias constant | no, or block granularity | fake-quantized float constant | the same, with a `kept-simulated` diagnostic |
 * | int32 bias (plan.ts) | always | int32 initializer → DequantizeLinear | same |
 * | activation | yes | QuantizeLinear → DequantizeLinear | same |
 * | activation | no | Div → Round → Add(zp) → Clip(qmin, qmax) → Sub(zp) → Mul | the same, with a `kept-simulated` diagnostic |
 *
 * An output target quantizes the value for every consumer (and for the graph output, whose name is kept); an input
 * target only its own edge, after any output quantization (NNI applies the producer's output fake-quant first).
 * Identical parameters on the same value share one Q/DQ pair. With `gates`, each node's fake quantization is
 * blended with the float value by a scalar graph input (x + g·(x̂ − x)), so one session can switch nodes back to
 * float (used to rank nodes for the accuracy fallback); gated graphs share nothing.
 */
import { Tensor, cloneModel, type Model, type Node, type Value } from '../../ir/index.ts';
import { deadCode } from '../../passes/index.ts';
import type { Diagnostic } from '../../../../src-shared/config/index.ts';
import { onnxStorage, type QuantStorage } from './dtype.ts';
import { paramKey, quantizeInt32, type ParamTable, type TargetParams } from './calibration.ts';
import type { QuantTarget } from './plan.ts';
import { MIN_QUANT_OPSET, QuantizationOpsetError } from './errors.ts';
import { channelLayout, fakeQuantValue, quantizeTensor } from './qparams.ts';
import { rewireUses } from './fake-quant.ts';

export interface BuildOptions {
  /** 'simulate' keeps float weights behind QuantizeLinear; 'export' stores integer initializers. */
  mode: 'simulate' | 'export';
  /** Node name → name of a float scalar graph input gating that node's fake quantization (1 = quantized, 0 = float). */
  gates?: ReadonlyMap<string, string>;
}

/** How one target ended up in the graph. */
export type Applied = 'qdq' | 'int32-bias' | 'simulated' | 'shared' | 'skipped';

export interface BuildResult {
  model: Model;
  /** `paramKey(node, target)` → how it was written. */
  applied: Map<string, Applied>;
  diagnostics: Diagnostic[];
}

/** Parameters of the Q/DQ (or simulated) chain that produced a value, for int32 biases downstream. */
type ChainInfo = { params: TargetParams; sig: string };

/**
 * The quantized graph of a (fused) float model for a plan's targets and their parameters; the input model is not
 * modified.
 *
 * @example const { model: simulated } = buildQuantized(fused, plan.targets, params, { mode: 'simulate' });
 */
export function buildQuantized(
  model: Model,
  targets: readonly QuantTarget[],
  params: ParamTable,
  opts: BuildOptions,
): BuildResult {
  if (model.opset < MIN_QUANT_OPSET) throw new QuantizationOpsetError(model.opset);
  const out = cloneModel(model);
  const b = new Builder(out, params, opts);
  for (const t of targets.filter((t) => t.role !== 'activation' && !t.int32Bias)) b.constant(t);
  for (const t of targets.filter((t) => t.kind === 'output')) b.activation(t);
  for (const t of targets.filter((t) => t.kind === 'input')) b.activation(t);
  for (const t of targets.filter((t) => t.int32Bias)) b.int32Bias(t);
  for (const gate of new Set(opts.gates?.values() ?? [])) {
    if (!out.graph.get(gate)) out.graph.addInput(gate, { kind: 'tensor', dtype: 'float32', shape: [] });
  }
  out.graph.sortTopologically();
  deadCode.run(out);
  return { model: out, applied: b.applied, diagnostics: b.diagnostics };
}

class Builder {
  readonly applied = new Map<string, Applied>();
  readonly diagnostics: Diagnostic[] = [];
  /** Values made by a Q/DQ or simulated chain → its parameters. */
  private readonly chains = new Map<Value, ChainInfo>();
  /** (source value, signature) → chain output, for sharing. */
  private readonly shared = new Map<string, Value>();

  constructor(
    readonly model: Model,
    readonly params: ParamTable,
    readonly opts: BuildOptions,
  ) {}

  private get g() {
    return this.model.graph;
  }

  private paramsOf(t: QuantTarget): TargetParams {
    const p = this.params.get(paramKey(t.node, t.target));
    if (!p) throw new RangeError(`no quantization parameters for ${t.target} of "${t.node}"`);
    return p;
  }

  private node(t: QuantTarget): Node {
    const n = this.g.node(t.node);
    if (!n) throw new RangeError(`no node "${t.node}" in the model`);
    return n;
  }

  private keptSimulated(t: QuantTarget, why: string): void {
    this.applied.set(paramKey(t.node, t.target), 'simulated');
    if (this.opts.mode !== 'export') return;
    this.diagnostics.push({
      level: 'warning',
      code: 'kept-simulated',
      node: t.node,
      path: t.path,
      message: `${t.target} of "${t.node}" (${t.requested.name}${t.range.bits !== t.requested.bits ? ` as ${t.range.name}` : ''}) stays simulated in float ops: ${why}`,
    });
  }

  /** Weight or bias with its own parameters. */
  constant(t: QuantTarget): void {
    const n = this.node(t);
    const v = n.input(t.index);
    if (!v?.initializer) return void this.applied.set(paramKey(t.node, t.target), 'skipped');
    const p = this.paramsOf(t);
    const w = v.initializer;
    const data = w.toFloat32();
    const storage = onnxStorage(t.range, { constant: true, opset: this.model.opset });
    const perAxisOk = p.axis === null || this.model.opset >= 13;
    let replacement: Value;
    if (p.blockOf || !storage || !perAxisOk) {
      const fq = new Float32Array(data.length);
      const { channels, inner } = channelLayout(w.dims, p.axis);
      for (let i = 0; i < data.length; i++) {
        const c = p.blockOf ? p.blockOf[i]! : channels === 1 ? 0 : Math.floor(i / inner) % channels;
        fq[i] = fakeQuantValue(data[i]!, p.scale[c]!, p.zeroPoint[c]!, t.range.qmin, t.range.qmax);
      }
      replacement = this.g.addInitializer(`${v.name}_fakequant`, new Tensor('float32', w.dims, fq), true);
      this.keptSimulated(
        t,
        p.blockOf
          ? 'block granularity has no ONNX form below opset 21'
          : !storage
            ? `ONNX opset ${this.model.opset} has no type for it`
            : 'per-axis parameters need opset ≥ 13',
      );
    } else {
      const [scale, zp] = this.scaleZp(`${v.name}`, p, storage);
      let q: Value;
      if (this.opts.mode === 'export') {
        q = this.g.addInitializer(
          `${v.name}_quantized`,
          intTensor(storage, w.dims, quantizeTensor(data, w.dims, p.axis, p, t.range)),
          true,
        );
      } else {
        q = this.qNode(`${t.node}/${t.target}/QuantizeLinear`, v, scale, zp, p.axis);
      }
      replacement = this.dqNode(`${t.node}/${t.target}/DequantizeLinear`, q, scale, zp, p.axis);
      this.applied.set(paramKey(t.node, t.target), 'qdq');
    }
    n.setInput(t.index, this.gated(t.node, v, replacement));
  }

  /** An int32 bias (scale = input scale × weight scale, zero point 0). */
  int32Bias(t: QuantTarget): void {
    const n = this.node(t);
    const v = n.input(t.index);
    if (!v?.initializer) return void this.applied.set(paramKey(t.node, t.target), 'skipped');
    const p = this.paramsOf(t);
    // DequantizeLinear has no axis before opset 13: a per-channel int32 bias stays the float bias it is (exact)
    if (p.axis !== null && this.model.opset < 13) return this.keptSimulated(t, 'per-axis parameters need opset ≥ 13');
    const [scale, zp] = this.scaleZp(v.name, p, 'int32');
    const q = this.g.addInitializer(
      `${v.name}_quantized`,
      intTensor('int32', v.initializer.dims, quantizeInt32(v.initializer.toFloat32(), p)),
      true,
    );
    const dq = this.dqNode(`${t.node}/${t.target}/DequantizeLinear`, q, scale, zp, p.axis);
    n.setInput(t.index, this.gated(t.node, v, dq));
    this.applied.set(paramKey(t.node, t.target), 'int32-bias');
  }

  /** An activation target: output targets for every consumer, input targets for their edge. */
  activation(t: QuantTarget): void {
    const key = paramKey(t.node, t.target);
    const p = this.paramsOf(t);
    const n = this.node(t);
    const source = t.kind === 'output' ? this.g.get(t.value) : n.input(t.index);
    if (!source) return void this.applied.set(key, 'skipped');
    const sig = signature(t, p);
    const gated = this.opts.gates !== undefined;
    if (!gated && this.chains.get(source)?.sig === sig) return void this.applied.set(key, 'shared');
    const cached = gated ? undefined : this.shared.get(`${source.name}\u0000${sig}`);
    const result = cached ?? this.chain(t, p, source, sig);
    if (t.kind === 'input') n.setInput(t.index, result);
    else rewireUses(this.g, source, result);
    if (cached) this.applied.set(key, 'shared');
  }

  /** Build the fake-quant chain of an activation. */
  private chain(t: QuantTarget, p: TargetParams, source: Value, sig: string): Value {
    const storage = onnxStorage(t.range, { constant: false, opset: this.model.opset });
    const perAxisOk = p.axis === null || this.model.opset >= 13;
    const base = `${t.node}/${t.target}`;
    let y: Value;
    if (storage && perAxisOk) {
      const [scale, zp] = this.scaleZp(`${t.node}.${t.target}`, p, storage);
      y = this.dqNode(
        `${base}/DequantizeLinear`,
        this.qNode(`${base}/QuantizeLinear`, source, scale, zp, p.axis),
        scale,
        zp,
        p.axis,
      );
      this.applied.set(paramKey(t.node, t.target), 'qdq');
    } else {
      y = this.roundClip(base, t, p, source);
      this.keptSimulated(
        t,
        storage
          ? 'per-axis parameters need opset ≥ 13'
          : `ONNX opset ${this.model.opset} cannot store ${t.range.name} activations`,
      );
    }
    y = this.gated(t.node, source, y);
    this.chains.set(y, { params: p, sig });
    this.shared.set(`${source.name}\u0000${sig}`, y);
    return y;
  }

  /** y = (Clip(Round(x / s) + zp, qmin, qmax) − zp) · s, parameters broadcast along the channel axis. */
  private roundClip(base: string, t: QuantTarget, p: TargetParams, x: Value): Value {
    const rank = x.shape?.length;
    const shape =
      p.axis === null
        ? []
        : Array.from({ length: Math.max(rank ?? p.axis + 1, p.axis + 1) }, (_, i) =>
            i === p.axis ? p.scale.length : 1,
          );
    const c = (name: string, values: ArrayLike<number>, dims: number[]) =>
      this.g.addInitializer(`${base}.${name}`, new Tensor('float32', dims, Float32Array.from(values)), true);
    const s = c('scale', p.scale, shape);
    const zp = c('zero_point', p.zeroPoint, shape);
    const op = (opType: string, inputs: Value[]) =>
      this.g.addNode({ opType, name: `${base}/${opType}`, inputs }).outputs[0]!;
    const r = op('Round', [op('Div', [x, s])]);
    const clipped = this.g.addNode({
      opType: 'Clip',
      name: `${base}/Clip`,
      inputs: [op('Add', [r, zp]), c('qmin', [t.range.qmin], []), c('qmax', [t.range.qmax], [])],
    }).outputs[0]!;
    return op('Mul', [op('Sub', [clipped, zp]), s]);
  }

  /** x + g·(y − x) when the node is gated, else y. */
  private gated(node: string, x: Value, y: Value): Value {
    const gate = this.opts.gates?.get(node);
    if (gate === undefined) return y;
    const gv = this.g.get(gate) ?? this.g.addInput(gate, { kind: 'tensor', dtype: 'float32', shape: [] });
    const op = (opType: string, inputs: Value[]) => this.g.addNode({ opType, inputs }).outputs[0]!;
    return op('Add', [x, op('Mul', [gv, op('Sub', [y, x])])]);
  }

  private scaleZp(base: string, p: TargetParams, storage: QuantStorage): [Value, Value] {
    const dims = p.axis === null ? [] : [p.scale.length];
    const scale = this.g.addInitializer(`${base}_scale`, new Tensor('float32', dims, Float32Array.from(p.scale)), true);
    const zp = this.g.addInitializer(`${base}_zero_point`, intTensor(storage, dims, p.zeroPoint), true);
    return [scale, zp];
  }

  private qNode(name: string, x: Value, scale: Value, zp: Value, axis: number | null): Value {
    return this.g.addNode({
      opType: 'QuantizeLinear',
      name,
      inputs: [x, scale, zp],
      attributes: axis === null ? {} : { axis: { type: 'int', value: axis } },
    }).outputs[0]!;
  }

  private dqNode(name: string, q: Value, scale: Value, zp: Value, axis: number | null): Value {
    return this.g.addNode({
      opType: 'DequantizeLinear',
      name,
      inputs: [q, scale, zp],
      attributes: axis === null ? {} : { axis: { type: 'int', value: axis } },
    }).outputs[0]!;
  }
}

/** Parameters of an activation as text, to share identical chains. */
function signature(t: QuantTarget, p: TargetParams): string {
  return `${t.range.name}|${t.scheme}|${p.axis}|${Array.from(p.scale).join(',')}|${Array.from(p.zeroPoint).join(',')}`;
}

/** An integer tensor of an ONNX storage type (4-bit types packed two per byte, low nibble first). */
export function intTensor(storage: QuantStorage, dims: readonly number[], values: Int32Array): Tensor {
  const n = values.length;
  switch (storage) {
    case 'int8':
      return new Tensor('int8', dims, Int8Array.from(values));
    case 'uint8':
      return new Tensor('uint8', dims, Uint8Array.from(values));
    case 'int16':
      return new Tensor('int16', dims, Int16Array.from(values));
    case 'uint16':
      return new Tensor('uint16', dims, Uint16Array.from(values));
    case 'int32':
      return new Tensor('int32', dims, Int32Array.from(values));
    case 'int4':
    case 'uint4': {
      const packed = new Uint8Array(Math.ceil(n / 2));
      for (let i = 0; i < n; i++) packed[i >> 1]! |= (values[i]! & 0xf) << ((i & 1) * 4);
      return new Tensor(storage, dims, packed);
    }
  }
}
