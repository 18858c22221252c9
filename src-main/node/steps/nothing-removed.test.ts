/**
 * @file A plan whose prune + speedup removes nothing says so in the run log (level warn) and in the speedup step's
 * summary, which the app's run report shows; never a silent success.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parsePlan, type PruneStep, type SpeedupStep, type Step } from '../../../src-shared/experiment.ts';
import { Builder } from '../../../test/pruning/helpers.ts';
import { saveModelFile } from '../io/model-file.ts';
import { CancellationSource } from '../jobs/index.ts';
import type { StepContext } from '../jobs/registry.ts';
import { pruneStep } from './prune.ts';
import { speedupStep } from './speedup.ts';

it('warns in the log and the step summary when the speedup removes no channel', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nothing-'));
  const b = new Builder(5);
  const model = join(dir, 'm.onnx');
  // conv2's output is the graph output: its width is the model's interface, so its masked channels must stay
  saveModelFile(
    b.output(
      b.conv('conv2', b.op('Relu', 'r', [b.conv('conv1', b.input('x', [1, 3, 8, 8]), 8, 3)]), 6, 8),
      [1, 6, 8, 8],
    ),
    model,
  );
  const plan = parsePlan({
    model,
    steps: [
      { kind: 'prune', pruner: 'l1', configList: [{ op_names: ['conv2'], sparse_ratio: 0.5 }] },
      { kind: 'speedup' },
    ],
  });
  const logs: string[] = [];
  const context = <S extends Step>(step: S, index: number, inputModel: string): StepContext<S> => ({
    runId: 'test',
    index,
    step,
    plan,
    inputModel,
    checkpointDir: mkdtempSync(join(dir, `step-${index}-`)),
    token: new CancellationSource().token,
    progress: () => {},
    metric: () => {},
    log: (message, level = 'info') => void logs.push(`${level} ${message}`),
  });
  const pruned = await pruneStep(context(plan.steps[0] as PruneStep, 0, model));
  const sped = await speedupStep(context(plan.steps[1] as SpeedupStep, 1, pruned.outputModel!));
  expect(sped.summary!.macRatio).toBe(1);
  expect(String(sped.summary!.warning)).toMatch(
    /^nothing was removed: the 3 channels the masks ask to remove all stay — group \S+ \(conv2\)/,
  );
  expect(logs.some((l) => /^warn nothing was removed/.test(l))).toBe(true);
});
