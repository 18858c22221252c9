/** @file The CLI under hostile input: honest exit codes, one printable line per error, no stack trace without --debug. */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodeRawModel } from '../../core/onnx/raw.ts';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'studio.mjs');
const MNIST = join(import.meta.dirname, '..', '..', '..', 'resources', 'mnist-cnn.onnx');

async function studio(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { maxBuffer: 1 << 24 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const dir = mkdtempSync(join(tmpdir(), 'studio-hostile-'));
const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } });
function modelFile(name: string, graph: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const bytes = encodeRawModel({ graph, ...extra });
  const file = join(dir, name);
  writeFileSync(file, bytes);
  return file;
}

/** stderr is exactly one line of printable characters, with no stack frame. */
function expectOneLine(stderr: string): string {
  const lines = stderr.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  expect(lines[0]).not.toMatch(/[\u0000-\u001f\u007f]/);
  expect(stderr).not.toMatch(/^\s+at /m);
  return lines[0]!;
}

describe('honest outcomes', () => {
  it('inspect exits 1 when the model loads but cannot be traced; --allow-trace-failure makes it a warning', async () => {
    const file = modelFile(
      'untraceable.onnx',
      {
        name: 'g',
        input: [vi('x')],
        output: [vi('y')],
        node: [{ name: 'custom', opType: 'NoSuchOp', domain: 'com.example', input: ['x'], output: ['y'] }],
      },
      {
        opsetImport: [
          { domain: '', version: 17 },
          { domain: 'com.example', version: 1 },
        ],
      },
    );
    const r = await studio('inspect', file);
    expect(r.code).toBe(1);
    expect(expectOneLine(r.stderr)).toMatch(/^TraceError: .*untraceable\.onnx loads but cannot be traced/);
    expect(r.stdout).toMatch(/trace failed: TraceError: /);
    const ok = await studio('inspect', file, '--allow-trace-failure', '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).traceError).toMatch(/NoSuchOp|com\.example/);
    expect(ok.stderr).toBe('');
  });

  it('inspect exits 1 with one line for a self-loop, a graph without outputs, and names holding control characters', async () => {
    const loop = modelFile('loop.onnx', {
      name: 'g',
      input: [vi('x')],
      output: [vi('y')],
      node: [{ name: 'n', opType: 'Add', input: ['x', 'y'], output: ['y'] }],
    });
    let r = await studio('inspect', loop);
    expect(r.code).toBe(1);
    expect(expectOneLine(r.stderr)).toBe('ModelFormatError: graph "g" has a cycle: node "n" reads its own output "y"');
    const none = modelFile('none.onnx', {
      name: 'g',
      input: [vi('x')],
      node: [{ name: 'n', opType: 'Relu', input: ['x'], output: ['y'] }],
    });
    r = await studio('inspect', none);
    expect(r.code).toBe(1);
    expect(expectOneLine(r.stderr)).toBe('ModelFormatError: graph "g" declares no outputs');
    const evil = modelFile('evil.onnx', {
      name: 'g',
      input: [vi('x')],
      output: [vi('y')],
      node: [{ name: 'add\n\u001b[31mred\u202e', opType: 'Add', input: ['x', 'gh\rost'], output: ['y'] }],
    });
    r = await studio('inspect', evil);
    expect(r.code).toBe(1);
    expect(expectOneLine(r.stderr)).toBe(
      'ModelFormatError: input 1 "gh\\rost" of Add is produced by no node, graph input or initializer (node "add\\n\\u001b[31mred\\u202e")',
    );
  });

  it('a null config entry, a prototype-named key and sparse_ratio 1 exit 1 with one line each, never a TypeError', async () => {
    for (const [text, want] of [
      ['[null]', /^ConfigListError: invalid config list \(1 fault\): \$\[0\]: expected an object, got null$/],
      [
        '[{"op_types":["Conv"],"constructor":{"sparse_ratio":0.5}}]',
        /\$\[0\]\.constructor: the key 'constructor' is not allowed/,
      ],
      ['[{"op_types":["Conv"],"sparse_ratio":1}]', /\$\[0\]\.sparse_ratio: must be < 1/],
    ] as const) {
      const cfg = join(dir, 'cfg.json');
      writeFileSync(cfg, text);
      const r = await studio('prune', MNIST, '--config', cfg, '--out', join(dir, 'out'));
      expect(r.code).toBe(1);
      expect(expectOneLine(r.stderr)).toMatch(want);
    }
  });

  it('a plan whose step kind is "constructor" exits with a plan error, not a stack trace', async () => {
    const plan = join(dir, 'plan.json');
    writeFileSync(plan, JSON.stringify({ model: MNIST, steps: [{ kind: 'constructor' }] }));
    const r = await studio('run', plan);
    expect(r.code).not.toBe(0);
    expect(expectOneLine(r.stderr)).toMatch(
      /^PlanError: invalid experiment plan \(1 fault\): \$\.steps\[0\]\.kind: unknown step kind "constructor"/,
    );
  });

  it('--config /dev/zero and an output folder under /proc exit 1 at once with one line, eating no memory', async () => {
    const t0 = Date.now();
    let r = await studio('prune', MNIST, '--config', '/dev/zero', '--out', join(dir, 'o1'));
    expect(r.code).toBe(1);
    expect(expectOneLine(r.stderr)).toBe(
      'ConfigFileError: config list "/dev/zero" is a character device, not a regular file',
    );
    if (process.platform === 'linux') {
      const cfg = join(dir, 'ok.json');
      writeFileSync(cfg, '[{"op_types":["Conv"],"sparse_ratio":0.5}]');
      r = await studio('prune', MNIST, '--config', cfg, '--out', '/proc/self/studio-out');
      expect(r.code).toBe(1);
      expect(expectOneLine(r.stderr)).toBe(
        'PathError: output folder "/proc/self/studio-out" lies on /proc, which holds kernel state, not files',
      );
    }
    expect(Date.now() - t0).toBeLessThan(60_000);
  });

  it('--debug is accepted anywhere on the line and adds the stack trace to an error', async () => {
    const ok = await studio('inspect', '--debug', MNIST, '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).opTypes.Conv).toBe(3);
    const loop = modelFile('loop-debug.onnx', {
      name: 'g',
      input: [vi('x')],
      output: [vi('y')],
      node: [{ name: 'n', opType: 'Add', input: ['x', 'y'], output: ['y'] }],
    });
    const r = await studio('inspect', loop, '--debug');
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('ModelFormatError: graph "g" has a cycle: node "n" reads its own output "y"');
    expect(r.stderr).toMatch(/^\s+at .*decode/m);
  });
});
