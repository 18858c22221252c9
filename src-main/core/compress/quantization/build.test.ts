/** @file The quantized graph in ORT: QDQ simulation equals NNI's formula, Round/Clip form for other widths, export stores integers, sharing, names, gates. */
import { describe, expect, it } from 'vitest';
import { parseConfigList } from '../../../../src-shared/config/index.ts';
import { Tensor, type Model } from '../../ir/index.ts';
import { Builder } from '../../../../test/pruning/helpers.ts';
import { runModel, sampleInputs } from '../../../node/runtime/index.ts';
import { resolveTargets } from '../targets/index.ts';
import {
  activationParams,
  buildQuantized,
  constantParams,
  deriveParams,
  fakeQuantize,
  paramKey,
  planQuantization,
  toCalibrationConfig,
  type ParamTable,
  type QuantTarget,
} from './index.ts';

function reluNet(): Model {
  const b = new Builder(3);
  const x = b.input('x', [2, 3, 4, 4]);
  const r = b.op('Relu', 'relu', [b.conv('conv', x, 4, 3)]);
  const p = b.op('MaxPool', 'pool', [r], {
    kernel_shape: { type: 'ints', value: [2, 2] },
    strides: { type: 'ints', value: [2, 2] },
  });
  return b.output(p, [2, 4, 2, 2]);
}

function planOf(model: Model, list: unknown[], autoActivations = false) {
  return planQuantization(model, resolveTargets(model, parseConfigList(list, 'quantization').configs, 'quantization'), {
    autoActivations,
  }).targets;
}

/** Parameters with activations from fixed ranges (no ORT calibration needed). */
function paramsOf(model: Model, targets: QuantTarget[], range: [number, number]): ParamTable {
  const params: ParamTable = new Map();
  for (const t of targets) {
    if (t.role === 'activation') {
      if (!t.shareWith)
        params.set(
          paramKey(t.node, t.target),
          activationParams(t, { min: Float64Array.of(range[0]), max: Float64Array.of(range[1]) }),
        );
    } else if (!t.int32Bias) {
      const w = model.graph.node(t.node)!.input(t.index)!.initializer!;
      params.set(paramKey(t.node, t.target), constantParams(t, w.toFloat32(), w.dims));
    }
  }
  deriveParams(model, targets, params);
  return params;
}

const count = (m: Model, op: string) => m.graph.nodes.filter((n) => n.opType === op).length;

describe('fake quantization in ORT', () => {
  it('QuantizeLinear → DequantizeLinear computes NNI clamp_round exactly', async () => {
    const model = reluNet();
    const targets = planOf(model, [
      { op_names: ['pool'], target_names: ['_output_'], quant_dtype: 'uint8', quant_scheme: 'affine' },
    ]);
    const params = paramsOf(model, targets, [0, 1.5]);
    const { model: sim } = buildQuantized(model, targets, params, { mode: 'simulate' });
    const feeds = sampleInputs(model, { seed: 4 });
    const [ref] = Object.values(await runModel(model, feeds));
    const [got] = Object.values(await runModel(sim, feeds, { optimization: 'disabled' }));
    const p = params.get(paramKey('pool', '_output_0'))!;
    expect(Array.from(got!.data as Float32Array)).toEqual(
      Array.from(fakeQuantize(ref!.data as Float32Array, ref!.dims, null, p, targets[0]!.range)),
    );
    expect(sim.graph.outputs[0]!.name).toBe(model.graph.outputs[0]!.name);
  });

  it('writes other widths as Round/Clip (kept simulated on export, with a diagnostic naming the node)', async () => {
    const model = reluNet();
    const targets = planOf(model, [
      { op_names: ['conv'], target_names: ['_output_'], quant_dtype: 'uint6', quant_scheme: 'affine' },
    ]);
    const params = paramsOf(model, targets, [-1, 2]);
    const sim = buildQuantized(model, targets, params, { mode: 'simulate' });
    expect(count(sim.model, 'Round')).toBe(1);
    expect(count(sim.model, 'QuantizeLinear')).toBe(0);
    expect(sim.diagnostics).toEqual([]);
    const ex = buildQuantized(model, targets, params, { mode: 'export' });
    expect(ex.diagnostics.map((d) => `${d.code}@${d.node}`)).toEqual(['kept-simulated@conv']);
    expect(ex.applied.get(paramKey('conv', '_output_0'))).toBe('simulated');
    const feeds = sampleInputs(model, { seed: 5 });
    const [got] = Object.values(await runModel(sim.model, feeds));
    // values on the uint6 grid of [−1, 2]: (q − zp) · s with q ∈ [0, 63], after Relu and MaxPool ≥ 0
    const p = params.get(paramKey('conv', '_output_0'))!;
    for (const v of got!.data as Float32Array)
      expect(Math.abs(v / p.scale[0]! - Math.round(v / p.scale[0]!))).toBeLessThan(1e-3);
    expect(Math.max(...(got!.data as Float32Array))).toBeLessThanOrEqual((63 - p.zeroPoint[0]!) * p.scale[0]! + 1e-6);
  });
});

