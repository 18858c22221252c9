/**
 * @file Benchmark: the sensitivity scan of the bundled MNIST CNN (3 conv groups × 9 ratios, 1000 evaluation samples,
 * batch 64), the same points each time: in this process (no worker processes), then through the local worker pool at
 * 1 worker and at 2 … cores workers. Reports wall time, the time inside the dispatcher, the sum of the points' own
 * times, the pool's overhead (dispatch time − point time ÷ workers: process start-up, model and subset loading per
 * worker, IPC, the tail of an uneven last round), the speedup over one worker (goal: grows with workers up to the
 * core count), the 1-minute load average when the row started, and whether every run measured the same masks and
 * accuracies. Run alone with `node --import tsx test/bench/sensitivity.bench.ts`.
 */
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inProcessDispatcher, localPool, type ScanDispatcher } from '../../src-main/node/sensitivity/pool.ts';
import { sensitivityScan } from '../../src-main/node/sensitivity/scan.ts';
import type { SensitivityScan } from '../../src-shared/sensitivity.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** A dispatcher that records how long its `run` took. */
function timed(inner: ScanDispatcher): ScanDispatcher & { ms: number } {
  const t = {
    workers: inner.workers,
    ms: 0,
    async run(...args: Parameters<ScanDispatcher['run']>) {
      const t0 = performance.now();
      const r = await inner.run(...args);
      t.ms = performance.now() - t0;
      return r;
    },
  };
  return t;
}

/** One row per dispatcher; in-process first, then the pool at 1, 2, … cores workers, one after another. */
export async function benchSensitivity(): Promise<Record<string, unknown>[]> {
  const cores = availableParallelism();
  const sizes = [...new Set([1, ...Array.from({ length: cores - 1 }, (_, i) => i + 2)])];
  const runs: { label: string; make: () => ScanDispatcher }[] = [
    { label: 'in-process', make: inProcessDispatcher },
    ...sizes.map((n) => ({ label: `pool of ${n}`, make: () => localPool(n) })),
  ];
  const rows: Record<string, unknown>[] = [];
  let ref: SensitivityScan | null = null;
  let oneWorker: number | null = null;
  for (const r of runs) {
    const load = loadavg()[0]!;
    const dispatcher = timed(r.make());
    const t0 = performance.now();
    const scan = await sensitivityScan(
      {
        model: join(ROOT, 'resources', 'mnist-cnn.onnx'),
        data: join(ROOT, 'resources', 'mnist'),
        evalCount: 1000,
        batchSize: 64,
      },
      { dispatcher },
    );
    const wall = (performance.now() - t0) / 1000;
    ref ??= scan;
    const same = scan.points.every(
      (p, i) => p.maskDigest === ref!.points[i]!.maskDigest && p.accuracy === ref!.points[i]!.accuracy,
    );
    const pointS = scan.points.reduce((a, p) => a + p.ms, 0) / 1000;
    const dispatchS = dispatcher.ms / 1000;
    if (r.label === 'pool of 1') oneWorker = dispatchS;
    rows.push({
      name: 'sensitivity.mnist-cnn.3x9',
      dispatcher: r.label,
      cores,
      load_1min: Number(load.toFixed(1)),
      points: scan.points.length,
      wall_s: wall,
      dispatch_s: dispatchS,
      point_s_sum: pointS,
      pool_overhead_s: dispatchS - pointS / dispatcher.workers,
      'dispatch speedup vs 1 worker': oneWorker === null ? null : oneWorker / dispatchS,
      same_masks_and_accuracy: same,
    });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.table(await benchSensitivity());
}
