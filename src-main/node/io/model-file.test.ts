/** @file Model files on disk: external data written and read back, confinement to the model folder, bad files. */
import { mkdtempSync, mkdirSync, readdirSync, symlinkSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../../core/ir/index.ts';
import { encodeModel, ExternalDataPathError, ModelFormatError } from '../../core/onnx/index.ts';
import { runModel } from '../runtime/index.ts';
import { loadModelFile, ModelFileError, saveModelFile } from './model-file.ts';

function gemmModel(): Model {
  const m = new Model();
  const g = m.graph;
  const x = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [1, 64] });
  const w = g.addInitializer(
    'w',
    Tensor.float32(
      [32, 64],
      Array.from({ length: 2048 }, (_, i) => Math.sin(i)),
    ),
  );
  const b = g.addInitializer(
    'b',
    Tensor.float32(
      [32],
      Array.from({ length: 32 }, (_, i) => i / 10),
    ),
  );
  const n = g.addNode({
    opType: 'Gemm',
    name: 'fc',
    inputs: [x, w, b],
    outputs: ['y'],
    attributes: { transB: { type: 'int', value: 1 } },
  });
  g.outputs.push(n.outputs[0]!);
  n.outputs[0]!.type = { kind: 'tensor', dtype: 'float32', shape: [1, 32] };
  return m;
}

const tmp = () => mkdtempSync(join(tmpdir(), 'studio-io-'));
const feeds = {
  x: Tensor.float32(
    [1, 64],
    Array.from({ length: 64 }, (_, i) => (i % 7) - 3),
  ),
};

describe('model files', () => {
  it('saves large tensors as external data and reads them back with identical outputs', async () => {
    const dir = tmp();
    const m = gemmModel();
    const r = saveModelFile(m, join(dir, 'm.onnx'), { external: { location: 'm.weights', threshold: 1024 } });
    expect(r.externalBytes).toBe(2048 * 4);
    expect(statSync(join(dir, 'm.onnx')).size).toBeLessThan(1024);
    const back = loadModelFile(join(dir, 'm.onnx'));
    const a = await runModel(m, feeds);
    const b = await runModel(back, feeds);
    expect(Array.from(b.y!.data as Float32Array)).toEqual(Array.from(a.y!.data as Float32Array));
  });

  it('refuses external data reached through a symlink out of the model folder', () => {
    const outside = tmp();
    writeFileSync(join(outside, 'm.weights'), new Uint8Array(8192));
    const dir = tmp();
    const m = gemmModel();
    saveModelFile(m, join(dir, 'm.onnx'), { external: { location: 'm.weights', threshold: 1024 } });
    const enc = encodeModel(gemmModel(), { external: { location: 'link/m.weights', threshold: 1024 } });
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'm.onnx'), enc.bytes);
    symlinkSync(outside, join(dir, 'sub', 'link'));
    expect(() => loadModelFile(join(dir, 'sub', 'm.onnx'))).toThrow(ExternalDataPathError);
  });

  it('external data claiming more bytes than its file holds names the tensor and offset', () => {
    const dir = tmp();
    saveModelFile(gemmModel(), join(dir, 'm.onnx'), { external: { location: 'm.weights', threshold: 1024 } });
    truncateSync(join(dir, 'm.weights'), 100);
    expect(() => loadModelFile(join(dir, 'm.onnx'))).toThrow(/tensor "w", byte offset 0 of m.weights/);
  });

  it('a missing external data file is a ModelFormatError', () => {
    const dir = tmp();
    const enc = encodeModel(gemmModel(), { external: { location: 'gone.bin', threshold: 1024 } });
    writeFileSync(join(dir, 'm.onnx'), enc.bytes);
    expect(() => loadModelFile(join(dir, 'm.onnx'))).toThrow(ModelFormatError);
  });

  it('a missing file or a folder gets ModelFileError', () => {
    expect(() => loadModelFile('/nonexistent/model.onnx')).toThrow(ModelFileError);
    expect(() => loadModelFile(tmp())).toThrow(/is a folder, not a regular file/);
  });

  it('writes through temporary names and leaves none behind', () => {
    const dir = tmp();
    saveModelFile(gemmModel(), join(dir, 'm.onnx'), { external: { location: 'm.weights', threshold: 1024 } });
    expect(readdirSync(dir).sort()).toEqual(['m.onnx', 'm.weights']);
  });
});
