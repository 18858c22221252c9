import * as ort from 'onnxruntime-node';
import { readFileSync, writeFileSync } from 'node:fs';
import { Tensor } from './src-main/core/ir/index.ts';
import { buildTrainingStep } from './src-main/core/autodiff/index.ts';
import { buildCnn } from './src-main/node/train/example-cnn.ts';
import { toOrt, traceModel } from './src-main/node/train/ort.ts';
import { encodeModel } from './src-main/core/onnx/index.ts';
import { loadCorpusModel } from './test/corpus/materialize.ts';

const which = process.argv[2] ?? 'resnet';
const opt = (process.argv[3] ?? 'all') as any;
const prof = process.argv[4] === 'prof';
const runs = Number(process.argv[5] ?? 4);
const [model, batch, sample, classes] = which === 'cnn' ? [buildCnn(), 64, [1, 28, 28], 10] as const : [loadCorpusModel('resnet18_bn_op17_b1', 0), 32, [3, 64, 64], 1000] as const;
const input = model.graph.inputs.find((v) => !v.initializer)!;
input.type = { kind: 'tensor', dtype: 'float32', shape: [batch, ...sample] };
for (const o of model.graph.outputs) if (o.type?.kind === 'tensor') o.type = { ...o.type, shape: undefined };
const n = batch * sample.reduce((a, b) => a * b, 1);
const xd = new Float32Array(n); let s = 1; for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; xd[i] = s / 4294967296; }
const x = new Tensor('float32', [batch, ...sample], xd);
const labels = Tensor.int64([batch], Array.from({ length: batch }, (_, i) => (i * 7) % classes));
const trace = await traceModel(model, { [input.name]: toOrt(x) }, { threads: 1 });
const step = buildTrainingStep(model, { ...trace, loss: { type: 'cross_entropy' }, optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9 } });
const bytes = encodeModel(step.model).bytes;
writeFileSync(`/tmp/prof/${which}.onnx`, bytes);
const so: any = { graphOptimizationLevel: opt, intraOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } };
if (prof) { so.enableProfiling = true; so.profileFilePrefix = `/tmp/prof/${which}_${opt}`; }
if (process.env.OPTFILE) so.optimizedModelFilePath = process.env.OPTFILE;
const sess = await ort.InferenceSession.create(bytes, so);
const sig = step.signature;
const feeds: Record<string, ort.Tensor> = { [input.name]: toOrt(x), labels: toOrt(labels) };
for (const p of sig.params) feeds[p.name] = toOrt(model.graph.get(p.name)!.initializer!.clone());
for (const st of sig.state) feeds[st.name] = st.init === 'zeros' ? new ort.Tensor(st.dtype as any, new Float32Array(st.shape.reduce((a: number, b: number) => a * b, 1)), st.shape) : toOrt(model.graph.get(st.name)!.initializer!.clone());
for (const b of sig.buffers) feeds[b.name] = toOrt(model.graph.get(b.name)!.initializer!.clone());
for (const [, inp] of Object.entries(sig.lr)) feeds[inp] = new ort.Tensor('float32', Float32Array.of(0.01), []);
feeds[sig.step] = new ort.Tensor('float32', Float32Array.of(1), []);
const times: number[] = [];
for (let i = 0; i < runs; i++) { const t = performance.now(); await sess.run(feeds); times.push(performance.now() - t); }
times.shift(); times.sort((a, b) => a - b);
console.log(which, opt, 'times', times.map((t) => t.toFixed(0)).join(' '), 'median', times[Math.floor(times.length / 2)]!.toFixed(1));
if (prof) {
  sess.endProfiling(); const { readdirSync } = await import('node:fs'); const f = '/tmp/prof/' + readdirSync('/tmp/prof').filter((n) => n.startsWith(`${which}_${opt}`) && n.endsWith('.json')).sort().pop();
  const ev = JSON.parse(readFileSync(f, 'utf8')) as any[];
  const agg = new Map<string, number>(); let tot = 0;
  const nodes = new Map<string, number>();
  for (const e of ev) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) {
    const k = e.args.op_name; agg.set(k, (agg.get(k) ?? 0) + e.dur); tot += e.dur;
    nodes.set(e.name, (nodes.get(e.name) ?? 0) + e.dur);
  }
  for (const [k, v] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(k.padEnd(28), (v / 1000 / runs).toFixed(1), 'ms', (100 * v / tot).toFixed(1) + '%');
  console.log('--- top nodes');
  for (const [k, v] of [...nodes].sort((a, b) => b[1] - a[1]).slice(0, 40)) console.log(k.padEnd(60), (v / 1000 / runs).toFixed(1));
}
