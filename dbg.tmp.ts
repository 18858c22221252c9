import { loadModelFile } from './src-main/node/io/model-file.ts';
import { PTQQuantizer, imageEvaluator, loadSamples } from './src-main/node/quantize/index.ts';
import { ORT_CPU_STATIC_CONFIG } from './src-main/core/compress/quantization/index.ts';
const m = loadModelFile('resources/mnist-cnn.onnx');
const calib = loadSamples('resources/mnist/train-images-idx3-ubyte.gz', { limit: 500 });
const test = loadSamples('resources/mnist/t10k-images-idx3-ubyte.gz', { limit: 2000 });
const ev = imageEvaluator(m, { calibration: calib, evaluation: test });
console.log('fp32', await ev.evaluate(m));
for (const observer of ['minmax', 'ema', 'percentile', 'entropy', 'mse'] as const) {
  const q = new PTQQuantizer(m, ORT_CPU_STATIC_CONFIG, ev, { fuse: 'auto', observer });
  const { model: sim, calibration } = await q.compress();
  const r = Object.entries(calibration).map(([n, t]) => `${n.split('/')[1]}:${Object.entries(t).filter(([k]) => k.startsWith('_')).map(([k, v]) => `${k}=[${(v.tracked_min as number).toFixed(2)},${(v.tracked_max as number).toFixed(2)}]`).join(' ')}`).join(' | ');
  console.log(observer, await ev.evaluate(sim), r);
}
const q = new PTQQuantizer(m, [{ op_names: ['/conv3/Conv'], target_names: ['_input_', 'weight', '_output_'], quant_dtype: 'uint8', quant_scheme: 'affine', target_settings: { _input_: { granularity: 'per_channel' }, weight: { quant_dtype: 'int8' } } }], ev, { fuse: 'auto' });
await q.compress();
console.log((await q.exportQDQ()).fusion?.unfused);
