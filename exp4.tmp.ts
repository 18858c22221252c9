import { quantizeCommand } from './src-main/node/cli/quantize.ts';
await quantizeCommand({ model: 'resources/mnist-cnn.onnx', calib: 'resources/mnist/train-images-idx3-ubyte.gz', eval: 'resources/mnist/t10k-images-idx3-ubyte.gz', out: '/tmp/qx/out', observer: process.argv[2] });
