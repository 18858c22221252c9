/** @file `studio sweep` before it runs anything: a plan or a sweep file with --grid, the points listed, and bad grids refused by name with exit 2. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sweepCommand } from './sweep.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-sweep-cli-'));
const plan = join(dir, 'plan.json');
writeFileSync(
  plan,
  JSON.stringify({
    name: 'base',
    model: resolve('resources/mnist-cnn.onnx'),
    steps: [
      { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
      { kind: 'speedup' },
    ],
  }),
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const capture = () => {
  const o = { text: '', write: (t: string) => void (o.text += t) };
  return o;
};
const run = async (file: string, grid: string[], json = false) => {
  const stdout = capture();
  const stderr = capture();
  const code = await sweepCommand(file, { grid, dryRun: true, json, stdout, stderr, home: join(dir, 'home') });
  return { code, out: stdout.text, err: stderr.text };
};

describe('studio sweep', () => {
  it('lists the points of a plan and --grid, and of a sweep file with its plan beside it', async () => {
    const a = await run(plan, ['$.steps[0].configList[0].sparse_ratio=0.3,0.6', '$.steps[0].pruner=l1,fpgm']);
    expect(a).toMatchObject({ code: 0, err: '' });
    expect(a.out.trim().split('\n')).toEqual([
      '1. sparse_ratio=0.3, pruner=l1',
      '2. sparse_ratio=0.3, pruner=fpgm',
      '3. sparse_ratio=0.6, pruner=l1',
      '4. sparse_ratio=0.6, pruner=fpgm',
    ]);
    const file = join(dir, 'sweep.json');
    writeFileSync(file, JSON.stringify({ plan: 'plan.json', grid: { '$.seed': [0, 1] } }));
    const b = await run(file, ['$.steps[0].pruner=fpgm'], true);
    expect(b.code).toBe(0);
    expect(JSON.parse(b.out).points.map((p: { label: string }) => p.label)).toEqual([
      'seed=0, pruner=fpgm',
      'seed=1, pruner=fpgm',
    ]);
  });

  it('refuses a path the plan lacks, a value the schema refuses and a bad sweep file with exit 2, naming the path', async () => {
    const a = await run(plan, ['$.steps[4].pruner=l1']);
    expect(a.code).toBe(2);
    expect(a.err).toBe('SweepError: grid path $.steps[4].pruner: the plan has no $.steps[4]\n');
    const b = await run(plan, ['$.steps[0].pruner=l1,nope'], true);
    expect(b.code).toBe(2);
    expect(JSON.parse(b.out).error).toMatchObject({ name: 'SweepError', code: 'SWEEP_INVALID' });
    expect(JSON.parse(b.out).error.message).toMatch(/grid path \$\.steps\[0\]\.pruner = nope: .*unknown pruner "nope"/);
    const file = join(dir, 'bad-sweep.json');
    writeFileSync(file, JSON.stringify({ plan: 'plan.json', grid: { '$.seed': [] } }));
    expect((await run(file, [])).err).toMatch(
      /sweep file .*bad-sweep\.json \$\.grid\["?\$\.seed"?\]|\$\.grid\.\$\.seed/,
    );
    expect((await run(plan, [])).err).toMatch(/the sweep has no grid/);
  });
});
