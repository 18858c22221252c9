/**
 * @file Benchmark: event-loop lag of the host while a job runs a CPU-heavy step in its worker (goal p99 < 20 ms).
 * Uses node:perf_hooks monitorEventLoopDelay; the host only relays progress and records checkpoints. Run alone
 * with `node --import tsx test/bench/jobs.bench.ts`. Imports the runner, the store and the test step kinds.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parsePlan } from '../../src-shared/experiment.ts';
import { Runner } from '../../src-main/node/jobs/runner.ts';
import { TEST_STEPS_MODULE, writeTinyModel } from '../../src-main/node/jobs/test-steps.ts';
import { openStore } from '../../src-main/node/store/index.ts';

const GOAL_P99_MS = 20;

/**
 * Host event-loop delay (ms) sampled while a worker spins the CPU for `spinMs`, reporting progress as it goes.
 *
 * @example const r = await benchEventLoop(); // { p99Ms: 11.2, pass: true, … }
 */
export async function benchEventLoop(opts: { spinMs?: number } = {}): Promise<Record<string, unknown>> {
  const spinMs = opts.spinMs ?? 3000;
  const root = mkdtempSync(join(tmpdir(), 'studio-bench-jobs-'));
  const store = openStore(join(root, 'home'));
  try {
    mkdirSync(join(root, 'in'));
    const model = join(root, 'in', 'net.onnx');
    writeTinyModel(model);
    const runner = new Runner({ store, stepModules: [TEST_STEPS_MODULE] });
    const job = runner.submit(
      parsePlan({
        model,
        steps: [
          { kind: 'spin', ms: spinMs },
          { kind: 'count', n: 20, delayMs: 5 },
        ],
      }),
    );
    const histogram = monitorEventLoopDelay({ resolution: 5 });
    let progress = 0;
    let sampledFrom = 0;
    job.on('step', (s) => {
      if (s.index === 0 && s.status === 'running') {
        histogram.enable();
        sampledFrom = performance.now();
      }
    });
    job.on('progress', () => progress++);
    const outcome = await job.done;
    histogram.disable();
    const sampledMs = performance.now() - sampledFrom;
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    const p99Ms = ms(histogram.percentile(99));
    return {
      name: 'jobs.hostEventLoopLag',
      status: outcome.status,
      spinMs,
      sampledMs: Math.round(sampledMs),
      p50Ms: ms(histogram.percentile(50)),
      p99Ms,
      maxMs: ms(histogram.max),
      meanMs: ms(histogram.mean),
      progressEvents: progress,
      progressPerSecond: Math.round((progress / sampledMs) * 1000 * 10) / 10,
      goalP99Ms: GOAL_P99_MS,
      pass: outcome.status === 'succeeded' && p99Ms < GOAL_P99_MS,
    };
  } finally {
    store.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchEventLoop(), null, 2));
}
