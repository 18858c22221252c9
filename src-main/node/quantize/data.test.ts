/** @file Calibration data files: IDX with labels beside, .npy with a labels sibling, shape checks naming the input. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CalibrationDataError } from '../../core/compress/quantization/index.ts';
import { loadModelFile } from '../io/model-file.ts';
import { RESOURCES_DIR } from '../train/mnist.ts';
import { batchesOf, checkSamples, declaredBatch } from './index.ts';
import { loadSamples } from '../train/data.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-qdata-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A version-1 .npy file. */
function npy(file: string, descr: string, shape: number[], data: ArrayBufferView): void {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head.writeUInt16LE(header.length, 8);
  writeFileSync(
    file,
    Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
  );
}

describe('calibration data', () => {
  const model = loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx'));

  it('reads IDX images as x/255 with a channel axis and finds the labels beside them', async () => {
    const s = await loadSamples(join(RESOURCES_DIR, 'mnist', 'train-images-idx3-ubyte.gz'), { limit: 10 });
    expect([s.length, ...s.sampleShape]).toEqual([10, 1, 28, 28]);
    expect(Math.max(...s.x)).toBeLessThanOrEqual(1);
    expect(s.classLabels()).toHaveLength(10);
    expect(checkSamples(model, s)).toBe('input');
  });

  it('reads .npy samples (bytes scaled, floats as is) with labels from a sibling file, and batches them', async () => {
    const x = join(dir, 'digits.npy');
    npy(x, '|u1', [3, 28, 28], new Uint8Array(3 * 784).fill(255));
    npy(join(dir, 'digits_labels.npy'), '<i8', [3], BigInt64Array.of(1n, 2n, 3n));
    const s = await loadSamples(x);
    expect([s.length, ...s.sampleShape, s.x[0]]).toEqual([3, 1, 28, 28, 1]);
    expect(Array.from(s.classLabels())).toEqual([1n, 2n, 3n]);
    const batches = [];
    for await (const b of batchesOf(s, 'input', 2)) batches.push(b.input!.dims);
    expect(batches).toEqual([
      [2, 1, 28, 28],
      [1, 1, 28, 28],
    ]);
    const f = join(dir, 'float.npy');
    npy(f, '<f4', [2, 1, 28, 28], new Float32Array(2 * 784).fill(0.5));
    expect((await loadSamples(f)).x[0]).toBe(0.5);
  });

  it('names the input and both shapes when samples do not fit, and refuses non-sample arrays', async () => {
    const wrong = join(dir, 'wrong.npy');
    npy(wrong, '<f4', [2, 3, 32, 32], new Float32Array(2 * 3 * 1024));
    const w = await loadSamples(wrong);
    expect(() => checkSamples(model, w)).toThrow(
      /input "input" expects float32\[.*,1,28,28\], but calibration data wrong.npy holds samples of \[3,32,32\]/,
    );
    const flat = join(dir, 'flat.npy');
    npy(flat, '<f4', [5], new Float32Array(5));
    await expect(loadSamples(flat)).rejects.toThrow(CalibrationDataError);
    await expect(loadSamples(join(dir, 'missing.npy'))).rejects.toThrow(/does not exist/);
    expect(declaredBatch(model)).toBeUndefined();
  });
});
