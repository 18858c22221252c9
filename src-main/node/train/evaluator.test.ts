/**
 * @file The Evaluator's hooks: an L1 penalty on BatchNorm scales added as graph nodes shrinks them (vs the
 * same run without it); observed gradients and values arrive each step; an added trainable tensor with its
 * own optimizer moves; a buffer changed by an after-step task is fed to the next step.
 */
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../core/ir/index.ts';
import { attr } from '../../core/autodiff/index.ts';
import { loadIdxDataset, ArrayDataset } from './data.ts';
import { buildCnn } from './example-cnn.ts';
import { Evaluator } from './evaluator.ts';

const mnist = loadIdxDataset(
  'resources/mnist/train-images-idx3-ubyte.gz',
  'resources/mnist/train-labels-idx1-ubyte.gz',
);
const data = new ArrayDataset(mnist.x.subarray(0, 1024 * 784), [1, 28, 28], mnist.targets().subarray(0, 1024));
const test = new ArrayDataset(
  mnist.x.subarray(2048 * 784, 2560 * 784),
  [1, 28, 28],
  mnist.targets().subarray(2048, 2560),
);
const config = {
  train: data,
  eval: test,
  optimizer: { type: 'sgd' as const, lr: 0.05, momentum: 0.9 },
  batchSize: 32,
  epochs: 1,
  seed: 3,
  threads: 1,
};
const gammas = ['bn1.weight', 'bn2.weight'];
const l1 = (ev: Evaluator) =>
  gammas.reduce(
    (s, n) => s + (ev.model.graph.get(n)!.initializer!.data as Float32Array).reduce((a, v) => a + Math.abs(v), 0),
    0,
  );

describe('Evaluator hooks', () => {
  it('an L1 penalty on BN scales (loss term as graph nodes) shrinks them', async () => {
    const plain = new Evaluator(buildCnn({ widths: [8, 16], seed: 2 }), config);
    await plain.train();
    const slim = new Evaluator(buildCnn({ widths: [8, 16], seed: 2 }), config);
    const steps: number[] = [];
    slim.patchLoss({
      name: 'bn_l1',
      weight: 5e-2,
      build: (c) => c.e.sum(gammas.map((n) => c.e.reduce('ReduceL1', c.value(n), [], false))),
    });
    slim.patchOptimizerStep([], [(c) => void steps.push(c.result!.reports['loss.bn_l1']!)]);
    const r = await slim.train();
    expect(r.steps).toBe(32);
    expect(steps.length).toBe(32);
    expect(steps[31]!).toBeLessThan(steps[0]!);
    expect(l1(slim)).toBeLessThan(0.8 * l1(plain));
    const m = await slim.evaluate();
    expect(m.default).toBe(m.top1);
  });

  it('observes values and gradients, trains an added tensor in its own group, feeds buffers changed by tasks', async () => {
    const ev = new Evaluator(buildCnn({ widths: [4, 8], seed: 2 }), { ...config, train: data.head(128) });
    // simulation edit: logits scaled by a learned scalar (own Adam, lr 0.1) and masked by a buffer
    ev.addTrainable('logit_scale', new Tensor('float32', [], Float32Array.of(1)), { type: 'adam', lr: 0.1 });
    ev.addBuffer('fc_mask', new Tensor('float32', [10, 8], new Float32Array(80).fill(1)));
    ev.patchModel((m) => {
      const g = m.graph;
      const fc = g.node('fc')!;
      const masked = g.addNode({ opType: 'Mul', inputs: [fc.inputs[1]!, g.get('fc_mask')!], outputs: ['fc.masked'] });
      fc.setInput(1, masked.outputs[0]!);
      const logits = g.outputs[0]!;
      const scaled = g.addNode({ opType: 'Mul', inputs: [logits, g.get('logit_scale')!], outputs: ['scaled_logits'] });
      g.outputs.splice(0, 1, scaled.outputs[0]!);
      g.sortTopologically();
    });
    const grads: number[] = [];
    const relu: number[] = [];
    ev.observe('conv1.weight', 'grad', (t) => void grads.push(Math.abs((t.data as Float32Array)[0]!)));
    ev.observe('relu1_out', 'value', (t) => void relu.push(Math.min(...(t.data as Float32Array))));
    let maskSeen = -1;
    ev.patchOptimizerStep(
      [(c) => void (maskSeen = c.get('fc_mask')[0]!)],
      [
        (c) => {
          const m = c.get('fc_mask').slice();
          m.fill(0, 0, 8);
          c.set('fc_mask', m);
        },
      ],
    );
    await ev.train({ maxSteps: 3 });
    expect(grads.length).toBe(3);
    expect(grads.every((g) => g > 0)).toBe(true);
    expect(relu.every((v) => v >= 0)).toBe(true);
    expect(maskSeen).toBe(0);
    const scale = (ev.model.graph.get('logit_scale')!.initializer!.data as Float32Array)[0]!;
    expect(Math.abs(scale - 1)).toBeGreaterThan(0.05);
    void attr;
  });
});
