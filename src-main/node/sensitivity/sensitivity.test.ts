/**
 * Sensitivity scan on the bundled MNIST CNN: groups found, every point verified (compact = masked), reproducible
 * for a seed, the same through the worker pool as in-process, cancellable; bad input named.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeTinyModel } from '../jobs/test-steps.ts';
import { CancelledError } from '../jobs/cancel.ts';
import { inProcessDispatcher, localPool } from './pool.ts';
import { PointCache, runScanPoint, SensitivityError } from './point.ts';
import { sensitivityScan } from './scan.ts';
import { checkAllocation } from './verify.ts';
import { allocate } from '../../core/compress/pruning/index.ts';

const MODEL = resolve('resources/mnist-cnn.onnx');
const DATA = resolve('resources/mnist');
const tmp = mkdtempSync(join(tmpdir(), 'studio-sens-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('sensitivity scan', () => {
  it('scans each conv group alone, each point verified, and is reproducible for a seed (pool = in-process)', async () => {
    const progress: number[] = [];
    const scan = await sensitivityScan(
      { model: MODEL, data: DATA, ratios: [0.25, 0.75], evalCount: 300, batchSize: 50, latencyRuns: 3 },
      { dispatcher: inProcessDispatcher(), onProgress: (p) => progress.push(p.done) },
    );
    expect(scan.groups.map((g) => g.nodes)).toEqual([['/conv1/Conv'], ['/conv2/Conv'], ['/conv3/Conv']]);
    expect(scan.groups.map((g) => g.channels)).toEqual([16, 32, 64]);
    expect(scan.points.map((p) => [p.group, p.ratio])).toEqual(
      scan.groups.flatMap((g) => [
        [g.id, 0.25],
        [g.id, 0.75],
      ]),
    );
    expect(progress.at(-1)).toBe(6);
    for (const p of scan.points) {
      expect(p.maxRelErr).toBeLessThan(1e-4);
      expect(p.removedChannels).toBe(Math.round(scan.groups.find((g) => g.id === p.group)!.channels * p.ratio));
      expect(p.macs).toBeLessThan(scan.baseline.macs);
      expect(p.accuracy).toBeLessThanOrEqual(scan.baseline.accuracy);
    }
    // pruning more of the last conv costs more accuracy than pruning less of it
    const g2 = scan.points.filter((p) => p.group === scan.groups[2]!.id);
    expect(g2[1]!.accuracy).toBeLessThan(g2[0]!.accuracy);
    // the same two jobs again, through two worker processes: same masks, same accuracy
    const jobs = [0, 5].map((i) => ({
      index: i === 0 ? 0 : 1,
      model: scan.model,
      group: scan.groups[i === 0 ? 0 : 2]!,
      ratio: i === 0 ? 0.25 : 0.75,
      pruner: 'l1',
      seed: 0,
      eval: scan.eval,
      ep: 'cpu',
      latencyRuns: 3,
    }));
    const again = await localPool(2).run(jobs);
    expect(again.map((r) => [r.maskDigest, r.accuracy])).toEqual(
      [scan.points[0]!, scan.points[5]!].map((r) => [r.maskDigest, r.accuracy]),
    );
    // a different seed draws a different evaluation subset
    const other = await runScanPoint({ ...jobs[0]!, seed: 1, eval: { ...scan.eval, seed: 1 } }, new PointCache());
    expect(other.maskDigest).toBe(scan.points[0]!.maskDigest);

    // the allocation's config list, pruned + sped up: each chosen group shrinks as allocated
    const a = allocate(scan, { target: { kind: 'macs', value: scan.baseline.macs * 0.9 }, maxAccuracyDrop: 1 });
    expect(a.configList.length).toBeGreaterThan(0);
    const check = await checkAllocation(scan, a, 3);
    expect(check.measured.maxRelErr).toBeLessThan(1e-4);
    expect(check.measured.macs).toBeLessThanOrEqual(scan.baseline.macs * 0.9);
  }, 300_000);

  it('cancels: an abort stops the pool and rejects with CancelledError', async () => {
    const controller = new AbortController();
    const started = sensitivityScan(
      {
        model: MODEL,
        data: DATA,
        ratios: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9],
        evalCount: 100,
        latencyRuns: 3,
      },
      {
        dispatcher: localPool(1),
        signal: controller.signal,
        onProgress: (p) => void (p.done === 1 && controller.abort('user asked')),
      },
    );
    await expect(started).rejects.toBeInstanceOf(CancelledError);
  }, 120_000);

  it('names bad input: ratios outside (0, 1), an empty subset, a model with nothing to prune', async () => {
    const base = { model: MODEL, data: DATA, evalCount: 10 };
    await expect(sensitivityScan({ ...base, ratios: [0.5, 1] }, { dispatcher: inProcessDispatcher() })).rejects.toThrow(
      /ratios must lie in \(0, 1\); got 1/,
    );
    await expect(
      sensitivityScan({ ...base, ratios: [0] }, { dispatcher: inProcessDispatcher() }),
    ).rejects.toBeInstanceOf(SensitivityError);
    await expect(sensitivityScan({ ...base, evalCount: 0 }, { dispatcher: inProcessDispatcher() })).rejects.toThrow(
      /at least 1 sample, got 0/,
    );
    await expect(
      sensitivityScan({ ...base, evalCount: 10_001 }, { dispatcher: inProcessDispatcher() }),
    ).rejects.toThrow(/10001 samples asked.*holds 10000/);
    const tiny = join(tmp, 'tiny.onnx');
    writeTinyModel(tiny);
    await expect(sensitivityScan({ ...base, model: tiny }, { dispatcher: inProcessDispatcher() })).rejects.toThrow(
      /no prunable layer/,
    );
  }, 120_000);
});
