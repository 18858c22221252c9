/** @file Tests of provider listing, session options, and the CPU fallback of unavailable providers. */
import { describe, expect, it, vi } from 'vitest';
import { encodeModel } from '../../core/onnx/index.ts';
import { SessionCreateError, UnknownProviderError } from './errors.ts';
import {
  createSession,
  listProviders,
  ortSessionOptions,
  parseProvider,
  probeProvider,
  probeProviders,
  probeProvidersApart,
  PROVIDER_NAMES,
} from './providers.ts';
import { identity } from './testing/models.ts';

const bytes = encodeModel(identity('float32', [2])).bytes;

describe('listProviders', () => {
  it('lists every provider with CPU available and platform-bound ones refused elsewhere', () => {
    const here = listProviders('linux', [
      { name: 'cpu', bundled: true },
      { name: 'webgpu', bundled: true },
      { name: 'cuda', bundled: false },
    ]);
    expect(here.map((p) => p.name)).toEqual([...PROVIDER_NAMES]);
    const by = Object.fromEntries(here.map((p) => [p.name, p]));
    expect(by.cpu).toMatchObject({ bundled: true, available: true });
    expect(by.cuda).toMatchObject({ bundled: false, available: false });
    expect(by.cuda!.reason).toMatch(/not bundled/);
    expect(by.dml!.reason).toMatch(/only on Windows \(this is Linux\)/);
    expect(by.coreml!.reason).toMatch(/only on macOS/);
  });

  it('offers DirectML on Windows and CoreML on macOS when bundled', () => {
    expect(listProviders('win32', [{ name: 'dml', bundled: true }]).find((p) => p.name === 'dml')!.available).toBe(
      true,
    );
    expect(
      listProviders('darwin', [{ name: 'coreml', bundled: true }]).find((p) => p.name === 'coreml')!.available,
    ).toBe(true);
    expect(listProviders('darwin', [{ name: 'cuda', bundled: true }]).find((p) => p.name === 'cuda')!.available).toBe(
      false,
    );
  });

  it("reads this build's backends by default", () => {
    const cpu = listProviders().find((p) => p.name === 'cpu')!;
    expect(cpu).toMatchObject({ bundled: true, available: true });
  });
});

describe('parseProvider', () => {
  it('accepts known names in any case and rejects others with the valid list', () => {
    expect(parseProvider('WebGPU')).toBe('webgpu');
    expect(() => parseProvider('bogus')).toThrow(UnknownProviderError);
    expect(() => parseProvider('bogus')).toThrow(/valid names: cpu, webgpu, cuda, tensorrt, dml, coreml/);
  });
});

describe('ortSessionOptions', () => {
  it('pins threads and turns spinning off unless asked', () => {
    const o = ortSessionOptions('cpu', { threads: 2, optimization: 'basic' });
    expect(o).toMatchObject({
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'basic',
      executionProviders: ['cpu'],
    });
    expect(o.extra).toMatchObject({ session: { intra_op: { allow_spinning: '0' } } });
    expect(ortSessionOptions('cpu', { spinning: true }).extra).toMatchObject({
      session: { intra_op: { allow_spinning: '1' } },
    });
    expect(ortSessionOptions('cpu', {}).intraOpNumThreads).toBeUndefined();
    expect(ortSessionOptions('cpu', { profile: { prefix: 'p' } })).toMatchObject({
      enableProfiling: true,
      profileFilePrefix: 'p',
    });
  });
});

