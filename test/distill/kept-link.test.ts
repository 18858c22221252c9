/**
 * @file Kept-channel links: a student pruned and sped up from its teacher keeps a subset of the teacher's channels, so
 * `dynamic_layerwise` with `link: 'auto'` compares each student Conv output with the teacher's gathered at the kept
 * indices (no projection). The indices recovered from the weights equal speedup's record, survive training, and
 * are exact: before any training the student's first conv output IS the teacher's at those channels (the step's
 * distillation loss on that link is 0), while a wrong index set would not be.
 */
import { describe, expect, it } from 'vitest';
import { cloneModel, type Model } from '../../src-main/core/ir/index.ts';
import { L1NormPruner } from '../../src-main/core/compress/pruning/index.ts';
import { DynamicLayerwiseDistiller, recoverKeptChannels } from '../../src-main/core/compress/distillation/index.ts';
import type { KeptChannels } from '../../src-main/core/compress/speedup/index.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import { trace } from '../../src-main/node/runtime/index.ts';
import { Evaluator } from '../../src-main/node/train/index.ts';
import { bundledMnist } from '../../src-main/node/train/mnist.ts';
import { makeDistiller } from '../../src-main/node/train/distill.ts';

const teacher = loadModelFile('resources/mnist-cnn.onnx');
const train = bundledMnist('train', 512);
const config = {
  train,
  optimizer: { type: 'adam' as const, lr: 1e-3 },
  batchSize: 32,
  epochs: 1,
  seed: 3,
  threads: 1,
};
const CONVS = ['/conv1/Conv_output_0', '/conv2/Conv_output_0', '/conv3/Conv_output_0'];

async function compact(ratio: number): Promise<{ model: Model; kept: KeptChannels }> {
  const t = await trace(teacher, { dimSizes: { batch: 1 } });
  const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape as number[]]));
  const { masks } = await new L1NormPruner(
    teacher,
    [{ op_types: ['Conv'], sparse_ratio: ratio, dependency_group_id: 'auto' }],
    undefined,
    { shapes },
  ).compress();
  const r = await new ModelSpeedup(teacher, masks).speedupModel();
  return { model: r.model, kept: r.kept };
}

describe('kept-channel links on the bundled MNIST CNN pruned with speedup', () => {
  it('the channels recovered from the weights are the ones speedup recorded, also after the student trained', async () => {
    for (const ratio of [0.5, 0.25]) {
      const { model, kept } = await compact(ratio);
      const rec = recoverKeptChannels(model, teacher);
      for (const v of [...CONVS, '/Relu_output_0', '/MaxPool_1_output_0', '/pool/GlobalAveragePool_output_0']) {
        expect(kept.get(v)?.get(1)).toBeDefined();
        expect(rec.get(v)?.get(1)).toEqual(kept.get(v)!.get(1));
      }
      expect(rec.has('logits')).toBe(false); // same width: nothing to gather
      // a trained student (weights moved) still matches
      const ev = new Evaluator(model, { ...config, optimizer: { type: 'adam' as const, lr: 3e-3 } });
      await ev.train({ maxSteps: 16 });
      const trained = ev.model;
      const w2 = (m: Model) => m.graph.node('/conv2/Conv')!.input(1)!.initializer!.data;
      expect(w2(trained)).not.toEqual(w2(model));
      const rec2 = recoverKeptChannels(trained, teacher);
      for (const v of CONVS) expect(rec2.get(v)?.get(1)).toEqual(kept.get(v)!.get(1));
    }
  });

  it("link 'auto' gathers the teacher's kept channels: the untrained student's conv1 output is exactly the teacher's there (loss 0), a shifted index set is not", async () => {
    const { model, kept } = await compact(0.5);
    const first = async (k?: KeptChannels) => {
      const ev = new Evaluator(model, { ...config, stepsPerRun: 1 });
      const reports: Record<string, number>[] = [];
      ev.patchOptimizerStep([], [(c) => void reports.push(c.result!.reports)]);
      const d = new DynamicLayerwiseDistiller(model, [{ op_names: ['/conv1/Conv'] }], ev, {
        teacher,
        keptChannels: k,
      });
      expect(d.links[0]!.teacherChannels?.[0]).toEqual((k ?? kept).get(CONVS[0]!)!.get(1));
      await d.compress({ maxSteps: 1 });
      return reports[0]!['loss.distill']!;
    };
    expect(await first()).toBeLessThan(1e-10); // recovered from the weights
    expect(await first(kept)).toBeLessThan(1e-10); // speedup's record
    const shifted: KeptChannels = new Map([
      [
        CONVS[0]!,
        new Map([
          [
            1,
            kept
              .get(CONVS[0]!)!
              .get(1)!
              .map((i) => (i + 1) % 16),
          ],
        ]),
      ],
    ]);
    expect(await first(shifted)).toBeGreaterThan(1e-3);
  });

  it('every Conv output through the plan’s path (makeDistiller): links gather, nothing is added to the student, the result keeps its widths', async () => {
    const { model } = await compact(0.5);
    const ev = new Evaluator(model, config);
    const d = await makeDistiller(model, ev, {
      distiller: 'dynamic_layerwise',
      teacher,
      configList: [{ op_types: ['Conv'] }],
    });
    const { model: out, links } = await d.compress({ maxSteps: 4 });
    expect(links.map((l) => l.teacherChannels?.[0]?.length)).toEqual([8, 16, 32]);
    expect(out.graph.initializers.map((v) => v.name).sort()).toEqual(
      cloneModel(model)
        .graph.initializers.map((v) => v.name)
        .sort(),
    );
    expect(out.graph.nodes.length).toBe(model.graph.nodes.length);
  });

  it('adaptive1d_layerwise gathers the kept channels of a pruned student instead of projecting, and projects what they do not explain', async () => {
    const { model } = await compact(0.5);
    const trainables = async (projectKept: boolean, m: Model) => {
      const ev = new Evaluator(m, config);
      const d = await makeDistiller(m, ev, {
        distiller: 'adaptive1d_layerwise',
        teacher,
        configList: [{ op_types: ['Conv'] }],
        projectKept,
      });
      const revert = (d as unknown as { register(h: Evaluator): (() => void)[] }).register(ev);
      const t = await ev.trainer();
      const names = t.step.signature.params.map((p) => p.name).filter((n) => n.startsWith('distill.proj/'));
      await t.release();
      for (const r of revert) r();
      return names.length;
    };
    expect(await trainables(false, model)).toBe(0);
    expect(await trainables(true, model)).toBe(6); // a weight and a bias per Conv
    // conv2's rows shuffled: its kept channels (and conv3's, which follow them) are no longer explained
    const shuffled = cloneModel(model);
    const w = shuffled.graph.node('/conv2/Conv')!.input(1)!.initializer!;
    const data = w.data as Float32Array;
    const per = w.size / w.dims[0]!;
    const row0 = data.slice(0, per);
    data.copyWithin(0, per, 2 * per);
    data.set(row0, per);
    expect(await trainables(false, shuffled)).toBe(4);
  });
});
