/**
 * @file `studio prune` with the training-aware pruners: AGP(L1) on the bundled MNIST model and data (trajectory
 * printed, masks exact, verified speedup of the trained weights), and every bad combination named by its flag
 * before anything is written.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PruneCommandError, pruneCommand, type CommandIO } from './prune.ts';

const dir = mkdtempSync(join(tmpdir(), 'prune-train-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const capture = (): CommandIO & { out: string; err: string } => {
  const io = { out: '', err: '', stdout: (s: string) => void (io.out += s), stderr: (s: string) => void (io.err += s) };
  return io;
};
const model = 'resources/mnist-cnn.onnx';
const data = 'resources/mnist';
const config = join(dir, 'config.json');
writeFileSync(config, JSON.stringify([{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }]));

describe('studio prune with training-aware pruners', () => {
  it('--pruner agp --inner l1 trains on --data, prints the trajectory, and its masks speed up exactly', async () => {
    const io = capture();
    const out = join(dir, 'agp');
    const r = await pruneCommand(
      {
        model,
        config,
        pruner: 'agp',
        data,
        training: { inner: 'l1', intervalSteps: 3, totalTimes: 3, batchSize: 32 },
        out,
        speedup: true,
      },
      io,
    );
    expect(r.trajectory!.map((p) => p.step)).toEqual([3, 6, 9]);
    expect(r.trajectory!.map((p) => p.ratio.toFixed(4))).toEqual(['0.7037', '0.9630', '1.0000']);
    expect(io.out).toMatch(/step 3: goals × 0\.704, mean sparsity/);
    for (const t of r.targets.filter((t) => t.target === 'weight')) expect(t.sparsity).toBe(0.5);
    expect(r.speedup!.max_rel_err).toBeLessThan(1e-4);
    expect(existsSync(r.simulatedPath)).toBe(true);
  });

  const bad: [string, Parameters<typeof pruneCommand>[0], RegExp][] = [
    ['no data', { model, config, pruner: 'taylor' }, /the taylor pruner trains: give its training data with --data/],
    [
      'data for a one-shot pruner',
      { model, config, pruner: 'l1', data },
      /--data is read only by the pruners that train/,
    ],
    [
      'a training option for a one-shot pruner',
      { model, config, pruner: 'fpgm', training: { trainingSteps: 5 } },
      /--training-steps is read only by the pruners that train; fpgm is one-shot/,
    ],
    [
      'an option the pruner does not read',
      { model, config, pruner: 'taylor', data, training: { inner: 'l1' } },
      /--inner is not read by the taylor pruner/,
    ],
    [
      'movement inside agp',
      { model, config, pruner: 'agp', data, training: { inner: 'movement' } },
      /--inner: "movement" cannot be scheduled by agp \(Movement has its own/,
    ],
    [
      'warm-up after cool-down',
      { model, config, pruner: 'movement', data, training: { warmupSteps: 50, cooldownBeginStep: 50 } },
      /--warmup-steps: warmupSteps \(50\) must be smaller than cooldownBeginStep \(50\)/,
    ],
    [
      'a schedule longer than the run',
      { model, config, pruner: 'linear', data, training: { intervalSteps: 10, totalTimes: 5, maxSteps: 20 } },
      /--max-steps: the run is 20 steps but the schedule's last update is at step 50/,
    ],
  ];
  it.each(bad)('refuses %s, naming the flag, and writes nothing', async (_name, opts, message) => {
    const out = join(dir, `bad-${_name.replace(/\W+/g, '-')}`);
    await expect(pruneCommand({ ...opts, out }, capture())).rejects.toThrow(PruneCommandError);
    await expect(pruneCommand({ ...opts, out }, capture())).rejects.toThrow(message);
    expect(existsSync(out)).toBe(false);
  });
});
