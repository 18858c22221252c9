/**
 * @file Training-step benchmark: ORT (our emitted training graph, one session, weights fed back each step;
 * and K steps per call inside an ONNX Loop) against PyTorch CPU (Debian's torch, when installed) on the
 * example CNN (MNIST 28×28) and resnet18 at 64×64, one thread each, in the same run. Medians in ms per step.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Tensor, type Model } from '../../src-main/core/ir/index.ts';
import { buildLoopStep, buildTrainingStep } from '../../src-main/core/autodiff/index.ts';
import { buildCnn } from '../../src-main/node/train/example-cnn.ts';
import { toOrt, traceModel } from '../../src-main/node/train/ort.ts';
import { LoopRunner, StepRunner } from '../../src-main/node/train/step-runner.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

interface Case {
  name: string;
  torchName: 'cnn' | 'resnet18';
  model: () => Model;
  batch: number;
  sample: number[];
  classes: number;
  warmup: number;
  runs: number;
  /** Steps per Loop call (0: no Loop measurement). */
  loopK: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function withBatch(m: Model, batch: number, sample: number[]): Model {
  const input = m.graph.inputs.find((v) => !v.initializer)!;
  input.type = { kind: 'tensor', dtype: 'float32', shape: [batch, ...sample] };
  for (const o of m.graph.outputs) if (o.type?.kind === 'tensor') o.type = { ...o.type, shape: undefined };
  return m;
}

function random(shape: number[], seed: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = s / 4294967296;
  }
  return new Tensor('float32', shape, d);
}

async function ortStep(c: Case): Promise<{ step: number; loop: number | null; buildMs: number }> {
  const model = withBatch(c.model(), c.batch, c.sample);
  const input = model.graph.inputs.find((v) => !v.initializer)!.name;
  const x = random([c.batch, ...c.sample], 1);
  const labels = Tensor.int64([c.batch], Array.from({ length: c.batch }, (_, i) => (i * 7) % c.classes));
  const t0 = performance.now();
  const trace = await traceModel(model, { [input]: toOrt(x) }, { threads: 1 });
  const step = buildTrainingStep(model, { ...trace, loss: { type: 'cross_entropy' }, optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9 } });
  const runner = await StepRunner.create(step, (n) => model.graph.get(n)!.initializer!, { threads: 1 });
  const buildMs = performance.now() - t0;
  const feeds = { [input]: toOrt(x), labels: toOrt(labels) };
  const times: number[] = [];
  for (let i = 0; i < c.warmup + c.runs; i++) {
    const s = performance.now();
    await runner.run(feeds, { main: 0.01 }, i + 1);
    if (i >= c.warmup) times.push(performance.now() - s);
  }
  let loop: number | null = null;
  if (c.loopK > 1) {
    const K = c.loopK;
    const looper = await LoopRunner.create(buildLoopStep(step, K), runner, { threads: 1 });
    const xs = new Float32Array(K * x.size);
    for (let k = 0; k < K; k++) xs.set(x.data as Float32Array, k * x.size);
    const ys = new BigInt64Array(K * c.batch);
    for (let k = 0; k < K; k++) ys.set(labels.data as BigInt64Array, k * c.batch);
    const batch = { [input]: new ort.Tensor('float32', xs, [K, c.batch, ...c.sample]), labels: new ort.Tensor('int64', ys, [K, c.batch]) };
    const lt: number[] = [];
    for (let i = 0; i < 2 + Math.max(2, Math.ceil(c.runs / K)); i++) {
      const s = performance.now();
      await looper.run(batch, { main: new Array(K).fill(0.01) }, 1 + i * K);
      if (i >= 2) lt.push((performance.now() - s) / K);
    }
    loop = median(lt);
    await looper.release();
  }
  await runner.release();
  return { step: median(times), loop, buildMs };
}

function torchStep(c: Case): number | string {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return 'torch not installed';
  const env = { ...process.env, OMP_NUM_THREADS: '1', OMP_WAIT_POLICY: 'PASSIVE' };
  const r = spawnSync(PYTHON, [join(here, 'train_torch.py'), c.torchName, String(c.batch), String(c.sample[1]), String(c.warmup), String(c.runs)], { encoding: 'utf8', env });
  if (r.status !== 0) return `torch failed: ${r.stderr.trim().split('\n').pop()}`;
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { median_ms: number }).median_ms;
}

/** One row per model: ORT per-call and Loop step times, the torch step time, and their ratio. */
export async function benchTraining(): Promise<Record<string, unknown>[]> {
  const cases: Case[] = [
    { name: 'mnist-cnn (16-32-64)', torchName: 'cnn', model: () => buildCnn(), batch: 64, sample: [1, 28, 28], classes: 10, warmup: 5, runs: 30, loopK: 10 },
    { name: 'resnet18 64×64', torchName: 'resnet18', model: () => loadCorpusModel('resnet18_bn_op17_b1', 0), batch: 32, sample: [3, 64, 64], classes: 1000, warmup: 2, runs: 8, loopK: 4 },
  ];
  const rows: Record<string, unknown>[] = [];
  for (const c of cases) {
    // interleave: torch, ORT, torch again (the median of both torch runs), so load changes hit both sides
    const t1 = torchStep(c);
    const o = await ortStep(c);
    const t2 = torchStep(c);
    const torch = typeof t1 === 'number' && typeof t2 === 'number' ? (t1 + t2) / 2 : typeof t1 === 'number' ? t1 : t2;
    rows.push({
      model: c.name,
      batch: c.batch,
      threads: 1,
      build_ms: Math.round(o.buildMs),
      ort_step_ms: o.step,
      ort_loop_ms: o.loop ?? '',
      torch_step_ms: torch,
      ort_over_torch: typeof torch === 'number' ? o.step / torch : '',
      loop_over_torch: typeof torch === 'number' && o.loop ? o.loop / torch : '',
    });
  }
  return rows;
}
