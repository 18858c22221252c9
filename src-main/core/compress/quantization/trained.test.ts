/**
 * @file What the trained quantizers refuse, by name, before any training: LSQ on an affine scheme and LSQ+ on a
 * symmetric one, DoReFa / BNN with a granularity, DoReFa's _output_ on a non-activation op, a one-value bit width,
 * no evaluator; and the
 * training graph they write (a fake-quant chain per target, parameters as buffers or trainables).
 */
import { describe, expect, it } from 'vitest';
import { buildCnn } from '../../../node/train/example-cnn.ts';
import { CompressionConfigError } from '../errors.ts';
import { MissingEvaluatorError } from '../compressor.ts';
import { ORT_FUSED_INT8, QUANTIZATION_PRESETS } from '../../../../src-shared/presets.ts';
import { LsqPlusQuantizer, LsqQuantizer, QATQuantizer, lsqInit } from './trained.ts';
import { BNNQuantizer, DoReFaQuantizer, bnnSign } from './dorefa-bnn.ts';
import { TRAINED_QUANTIZERS } from './trained-registry.ts';

const model = () => buildCnn({ widths: [4, 8], batch: 'N' });

function faults(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof CompressionConfigError)
      return e.diagnostics.map((d) => `${d.code} ${d.path} ${d.node}: ${d.message}`);
    throw e;
  }
  return [];
}

describe('trained quantizers refuse what they cannot train, with the JSON path and node', () => {
  it('LSQ on an affine scheme; LSQ+ on a symmetric one', () => {
    const lsq = faults(
      () =>
        new LsqQuantizer(model(), [
          { op_types: ['Conv'], target_names: ['weight'], quant_dtype: 'int8', quant_scheme: 'affine' },
        ]),
    );
    expect(lsq).toHaveLength(2);
    expect(lsq[0]).toMatch(/^lsq-unsupported \$\[0\]\S* conv1: .*quant_scheme must be 'symmetric'/);
    const plus = faults(
      () =>
        new LsqPlusQuantizer(model(), [{ op_types: ['Conv'], target_names: ['weight'], quant_scheme: 'symmetric' }]),
    );
    expect(plus[0]).toMatch(/lsqplus-unsupported .*quant_scheme must be 'affine'/);
  });

  it('DoReFa with a granularity, _output_ on a non-activation op, outputs over 8 bits, biases; BNN with a granularity', () => {
    const d = faults(
      () =>
        new DoReFaQuantizer(model(), [
          { op_types: ['Conv'], target_names: ['weight', '_output_'], quant_dtype: 'int2', granularity: 'out_channel' },
        ]),
    );
    expect(d.some((m) => /dorefa-unsupported .*granularity must be 'default'/.test(m))).toBe(true);
    expect(d.some((m) => /_output_0 .*only on an activation op .*not on Conv/.test(m))).toBe(true);
    const relu = model().graph.nodes.find((n) => n.opType === 'Relu')!.name;
    expect(
      faults(
        () => new DoReFaQuantizer(model(), [{ op_names: [relu], target_names: ['_output_'], quant_dtype: 'uint16' }]),
      )[0],
    ).toMatch(/uint16 has 16 bits, at most 8/);
    expect(
      faults(
        () => new DoReFaQuantizer(model(), [{ op_types: ['Gemm'], target_names: ['bias'], quant_dtype: 'int8' }]),
      )[0],
    ).toMatch(/dorefa-unsupported .*not biases/);
    // an activation op's output and an op's input are taken
    expect(
      faults(
        () =>
          new DoReFaQuantizer(model(), [
            { op_names: [relu], target_names: ['_output_'], quant_dtype: 'uint4' },
            { op_types: ['Gemm'], target_names: ['_input_'], quant_dtype: 'uint8', quant_scheme: 'affine' },
          ]),
      ),
    ).toEqual([]);
    expect(() => new DoReFaQuantizer(model(), [{ op_types: ['Conv'] }], undefined, { gradientBits: 0 })).toThrow(
      /options.gradientBits.*integer from 1 to 16, got 0/,
    );
    expect(
      faults(
        () => new BNNQuantizer(model(), [{ op_types: ['Gemm'], target_names: ['weight'], granularity: 'out_channel' }]),
      )[0],
    ).toMatch(/bnn-unsupported .*fc/);
    expect(faults(() => new BNNQuantizer(model(), [{ op_types: ['Conv'], target_names: ['_input_'] }]))).toEqual([]);
  });

  it('a bit width that holds one value (int1) for QAT / LSQ', () => {
    expect(
      faults(
        () => new QATQuantizer(model(), [{ op_types: ['Conv'], target_names: ['weight'], quant_dtype: 'int1' }]),
      )[0],
    ).toMatch(/int1 holds a single value/);
  });

  it('compress() without an evaluator is a MissingEvaluatorError', async () => {
    await expect(
      new QATQuantizer(model(), [{ op_types: ['Conv'], target_names: ['weight'] }]).compress(),
    ).rejects.toBeInstanceOf(MissingEvaluatorError);
  });
});

describe('presets', () => {
  it("the wizard's default int8 recipe is the one ORT fuses (ORT_FUSED_INT8, core's ORT_CPU_STATIC_CONFIG)", () => {
    expect(QUANTIZATION_PRESETS[0]).toMatchObject({ id: 'int8', configList: ORT_FUSED_INT8 });
    expect(QUANTIZATION_PRESETS[0]!.unfused).toBeUndefined();
  });
  it('every trained preset is accepted by its quantizer on a Conv / BN / Relu / Gemm model', () => {
    const trained = QUANTIZATION_PRESETS.flatMap((p) =>
      p.quantizer === 'ptq' ? [] : [{ ...p, quantizer: p.quantizer }],
    );
    expect(trained.map((p) => p.id)).toContain('dorefa-w2a4');
    for (const p of trained)
      expect(faults(() => new TRAINED_QUANTIZERS[p.quantizer](model(), p.configList))).toEqual([]);
  });
});

describe('helpers', () => {
  it("sign(0) = +1, and the graph's float32 arithmetic is reproduced", () => {
    expect([bnnSign(0), bnnSign(-0), bnnSign(1e-9), bnnSign(-1e-6), bnnSign(-3), bnnSign(0.7)]).toEqual([
      1, 1, 1, -1, -1, 1,
    ]);
  });
  it("LSQ's init 2·mean|x|/√qmax per channel", () => {
    const s = lsqInit(Float32Array.of(1, -1, 2, -2), [2, 2], 0, 4);
    expect(Array.from(s)).toEqual([1, 2]);
  });
});
