import { loadModelFile } from './src-main/node/io/model-file.ts';
import { PTQQuantizer, imageEvaluator, loadSamples, optimizedGraph } from './src-main/node/quantize/index.ts';
import { evaluateClassifier } from './src-main/node/train/evaluate.ts';
import { bundledMnist } from './src-main/node/train/mnist.ts';

const m = loadModelFile('resources/mnist-cnn.onnx');
const calib = loadSamples('resources/mnist/train-images-idx3-ubyte.gz', { limit: 500 });
const test = loadSamples('resources/mnist/t10k-images-idx3-ubyte.gz', {});
const ev = imageEvaluator(m, { calibration: calib, evaluation: test });
const cfg = [
  { op_types: ['Conv', 'Gemm'], target_names: ['_input_', 'weight', 'bias', '_output_'], quant_dtype: 'uint8', quant_scheme: 'affine',
    target_settings: { weight: { quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' } } },
  { op_types: ['MaxPool', 'GlobalAveragePool'], target_names: ['_input_', '_output_'], quant_dtype: 'uint8', quant_scheme: 'affine' },
];
const q = new PTQQuantizer(m, cfg, ev, { fuse: 'auto', reduceRange: process.argv[2] === 'rr' });
console.log(q.diagnostics.map(d => `${d.level} ${d.code} ${d.node ?? ''} ${d.message}`).join('\n'));
console.log(q.targets.map(t => `${t.node}.${t.target} v=${t.value} ${t.range.name} ${t.scheme} ${JSON.stringify(t.granularity)} ${t.shareWith ? 'share' : ''} ${t.int32Bias ? 'int32' : ''}`).join('\n'));
const t0 = performance.now();
const { model: sim, calibration } = await q.compress();
console.log('compress ms', performance.now() - t0);
console.log(JSON.stringify(calibration['/conv1/Conv'], (k, v) => Array.isArray(v) && v.length > 4 ? `[${v.length}]` : v));
const base = await ev.evaluate(m);
const simAcc = await ev.evaluate(sim);
const ex = await q.exportQDQ();
const exAcc = await ev.evaluate(ex.model);
console.log({ base, simAcc, exAcc });
console.log(ex.fusion?.counts, ex.fusion?.unfused, ex.diagnostics);


