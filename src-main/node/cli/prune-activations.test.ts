/**
 * @file Targets on an op without weights from a config file (the seed's example): masks on the input of a Softmax,
 * aligned to the classifier's pruned rows, with apply_method 'add', from `studio prune` and from a plan's prune step —
 * no registerTemplate call, no shapes given (the logits' shape is not in the file: the model is traced for it).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Builder, randomInput, runOrt } from '../../../test/pruning/helpers.ts';
import { parsePlan, type PruneStep } from '../../../src-shared/experiment.ts';
import { loadModelFile, saveModelFile } from '../io/model-file.ts';
import { CancellationSource } from '../jobs/index.ts';
import { pruneStep } from '../steps/prune.ts';
import { pruneCommand, type CommandIO } from './prune.ts';

const dir = mkdtempSync(join(tmpdir(), 'prune-act-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const quiet: CommandIO = { stdout: () => {}, stderr: () => {} };

function classifier() {
  const b = new Builder(11);
  const logits = b.gemm('fc', b.input('input', [1, 16]), 8, 16);
  return b.output(b.op('Softmax', 'softmax', [logits], { axis: { type: 'int', value: -1 } }), [1, 8]);
}
const modelPath = join(dir, 'classifier.onnx');
saveModelFile(classifier(), modelPath);
const configList = [
  { op_names: ['fc'], sparse_ratio: 0.5 },
  {
    op_types: ['Softmax'],
    target_names: ['_input_'],
    apply_method: 'add',
    target_settings: { _input_: { align: { module_name: 'fc', target_name: 'weight', dims: [0] } } },
  },
];
const configPath = join(dir, 'softmax.json');
writeFileSync(configPath, JSON.stringify(configList));

/** The simulated model: an Add before the Softmax; pruned classes (all-zero fc rows) get ~0 probability, the rest sum to 1. */
async function checkSimulated(path: string): Promise<void> {
  const sim = loadModelFile(path);
  expect(sim.graph.nodes.map((n) => n.opType)).toEqual(['Gemm', 'Add', 'Softmax']);
  const w = sim.graph.node('fc')!.input(1)!.initializer!.toFloat32();
  const keep = Array.from({ length: 8 }, (_, i) => w.subarray(i * 16, i * 16 + 16).some((x) => x !== 0));
  expect(keep.filter((k) => !k).length).toBe(4);
  const p = Object.values(await runOrt(sim, { input: randomInput([1, 16], 3) }))[0]!;
  keep.forEach((k, i) => (k ? expect(p[i]).toBeGreaterThan(0) : expect(p[i]).toBeLessThan(1e-30)));
  expect(keep.reduce((s, k, i) => s + (k ? p[i]! : 0), 0)).toBeCloseTo(1, 6);
}

describe('activation targets from a config file', () => {
  it('studio prune: the Softmax input mask (apply_method add) follows the classifier rows', async () => {
    const r = await pruneCommand({ model: modelPath, config: configPath, pruner: 'l1', out: join(dir, 'cli') }, quiet);
    const t = r.targets.find((x) => x.node === 'softmax')!;
    expect([t.target, t.kind, t.applyMethod, t.shape]).toEqual(['_input_0', 'input', 'add', [1, 8]]);
    expect(t.sparsity).toBe(0.5);
    await checkSimulated(r.simulatedPath);
  });

  it('the prune step of a plan does the same', async () => {
    const plan = parsePlan({ model: modelPath, steps: [{ kind: 'prune', pruner: 'l2', configList }] });
    const r = await pruneStep({
      runId: 't',
      index: 0,
      step: plan.steps[0] as PruneStep,
      plan,
      inputModel: modelPath,
      checkpointDir: mkdtempSync(join(dir, 'step-')),
      token: new CancellationSource().token,
      progress: () => {},
      metric: () => {},
      log: () => {},
    });
    expect(r.summary).toMatchObject({ targets: 3 });
    await checkSimulated(r.outputModel!);
  });
});
