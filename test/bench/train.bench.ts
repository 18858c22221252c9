/**
 * @file Training-step benchmark: ORT (our emitted training graph in one session, weights fed back each step;
 * and K steps per call inside an ONNX Loop) against PyTorch CPU (Debian's torch, when installed) on the
 * example CNN (MNIST 28×28) and resnet18 at 64×64 with the same thread count on both sides (1; resnet18 also 2). Torch runs as a long-lived worker
 * (train_torch.py) that takes step requests on stdin, so the two sides alternate in rounds under the same
 * machine load; each ratio is the median over rounds of (ORT median ÷ torch median) within the round.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Tensor, type Model } from '../../src-main/core/ir/index.ts';
import { buildLoopStep, buildTrainingStep } from '../../src-main/core/autodiff/index.ts';
import { buildCnn } from '../../src-main/node/train/example-cnn.ts';
import { toOrt, traceModel } from '../../src-main/node/train/ort.ts';
import { LoopRunner, StepRunner } from '../../src-main/node/train/step-runner.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';
import { formatFactor } from '../../src-shared/format.ts';

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';

interface Case {
  name: string;
  torchName: 'cnn' | 'resnet18';
  model: () => Model;
  batch: number;
  sample: number[];
  /** Intra-op threads on both sides. */
  threads: number;
  classes: number;
  /** Steps before the rounds (each side). */
  warmup: number;
  /** Steps per side per round. */
  runs: number;
  rounds: number;
  /** Steps per Loop call (0: no Loop measurement). */
  loopK: number;
  /** Loop calls per round. */
  loopCalls: number;
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

interface Timing {
  wall: number[];
  cpu: number[];
}

/** Time `k` ORT steps (or Loop calls, each `per` steps): wall and process CPU ms per step. */
async function timeOrt(k: number, per: number, run: (i: number) => Promise<unknown>): Promise<Timing> {
  const t: Timing = { wall: [], cpu: [] };
  for (let i = 0; i < k; i++) {
    const w0 = performance.now();
    const c0 = process.cpuUsage();
    await run(i);
    const c = process.cpuUsage(c0);
    t.wall.push((performance.now() - w0) / per);
    t.cpu.push((c.user + c.system) / 1000 / per);
  }
  return t;
}

/** ORT side of one case: a per-call step runner and (when loopK > 1) a K-step Loop runner. */
async function ortSide(c: Case) {
  const model = withBatch(c.model(), c.batch, c.sample);
  const input = model.graph.inputs.find((v) => !v.initializer)!.name;
  const x = random([c.batch, ...c.sample], 1);
  const labels = Tensor.int64(
    [c.batch],
    Array.from({ length: c.batch }, (_, i) => (i * 7) % c.classes),
  );
  const t0 = performance.now();
  const trace = await traceModel(model, { [input]: toOrt(x) }, { threads: c.threads });
  const step = buildTrainingStep(model, {
    ...trace,
    loss: { type: 'cross_entropy' },
    optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9 },
  });
  const runner = await StepRunner.create(step, (n) => model.graph.get(n)!.initializer!, { threads: c.threads });
  const buildMs = performance.now() - t0;
  const feeds = { [input]: toOrt(x), labels: toOrt(labels) };
  let n = 0;
  const steps = (k: number) => timeOrt(k, 1, () => runner.run(feeds, { main: 0.01 }, ++n));
  let loop: ((calls: number) => Promise<Timing>) | null = null;
  let looper: LoopRunner | null = null;
  if (c.loopK > 1) {
    const K = c.loopK;
    looper = await LoopRunner.create(buildLoopStep(step, K), runner, { threads: c.threads });
    const xs = new Float32Array(K * x.size);
    for (let k = 0; k < K; k++) xs.set(x.data as Float32Array, k * x.size);
    const ys = new BigInt64Array(K * c.batch);
    for (let k = 0; k < K; k++) ys.set(labels.data as BigInt64Array, k * c.batch);
    const batch = {
      [input]: new ort.Tensor('float32', xs, [K, c.batch, ...c.sample]),
      labels: new ort.Tensor('int64', ys, [K, c.batch]),
    };
    const lr = { main: new Array(K).fill(0.01) };
    const l = looper;
    loop = (calls) => timeOrt(calls, K, () => l.run(batch, lr, (n += K) - K + 1));
  }
  const release = async () => {
    await looper?.release();
    await runner.release();
  };
  return { buildMs, steps, loop, release };
}

/** A long-lived torch worker (train_torch.py), or why there is none. */
class TorchWorker {
  private constructor(
    private readonly proc: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    private readonly rl: Interface,
  ) {}

