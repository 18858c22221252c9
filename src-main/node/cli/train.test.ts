/** @file `trainCommand`: trains the bundled torch-exported example a few steps, writes model + checkpoint + metrics, JSON events. */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainCommand } from './train.ts';
import { loadModelFile } from '../io/model-file.ts';

describe('trainCommand', () => {
  it('fine-tunes resources/mnist-cnn.onnx on resources/mnist and writes its outputs', async () => {
    const out = mkdtempSync(join(tmpdir(), 'train-cli-'));
    const lines: string[] = [];
    const r = await trainCommand({
      model: 'resources/mnist-cnn.onnx',
      data: 'resources/mnist',
      maxSteps: 20,
      batchSize: 32,
      lr: 1e-4,
      out,
      json: true,
      threads: 1,
      write: (l) => lines.push(l),
    });
    const events = lines.map((l) => JSON.parse(l) as { type: string });
    expect(events[0]!.type).toBe('start');
    expect(events.at(-1)!.type).toBe('done');
    expect(r.result.steps).toBe(20);
    expect(r.result.eval!.top1).toBeGreaterThan(0.97);
    for (const f of ['model.onnx', 'checkpoint.ckpt', 'metrics.json']) expect(existsSync(join(out, f))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).steps).toBe(20);
    expect(loadModelFile(join(out, 'model.onnx')).graph.initializers.length).toBeGreaterThan(0);
  });
});
