/**
 * @file `distillCommand`: a pruned-and-sped-up student distilled from the bundled example for a few steps (JSON
 * events carry the task and distillation losses apart; the written student runs and beats its pruned self), and the
 * named refusals: a teacher that is not ONNX, a config list the logits distiller cannot read, a layer-wise distiller
 * without one, an unknown distiller, a link naming a node the teacher lacks.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneCommand } from './prune.ts';
import { distillCommand } from './distill.ts';

const dir = mkdtempSync(join(tmpdir(), 'distill-cli-'));
const file = (name: string, json: unknown) => {
  const p = join(dir, name);
  writeFileSync(p, JSON.stringify(json));
  return p;
};
const quiet = { write: () => {}, threads: 1 };

async function student(): Promise<string> {
  const out = join(dir, 'pruned');
  if (!existsSync(join(out, 'compact.onnx'))) {
    const config = file('prune.json', [{ op_types: ['Conv'], sparse_ratio: 0.5, dependency_group_id: 'auto' }]);
    await pruneCommand(
      { model: 'resources/mnist-cnn.onnx', config, pruner: 'l1', speedup: true, out, json: true },
      { stdout: () => {}, stderr: () => {} },
    );
  }
  return join(out, 'compact.onnx');
}

describe('distillCommand', () => {
  it('distills a pruned student from the example: JSON steps carry both losses, the student improves', async () => {
    const lines: string[] = [];
    const config = file('d.json', [{ op_types: ['Conv'], lambda: 0.5 }]);
    const out = join(dir, 'out');
    const r = await distillCommand({
      model: await student(),
      teacher: 'resources/mnist-cnn.onnx',
      data: 'resources/mnist',
      distiller: 'adaptive1d_layerwise',
      config,
      maxSteps: 40,
      batchSize: 32,
      lr: 3e-3,
      out,
      json: true,
      threads: 1,
      write: (l) => lines.push(l),
    });
    const events = lines.map((l) => JSON.parse(l) as { type: string; parts?: Record<string, number> });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.length).toBeGreaterThan(0);
    expect(Object.keys(steps[0]!.parts!).sort()).toEqual(['loss.distill', 'loss.task']);
    expect(events.at(-1)!.type).toBe('result');
    expect(r.steps).toBe(40);
    expect(r.teacher).toBeCloseTo(0.9921, 4);
    expect(r.student.after!).toBeGreaterThan(r.student.before! + 0.2);
    expect(existsSync(join(out, 'model.onnx'))).toBe(true);
  });

  it('names what it refuses', async () => {
    const s = await student();
    const base = { model: s, teacher: 'resources/mnist-cnn.onnx', data: 'resources/mnist', ...quiet };
    await expect(distillCommand({ ...base, teacher: 'package.json' })).rejects.toThrow(
      /the teacher "package.json" cannot be opened: not an ONNX model/,
    );
    await expect(distillCommand({ ...base, config: file('c.json', [{ op_types: ['Conv'] }]) })).rejects.toThrow(
      /logits distiller reads the model outputs and takes no --config/,
    );
    await expect(distillCommand({ ...base, distiller: 'dynamic_layerwise' })).rejects.toThrow(
      /dynamic_layerwise distiller needs --config/,
    );
    await expect(distillCommand({ ...base, distiller: 'hinton' })).rejects.toThrow(
      /unknown distiller "hinton" \(available: logits, dynamic_layerwise, adaptive1d_layerwise\)/,
    );
    await expect(
      distillCommand({
        ...base,
        distiller: 'dynamic_layerwise',
        config: file('g.json', [{ op_names: ['/conv1/Conv'], link: 'ghost' }]),
      }),
    ).rejects.toThrow(/\$\[0\]: the teacher has no node "ghost"/);
  });

  it('--augment-shift reaches the training step: other weights than without it, and a shift too large is named', async () => {
    const s = await student();
    const run = async (augmentShift: number | undefined, out: string) => {
      await distillCommand({
        model: s,
        teacher: 'resources/mnist-cnn.onnx',
        data: 'resources/mnist',
        maxSteps: 4,
        batchSize: 32,
        out: join(dir, out),
        augmentShift,
        ...quiet,
      });
      return readFileSync(join(dir, out, 'model.onnx'));
    };
    const [plain, zero, shifted] = [await run(undefined, 'a0'), await run(0, 'a1'), await run(2, 'a2')];
    expect(zero.equals(plain)).toBe(true);
    expect(shifted.equals(plain)).toBe(false);
    await expect(
      distillCommand({
        model: s,
        teacher: 'resources/mnist-cnn.onnx',
        data: 'resources/mnist',
        augmentShift: 28,
        ...quiet,
      }),
    ).rejects.toThrow(
      /augment\.shift 28 needs image samples \(…, H, W\) larger than the shift; the samples are \[1, 28, 28\]/,
    );
  });
});
