/**
 * @file Benchmark: the sensitivity scan of the bundled MNIST CNN (3 conv groups × 9 ratios, 1000 evaluation samples,
 * batch 64) through the local worker pool at 1 worker and at 2 … cores workers, the same points each time. Reports
 * wall time, the speedup over one worker (goal: grows with workers up to the core count) and whether every run
 * measured the same masks and accuracies. Run alone with `node --import tsx test/bench/sensitivity.bench.ts`.
 */
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { localPool } from '../../src-main/node/sensitivity/pool.ts';
import { sensitivityScan } from '../../src-main/node/sensitivity/scan.ts';
import type { SensitivityScan } from '../../src-shared/sensitivity.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** One row per pool size; the pool sizes run one after another, the 1-worker run first. */
export async function benchSensitivity(): Promise<Record<string, unknown>[]> {
  const cores = availableParallelism();
  const sizes = [...new Set([1, ...Array.from({ length: cores - 1 }, (_, i) => i + 2)])];
  const rows: Record<string, unknown>[] = [];
  let ref: SensitivityScan | null = null;
  for (const workers of sizes) {
    const t0 = performance.now();
    const scan = await sensitivityScan(
      {
        model: join(ROOT, 'resources', 'mnist-cnn.onnx'),
        data: join(ROOT, 'resources', 'mnist'),
        evalCount: 1000,
        batchSize: 64,
      },
      { dispatcher: localPool(workers) },
    );
    const wall = (performance.now() - t0) / 1000;
    ref ??= scan;
    const same = scan.points.every(
      (p, i) => p.maskDigest === ref!.points[i]!.maskDigest && p.accuracy === ref!.points[i]!.accuracy,
    );
    const scanS = scan.points.reduce((a, p) => a + p.ms, 0) / 1000;
    rows.push({
      name: 'sensitivity.mnist-cnn.3x9',
      workers,
      cores,
      points: scan.points.length,
      wall_s: wall,
      point_s_sum: scanS,
      'speedup vs 1 worker': ((rows[0]?.wall_s as number | undefined) ?? wall) / wall,
      same_masks_and_accuracy: same,
    });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await benchSensitivity());
}
