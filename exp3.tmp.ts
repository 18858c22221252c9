import { loadCorpusModel } from './test/corpus/materialize.ts';
import { PTQQuantizer, verifyFusion, optimizedGraph } from './src-main/node/quantize/index.ts';
import { quantizeDynamic } from './src-main/core/compress/quantization/index.ts';
import { compareLatency, sampleInputs, runModel } from './src-main/node/runtime/index.ts';
const m = loadCorpusModel('transformer_op17_b1', 0);
const ev = { async *calibrationBatches() { for (let i = 0; i < 4; i++) yield sampleInputs(m, { seed: i }); }, evaluate: async () => 0 };
const cfg = [
  { op_types: ['Gemm', 'MatMul'], target_names: ['_input_', 'weight', 'bias', '_output_'], quant_dtype: 'uint8', quant_scheme: 'affine',
    target_settings: { weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' } } },
];
const q = new PTQQuantizer(m, cfg, ev, { fuse: 'auto', reduceRange: true });
console.log(q.diagnostics.map(d => `${d.level} ${d.code} ${d.node}`).join('\n'));
await q.compress();
const ex = await q.exportQDQ();
console.log(ex.fusion?.counts, ex.fusion?.unfused);
const d = quantizeDynamic(m, { reduceRange: true });
console.log(d.quantized, d.diagnostics);
const opt = await optimizedGraph(d.model);
const counts: Record<string, number> = {};
for (const n of opt.graph.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
console.log(counts);
const x = sampleInputs(m, { seed: 9 });
const a = await runModel(m, x); const b = await runModel(d.model, x); const c2 = await runModel(ex.model, x);
const key = Object.keys(a)[0]!;
const err = (u: Float32Array, v: Float32Array) => { let n = 0, dd = 0; for (let i = 0; i < u.length; i++) { n += (u[i]! - v[i]!) ** 2; dd += u[i]! ** 2; } return Math.sqrt(n / dd); };
console.log('rel err dynamic', err(a[key]!.data as Float32Array, b[key]!.data as Float32Array), 'static', err(a[key]!.data as Float32Array, c2[key]!.data as Float32Array));
const c = await compareLatency(m, d.model, { threads: 1, runs: 30 });
console.log('dyn speedup', 1 / c.roundRatio, c.a.p50, c.b.p50);
const c3 = await compareLatency(m, ex.model, { threads: 1, runs: 30 });
console.log('static speedup', 1 / c3.roundRatio, c3.a.p50, c3.b.p50);