describe('int4', () => {
  it('is QDQ in int4 where the opset allows it (21) and Round/Clip below, weights in an int8 container', async () => {
    const list = [
      {
        op_types: ['Conv'],
        target_names: ['_input_', 'weight', '_output_'],
        quant_dtype: 'int4',
        target_settings: { weight: { granularity: 'out_channel' } },
      },
    ];
    const at = (opset: number) => {
      const model = reluNet();
      model.opsetImports.set('', opset);
      model.irVersion = opset >= 21 ? 10 : 8;
      const targets = planOf(model, list);
      const params = paramsOf(model, targets, [-3, 3]);
      return {
        model,
        sim: buildQuantized(model, targets, params, { mode: 'simulate' }),
        ex: buildQuantized(model, targets, params, { mode: 'export' }),
      };
    };
    const v21 = at(21);
    expect(v21.ex.diagnostics).toEqual([]);
    expect(
      v21.ex.model.graph.initializers
        .filter((v) => v.initializer!.dtype === 'int4')
        .map((v) => v.name)
        .sort(),
    ).toEqual([
      'conv._input_0_zero_point',
      'conv._output_0_zero_point',
      'conv.weight_quantized',
      'conv.weight_zero_point',
    ]);
    const feeds = sampleInputs(v21.model, { seed: 8 });
    const [a] = Object.values(await runModel(v21.sim.model, feeds, { optimization: 'disabled' }));
    const [b] = Object.values(await runModel(v21.ex.model, feeds, { optimization: 'disabled' }));
    expect(Array.from(b!.data as Float32Array)).toEqual(Array.from(a!.data as Float32Array));
    const v17 = at(17);
    expect(v17.ex.diagnostics.map((d) => `${d.code}@${d.node}`)).toEqual([
      'kept-simulated@conv',
      'kept-simulated@conv',
    ]);
    expect(v17.ex.applied.get(paramKey('conv', 'weight'))).toBe('qdq');
    expect(v17.ex.model.graph.node('conv')!.input(1)!.producer!.input(0)!.initializer!.dtype).toBe('int8');
    expect(count(v17.sim.model, 'Round')).toBe(2);
  });
});

