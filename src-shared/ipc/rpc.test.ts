/** @file Tests of the contract's wire over an in-memory transport pair: typed calls, validation on both sides, forged payloads, progress, cancellation, events, disconnects, the byte codec. */
import { describe, expect, it } from 'vitest';
import type { StudioImpl } from './contract.ts';
import type { Settings } from './dto.ts';
import { IpcError } from './errors.ts';
import { decodeWire, encodeWire, fromBase64, memoryTransportPair, RpcClient, RpcServer, toBase64 } from './rpc.ts';

const settings: Settings = {
  theme: 'dark',
  executionProvider: 'cpu',
  recentFiles: [],
  dataDir: '/tmp/s',
  version: '1.0.0',
  shell: 'test',
  nativeDialogs: false,
};

/** An implementation where only the methods a test uses do anything. */
function fakeImpl(overrides: Partial<{ [K in keyof StudioImpl]: Partial<StudioImpl[K]> }> = {}): StudioImpl {
  const unused = () => {
    throw new Error('not used in this test');
  };
  const service = (names: string[], o: object = {}) => ({ ...Object.fromEntries(names.map((n) => [n, unused])), ...o });
  return {
    models: service(['open', 'inspect', 'graph', 'targets', 'examples'], overrides.models),
    experiments: service(
      ['validate', 'create', 'list', 'start', 'cancel', 'resume', 'capabilities'],
      overrides.experiments,
    ),
    runs: service(['list', 'get', 'metrics', 'layers', 'compare', 'log', 'active', 'update', 'delete'], overrides.runs),
    exports: service(['run', 'suggestDir'], overrides.exports),
    settings: service(['get', 'set', 'chooseFile', 'chooseFolder'], { get: () => settings, ...overrides.settings }),
  } as unknown as StudioImpl;
}

function connect(impl: StudioImpl) {
  const [clientEnd, serverEnd] = memoryTransportPair();
  const server = new RpcServer(impl);
  server.connect(serverEnd, { id: 'test', kind: 'memory' });
  const faults: IpcError[] = [];
  const client = new RpcClient(clientEnd, { onFault: (e) => faults.push(e) });
  return { server, client, api: client.api(), clientEnd, serverEnd, faults };
}

