/**
 * @file `studio prune` on a model whose pruned channels pass through a LayerNormalization: simulated.onnx computes
 * the norm's statistics over the kept channels, as the library's masked model does, so the compact model computes
 * what simulated.onnx computes — with `--speedup`, and when speedup comes later (prune alone). Plain masks (the
 * norm averaging over the zeroed channels too) would differ from the compact model by far more than 1e-3.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tensor, type Model, type Value } from '../../core/ir/index.ts';
import { Builder } from '../../../test/pruning/helpers.ts';
import { loadModelFile, saveModelFile } from '../io/model-file.ts';
import { runModel, sampleInputs } from '../runtime/index.ts';
import { relErr } from '../speedup/index.ts';
import { pruneCommand, type CommandIO } from './prune.ts';

const dir = mkdtempSync(join(tmpdir(), 'prune-norms-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet: CommandIO = { stdout: () => {}, stderr: () => {} };

function linear(b: Builder, name: string, x: Value, nin: number, nout: number): Value {
  const mm = b.op('MatMul', name, [x, b.weight(`${name}.weight`, [nin, nout], Math.sqrt(2 / nin))]);
  return b.op('Add', `${name}.add`, [mm, b.weight(`${name}.bias`, [nout], 0.5)]);
}

/** fc1 (8 → 16) → LayerNormalization over the 16 → Relu → fc2 (16 → 4), tokens [2, 5, ·]. */
function lnModel(): string {
  const b = new Builder(31);
  const x = b.input('input', [2, 5, 8]);
  const h = linear(b, 'fc1', x, 8, 16);
  const scale = b.g.addInitializer(
    'ln.weight',
    Tensor.float32(
      [16],
      Array.from({ length: 16 }, (_, i) => 1 + 0.1 * (i % 5)),
    ),
  );
  const ln = b.g.addNode({
    opType: 'LayerNormalization',
    name: 'ln',
    inputs: [h, scale, b.weight('ln.bias', [16], 0.5)],
    attributes: { axis: { type: 'int', value: -1 } },
  }).outputs[0]!;
  const model = b.output(linear(b, 'fc2', b.op('Relu', 'relu', [ln]), 16, 4), [2, 5, 4]);
  const path = join(dir, 'ln.onnx');
  saveModelFile(model, path);
  return path;
}

const model = lnModel();
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify([{ op_types: ['MatMul'], sparse_ratio: 0.5, dependency_group_id: 'auto' }]));

async function worst(a: Model, b: Model): Promise<number> {
  let err = 0;
  for (const seed of [1, 2]) {
    const feeds = sampleInputs(a, { seed });
    const [ra, rb] = [await runModel(a, feeds), await runModel(b, feeds)];
    for (const k of Object.keys(ra)) err = Math.max(err, relErr(ra[k]!, rb[k]));
  }
  return err;
}

describe('studio prune through a LayerNormalization', () => {
  it('writes a simulated.onnx whose norm uses the kept channels: compact = simulated', async () => {
    const r = await pruneCommand({ model, config, pruner: 'l1', out: join(dir, 'sped'), speedup: true }, quiet);
    expect(r.speedup!.macs_after).toBeLessThan(r.speedup!.macs_before);
    const simulated = loadModelFile(r.simulatedPath);
    const compact = loadModelFile(r.speedup!.compact);
    // the norm was rewritten into its masked-statistics form (no LayerNormalization left), and nothing else
    expect(simulated.graph.nodes.some((n) => n.opType === 'LayerNormalization')).toBe(false);
    expect(compact.graph.node('ln')!.input(1)!.initializer!.dims).toEqual([8]);
    expect(await worst(simulated, compact)).toBeLessThan(1e-5);
  });

  it('prune alone writes the same simulated model, which a later speedup matches', async () => {
    const alone = await pruneCommand({ model, config, pruner: 'l1', out: join(dir, 'alone') }, quiet);
    const sped = await pruneCommand({ model, config, pruner: 'l1', out: join(dir, 'sped2'), speedup: true }, quiet);
    const compact = loadModelFile(sped.speedup!.compact);
    expect(await worst(loadModelFile(alone.simulatedPath), compact)).toBeLessThan(1e-5);
  });
});