describe('createSession', () => {
  it('runs on CPU by default with no fallback', async () => {
    const h = await createSession(bytes, { threads: 1 });
    expect(h.ep).toBe('cpu');
    expect(h.fallback).toBeUndefined();
    expect(h.session.inputNames).toEqual(['x']);
    await h.session.release();
  });

  it('falls back to CPU from WebGPU when there is no GPU adapter, and remembers it', async () => {
    const h = await createSession(bytes, { ep: 'webgpu', threads: 1 });
    if (h.ep === 'webgpu') {
      // a machine with a GPU: nothing to fall back from
      expect(h.fallback).toBeUndefined();
    } else {
      expect(h.ep).toBe('cpu');
      expect(h.fallback!.requested).toBe('webgpu');
      expect(h.fallback!.reason).toMatch(/^webgpu requested but .+; ran on cpu$/);
      expect(h.fallback!.reason).toMatch(/no GPU adapter was found|could not be/);
      expect(listProviders().find((p) => p.name === 'webgpu')!.available).toBe(false);
      const again = await createSession(bytes, { ep: 'webgpu' });
      expect(again.fallback!.reason).toBe(h.fallback!.reason);
      await again.session.release();
    }
    await h.session.release();
  });

  it('falls back to CPU from CUDA, which this install does not bundle', async () => {
    const cuda = listProviders().find((p) => p.name === 'cuda')!;
    const h = await createSession(bytes, { ep: 'cuda' });
    if (!cuda.bundled) {
      expect(h.ep).toBe('cpu');
      expect(h.fallback).toEqual({
        requested: 'cuda',
        reason: expect.stringMatching(/^cuda requested but CUDA is not bundled.*; ran on cpu$/),
      });
    }
    await h.session.release();
  });

  it('falls back from platform-bound providers with the platform in the reason', async () => {
    const h = await createSession(bytes, { ep: process.platform === 'win32' ? 'coreml' : 'dml' });
    expect(h.ep).toBe('cpu');
    expect(h.fallback!.reason).toMatch(/runs only on (Windows|macOS)/);
    await h.session.release();
  });

  it('throws UnknownProviderError for an unknown name instead of falling back', async () => {
    await expect(createSession(bytes, { ep: 'bogus' })).rejects.toThrow(UnknownProviderError);
  });

  it('throws SessionCreateError when the model itself is bad', async () => {
    await expect(createSession(new Uint8Array([8, 1, 18, 0]))).rejects.toThrow(SessionCreateError);
  });
});

describe('probeProvider', () => {
  it('verifies CPU and reports a probed WebGPU honestly', async () => {
    expect((await probeProvider('cpu')).available).toBe(true);
    const gpu = await probeProvider('webgpu');
    expect(gpu.available === gpu.verified || gpu.reason !== undefined).toBe(true);
    if (!gpu.available) expect(gpu.reason).toBeTruthy();
  });
});

describe('probeProviders', () => {
  it('lists a provider as available only if a session can really be created on it here', async () => {
    // a fresh module: nothing probed yet in it (the tests above already tried WebGPU in this one)
    vi.resetModules();
    const fresh = (await import('./providers.ts')) as typeof import('./providers.ts');
    const before = fresh.listProviders();
    const after = await fresh.probeProviders();
    expect(after.find((p) => p.name === 'cpu')).toMatchObject({ available: true, verified: true });
    for (const p of after) {
      if (!p.available) {
        expect(p.reason).toBeTruthy();
        continue;
      }
      // available now means verified: a session on it runs without falling back
      expect(p.verified).toBe(true);
      const h = await fresh.createSession(bytes, { ep: p.name, threads: 1 });
      expect({ name: p.name, ep: h.ep, fallback: h.fallback }).toEqual({
        name: p.name,
        ep: p.name,
        fallback: undefined,
      });
      await h.session.release();
    }
    // the static list may offer more (e.g. WebGPU bundled on a box with no GPU adapter), never fewer
    for (const p of after) if (p.available) expect(before.find((b) => b.name === p.name)!.available).toBe(true);
  });
});

describe('probeProvidersApart', () => {
  it('probes in a child process and finds what a probe here finds', async () => {
    const apart = await probeProvidersApart();
    const here = await probeProviders();
    expect(apart.map((p) => [p.name, p.available])).toEqual(here.map((p) => [p.name, p.available]));
    expect(apart.find((p) => p.name === 'cpu')).toMatchObject({ available: true, verified: true });
  }, 60_000);
});
