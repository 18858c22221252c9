/**
 * @file The prune step with a training-aware pruner, from a parsed plan: AGP(Taylor) trains on the plan's train split,
 * reports its loss and its trajectory, writes the masks on the trained weights, and the speedup step removes the
 * pruned channels of that model exactly as it does for one-shot masks.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePlan, type PruneStep, type SpeedupStep, type Step } from '../../../src-shared/experiment.ts';
import { loadModelFile } from '../io/model-file.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { StepContext } from '../jobs/registry.ts';
import { attachedMasks } from './masks-meta.ts';
import { pruneStep } from './prune.ts';
import { speedupStep } from './speedup.ts';

const res = (p: string) => resolve('resources', p);

describe('prune step with a training-aware pruner', () => {
  it('AGP(Taylor) on the plan’s train split: loss and trajectory reported, masks on trained weights, speedup exact', async () => {
    const plan = parsePlan({
      model: res('mnist-cnn.onnx'),
      dataset: {
        train: {
          kind: 'idx',
          paths: [res('mnist/train-images-idx3-ubyte.gz'), res('mnist/train-labels-idx1-ubyte.gz')],
          limit: 320,
        },
      },
      seed: 0,
      steps: [
        {
          kind: 'prune',
          pruner: 'agp',
          inner: 'taylor',
          intervalSteps: 3,
          totalTimes: 2,
          batchSize: 32,
          configList: [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }],
        },
        { kind: 'speedup' },
      ],
    });
    const losses: number[] = [];
    const context = <S extends Step>(step: S, index: number, inputModel: string): StepContext<S> => ({
      runId: 'test',
      index,
      step,
      plan,
      inputModel,
      checkpointDir: mkdtempSync(join(tmpdir(), `train-prune-${index}-`)),
      token: new CancellationSource().token,
      progress: () => {},
      metric: (name, value) => void (name === 'loss' && losses.push(value)),
      log: () => {},
    });
    const pruned = await pruneStep(context(plan.steps[0] as PruneStep, 0, plan.model));
    expect(losses.length).toBe(6);
    expect(pruned.summary).toMatchObject({ pruner: 'agp', trainingSteps: 6 });
    const trajectory = pruned.summary!.trajectory as {
      step: number;
      ratio: number;
      sparsity: Record<string, number>;
    }[];
    expect(trajectory.map((p) => [p.step, p.ratio])).toEqual([
      [3, 0.875],
      [6, 1],
    ]);
    expect(trajectory[1]!.sparsity['/conv2/Conv.weight']).toBe(0.5);
    const simulated = loadModelFile(pruned.outputModel!);
    const original = loadModelFile(plan.model);
    // trained: unpruned weights moved away from the original ones
    const w = (m: typeof original) => m.graph.node('/conv1/Conv')!.input(1)!.initializer!.toFloat32();
    const kept = attachedMasks(simulated)!.get('/conv1/Conv')!.get('weight')!;
    const row = w(original).length / kept.data.length;
    const i = kept.data.indexOf(1) * row;
    expect(w(simulated)[i]).not.toBe(w(original)[i]);
    const sped = await speedupStep(context(plan.steps[1] as SpeedupStep, 1, pruned.outputModel!));
    expect(sped.summary).toMatchObject({ maxRelErr: expect.any(Number) });
    expect((sped.summary as { maxRelErr: number }).maxRelErr).toBeLessThan(1e-4);
    const compact = loadModelFile(sped.outputModel!);
    expect(compact.graph.node('/conv2/Conv')!.input(1)!.initializer!.dims[0]).toBe(16);
  });
});
