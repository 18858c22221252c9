/**
 * @file A prune + speedup that removes nothing is a warning, never a silent success: in the report's warnings
 * (the CLI prints them, the run log and the step summary carry them), naming the groups left alone and why.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Builder } from '../../../test/pruning/helpers.ts';
import { saveModelFile } from '../io/model-file.ts';
import { pruneCommand, type CommandIO } from './prune.ts';

const dir = mkdtempSync(join(tmpdir(), 'prune-nothing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture(): CommandIO & { out: string; err: string } {
  const io = { out: '', err: '', stdout: (s: string) => void (io.out += s), stderr: (s: string) => void (io.err += s) };
  return io;
}

/** conv1 → relu → conv2, whose output is the graph output (its width is the model's interface). */
const b = new Builder(5);
const x = b.input('x', [1, 3, 8, 8]);
const model = join(dir, 'm.onnx');
saveModelFile(b.output(b.conv('conv2', b.op('Relu', 'r', [b.conv('conv1', x, 8, 3)]), 6, 8), [1, 6, 8, 8]), model);

describe('a prune + speedup that removes nothing', () => {
  it('warns when the masks ask for nothing (a ratio below one channel; conv2 left out)', async () => {
    const cfg = join(dir, 'tiny.json');
    writeFileSync(cfg, JSON.stringify([{ op_types: ['Conv'], sparse_ratio: 0.1, dependency_group_id: 'auto' }]));
    const io = capture();
    const r = await pruneCommand({ model, config: cfg, pruner: 'l1', out: join(dir, 'a'), speedup: true }, io);
    expect(r.speedup!.macs_after).toBe(r.speedup!.macs_before);
    expect(r.speedup!.warnings[0]).toMatch(/^nothing was removed: the masks ask to remove no channel/);
    expect(io.out).toMatch(/warning: nothing was removed/);
    expect(io.err).toMatch(/graph output "conv2_out" keeps its width/);
  });

  it('warns and names the group and its reason when requested channels all stay', async () => {
    const cfg = join(dir, 'forced.json');
    writeFileSync(cfg, JSON.stringify([{ op_names: ['conv2'], sparse_ratio: 0.5 }]));
    const r = await pruneCommand({ model, config: cfg, pruner: 'l1', out: join(dir, 'b'), speedup: true }, capture());
    expect(r.speedup!.macs_after).toBe(r.speedup!.macs_before);
    expect(r.speedup!.warnings[0]).toMatch(
      /^nothing was removed: the 3 channels the masks ask to remove all stay — group \S+ \(conv2\): .*graph output/,
    );
  });
});
