/**
 * @file Trace of the committed real-model fixtures (test/fixtures, made by test/corpus/make_fixtures.py):
 * control flow (If, Loop), recurrent ops (LSTM, GRU) and weights held in Constant nodes. Each trace's output
 * must match torch's reference output in `<name>.io.json`, and every intermediate must come back with a shape.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../core/ir/index.ts';
import { loadModelFile } from '../io/model-file.ts';
import { runModel } from './run.ts';
import { trace } from './trace.ts';

const dir = fileURLToPath(new URL('../../../test/fixtures/', import.meta.url));

interface IoJson {
  samples: {
    inputs: Record<string, { shape: number[]; data: number[] }>;
    outputs: Record<string, { shape: number[]; data: number[] }>;
  }[];
}

function load(name: string) {
  return {
    model: loadModelFile(`${dir}${name}.onnx`),
    io: JSON.parse(readFileSync(`${dir}${name}.io.json`, 'utf8')) as IoJson,
  };
}

function expectClose(got: Tensor, want: { shape: number[]; data: number[] }): void {
  expect(got.dims).toEqual(want.shape);
  const g = got.toNumbers();
  const worst = Math.max(...want.data.map((w, i) => Math.abs(g[i]! - w) / (1e-3 + Math.abs(w))));
  expect(worst).toBeLessThan(1e-3);
}

const FIXTURES: [name: string, op: string][] = [
  ['constant_weights_cnn', 'Conv'],
  ['if_model', 'If'],
  ['loop_model', 'Loop'],
  ['lstm_model', 'LSTM'],
  ['gru_model', 'GRU'],
];

describe.each(FIXTURES)('trace of %s', (name, opType) => {
  it(`matches torch on every reference sample and traces every ${opType}`, async () => {
    const { model, io } = load(name);
    for (const s of io.samples) {
      const inputs = Object.fromEntries(Object.entries(s.inputs).map(([k, v]) => [k, Tensor.float32(v.shape, v.data)]));
      const t = await trace(model, { inputs, threads: 1 });
      for (const [k, want] of Object.entries(s.outputs)) expectClose(t.outputs[k]!, want);
      expect(t.skipped).toEqual([]);
      for (const n of model.graph.nodes) {
        for (const v of n.outputs)
          if (!v.anonymous) expect(t.values.get(v.name), `${n.opType} output ${v.name}`).toBeDefined();
      }
      const node = model.graph.nodes.find((n) => n.opType === opType)!;
      expect(t.values.get(node.outputs[0]!.name)!.shape.length).toBeGreaterThan(0);
    }
  });

  it('traces generated inputs of another batch size and agrees with a plain run', async () => {
    const { model } = load(name);
    const t = await trace(model, { dimSizes: { batch: 3, seq: 4 }, seed: 9 });
    const out = t.outputs.output!;
    expect(out.dims[0]).toBe(3);
    const plain = await runModel(model, t.inputs, { optimization: 'disabled' });
    expect(out.toNumbers()).toEqual(plain.output!.toNumbers());
  });
});

describe('fixture details', () => {
  it('LSTM gives Y as [seq, directions, batch, hidden] for both layers', async () => {
    const { model } = load('lstm_model');
    const t = await trace(model, { dimSizes: { batch: 2 } });
    const lstms = model.graph.nodes.filter((n) => n.opType === 'LSTM');
    expect(lstms).toHaveLength(2);
    for (const n of lstms) expect(t.values.get(n.outputs[0]!.name)!.shape).toEqual([10, 1, 2, 16]);
  });

  it('Loop runs once per step of the dynamic sequence axis', async () => {
    const { model } = load('loop_model');
    const loop = model.graph.nodes.find((n) => n.opType === 'Loop')!;
    for (const seq of [1, 6]) {
      const t = await trace(model, { dimSizes: { batch: 2, seq } });
      expect(t.outputs.output!.dims).toEqual([2, 4]);
      expect(t.values.get(loop.outputs[0]!.name)!.shape).toEqual([2, 16]);
    }
  });

  it('annotates the Constant-weight CNN with symbolic batch dims a later pass can read', async () => {
    const { model } = load('constant_weights_cnn');
    const t = await trace(model, { annotate: true, dimSizes: { batch: 2 } });
    expect(t.notes).toEqual([]);
    const conv = model.graph.nodes.filter((n) => n.opType === 'Conv');
    expect(conv.map((n) => n.outputs[0]!.shape)).toEqual([
      ['batch', 8, 16, 16],
      ['batch', 16, 16, 16],
    ]);
    const gemm = model.graph.nodes.find((n) => n.opType === 'Gemm')!;
    expect(gemm.outputs[0]!.type).toEqual({ kind: 'tensor', dtype: 'float32', shape: ['batch', 10] });
  });

  it('annotates the Loop model with batch and seq where they flow', async () => {
    const { model } = load('loop_model');
    await trace(model, { annotate: true, dimSizes: { batch: 2, seq: 5 } });
    const loop = model.graph.nodes.find((n) => n.opType === 'Loop')!;
    expect(loop.outputs[0]!.shape).toEqual(['batch', 16]);
    const shape = model.graph.nodes.find((n) => n.opType === 'Shape')!;
    expect(shape.outputs[0]!.shape).toEqual([3]); // Shape of a rank-3 input: fixed length
  });
});
