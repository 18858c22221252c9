/**
 * @file The finetune step on a pruned (simulated) model: the pruning masks travel in the model's metadata and
 * stay applied inside the training step, so every pruned weight is still exactly zero afterwards while the
 * others trained. Real bundled model and MNIST data; prune and finetune executors called directly.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parsePlan, type FinetuneStep, type PruneStep, type Step } from '../../../src-shared/experiment.ts';
import { loadModelFile } from '../io/model-file.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { StepContext } from '../jobs/registry.ts';
import { finetuneStep, scheduleOf } from './finetune.ts';
import { learningRate } from '../train/schedule.ts';
import { attachedMasks } from './masks-meta.ts';
import { pruneStep } from './prune.ts';

const res = (p: string) => resolve('resources', p);

function context<S extends Step>(
  step: S,
  index: number,
  inputModel: string,
  plan: ReturnType<typeof parsePlan>,
): StepContext<S> {
  return {
    runId: 'test',
    index,
    step,
    plan,
    inputModel,
    checkpointDir: mkdtempSync(join(tmpdir(), `step-${index}-`)),
    token: new CancellationSource().token,
    progress: () => {},
    metric: () => {},
    log: () => {},
  };
}

describe('finetune schedules', () => {
  it('every schedule kind the plan offers reaches the trainer (linear was once read as constant)', () => {
    const kinds = ['constant', 'cosine', 'step', 'linear'] as const;
    const steps = kinds.map(
      (kind) =>
        parsePlan({
          model: 'm.onnx',
          dataset: { train: { kind: 'idx', paths: ['a', 'b'] } },
          steps: [
            { kind: 'finetune', epochs: 1, lr: 1, schedule: kind === 'step' ? { kind, stepSize: 10 } : { kind } },
          ],
        }).steps[0] as FinetuneStep,
    );
    expect(steps.map((s) => scheduleOf(s.schedule).type)).toEqual(kinds);
    expect(learningRate(scheduleOf({ kind: 'linear', endLr: 0 }), 1, 25, 100)).toBe(0.75);
  });
});

describe('finetune step', () => {
  it('keeps the pruning masks of a simulated model applied: pruned weights stay zero, the rest trains', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: {
        train: {
          kind: 'idx',
          paths: [res('mnist/train-images-idx3-ubyte.gz'), res('mnist/train-labels-idx1-ubyte.gz')],
          limit: 640,
        },
      },
      seed: 0,
      steps: [
        { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
        { kind: 'finetune', epochs: 1, lr: 0.01, optimizer: { kind: 'sgd', momentum: 0.9 }, batchSize: 64 },
      ],
    });
    const pruned = await pruneStep(context(plan.steps[0] as PruneStep, 0, plan.model, plan));
    const simulated = loadModelFile(pruned.outputModel!);
    const masks = attachedMasks(simulated);
    expect(masks?.size).toBeGreaterThan(0);
    const tuned = await finetuneStep(context(plan.steps[1] as FinetuneStep, 1, pruned.outputModel!, plan));
    expect(tuned.summary).toMatchObject({ keptMasks: true, steps: 10 });
    const after = loadModelFile(tuned.outputModel!);
    let zeros = 0;
    let trained = 0;
    for (const nodeName of masks!.keys()) {
      const w = simulated.graph.node(nodeName)!.inputs[1]!;
      const before = w.initializer!.data as Float32Array;
      const now = after.graph.get(w.name)!.initializer!.data as Float32Array;
      for (let i = 0; i < before.length; i++) {
        if (before[i] === 0) {
          // (−0 where the update was negative: the mask multiplies it)
          expect(now[i] === 0, `${w.name}[${i}] = ${now[i]}`).toBe(true);
          zeros++;
        } else if (now[i] !== before[i]) trained++;
      }
    }
    expect(zeros).toBeGreaterThan(1000);
    expect(trained).toBeGreaterThan(1000);
  });
});
