/** @file The Electron bridge adapter: plain-object rejections from the preload become IpcErrors again, and abort signals cross as plain objects that still cancel. */
import { describe, expect, it } from 'vitest';
import { CONTRACT, type CallOptions, type StudioApi } from '../../src-shared/ipc/contract.ts';
import { IpcError, toSerializedError } from '../../src-shared/ipc/errors.ts';
import { createFakeHost } from '../testing/fake-host.ts';
import { createBridgeHost } from './bridge-host.ts';

/** What the preload hands the renderer: the same API, rejecting with plain data, seeing options as plain objects. */
function fakeBridge(inner: StudioApi, seen: CallOptions[]): StudioApi {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [service, spec] of Object.entries(CONTRACT)) {
    const src = inner[service as keyof StudioApi] as unknown as Record<
      string,
      (r: unknown, o?: CallOptions) => Promise<unknown>
    > & { on: StudioApi['runs']['on'] };
    const s: Record<string, unknown> = { on: src.on };
    for (const m of Object.keys(spec.methods)) {
      s[m] = (r: unknown, o?: CallOptions) => {
        if (o) seen.push(o);
        return src[m]!(r, o).catch((e: unknown) => Promise.reject(toSerializedError(e)));
      };
    }
    out[service] = s;
  }
  return out as unknown as StudioApi;
}

describe('bridge host', () => {
  it('turns plain rejections back into IpcErrors and passes signals as plain objects', async () => {
    const seen: CallOptions[] = [];
    const host = createBridgeHost(fakeBridge(createFakeHost().api, seen));
    const err = await host.api.runs.get({ runId: 'dead01' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpcError);
    expect((err as IpcError).code).toBe('RUN_NOT_FOUND');
    const controller = new AbortController();
    await host.api.settings.get({}, { signal: controller.signal });
    const sig = seen.at(-1)!.signal!;
    expect(sig).not.toBeInstanceOf(AbortSignal);
    let fired = false;
    sig.addEventListener('abort', () => (fired = true));
    controller.abort();
    expect([sig.aborted, fired]).toEqual([true, true]);
    expect(host.connection.state).toBe('open');
  });
});
