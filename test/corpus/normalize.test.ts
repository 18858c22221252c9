/**
 * @file Normalization on load leaves what every corpus model computes unchanged (≤ 1e-6 relative): the
 * corpus's opset-17 models (Constant-node shapes, BN-kept variants, the transformer) and zoo models exported
 * with torch's defaults (de-duplicated weights behind Identity nodes).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Model } from '../../src-main/core/ir/index.ts';
import { normalizeModel } from '../../src-main/core/passes/index.ts';
import { loadModelFile } from '../../src-main/node/io/model-file.ts';
import { runModel, sampleInputs } from '../../src-main/node/runtime/index.ts';
import { relErr } from '../../src-main/node/speedup/index.ts';
import { corpusManifest, loadCorpusModel, materializeWeights } from './materialize.ts';

const ZOO = join(import.meta.dirname, '..', 'zoo', 'models');

async function normalizedError(model: Model): Promise<{ err: number; changed: number }> {
  const { model: normalized, report } = normalizeModel(model);
  const feeds = sampleInputs(model, { seed: 4, dimSizes: { batch: 1 } });
  const [a, b] = [await runModel(model, feeds), await runModel(normalized, feeds)];
  let err = 0;
  for (const k of Object.keys(a)) err = Math.max(err, relErr(a[k]!, b[k]));
  return { err, changed: report.steps.reduce((n, s) => n + s.count, 0) };
}

describe('normalization leaves outputs unchanged', () => {
  const entries = corpusManifest().filter((e) => e.opset === 17 && !e.model.startsWith('vgg'));
  for (const e of entries) {
    it(e.name, async () => {
      const { err } = await normalizedError(loadCorpusModel(e.name, 2));
      expect(err).toBeLessThanOrEqual(1e-6);
    });
  }

  for (const name of ['resnet18_op17', 'densenet121_op13']) {
    it(`zoo ${name} (torch defaults: de-duplicated weights behind Identity)`, async () => {
      const model = loadModelFile(join(ZOO, `${name}.onnx`), { allowWeightless: true });
      materializeWeights(model, 2);
      const { err, changed } = await normalizedError(model);
      expect(changed).toBeGreaterThan(0);
      expect(err).toBeLessThanOrEqual(1e-6);
    });
  }

  // opset 13: torch writes LayerNorm as ReduceMean / Sub / Pow / ReduceMean / Add / Sqrt / Div / Mul / Add, which
  // fuse-layernorm turns into LayerNormalization (the model moves to opset 17): every one of them (one Sqrt each)
  // is fused, and the outputs do not move.
  const fused: [string, () => Model, number][] = [
    ['corpus transformer_op13_dyn', () => loadCorpusModel('transformer_op13_dyn.onnx', 2), 4],
    ...['convnext_tiny_op13', 'vit_b_32_op13', 'swin_t_op13'].map((name): [string, () => Model, number] => [
      `zoo ${name}`,
      () => {
        const model = loadModelFile(join(ZOO, `${name}.onnx`), { allowWeightless: true });
        materializeWeights(model, 2);
        return model;
      },
      { convnext_tiny_op13: 23, vit_b_32_op13: 25, swin_t_op13: 29 }[name]!,
    ]),
  ];
  for (const [what, load, norms] of fused) {
    it(`${what}: decomposed LayerNorms fused, outputs unchanged`, async () => {
      const model = load();
      const { model: normalized, report } = normalizeModel(model);
      expect(report.steps.find((s) => s.pass === 'fuse-layernorm')!.count).toBe(norms);
      expect(normalized.graph.nodes.filter((n) => n.opType === 'LayerNormalization')).toHaveLength(norms);
      expect(normalized.opset).toBe(17);
      const { err } = await normalizedError(model);
      expect(err).toBeLessThanOrEqual(1e-6);
    });
  }
});
