/**
 * @file Models over protobuf's 2 GB limit: ORT gets them as a file with external data in a temporary folder. The
 * limit is lowered here so a small real model (squeezenet1_1 from the corpus, 1.2 M parameters) goes the same way;
 * every session the product makes from a model (runner, trace, latency, training sessions, ORT's optimized graph)
 * must give outputs identical to the in-memory path, and no temporary file may stay behind.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadCorpusModel } from '../../../test/corpus/materialize.ts';
import { Tensor, type Model } from '../../core/ir/index.ts';
import { inlineDataBytes } from '../../core/onnx/index.ts';
import { loadModelFile, savedSize, saveModelFile, setInlineDataLimit } from '../io/model-file.ts';
import { optimizedGraph } from '../quantize/verify.ts';
import { createSession as createTrainingSession, fromOrt, toOrt } from '../train/ort.ts';
import { compareLatency } from './bench.ts';
import { WeightlessModelError } from './errors.ts';
import { sessionSource } from './model-source.ts';
import { ModelRunner } from './run.ts';
import { convGemm } from './testing/models.ts';
import { trace } from './trace.ts';

const DEFAULT_LIMIT = setInlineDataLimit(0);
setInlineDataLimit(DEFAULT_LIMIT);

/** Run `f` with the inline limit at `bytes`, restoring it afterwards. */
async function withLimit<T>(bytes: number, f: () => Promise<T>): Promise<T> {
  const before = setInlineDataLimit(bytes);
  try {
    return await f();
  } finally {
    setInlineDataLimit(before);
  }
}

let tmp: string;
let oldTmp: string | undefined;
let squeezenet: Model;
const x = Tensor.float32(
  [1, 3, 224, 224],
  Array.from({ length: 3 * 224 * 224 }, (_, i) => Math.sin(i * 0.37)),
);

