/**
 * @file `npm run demo`: the bundled example end to end — open the bundled MNIST CNN, inspect and trace it,
 * measure its latency, evaluate its accuracy on the bundled test split, and print one readable report.
 */
import { join } from 'node:path';
import { inspectModel, openModel } from '../inspect.ts';
import { benchmark } from '../runtime/index.ts';
import { evaluateClassifier } from '../train/evaluate.ts';
import { bundledMnist, RESOURCES_DIR } from '../train/mnist.ts';
import { fmtBytes, fmtCount, fmtMs } from './format.ts';

export const BUNDLED_MODEL = join(RESOURCES_DIR, 'mnist-cnn.onnx');

export interface DemoOptions {
  json?: boolean;
  model?: string;
  log?: (line: string) => void;
}

export interface DemoReport {
  model: string;
  params: number;
  macs: number | null;
  sizeBytes: number;
  accuracy: number;
  top5: number;
  evaluated: number;
  latencyMs: { p50: number; p90: number; p99: number; threads: number; ep: string };
  cpu: string;
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoReport> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const file = opts.model ?? BUNDLED_MODEL;
  const t0 = performance.now();
  log(`[1/4] opening ${file}`);
  const { model, lifted } = openModel(file);
  log('[2/4] tracing (every intermediate value exposed once)');
  const info = await inspectModel(model, { file, lifted, shapes: { input: [1, 1, 28, 28] } });
  log('[3/4] evaluating on the bundled MNIST test split (10,000 images)');
  const test = bundledMnist('test');
  const acc = await evaluateClassifier(model, test, {
    batchSize: 500,
    onProgress: (d, n) => {
      if (d === n || d % 5000 === 0) log(`      ${d}/${n}`);
    },
  });
  log('[4/4] measuring latency (batch 1, 1 thread, 20 warm-up + 200 timed runs)');
  const bench = await benchmark(model, { shapes: { input: [1, 1, 28, 28] }, threads: 1, warmup: 20, runs: 200 });
  const report: DemoReport = {
    model: file,
    params: info.params,
    macs: info.macs,
    sizeBytes: info.sizeBytes,
    accuracy: acc.top1,
    top5: acc.top5,
    evaluated: acc.count,
    latencyMs: { p50: bench.p50, p90: bench.p90, p99: bench.p99, threads: bench.threads, ep: bench.ep },
    cpu: bench.cpu.model,
  };
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    process.stdout.write(
      [
        '',
        'Compression Studio — bundled example',
        `  model      ${file}`,
        `  structure  ${info.nodes} nodes, opset ${info.opset}: ${Object.entries(info.opTypes).map(([k, v]) => `${k}×${v}`).join(' ')}`,
        `  params     ${fmtCount(info.params)}   MACs ${info.macs === null ? 'unknown' : fmtCount(info.macs)}   weights ${fmtBytes(info.sizeBytes)}`,
        `  accuracy   top-1 ${(acc.top1 * 100).toFixed(2)} %   top-5 ${(acc.top5 * 100).toFixed(2)} %   (${acc.count} MNIST test images)`,
        `  latency    p50 ${fmtMs(bench.p50)}   p90 ${fmtMs(bench.p90)}   p99 ${fmtMs(bench.p99)}   (batch 1, ${bench.threads} thread, ${bench.ep})`,
        `  cpu        ${bench.cpu.model}`,
        `  done in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
        '',
      ].join('\n'),
    );
  }
  return report;
}
