/** @file `quantizeCommand`: static PTQ with accuracy, size and latency before / after; dynamic without calibration data; bad arguments and data named. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CalibrationDataError } from '../../core/compress/quantization/index.ts';
import { loadCorpusModel } from '../../../test/corpus/materialize.ts';
import { loadModelFile, saveModelFile } from '../io/model-file.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import type { CommandIO } from './prune.ts';
import { QuantizeCommandError, quantizeCommand, type QuantizeReport } from './quantize.ts';
import type { Model } from '../../core/ir/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'quantize-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): CommandIO & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (s: string) => void (io.out += s), stderr: (s: string) => void (io.err += s) };
  return io;
}

const model = join(RESOURCES_DIR, 'mnist-cnn.onnx');
const calib = join(RESOURCES_DIR, 'mnist', 'train-images-idx3-ubyte.gz');

describe('quantizeCommand', () => {
  it('quantizes the example with calibration data and prints accuracy, size and latency before / after (JSON)', async () => {
    const io = capture();
    const out = join(dir, 'q');
    const r = await quantizeCommand(
      // the int8 export itself (latency-aware precision, the default, keeps this tiny model fp32 where int8 is slower)
      { model, calib, calibCount: 200, evalCount: 1000, runs: 5, out, json: true, latencyAware: false },
      io,
    );
    const json = JSON.parse(io.out) as QuantizeReport;
    expect(json.mode).toBe('static');
    expect(json.accuracy!.on).toMatch(/held-out samples 200–1199/);
    expect(json.accuracy!.drop).toBeLessThanOrEqual(0.01);
    expect(json.size.ratio).toBeGreaterThan(2.5);
    expect(json.latency.fp32Ms).toBeGreaterThan(0);
    expect(json.fusion.counts.QLinearConv).toBe(3);
    expect(json.fusion.unfused).toEqual([]);
    expect(json.cpu.flags).toHaveProperty('avx512_vnni');
    expect(json.diagnostics.filter((d) => d.level !== 'info')).toEqual([]);
    expect(existsSync(r.files!.model)).toBe(true);
    expect(r.files!.model).toBe(join(out, 'mnist-cnn.int8.onnx'));
    expect(loadModelFile(r.files!.model).graph.nodes.some((n) => n.opType === 'DequantizeLinear')).toBe(true);
    expect(Object.keys(JSON.parse(readFileSync(r.files!.calibration!, 'utf8')))).toContain('/conv1/Conv');
  });

  it('prints a readable report, observer and eval set as asked', async () => {
    const io = capture();
    await quantizeCommand(
      {
        model,
        calib,
        calibCount: 100,
        eval: join(RESOURCES_DIR, 'mnist', 't10k-images-idx3-ubyte.gz'),
        evalCount: 300,
        observer: 'percentile',
        runs: 3,
      },
      io,
    );
    expect(io.out).toMatch(/static int8, observer percentile/);
    expect(io.out).toMatch(/accuracy {2}\d+\.\d\d% → \d+\.\d\d% .* on 300 samples of t10k-images-idx3-ubyte.gz/);
    expect(io.out).toMatch(/size {6}.* → .*smaller/);
    expect(io.out).toMatch(/latency {3}.*faster; p50 of 3 side-by-side rounds, 1 thread/);
    expect(io.out).toMatch(/cpu {7}.*avx2 (true|false)/);
    expect(io.out).toMatch(/ORT {7}5 integer kernels \(QLinearConv×3/);
  });

  it('quantizes dynamically without calibration data (a transformer: DynamicQuantizeMatMul)', async () => {
    const file = join(dir, 'transformer.onnx');
    saveModelFile(loadCorpusModel('transformer_op17_b1', 0), file);
    const io = capture();
    const r = await quantizeCommand({ model: file, runs: 3, json: true }, io);
    expect(r.mode).toBe('dynamic');
    expect(r.fusion.counts.DynamicQuantizeMatMul).toBe(9);
    expect(r.accuracy).toBeUndefined();
  });

  it('names bad arguments and calibration data that does not fit', async () => {
    await expect(quantizeCommand({ model, calib, observer: 'kl' }, capture())).rejects.toThrow(QuantizeCommandError);
    await expect(quantizeCommand({ model, calib, observer: 'kl' }, capture())).rejects.toThrow(
      'unknown observer "kl" (available: minmax, ema, percentile, entropy, mse)',
    );
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '[{ op_types: ');
    await expect(quantizeCommand({ model, calib, config: bad }, capture())).rejects.toThrow(
      /config list ".*bad\.json" is not JSON/,
    );
    const img = join(dir, 'rgb.npy');
    const header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 8, 8), }".padEnd(117, ' ') + '\n';
    writeFileSync(
      img,
      Buffer.concat([
        Buffer.from([0x93]),
        Buffer.from('NUMPY\x01\x00', 'latin1'),
        Buffer.from([header.length, 0]),
        Buffer.from(header, 'latin1'),
        Buffer.alloc(3 * 64 * 4),
      ]),
    );
    const err = await quantizeCommand({ model, calib: img }, capture()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CalibrationDataError);
    expect((err as Error).message).toMatch(
      /input "input" expects float32\[.*,1,28,28\], but calibration data rgb.npy holds samples of \[3,8,8\]/,
    );
  });

  it('trains with --quantizer (qat on the example): deployed = simulated, integer kernels, the run in the report', async () => {
    const io = capture();
    const r = await quantizeCommand(
      {
        model,
        quantizer: 'qat',
        data: calib,
        lr: 2e-5,
        quantStartStep: 5,
        latencyAware: false,
        eval: join(RESOURCES_DIR, 'mnist', 't10k-images-idx3-ubyte.gz'),
        evalCount: 1000,
        runs: 3,
      },
      io,
    );
    expect(r.mode).toBe('trained');
    expect(r.training!.steps).toBe(156); // one epoch of 10 000 samples at batch 64
    expect(Math.abs(r.training!.simulated - r.accuracy!.after)).toBeLessThanOrEqual(0.001);
    expect(r.accuracy!.drop).toBeLessThanOrEqual(0.005);
    expect(r.fusion.counts.QLinearConv).toBe(3);
    expect(io.out).toMatch(/qat \(trained\)/);
    expect(io.out).toMatch(/trained {3}156 steps on 10000 samples .* simulated \d+\.\d\d% = deployed/);
  });

  it('names flags the chosen quantizer does not read, and a trained quantizer without --data', async () => {
    await expect(quantizeCommand({ model, quantizer: 'lsq' }, capture())).rejects.toThrow(
      'the lsq quantizer trains: give its labelled training data with --data',
    );
    await expect(quantizeCommand({ model, quantizer: 'qat', data: calib, calib }, capture())).rejects.toThrow(
      '--calib is not read by the qat quantizer',
    );
    await expect(
      quantizeCommand({ model, quantizer: 'dorefa', data: calib, quantStartStep: 3 }, capture()),
    ).rejects.toThrow('--quant-start-step is not read by the dorefa quantizer: only qat delays quantization');
    await expect(quantizeCommand({ model, quantizer: 'bnn', data: calib, gradientBits: 8 }, capture())).rejects.toThrow(
      '--gradient-bits is not read by the bnn quantizer: only dorefa quantizes gradients',
    );
    await expect(quantizeCommand({ model, calib, epochs: 2 }, capture())).rejects.toThrow(
      '--epochs is not read by the ptq quantizer',
    );
    await expect(quantizeCommand({ model, quantizer: 'gptq', calib }, capture())).rejects.toThrow(
      'unknown quantizer "gptq" (available: ptq, qat, lsq, lsqplus, dorefa, bnn)',
    );
    await expect(quantizeCommand({ model, latencyAware: true }, capture())).rejects.toThrow(
      '--latency-aware is not read by the ptq quantizer: dynamic quantization (no --calib) has no per-layer choice to make',
    );
  });

  it('--latency-aware reports which layers stayed fp32 (or the whole model) and returns a model no slower by its measurement', async () => {
    const io = capture();
    const r = await quantizeCommand({ model, calib, calibCount: 100, evalCount: 300, latencyAware: true, runs: 3 }, io);
    expect(r.mixedPrecision).toBeDefined();
    if (r.mixedPrecision!.wholeModelFloat) {
      expect(io.out).toMatch(
        /measured slower than fp32 here at batch [0-9 and]+: the model stays fp32 \(latency-aware/,
      );
      expect(r.mixedPrecision!.slowerAt.length).toBeGreaterThan(0);
    }
    for (const l of r.mixedPrecision!.floatLayers) expect(io.out).toContain(`fp32      ${l.node}: int8 was slower`);
    // the default is on: without the flag the same decision is made; --no-latency-aware keeps the all-int8 export
    const off = await quantizeCommand(
      { model, calib, calibCount: 100, evalCount: 300, latencyAware: false, runs: 3 },
      capture(),
    );
    expect(off.mixedPrecision).toBeUndefined();
    expect(off.fusion.counts.QLinearConv).toBe(3);
  });

  it('names the written model by what it is: fp32 when latency-aware precision kept the whole model, mixed with a layer kept fp32', async () => {
    const quantizedConv1 = (m: Model) => m.graph.node('/conv1/Conv')?.input(1)?.producer?.opType === 'DequantizeLinear';
    const isFloat = (m: Model) => !m.graph.nodes.some((n) => n.opType === 'DequantizeLinear');
    // injected timings (speedup of b over a = cost(a) / cost(b)), so the decisions are fixed
    const always = async () => 0.5;
    const out = join(dir, 'named');
    const io = capture();
    const f = await quantizeCommand(
      { model, calib, calibCount: 100, evalCount: 300, runs: 3, out, latencyProbe: always },
      io,
    );
    expect(f.mixedPrecision!.wholeModelFloat).toBe(true);
    expect(f.files!.model).toBe(join(out, 'mnist-cnn.fp32.onnx'));
    expect(isFloat(loadModelFile(f.files!.model))).toBe(true);
    expect(io.out).toContain(
      `wrote     ${join(out, 'mnist-cnn.fp32.onnx')} (fp32: the input, as the quantized model measured slower at batch 1 and 64)`,
    );
    expect(existsSync(join(out, 'mnist-cnn.int8.onnx'))).toBe(false);
    // int8 slower than fp32, except with conv1 in fp32, which beats the input: conv1 goes back, the rest stays int8
    const cost = (m: Model) => (isFloat(m) ? 1 : quantizedConv1(m) ? 1.2 : 0.9);
    const io2 = capture();
    const m = await quantizeCommand(
      {
        model,
        calib,
        calibCount: 100,
        evalCount: 300,
        runs: 3,
        out,
        latencyProbe: async (a, b) => cost(a) / cost(b),
      },
      io2,
    );
    expect(m.mixedPrecision!.floatLayers.map((l) => l.node)).toEqual(['/conv1/Conv']);
    expect(m.files!.model).toBe(join(out, 'mnist-cnn.mixed.onnx'));
    const written = loadModelFile(m.files!.model);
    expect(quantizedConv1(written)).toBe(false);
    expect(isFloat(written)).toBe(false);
    expect(io2.out).toContain(`wrote     ${join(out, 'mnist-cnn.mixed.onnx')} (quantized, with 1 layer(s) kept fp32)`);
  });
});
