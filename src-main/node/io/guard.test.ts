/** @file The path guard: special files refused without blocking, bounded reads, output folders checked before any mkdir. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRawModel } from '../../core/onnx/raw.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { expandHome, PathError, prepareOutputDir, probePath, readInputFile, readTextInput } from './guard.ts';
import { loadModelFile } from './model-file.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-guard-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const linux = process.platform === 'linux';

function fifo(name: string): string {
  const p = join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
}

describe('inputs', () => {
  it('refuses devices, FIFOs, folders and kernel state at once, naming the path and what it is', () => {
    const json = { what: 'config list', maxBytes: 1 << 20 };
    expect(() => readInputFile('/dev/zero', json)).toThrow(
      'config list "/dev/zero" is a character device, not a regular file',
    );
    expect(() => readInputFile(fifo('pipe'), json)).toThrow(/is a named pipe \(FIFO\), not a regular file/);
    expect(() => readInputFile(dir, json)).toThrow(/is a folder, not a regular file/);
    expect(() => readInputFile(join(dir, 'missing.json'), json)).toThrow(/does not exist/);
    if (linux)
      expect(() => readInputFile('/proc/self/status', json)).toThrow(/is kernel state on \/proc, not a file of data/);
  });

  it('reads in bounded chunks and stops at the limit', () => {
    const big = join(dir, 'big.json');
    writeFileSync(big, Buffer.alloc(3 << 20, 0x20));
    expect(readInputFile(big, { what: 'plan file', maxBytes: 4 << 20 }).byteLength).toBe(3 << 20);
    expect(() => readTextInput(big, { what: 'plan file', maxBytes: 1 << 20 })).toThrow(
      /plan file ".*big\.json" is 3\.0 MiB, over the 1\.0 MiB limit/,
    );
    try {
      readInputFile(big, { what: 'plan file', maxBytes: 1 << 20 });
    } catch (e) {
      expect(e).toBeInstanceOf(PathError);
      expect((e as PathError).reason).toBe('too-large');
    }
  });

  it('external data that names a FIFO is refused instead of hanging the loader', () => {
    const model = join(dir, 'm');
    mkdirSync(model);
    fifo('m/weights.bin');
    const bytes = encodeRawModel({
      graph: {
        name: 'g',
        output: [{ name: 'w', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 4 }] } } } }],
        initializer: [
          {
            name: 'w',
            dataType: 1,
            dims: [4],
            dataLocation: 1,
            externalData: [{ key: 'location', value: 'weights.bin' }],
          },
        ],
      },
    });
    writeFileSync(join(model, 'model.onnx'), bytes);
    const t0 = Date.now();
    expect(() => loadModelFile(join(model, 'model.onnx'))).toThrow(
      /external data "weights\.bin" is not a regular file \(tensor "w"\)/,
    );
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('expands ~ and refuses ~user', () => {
    expect(expandHome('~')).toBe(homedir());
    expect(expandHome('~/a/b')).toBe(join(homedir(), 'a', 'b'));
    expect(() => expandHome('~root/x')).toThrow(/"~user" paths are not expanded/);
    expect(expandHome('/abs/~x')).toBe('/abs/~x');
  });
});

describe('output folders', () => {
  it('creates missing folders one at a time and returns the real path', () => {
    const out = prepareOutputDir(join(dir, 'a', 'b', 'c'), { what: 'output folder' });
    expect(existsSync(out)).toBe(true);
    expect(out).toBe(join(dir, 'a', 'b', 'c'));
  });

  it('refuses pseudo-filesystems before any mkdir (a recursive mkdir under /proc spins forever)', () => {
    if (!linux) return;
    const t0 = Date.now();
    expect(() => prepareOutputDir('/proc/self/x/y', { what: 'output folder' })).toThrow(
      'output folder "/proc/self/x/y" lies on /proc, which holds kernel state, not files',
    );
    expect(() => prepareOutputDir('/sys/studio', { what: 'output folder' })).toThrow(/lies on \/sys/);
    expect(() => prepareOutputDir('/dev/studio', { what: 'output folder' })).toThrow(/lies on \/dev/);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('refuses a path through a file, and anything outside the roots (symlinks resolved)', () => {
    writeFileSync(join(dir, 'file'), 'x');
    expect(() => prepareOutputDir(join(dir, 'file', 'sub'), { what: 'output folder' })).toThrow(
      /exists and is not a folder/,
    );
    const root = join(dir, 'root');
    mkdirSync(root);
    expect(prepareOutputDir(join(root, 'x'), { what: 'export folder', roots: [root] })).toBe(join(root, 'x'));
    symlinkSync(tmpdir(), join(root, 'escape'));
    expect(() => prepareOutputDir(join(root, 'escape', 'y'), { what: 'export folder', roots: [root] })).toThrow(
      /is outside the folders allowed for it/,
    );
    expect(() => prepareOutputDir('relative', { what: 'export folder', roots: [root], requireAbsolute: true })).toThrow(
      /must be an absolute path/,
    );
    expect(existsSync(join(tmpdir(), 'y'))).toBe(false);
  });
});

describe('probePath', () => {
  it('touches a client path off the event loop: existing paths, missing ones (left to the guard to name) and output folders pass', async () => {
    await expect(probePath(dir, { what: 'model file' })).resolves.toBeUndefined();
    await expect(probePath(join(dir, 'missing.onnx'), { what: 'model file' })).resolves.toBeUndefined();
    await expect(
      probePath(join(dir, 'new', 'deeper'), { what: 'export folder', output: true }),
    ).resolves.toBeUndefined();
    await expect(probePath('~nobody/x', { what: 'export folder' })).rejects.toThrow(/"~user" paths are not expanded/);
  });
});
