/**
 * `studio diff` on a demo-like pipeline of the bundled model: prune conv2 + speedup, then int8 PTQ. The diff marks
 * the pruned layers with their width changes, the folded BatchNormalizations, the quantized weights and the Q/DQ nodes.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffGraphs } from '../../core/analysis/graph-diff.ts';
import { openModel } from '../io/open-model.ts';
import { renderDiff } from './diff.ts';
import { pruneCommand } from './prune.ts';
import { quantizeCommand } from './quantize.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const MODEL = join(ROOT, 'resources', 'mnist-cnn.onnx');
const dir = mkdtempSync(join(tmpdir(), 'studio-diff-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet = { stdout: () => {}, stderr: () => {} };

describe('graph diff', () => {
  it('marks pruned widths, folded BNs, quantized weights and inserted Q/DQ nodes', async () => {
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, JSON.stringify([{ op_names: ['/conv2/Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }]));
    const pruned = await pruneCommand(
      { model: MODEL, config: cfg, pruner: 'l1', speedup: true, out: join(dir, 'pruned') },
      quiet,
    );
    const original = openModel(MODEL).model;
    const compact = openModel(pruned.speedup!.compact).model;
    const d1 = diffGraphs(original, compact);
    expect(d1.changed.map((c) => [c.name, c.kinds])).toEqual([
      ['/conv2/Conv', ['narrowed']],
      ['/bn2/BatchNormalization', ['narrowed']],
      ['/conv3/Conv', ['narrowed']],
    ]);
    expect(d1.changed[0]!.widths[0]).toEqual({
      input: 1,
      value: 'conv2.weight',
      before: [32, 16, 3, 3],
      after: [16, 16, 3, 3],
    });
    expect(d1.changed[2]!.widths[0]).toMatchObject({ before: [64, 32, 3, 3], after: [64, 16, 3, 3] });
    expect(d1.removed).toEqual([]);

    // latency-aware precision would keep this 0.03 ms model fp32 wherever int8 measures slower: the diff of a
    // quantized model is what is tested here, so the export stays int8 whatever the machine's timings
    await quantizeCommand(
      {
        model: pruned.speedup!.compact,
        calib: join(ROOT, 'resources', 'mnist'),
        calibCount: 32,
        out: join(dir, 'q'),
        latencyAware: false,
      },
      quiet,
    );
    const d2 = diffGraphs(original, openModel(join(dir, 'q', 'compact.int8.onnx')).model);
    expect(d2.summary).toMatchObject({ narrowed: 2, foldedBn: 3, quantized: 4 });
    expect(d2.summary.qdqPairs).toBeGreaterThan(0);
    expect(d2.added.filter((a) => a.kinds.includes('qdq')).length).toBeGreaterThan(d2.summary.qdqPairs);
    expect(renderDiff(d2)).toMatch(
      /\/conv2\/Conv +Conv +narrowed, quantized +conv2\.weight \[32, 16, 3, 3\] → \[16, 16, 3, 3\]/,
    );
    expect(renderDiff(d2)).toMatch(/\/bn1\/BatchNormalization +BatchNormalization +removed, folded-bn/);
  }, 120_000);
});
