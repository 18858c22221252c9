/**
 * @file A sample of the torchvision zoo (all of it: `npm run bench -- zoo`): models exported with torch's
 * defaults — BatchNorm folded, identical initializers de-duplicated behind Identity nodes, dynamic batch —
 * load, trace with MACs within 1 % of torchvision's count, and prune at 50 % L1 with automatic groups to a
 * compact model that computes what the masked one does (≤ 1e-4) with fewer MACs.
 */
import { describe, expect, it } from 'vitest';
import { setInlineDataLimit } from '../../src-main/node/io/model-file.ts';
import { agreesWithDocumented, runZooModel, TORCHVISION_GFLOPS, zooManifest } from './zoo.ts';

const SAMPLE = ['resnet18_op17', 'densenet121_op13', 'efficientnet_b0_op17', 'googlenet_op17'];

/**
 * Models whose residual streams pass through LayerNormalization (pruned with statistics over the kept channels),
 * with the MAC ratio each must reach: the streams go, not only the MLP widths (ConvNeXt 0.533, ViT 0.679, Swin 0.691
 * when the norms blocked them). convnext_tiny_op13's norms are torch's opset-13 decomposition (ReduceMean / Sub /
 * Pow / …), fused into LayerNormalization on load (fuse-layernorm).
 */
const THROUGH_NORMS: Record<string, number> = {
  convnext_tiny_op17: 0.3,
  convnext_tiny_op13: 0.3,
  vit_b_32_op17: 0.4,
  swin_t_op17: 0.66,
};

describe('a model over the inline limit (how regnet_y_128gf and vit_h_14 run): the same row', () => {
  it('squeezenet1_1_op17 with every session from external data prunes exactly as in memory', async () => {
    const entry = zooManifest().find((e) => e.name === 'squeezenet1_1_op17.onnx')!;
    const inMemory = await runZooModel(entry);
    const before = setInlineDataLimit(1 << 20);
    let external: Awaited<ReturnType<typeof runZooModel>>;
    try {
      external = await runZooModel(entry);
    } finally {
      setInlineDataLimit(before);
    }
    expect(external.why_not).toBe(inMemory.why_not);
    expect(external.pruned).toBe('yes');
    expect(external.our_gmacs).toBe(inMemory.our_gmacs);
    expect(external.mac_ratio).toBe(inMemory.mac_ratio);
    // the same masked and compact outputs, bit for bit, so the same largest error
    expect(external.max_err).toBe(inMemory.max_err);
  });
});

describe('torchvision zoo sample: 50 % L1, auto groups, speedup', () => {
  const manifest = zooManifest();
  for (const name of SAMPLE) {
    it(name, async () => {
      const entry = manifest.find((e) => e.name === `${name}.onnx`)!;
      const row = await runZooModel(entry);
      expect(row.why_not).not.toMatch(/^(load|trace|prune|speedup):/);
      expect(Math.abs(row.macs_vs_torch - 1)).toBeLessThan(0.01);
      expect(agreesWithDocumented(row.our_gmacs! * 1e9, TORCHVISION_GFLOPS[entry.model]!)).toBe(true);
      expect(row.pruned).toBe('yes');
      expect(row.max_err!).toBeLessThanOrEqual(1e-4);
      expect(row.mac_ratio!).toBeLessThan(0.6);
    });
  }
  for (const [name, ratio] of Object.entries(THROUGH_NORMS)) {
    it(`${name}: residual streams through LayerNorm pruned`, async () => {
      const entry = manifest.find((e) => e.name === `${name}.onnx`)!;
      const row = await runZooModel(entry);
      expect(row.why_not).not.toMatch(/^(load|trace|prune|speedup):/);
      expect(row.why_not).not.toMatch(/LayerNormalization/);
      expect(row.pruned).toBe('yes');
      expect(row.max_err!).toBeLessThanOrEqual(1e-4);
      expect(row.mac_ratio!).toBeLessThan(ratio);
      expect(
        row.report!.layers.some((l) => l.opType === 'LayerNormalization' && l.channelsAfter < l.channelsBefore),
      ).toBe(true);
    });
  }
});