  static async start(c: Case): Promise<TorchWorker | string> {
    // passive OpenMP waiting: spinning threads starve everything else on a small shared machine
    const env = { ...process.env, OMP_NUM_THREADS: String(c.threads), OMP_WAIT_POLICY: 'PASSIVE' };
    const proc = spawn(
      PYTHON,
      [join(here, 'train_torch.py'), c.torchName, String(c.batch), String(c.sample[1]), String(c.threads)],
      { env },
    );
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const failed = new Promise<string>((resolve) => {
      proc.on('error', (e) => resolve(`torch not installed (${e.message})`));
      proc.on('exit', () =>
        resolve(
          /No module named .?torch/.test(stderr)
            ? 'torch not installed'
            : `torch failed: ${stderr.trim().split('\n').pop()}`,
        ),
      );
    });
    const rl = createInterface({ input: proc.stdout });
    const lines = rl[Symbol.asyncIterator]();
    const first = await Promise.race([lines.next().then((r) => (r.done ? null : r.value)), failed]);
    if (typeof first === 'string' && first.includes('"ready"')) return new TorchWorker(proc, lines, rl);
    proc.kill();
    return typeof first === 'string' ? first : await failed;
  }

  async steps(k: number): Promise<Timing> {
    this.proc.stdin.write(`${k}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error('the torch worker exited');
    const j = JSON.parse(r.value) as { wall_ms: number[]; cpu_ms: number[] };
    return { wall: j.wall_ms, cpu: j.cpu_ms };
  }

  close(): void {
    this.proc.stdin.end('quit\n');
    this.rl.close();
  }
}

/** One row per model: ORT per-call and Loop step times, the torch step time, and their ratios. */
export async function benchTraining(): Promise<Record<string, unknown>[]> {
  const cases: Case[] = [
    {
      name: 'mnist-cnn (16-32-64)',
      torchName: 'cnn',
      model: () => buildCnn(),
      batch: 64,
      sample: [1, 28, 28],
      threads: 1,
      classes: 10,
      warmup: 5,
      runs: 5,
      rounds: 8,
      loopK: 10,
      loopCalls: 1,
    },
    {
      name: 'resnet18 64×64',
      torchName: 'resnet18',
      model: () => loadCorpusModel('resnet18_bn_op17_b1', 0),
      batch: 32,
      sample: [3, 64, 64],
      threads: 1,
      classes: 1000,
      warmup: 2,
      runs: 2,
      rounds: 5,
      loopK: 4,
      loopCalls: 2,
    },
    // the same on both cores (ORT intra-op threads without spinning; torch OpenMP with passive waiting)
    {
      name: 'resnet18 64×64',
      torchName: 'resnet18',
      model: () => loadCorpusModel('resnet18_bn_op17_b1', 0),
      batch: 32,
      sample: [3, 64, 64],
      threads: 2,
      classes: 1000,
      warmup: 2,
      runs: 2,
      rounds: 4,
      loopK: 4,
      loopCalls: 2,
    },
  ];
  const rows: Record<string, unknown>[] = [];
  for (const c of cases) {
    const torch = await TorchWorker.start(c);
    const o = await ortSide(c);
    const T: Timing[] = [];
    const S: Timing[] = [];
    const L: Timing[] = [];
    // warm-up, then rounds: torch, ORT per call, ORT Loop — each a few steps, medians per round
    if (typeof torch !== 'string') await torch.steps(c.warmup);
    await o.steps(c.warmup);
    await o.loop?.(1);
    for (let r = 0; r < c.rounds; r++) {
      if (typeof torch !== 'string') T.push(await torch.steps(c.runs));
      S.push(await o.steps(c.runs));
      if (o.loop) L.push(await o.loop(c.loopCalls));
      process.stderr.write(`\r  ${c.name}: round ${r + 1}/${c.rounds}`);
    }
    process.stderr.write('\n');
    if (typeof torch !== 'string') torch.close();
    await o.release();
    const all = (ts: Timing[], k: 'wall' | 'cpu') => median(ts.flatMap((t) => t[k]));
    const ratio = (a: Timing[], k: 'wall' | 'cpu') =>
      T.length && a.length ? median(a.map((t, i) => median(t[k]) / median(T[i]![k]))) : null;
    const perCall = ratio(S, 'wall');
    const looped = ratio(L, 'wall');
    rows.push({
      model: c.name,
      batch: c.batch,
      threads: c.threads,
      rounds: c.rounds,
      build_ms: Math.round(o.buildMs),
      ort_step_ms: all(S, 'wall'),
      loop_k: c.loopK,
      ort_loop_ms: L.length ? all(L, 'wall') : '',
      torch_step_ms: typeof torch === 'string' ? torch : all(T, 'wall'),
      ort_over_torch: perCall ?? '',
      loop_over_torch: looped ?? '',
      'cpu: ort/torch': ratio(S, 'cpu') ?? '',
      'cpu: loop/torch': ratio(L, 'cpu') ?? '',
      // the goal is a speed: torch time ÷ ORT time ≥ 1.0 (per call, then with K steps per call)
      'speed vs torch (goal ≥1.0)':
        perCall === null ? '' : `${formatFactor(1 / perCall)} / ${looped === null ? '–' : formatFactor(1 / looped)}`,
    });
  }
  return rows;
}