describe('calls', () => {
  it('calls a method and returns the validated reply', async () => {
    const { api } = connect(fakeImpl());
    await expect(api.settings.get({})).resolves.toEqual(settings);
  });

  it('refuses a request that does not match the contract, with JSON paths', async () => {
    const { client } = connect(fakeImpl({ settings: { set: () => settings } }));
    const err = (await client.call('settings', 'set', { theme: 'purple', extra: 1 }).catch((e) => e)) as IpcError;
    expect(err).toBeInstanceOf(IpcError);
    expect(err.code).toBe('BAD_REQUEST');
    expect((err.details as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual(['$', '$.theme']);
  });

  it('refuses an unknown method', async () => {
    const { client } = connect(fakeImpl());
    await expect(client.call('settings', 'format', {})).rejects.toMatchObject({ code: 'UNKNOWN_METHOD' });
  });

  it('carries errors as name, code, message and details', async () => {
    const { api } = connect(
      fakeImpl({
        experiments: {
          start: () => {
            throw Object.assign(new Error('invalid experiment plan (1 fault)'), {
              name: 'PlanError',
              code: 'PLAN_INVALID',
              details: { issues: [{ path: '$.steps[0].kind', message: 'unknown' }] },
            });
          },
        },
      }),
    );
    const err = (await api.experiments.start({ plan: {} }).catch((e) => e)) as IpcError;
    expect({ name: err.name, code: err.code, message: err.message, details: err.details }).toEqual({
      name: 'PlanError',
      code: 'PLAN_INVALID',
      message: 'invalid experiment plan (1 fault)',
      details: { issues: [{ path: '$.steps[0].kind', message: 'unknown' }] },
    });
  });

  it('a bug on the host crosses as INTERNAL', async () => {
    const { api } = connect(
      fakeImpl({
        settings: {
          get: () => {
            throw new TypeError('x is undefined');
          },
        },
      }),
    );
    await expect(api.settings.get({})).rejects.toMatchObject({ name: 'TypeError', code: 'INTERNAL' });
  });

  it('the host cannot send a reply outside the contract', async () => {
    const { api } = connect(fakeImpl({ settings: { get: () => ({ ...settings, theme: 'neon' }) as never } }));
    await expect(api.settings.get({})).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});

describe('forged payloads', () => {
  it('the server answers a malformed message with BAD_REQUEST', async () => {
    const { clientEnd } = connect(fakeImpl());
    const replies: unknown[] = [];
    clientEnd.onMessage((m) => replies.push(m));
    clientEnd.send({ t: 'call', id: 7, service: 'runs', method: 'get', request: { runId: '../../etc/passwd' } });
    clientEnd.send({ t: 'call', id: 8, service: 'runs', method: 'delete', request: 'drop table' } as never);
    clientEnd.send({ t: 'bogus', id: 9 } as never);
    await new Promise((r) => setTimeout(r, 10));
    replies.sort((a, b) => (a as { id: number }).id - (b as { id: number }).id);
    expect(replies).toMatchObject([
      { t: 'err', id: 7, error: { code: 'BAD_REQUEST', details: { issues: [{ path: '$.runId' }] } } },
      { t: 'err', id: 8, error: { code: 'BAD_REQUEST' } },
      { t: 'err', id: 9, error: { code: 'BAD_REQUEST' } },
    ]);
  });

  it('the client rejects a forged reply and drops a forged event', async () => {
    const [clientEnd, serverEnd] = memoryTransportPair();
    const faults: IpcError[] = [];
    const client = new RpcClient(clientEnd, { onFault: (e) => faults.push(e) });
    serverEnd.onMessage((m) => {
      const call = m as { id: number };
      serverEnd.send({ t: 'ok', id: call.id, value: { theme: 'dark', recentFiles: 'all of them' } });
      serverEnd.send({ t: 'event', service: 'runs', event: 'progress', data: { runId: 'a', event: { overall: 7 } } });
    });
    const events: unknown[] = [];
    client.on('runs', 'progress', (e) => events.push(e));
    await expect(client.call('settings', 'get', {})).rejects.toMatchObject({ code: 'BAD_REPLY' });
    await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual([]);
    expect(faults.map((f) => f.code)).toEqual(['BAD_REPLY']);
  });
});

describe('progress, cancellation, events, disconnects', () => {
  const opened = {
    modelId: 'm1',
    path: '/m.onnx',
    name: 'm.onnx',
    info: {
      irVersion: 8,
      opset: 17,
      opsetImports: {},
      producer: '',
      inputs: [],
      outputs: [],
      nodes: 0,
      opTypes: {},
      params: 0,
      macs: null,
      sizeBytes: 0,
      uncounted: [],
      liftedConstants: false,
      controlFlow: [],
    },
  };

  it('reports progress and returns the reply', async () => {
    const { api } = connect(
      fakeImpl({
        models: {
          open: async (_req, ctx) => {
            ctx.progress({ phase: 'reading', fraction: 0 });
            ctx.progress({ phase: 'tracing', fraction: 0.5 });
            return opened;
          },
        },
      }),
    );
    const seen: string[] = [];
    const reply = await api.models.open(
      { source: { kind: 'example', id: 'x' } },
      { onProgress: (p) => seen.push(`${p.phase}:${p.fraction}`) },
    );
    expect(reply.modelId).toBe('m1');
    expect(seen).toEqual(['reading:0', 'tracing:0.5']);
  });

  it('cancels a call: the caller gets CANCELLED and the host sees its signal abort', async () => {
    let aborted = false;
    const { api } = connect(
      fakeImpl({
        models: {
          open: (_req, ctx) =>
            new Promise((_res, rej) =>
              ctx.signal.addEventListener('abort', () => {
                aborted = true;
                rej(new Error('stopped'));
              }),
            ),
        },
      }),
    );
    const controller = new AbortController();
    const call = api.models.open({ source: { kind: 'example', id: 'x' } }, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: 'CANCELLED' });
    await new Promise((r) => setTimeout(r, 5));
    expect(aborted).toBe(true);
  });

  it('delivers validated events to listeners until they unsubscribe', async () => {
    const { server, api } = connect(fakeImpl());
    const got: string[] = [];
    const off = api.runs.on('status', (e) => got.push(`${e.runId}:${e.status}`));
    server.emit('runs', 'status', { runId: 'abc1', status: 'running', error: null });
    await new Promise((r) => setTimeout(r, 5));
    off();
    server.emit('runs', 'status', { runId: 'abc1', status: 'succeeded', error: null });
    await new Promise((r) => setTimeout(r, 5));
    expect(got).toEqual(['abc1:running']);
    expect(() => server.emit('runs', 'status', { runId: 'abc1', status: 'exploded' })).toThrow();
  });

  it('a lost connection rejects pending calls with DISCONNECTED and aborts them on the host', async () => {
    let aborted = false;
    const { api, clientEnd } = connect(
      fakeImpl({
        models: {
          open: (_r, ctx) =>
            new Promise((_res, rej) =>
              ctx.signal.addEventListener('abort', () => ((aborted = true), rej(new Error('x')))),
            ),
        },
      }),
    );
    const call = api.models.open({ source: { kind: 'example', id: 'x' } });
    await new Promise((r) => setTimeout(r, 5));
    clientEnd.close('network down');
    await expect(call).rejects.toMatchObject({ code: 'DISCONNECTED' });
    expect(aborted).toBe(true);
    await expect(api.settings.get({})).rejects.toMatchObject({ code: 'DISCONNECTED' });
  });
});

describe('codec', () => {
  it('round-trips bytes through JSON', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 256);
    const back = decodeWire(
      encodeWire({
        t: 'call',
        id: 1,
        service: 'models',
        method: 'open',
        request: { source: { kind: 'bytes', name: 'a.onnx', bytes } },
      }),
    ) as { request: { source: { bytes: Uint8Array } } };
    expect(back.request.source.bytes).toEqual(bytes);
    for (const n of [0, 1, 2, 3, 4, 5])
      expect(fromBase64(toBase64(bytes.subarray(0, n)))).toEqual(bytes.subarray(0, n));
    expect(toBase64(new TextEncoder().encode('Man'))).toBe('TWFu');
  });
});
