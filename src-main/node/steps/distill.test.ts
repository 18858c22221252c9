/**
 * @file The distill step on the bundled example: prune (simulated) → distill with the teacher defaulting to the
 * plan's input model. The pruning masks stay applied (pruned weights exactly zero), the task and distillation losses
 * arrive as two metric series, and the result is the student alone. Executors called directly.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  parsePlan,
  type DistillStep,
  type FinetuneStep,
  type PruneStep,
  type Step,
} from '../../../src-shared/experiment.ts';
import { loadModelFile } from '../io/model-file.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { StepContext } from '../jobs/registry.ts';
import { distillStep } from './distill.ts';
import { finetuneStep } from './finetune.ts';
import { attachedMasks } from './masks-meta.ts';
import { pruneStep } from './prune.ts';

const res = (p: string) => resolve('resources', p);

function context<S extends Step>(
  step: S,
  index: number,
  inputModel: string,
  plan: ReturnType<typeof parsePlan>,
  metrics: Map<string, number[]>,
  logs: string[],
): StepContext<S> {
  return {
    runId: 'test',
    index,
    step,
    plan,
    inputModel,
    checkpointDir: mkdtempSync(join(tmpdir(), `step-${index}-`)),
    token: new CancellationSource().token,
    progress: (u) => {
      for (const [name, value] of Object.entries(u.parts ?? {}))
        (metrics.get(name) ?? metrics.set(name, []).get(name)!).push(value);
    },
    metric: () => {},
    log: (m) => void logs.push(m),
  };
}

describe('distill step', () => {
  it('distills a pruned model from the plan’s input model: masks kept, task and distillation losses reported apart', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: {
        train: {
          kind: 'idx',
          paths: [res('mnist/train-images-idx3-ubyte.gz'), res('mnist/train-labels-idx1-ubyte.gz')],
          limit: 1280,
        },
      },
      seed: 0,
      steps: [
        { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
        {
          kind: 'distill',
          distiller: 'dynamic_layerwise',
          configList: [{ op_types: ['Conv'], lambda: 0.5 }],
          epochs: 1,
          lr: 0.003,
          optimizer: { kind: 'adam' },
          batchSize: 64,
        },
      ],
    });
    const metrics = new Map<string, number[]>();
    const logs: string[] = [];
    const pruned = await pruneStep(context(plan.steps[0] as PruneStep, 0, plan.model, plan, metrics, logs));
    const simulated = loadModelFile(pruned.outputModel!);
    const r = await distillStep(context(plan.steps[1] as DistillStep, 1, pruned.outputModel!, plan, metrics, logs));
    expect(r.summary).toMatchObject({
      distiller: 'dynamic_layerwise',
      links: 3,
      steps: 20,
      teacher: plan.model,
      keptMasks: true,
    });
    expect(logs.some((l) => l.includes('(the plan’s input model)'))).toBe(true);
    const task = metrics.get('loss.task')!;
    const distill = metrics.get('loss.distill')!;
    expect(task.length).toBeGreaterThan(0);
    expect(distill.length).toBe(task.length);
    expect(distill[distill.length - 1]!).toBeLessThan(distill[0]!);
    const after = loadModelFile(r.outputModel!);
    expect(after.graph.nodes.some((n) => n.name.startsWith('teacher/'))).toBe(false);
    // pruned weights stay zero, the others trained
    let zeros = 0;
    let moved = 0;
    for (const nodeName of attachedMasks(simulated)!.keys()) {
      const w = simulated.graph.node(nodeName)!.inputs[1]!;
      const before = w.initializer!.data as Float32Array;
      const now = after.graph.get(w.name)!.initializer!.data as Float32Array;
      for (let i = 0; i < before.length; i++) {
        if (before[i] === 0) {
          expect(Math.abs(now[i]!)).toBe(0);
          zeros++;
        } else if (now[i] !== before[i]) moved++;
      }
    }
    expect(zeros).toBeGreaterThan(0);
    expect(moved).toBeGreaterThan(0);
  });

  it('passes the plan’s augment to the trainer (finetune and distill); a bad shift is named at its JSON path', async () => {
    const plan = (augment: unknown) =>
      parsePlan({
        model: res('mnist-cnn.onnx'),
        dataset: {
          train: {
            kind: 'idx',
            paths: [res('mnist/train-images-idx3-ubyte.gz'), res('mnist/train-labels-idx1-ubyte.gz')],
            limit: 256,
          },
        },
        seed: 0,
        steps: [
          { kind: 'finetune', epochs: 1, lr: 0.01, augment },
          { kind: 'distill', distiller: 'logits', epochs: 1, lr: 0.01, augment },
        ],
      });
    expect(() => plan({ shift: -1 })).toThrow(/steps\[0\]\.augment\.shift/);
    expect(() => plan({ shift: 2, flip: true })).toThrow(/steps\[0\]\.augment/);
    // a shift the 28×28 samples cannot take reaches the trainer's check from both executors
    const p = plan({ shift: 30 });
    const fail = /augment\.shift 30 needs image samples/;
    await expect(finetuneStep(context(p.steps[0] as FinetuneStep, 0, p.model, p, new Map(), []))).rejects.toThrow(fail);
    await expect(distillStep(context(p.steps[1] as DistillStep, 1, p.model, p, new Map(), []))).rejects.toThrow(fail);
  });
});
