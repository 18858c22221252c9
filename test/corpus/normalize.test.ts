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
});
