/** `studio inspect --node`: the text rendering (ports, statistics, histogram line) and an unknown node's one-line error. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { sparkline } from './inspect-node.ts';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..', '..');
const BIN = join(ROOT, 'bin', 'studio.mjs');
const MODEL = join(ROOT, 'resources', 'mnist-cnn.onnx');

describe('studio inspect --node', () => {
  it('prints the Conv with its weight histogram, and names an unknown node with similar names', async () => {
    expect(sparkline([0, 1, 8])).toBe(' ▂█');
    const { stdout } = await run(process.execPath, [BIN, 'inspect', MODEL, '--node', '/conv2/Conv']);
    expect(stdout).toMatch(/^\/conv2\/Conv {2}Conv\n/);
    expect(stdout).toMatch(
      /conv2\.weight: float32\[32, 16, 3, 3\] {2}initializer\n.*4608 values.*\n.*histogram \[.*\] \|[▁-█ ]{20}\|/,
    );
    expect(stdout).toMatch(/\/conv2\/Conv_output_0: float32\[1, 32, 14, 14\] {2}to \/bn2\/BatchNormalization/);
    const bad = await run(process.execPath, [BIN, 'inspect', MODEL, '--node', 'conv2']).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((bad as { code: number }).code).toBe(1);
    expect((bad as { stderr: string }).stderr).toMatch(
      /^NodeNotFoundError: no node named "conv2" in the main graph; similar: "\/conv2\/Conv"/,
    );
  }, 60_000);
});