beforeAll(() => {
  // a folder of our own as the OS temp folder, so "nothing left behind" is checked without other tests' files
  tmp = mkdtempSync(join(tmpdir(), 'model-source-test-'));
  oldTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  squeezenet = loadCorpusModel('squeezenet1_1_op17_b1');
});
afterAll(() => {
  if (oldTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = oldTmp;
  rmSync(tmp, { recursive: true, force: true });
});
afterEach(() => expect(readdirSync(tmp).filter((f) => f.startsWith('studio-session-'))).toEqual([]));

async function outputs(model: Model): Promise<Record<string, Tensor>> {
  const runner = await ModelRunner.create(model, { threads: 1 });
  try {
    return await runner.run({ input: x });
  } finally {
    await runner.release();
  }
}

describe('inlineDataBytes', () => {
  it('counts the data of every initializer (and nothing for weightless ones)', () => {
    const m = convGemm();
    // w 4 + b 1 + B 8 + C 2 floats
    expect(inlineDataBytes(m)).toBe(15 * 4);
    m.graph.initializers[0]!.initializer!.data = null;
    expect(inlineDataBytes(m)).toBe(11 * 4);
    expect(inlineDataBytes(squeezenet)).toBeGreaterThan(4 * 1_200_000);
  });
});

describe('sessionSource', () => {
  it('keeps a model under the limit in memory, and writes one over it to a folder it removes on dispose', async () => {
    expect(sessionSource(squeezenet).external).toBe(false);
    await withLimit(1 << 20, async () => {
      const src = sessionSource(squeezenet);
      expect(src.external).toBe(true);
      expect(typeof src.model).toBe('string');
      const file = src.model as string;
      expect(statSync(`${file}.data`).size).toBeGreaterThanOrEqual(inlineDataBytes(squeezenet) - (1 << 20));
      expect(statSync(file).size).toBeLessThan(1 << 20);
      src.dispose();
      src.dispose();
      expect(existsSync(file)).toBe(false);
    });
  });

  it('refuses a weightless model by name before writing anything', async () => {
    const m = convGemm();
    m.graph.initializers[2]!.initializer!.data = null;
    await withLimit(0, async () => {
      expect(() => sessionSource(m)).toThrow(WeightlessModelError);
      expect(() => sessionSource(m)).toThrow(/B/);
    });
  });
});

describe('sessions from external data give the in-memory outputs exactly', () => {
  it('ModelRunner (inference, evaluation, speedup verification): same output bits, temp folder gone', async () => {
    const inMemory = await outputs(squeezenet);
    const external = await withLimit(1 << 20, () => outputs(squeezenet));
    expect(Object.keys(external)).toEqual(Object.keys(inMemory));
    for (const k of Object.keys(inMemory)) {
      expect(external[k]!.dims).toEqual(inMemory[k]!.dims);
      expect(Buffer.from((external[k]!.data as Float32Array).buffer)).toEqual(
        Buffer.from((inMemory[k]!.data as Float32Array).buffer),
      );
    }
  });

  it('the concrete trace: same shapes for every value, same outputs', async () => {
    const a = await trace(squeezenet, { inputs: { input: x }, threads: 1 });
    const b = await withLimit(1 << 20, () => trace(squeezenet, { inputs: { input: x }, threads: 1 }));
    expect(b.values.size).toBe(a.values.size);
    for (const [k, v] of a.values) expect(b.values.get(k)?.shape).toEqual(v.shape);
    expect([...b.outputs.output!.toFloat32()]).toEqual([...a.outputs.output!.toFloat32()]);
  });

  it('latency (compareLatency) runs both models through it', async () => {
    const r = await withLimit(1 << 20, () =>
      compareLatency(squeezenet, squeezenet, { runs: 2, warmup: 1, threads: 1 }),
    );
    expect(r.rounds).toBe(2);
    expect(r.ratio).toBeGreaterThan(0);
  });

  it('training sessions (train/ort.ts) too', async () => {
    const run = async () => {
      const s = await createTrainingSession(squeezenet, { threads: 1 });
      try {
        return fromOrt((await s.run({ input: toOrt(x) })).output!);
      } finally {
        await s.release();
      }
    };
    const a = await run();
    const b = await withLimit(1 << 20, run);
    expect([...b.toFloat32()]).toEqual([...a.toFloat32()]);
  });

  it("ORT's optimized graph (quantization's fusion check) is written and read back by external data", async () => {
    const a = await optimizedGraph(squeezenet, 'basic');
    const b = await withLimit(1 << 20, () => optimizedGraph(squeezenet, 'basic'));
    expect(b.graph.nodes.map((n) => n.opType)).toEqual(a.graph.nodes.map((n) => n.opType));
    expect(b.graph.initializers.length).toBe(a.graph.initializers.length);
    expect(b.graph.initializers.every((v) => v.initializer!.hasData)).toBe(true);
  });
});

describe('saveModelFile over the limit', () => {
  it('writes <name>.data beside the model, and loading reads it back unchanged', async () => {
    const dir = mkdtempSync(join(tmp, 'save-'));
    const small = saveModelFile(squeezenet, join(dir, 'small.onnx'));
    expect(small.externalFile).toBeUndefined();
    expect(existsSync(join(dir, 'small.onnx.data'))).toBe(false);
    const big = await withLimit(1 << 20, async () => saveModelFile(squeezenet, join(dir, 'big.onnx')));
    expect(big.externalFile).toBe('big.onnx.data');
    expect(statSync(join(dir, 'big.onnx.data')).size).toBe(big.externalBytes);
    expect(big.bytes).toBeLessThan(small.bytes / 10);
    expect(savedSize(squeezenet)).toBe(small.bytes);
    // the same bytes but for the external file's name, written in each external tensor's location (~60 of them)
    const estimate = await withLimit(1 << 20, async () => savedSize(squeezenet));
    expect(Math.abs(estimate - (big.bytes + big.externalBytes))).toBeLessThan(256);
    const back = loadModelFile(join(dir, 'big.onnx'));
    expect(inlineDataBytes(back)).toBe(inlineDataBytes(squeezenet));
    for (const v of squeezenet.graph.initializers) {
      const got = back.graph.initializers.find((w) => w.name === v.name)!.initializer!;
      expect(got.dims).toEqual(v.initializer!.dims);
      expect(Buffer.from(got.toFloat32().buffer).equals(Buffer.from(v.initializer!.toFloat32().buffer))).toBe(true);
    }
    // and it runs from its own path (ORT reads the .data beside it)
    const runner = await ModelRunner.create(join(dir, 'big.onnx'), { threads: 1 });
    const fromFile = await runner.run({ input: x });
    await runner.release();
    expect([...fromFile.output!.toFloat32()]).toEqual([...(await outputs(squeezenet)).output!.toFloat32()]);
  });
});
