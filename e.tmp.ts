import { createObserver, quantRange, Histogram, klOfWindow } from './src-main/core/compress/quantization/index.ts';
import { loadModelFile } from './src-main/node/io/model-file.ts';
import { loadSamples, batchesOf } from './src-main/node/quantize/index.ts';
import { ModelRunner } from './src-main/node/runtime/index.ts';
const m = loadModelFile('resources/mnist-cnn.onnx');
const v = m.graph.get('/Relu_output_0')!; v.type = { kind: 'tensor', dtype: 'float32', shape: undefined }; m.graph.outputs.push(v);
const runner = await ModelRunner.create(m);
const calib = loadSamples('resources/mnist/train-images-idx3-ubyte.gz', { limit: 500 });
const o = createObserver({ kind: 'entropy' });
const all: number[] = [];
for await (const b of batchesOf(calib, 'input', 64)) {
  const out = await runner.run(b, { outputs: ['/Relu_output_0'] });
  const t = out['/Relu_output_0']!;
  o.update(t.data as Float32Array, t.dims);
  for (const x of t.data as Float32Array) if (x !== 0) all.push(x);
}
all.sort((a, b) => a - b);
console.log('nonzero', all.length, 'q50', all[all.length >> 1], 'q99', all[Math.floor(all.length * 0.99)], 'max', all[all.length - 1]);
console.log(o.range({ range: quantRange('uint8'), scheme: 'affine' }));
const h = (o as any).histograms()[0] as Histogram;
console.log('hist', h.lo, h.hi, h.total, Array.from(h.counts.slice(0, 10)));
for (const t of [0.13, 0.2, 0.3, 0.4, 0.5, 0.7, 1]) console.log(t, klOfWindow(h, 0, h.hi * t, 256, 'affine'));
// manual
const n = h.bins, L = 256, per = n / L;
let kl = 0, tot = 0; for (const c of h.counts) tot += c;
const contrib: [number, number][] = [];
for (let l = 0; l < L; l++) {
  let mass = 0, ne = 0; for (let j = 0; j < per; j++) { const c = h.counts[l * per + j]!; mass += c; if (c > 0) ne++; }
  let k = 0; for (let j = 0; j < per; j++) { const c = h.counts[l * per + j]!; if (c > 0) k += (c / tot) * Math.log(c / (mass / ne)); }
  kl += k; contrib.push([l, k]);
}
console.log('manual kl', kl, contrib.sort((a, b) => b[1] - a[1]).slice(0, 5));
console.log(Array.from(h.counts.slice(2040)), Array.from(h.counts.slice(1000, 1016)));