describe('export', () => {
  const list = [
    {
      op_types: ['Conv'],
      target_names: ['_input_', 'weight', 'bias', '_output_'],
      quant_dtype: 'uint8',
      quant_scheme: 'affine',
      target_settings: { weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' } },
    },
    { op_types: ['MaxPool'], quant_dtype: 'uint8', quant_scheme: 'affine' },
  ];

  it('stores int8 weights and an int32 bias behind DequantizeLinear and computes what the simulation computes', async () => {
    const model = reluNet();
    const targets = planOf(model, list);
    const params = paramsOf(model, targets, [0, 3]);
    const sim = buildQuantized(model, targets, params, { mode: 'simulate' });
    const ex = buildQuantized(model, targets, params, { mode: 'export' });
    const w = ex.model.graph.node('conv')!.input(1)!;
    expect(w.producer!.opType).toBe('DequantizeLinear');
    expect(w.producer!.input(0)!.initializer!.dtype).toBe('int8');
    expect(w.producer!.attrInt('axis')).toBe(0);
    expect(ex.model.graph.node('conv')!.input(2)!.producer!.input(0)!.initializer!.dtype).toBe('int32');
    expect(ex.model.graph.initializers.some((v) => v.name === 'conv.weight')).toBe(false);
    expect(sim.model.graph.initializers.some((v) => v.name === 'conv.weight')).toBe(true);
    const feeds = sampleInputs(model, { seed: 6 });
    const [a] = Object.values(await runModel(sim.model, feeds, { optimization: 'disabled' }));
    const [b] = Object.values(await runModel(ex.model, feeds, { optimization: 'disabled' }));
    expect(Array.from(b!.data as Float32Array)).toEqual(Array.from(a!.data as Float32Array));
  });

  it('shares one Q/DQ pair between equal output and input targets of a value, and MaxPool reuses its input parameters', () => {
    const model = reluNet();
    const targets = planOf(model, list, true); // conv's _output_ read after the Relu, i.e. on MaxPool's input
    const params = paramsOf(model, targets, [0, 3]);
    const ex = buildQuantized(model, targets, params, { mode: 'export' });
    expect(ex.applied.get(paramKey('pool', '_input_0'))).toBe('shared');
    expect(params.get(paramKey('pool', '_output_0'))).toBe(params.get(paramKey('pool', '_input_0')));
    // conv input, conv output (= pool input), pool output
    expect(count(ex.model, 'QuantizeLinear')).toBe(3);
    const cal = toCalibrationConfig(targets, params);
    expect(Object.keys(cal)).toEqual(['conv', 'pool']);
    expect(cal.conv!.bias).toMatchObject({ quant_dtype: 'int32', zero_point: [0, 0, 0, 0], axis: 0 });
    expect(cal.conv!._input_0).toMatchObject({
      quant_dtype: 'uint8',
      quant_scheme: 'affine',
      zero_point: 0,
      tracked_min: 0,
      tracked_max: 3,
    });
  });

  it('gates every node: 0 gives the float model, 1 the quantized one', async () => {
    const model = reluNet();
    const targets = planOf(model, list);
    const params = paramsOf(model, targets, [0, 3]);
    const gated = buildQuantized(model, targets, params, {
      mode: 'simulate',
      gates: new Map([
        ['conv', 'g0'],
        ['pool', 'g1'],
      ]),
    }).model;
    const sim = buildQuantized(model, targets, params, { mode: 'simulate' }).model;
    const feeds = sampleInputs(model, { seed: 7 });
    const gate = (v: number) => Tensor.float32([], [v]);
    const [float] = Object.values(await runModel(model, feeds));
    const [off] = Object.values(await runModel(gated, { ...feeds, g0: gate(0), g1: gate(0) }));
    const [on] = Object.values(await runModel(gated, { ...feeds, g0: gate(1), g1: gate(1) }));
    // optimization off: with it ORT runs the QDQ model on integer kernels, which round differently from float emulation
    const [q] = Object.values(await runModel(sim, feeds, { optimization: 'disabled' }));
    const maxDiff = (a: Tensor, b: Tensor) =>
      Math.max(...Array.from(a.data as Float32Array, (v, i) => Math.abs(v - (b.data as Float32Array)[i]!)));
    expect(maxDiff(off!, float!)).toBeLessThan(1e-5);
    expect(maxDiff(on!, q!)).toBeLessThan(1e-5);
  });
});
