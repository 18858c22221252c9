/**
 * @file Where a training step's time goes: builds the training step of the example CNN or resnet18 (the
 * models and batches of train.bench.ts), runs it in one ORT session with ORT's profiler on, and prints kernel
 * time per op type and the slowest nodes with their shapes (medians over the runs after the first).
 *
 *   node --import tsx test/bench/profile-step.ts [cnn|resnet18] [--runs N] [--top K] [--loss-only] [--op TYPE]
 *
 * `--loss-only` fetches only the loss (not the new weights), which shows what handing ~100 MB of weights
 * and optimizer state back to JavaScript costs per call; `--op Mul` lists only that op type's nodes. Not part of `npm run bench` (profiling adds overhead).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tensor } from '../../src-main/core/ir/index.ts';
import { buildTrainingStep } from '../../src-main/core/autodiff/index.ts';
import { encodeModel } from '../../src-main/core/onnx/index.ts';
import { buildCnn } from '../../src-main/node/train/example-cnn.ts';
import { sessionOptions, toOrt, traceModel } from '../../src-main/node/train/ort.ts';
import { loadCorpusModel } from '../corpus/materialize.ts';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const which = args.find((a) => a === 'cnn' || a === 'resnet18') ?? 'resnet18';
const runs = flag('--runs', 5);
const top = flag('--top', 25);
const lossOnly = args.includes('--loss-only');
const opFilter = args.includes('--op') ? args[args.indexOf('--op') + 1] : undefined;

const cnn = which === 'cnn';
const batch = cnn ? 64 : 32;
const sample = cnn ? [1, 28, 28] : [3, 64, 64];
const model = cnn ? buildCnn() : loadCorpusModel('resnet18_bn_op17_b1', 0);
const input = model.graph.inputs.find((v) => !v.initializer)!;
input.type = { kind: 'tensor', dtype: 'float32', shape: [batch, ...sample] };
for (const o of model.graph.outputs) if (o.type?.kind === 'tensor') o.type = { ...o.type, shape: undefined };
const n = batch * sample.reduce((a, b) => a * b, 1);
const x = new Tensor(
  'float32',
  [batch, ...sample],
  Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 1000) / 1000),
);
const labels = Tensor.int64(
  [batch],
  Array.from({ length: batch }, (_, i) => (i * 7) % 10),
);
const trace = await traceModel(model, { [input.name]: toOrt(x) }, { threads: 1 });
const step = buildTrainingStep(model, {
  ...trace,
  loss: { type: 'cross_entropy' },
  optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9 },
});

const dir = mkdtempSync(join(tmpdir(), 'studio-profile-'));
const session = await ort.InferenceSession.create(encodeModel(step.model).bytes, {
  ...sessionOptions({ threads: 1 }),
  enableProfiling: true,
  profileFilePrefix: join(dir, 'step'),
});
const sig = step.signature;
const feeds: Record<string, ort.Tensor> = { [input.name]: toOrt(x), labels: toOrt(labels) };
const initial = (name: string) => toOrt(model.graph.get(name)!.initializer!.clone());
for (const p of sig.params) feeds[p.name] = initial(p.name);
for (const s of sig.state)
  feeds[s.name] =
    s.init === 'zeros'
      ? new ort.Tensor('float32', new Float32Array(s.shape.reduce((a, b) => a * b, 1)), s.shape)
      : initial(s.name);
for (const b of sig.buffers) feeds[b.name] = initial(b.name);
for (const lr of Object.values(sig.lr)) feeds[lr] = new ort.Tensor('float32', Float32Array.of(0.01), []);
feeds[sig.step] = new ort.Tensor('float32', Float32Array.of(1), []);
const walls: number[] = [];
for (let i = 0; i < runs + 1; i++) {
  const t = performance.now();
  await (lossOnly ? session.run(feeds, [sig.loss]) : session.run(feeds));
  walls.push(performance.now() - t);
}
session.endProfiling();
await session.release();
// onnxruntime-node's endProfiling() returns nothing: the file is the one ORT wrote under the prefix
const file = join(
  dir,
  readdirSync(dir).find((f) => f.startsWith('step') && f.endsWith('.json'))!,
);

interface Event {
  cat?: string;
  name: string;
  dur: number;
  ts: number;
  args?: {
    op_name?: string;
    input_type_shape?: Record<string, number[]>[];
    output_type_shape?: Record<string, number[]>[];
  };
}
const events = JSON.parse(readFileSync(file, 'utf8')) as Event[];
rmSync(dir, { recursive: true, force: true });
const runsEv = events.filter((e) => e.name === 'model_run').slice(1);
const inRun = (e: Event) => runsEv.findIndex((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
const perOp = new Map<string, number[][]>();
const perNode = new Map<string, { op: string; shapes: string; dur: number[] }>();
for (const e of events) {
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const r = inRun(e);
  if (r < 0) continue;
  const op = e.args?.op_name ?? '?';
  const rows = perOp.get(op) ?? runsEv.map(() => [] as number[]);
  rows[r]!.push(e.dur / 1000);
  perOp.set(op, rows);
  const shp = (l?: Record<string, number[]>[]) => (l ?? []).map((t) => `[${Object.values(t)[0]}]`).join(',');
  const node = perNode.get(e.name) ?? {
    op,
    shapes: `${shp(e.args?.input_type_shape)} → ${shp(e.args?.output_type_shape)}`,
    dur: [],
  };
  node.dur.push(e.dur / 1000);
  perNode.set(e.name, node);
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const table = [...perOp]
  .map(([op, rows]) => ({ op, ms: median(rows.map(sum)), nodes: rows[0]!.length }))
  .sort((a, b) => b.ms - a.ms);
const total = sum(table.map((r) => r.ms));
console.log(
  `${which}, batch ${batch}, 1 thread, ${step.model.graph.nodes.length} nodes; ${runs} profiled runs${lossOnly ? ' (loss only)' : ''}`,
);
console.log(`wall per run (median): ${median(walls.slice(1)).toFixed(1)} ms; kernel time: ${total.toFixed(1)} ms\n`);
console.log('op type                      ms/step  nodes  share');
for (const r of table)
  console.log(
    `${r.op.padEnd(28)} ${r.ms.toFixed(2).padStart(7)}  ${String(r.nodes).padStart(5)}  ${((100 * r.ms) / total).toFixed(1).padStart(5)} %`,
  );
console.log(`\nslowest ${top} ${opFilter ?? ''} nodes (ms, median):`);
for (const [name, v] of [...perNode]
  .filter(([, v]) => !opFilter || v.op === opFilter)
  .sort((a, b) => median(b[1].dur) - median(a[1].dur))
  .slice(0, top)) {
  console.log(
    `${median(v.dur).toFixed(2).padStart(7)}  ${v.op.padEnd(14)} ${name
      .replace(/_kernel_time$/, '')
      .slice(0, 48)
      .padEnd(48)} ${v.shapes}`,
  );
}
