import { loadCorpusModel } from './test/corpus/materialize.ts';
import { PTQQuantizer } from './src-main/node/quantize/index.ts';
import { compareLatency, sampleInputs, cpuInfo } from './src-main/node/runtime/index.ts';
const name = process.argv[2] ?? 'resnet50_op17_b1';
const m = loadCorpusModel(name, 0);
const ev = {
  async *calibrationBatches() { for (let i = 0; i < 4; i++) yield sampleInputs(m, { seed: i }); },
  evaluate: async () => 0,
};
const actDtype = process.argv[3] ?? 'uint8';
const cfg = [
  { op_types: ['Conv', 'Gemm'], target_names: ['_input_', 'weight', 'bias', '_output_'], quant_dtype: actDtype, quant_scheme: process.argv[5] ?? 'affine',
    target_settings: { weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' } } },
  { op_types: ['Add'], target_names: ['_input_0', '_input_1', '_output_'], quant_dtype: actDtype, quant_scheme: 'affine' },
  { op_types: ['MaxPool', 'GlobalAveragePool'], target_names: ['_input_', '_output_'], quant_dtype: actDtype, quant_scheme: 'affine' },
];
const rr = process.argv[4] === 'rr';
const q = new PTQQuantizer(m, cfg, ev, { fuse: (process.argv[6] ?? 'auto') as 'auto', reduceRange: rr });
let t0 = performance.now();
await q.compress();
console.log('compress ms', (performance.now() - t0).toFixed(0));
t0 = performance.now();
const ex = await q.exportQDQ();
console.log('export ms', (performance.now() - t0).toFixed(0));
console.log(ex.fusion?.counts, ex.fusion?.unfused.slice(0, 5), ex.diagnostics.slice(0, 5));
const c = await compareLatency(m, ex.model, { threads: 1, runs: 15, warmup: 3 });
console.log(name, actDtype, rr, 'fp32 p50', c.a.p50.toFixed(1), 'int8 p50', c.b.p50.toFixed(1), 'speedup', (1 / c.roundRatio).toFixed(2), cpuInfo().flags);
