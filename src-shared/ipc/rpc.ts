/**
 * @file The wire under the contract: messages (call, cancel, progress, ok, err, event) validated with zod, a
 * transport interface, the server that dispatches calls to service implementations and broadcasts events, the
 * client that turns the contract into async functions, an in-memory transport pair for tests, and a JSON codec
 * that carries bytes. Pure TypeScript: imports only zod and src-shared.
 */
import { z } from 'zod';
import { planPath } from '../experiment.ts';
import {
  CONTRACT,
  eventSpec,
  methodSpec,
  type CallOptions,
  type ContractSpec,
  type PeerInfo,
  type ServiceName,
  type StudioApi,
  type StudioImpl,
  type Unsubscribe,
} from './contract.ts';
import {
  IPC_CODES,
  IpcError,
  serializedErrorSchema,
  toSerializedError,
  unknownMethodError,
  type SerializedError,
} from './errors.ts';
import { Listeners } from './listeners.ts';

export const WIRE_VERSION = 1;

const id = z.int().positive();
export const wireMessageSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('call'), id, service: z.string().max(64), method: z.string().max(64), request: z.unknown() }),
  z.object({ t: z.literal('cancel'), id }),
  z.object({ t: z.literal('progress'), id, data: z.unknown() }),
  z.object({ t: z.literal('ok'), id, value: z.unknown() }),
  z.object({ t: z.literal('err'), id, error: serializedErrorSchema }),
  z.object({ t: z.literal('event'), service: z.string(), event: z.string(), data: z.unknown() }),
]);
export type WireMessage = z.infer<typeof wireMessageSchema>;

/** A bidirectional message channel (Electron IPC, a WebSocket, an in-memory pair). */
export interface Transport {
  /** Sends one message; throws an `IpcError` with code DISCONNECTED when the channel is closed. */
  send(message: WireMessage): void;
  onMessage(listener: (message: unknown) => void): Unsubscribe;
  onClose(listener: (reason: string) => void): Unsubscribe;
}

export function disconnectedError(reason = 'the connection to the host was lost'): IpcError {
  return new IpcError({ name: 'ConnectionError', code: IPC_CODES.disconnected, message: reason });
}

export function cancelledError(message = 'cancelled'): IpcError {
  return new IpcError({ name: 'CancelledError', code: IPC_CODES.cancelled, message });
}

/** zod issues → `{ path, message }` with JSON paths rooted at `root`. */
export function zodIssues(error: z.ZodError, root = '$'): { path: string; message: string }[] {
  return error.issues.map((i) => ({ path: planPath(i.path as PropertyKey[], root), message: i.message }));
}

function badPayload(code: string, what: string, error: z.ZodError): IpcError {
  const issues = zodIssues(error);
  return new IpcError({
    name: 'IpcValidationError',
    code,
    message: `${what}: ${issues
      .slice(0, 3)
      .map((i) => `${i.path}: ${i.message}`)
      .join('; ')}${issues.length > 3 ? ` (+${issues.length - 3} more)` : ''}`,
    details: { issues },
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Server

export interface Connection {
  transport: Transport;
  peer: PeerInfo;
  calls: Map<number, AbortController>;
}

export interface RpcServerOptions {
  /** Called for faults that cannot be answered (a malformed message without an id, a failing send). */
  onFault?: (message: string, peer: PeerInfo) => void;
}

/**
 * Dispatches calls arriving on any connected transport to the service implementations. Requests are validated
 * against the contract before the implementation sees them; replies and events are validated before they leave.
 *
 * @example
 * const server = new RpcServer(impl);
 * const detach = server.connect(transport, { id: 'ws-1', kind: 'websocket' });
 * server.emit('runs', 'progress', { runId, event });
 */
export class RpcServer {
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly impl: StudioImpl,
    private readonly options: RpcServerOptions = {},
  ) {}

  /** Serves one transport until it closes; returns a function that detaches it. */
  connect(transport: Transport, peer: PeerInfo): () => void {
    const conn: Connection = { transport, peer, calls: new Map() };
    this.connections.add(conn);
    const offMessage = transport.onMessage((raw) => void this.receive(conn, raw));
    const detach = () => {
      offMessage();
      offClose();
      for (const c of conn.calls.values()) c.abort();
      conn.calls.clear();
      this.connections.delete(conn);
    };
    const offClose = transport.onClose(detach);
    return detach;
  }

  /** Peers connected now. */
  get peerCount(): number {
    return this.connections.size;
  }

  /** Broadcasts an event to every connected peer (validated against the contract first). */
  emit<S extends ServiceName>(service: S, event: keyof (typeof CONTRACT)[S]['events'] & string, data: unknown): void {
    const schema = eventSpec(service, event);
    if (!schema) throw unknownMethodError(service, event);
    const payload = schema.parse(data);
    for (const conn of this.connections) this.send(conn, { t: 'event', service, event, data: payload });
  }

  /** Handles one raw message (also used by the HTTP transport for one-shot calls). */
  async receive(conn: Connection, raw: unknown): Promise<void> {
    const parsed = wireMessageSchema.safeParse(raw);
    if (!parsed.success) {
      const rawId = (raw as { id?: unknown } | null)?.id;
      if (typeof rawId === 'number' && Number.isInteger(rawId) && rawId > 0)
        this.send(conn, {
          t: 'err',
          id: rawId,
          error: toSerializedError(badPayload(IPC_CODES.badRequest, 'malformed message', parsed.error)),
        });
      else this.options.onFault?.(`malformed message dropped: ${zodIssues(parsed.error)[0]?.message ?? ''}`, conn.peer);
      return;
    }
    const msg = parsed.data;
    if (msg.t === 'cancel') return void conn.calls.get(msg.id)?.abort();
    if (msg.t !== 'call') return this.options.onFault?.(`unexpected "${msg.t}" message from a client`, conn.peer);
    if (conn.calls.has(msg.id))
      return this.send(conn, {
        t: 'err',
        id: msg.id,
        error: toSerializedError(
          new IpcError({
            name: 'IpcError',
            code: IPC_CODES.badRequest,
            message: `call id ${msg.id} is already in use`,
          }),
        ),
      });
    const controller = new AbortController();
    conn.calls.set(msg.id, controller);
    try {
      const value = await this.dispatch(msg.service, msg.method, msg.request, controller.signal, conn, msg.id);
      if (!controller.signal.aborted) this.send(conn, { t: 'ok', id: msg.id, value });
    } catch (e) {
      const error =
        controller.signal.aborted && !(e instanceof IpcError)
          ? toSerializedError(cancelledError())
          : toSerializedError(e);
      this.send(conn, { t: 'err', id: msg.id, error });
    } finally {
      conn.calls.delete(msg.id);
    }
  }

  private async dispatch(
    service: string,
    name: string,
    request: unknown,
    signal: AbortSignal,
    conn: Connection,
    callId: number,
  ): Promise<unknown> {
    const spec = methodSpec(service, name);
    const fn = spec
      ? (this.impl as unknown as Record<string, Record<string, (r: unknown, c: unknown) => unknown>>)[service]?.[name]
      : undefined;
    if (!spec || !fn) throw unknownMethodError(service, name);
    const req = spec.request.safeParse(request);
    if (!req.success) throw badPayload(IPC_CODES.badRequest, `invalid request to ${service}.${name}`, req.error);
    const progress = (update: unknown) => {
      if (!spec.progress || signal.aborted) return;
      this.send(conn, { t: 'progress', id: callId, data: spec.progress.parse(update) });
    };
    const value = await fn.call((this.impl as unknown as Record<string, object>)[service], req.data, {
      signal,
      progress,
      peer: conn.peer,
    });
    const reply = spec.reply.safeParse(value);
    if (!reply.success)
      throw badPayload(IPC_CODES.internal, `the host produced an invalid reply for ${service}.${name}`, reply.error);
    return reply.data;
  }

  private send(conn: Connection, msg: WireMessage): void {
    try {
      conn.transport.send(msg);
    } catch (e) {
      this.options.onFault?.(`could not send to ${conn.peer.id}: ${(e as Error).message}`, conn.peer);
    }
  }
}

/** A one-shot connection for a transport that answers a single call (HTTP POST). */
export function oneShotConnection(peer: PeerInfo, reply: (msg: WireMessage) => void): Connection {
  return {
    peer,
    calls: new Map(),
    transport: { send: reply, onMessage: () => () => undefined, onClose: () => () => undefined },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Client

interface PendingCall {
  resolve(value: unknown): void;
  reject(error: IpcError): void;
  onProgress?: (p: unknown) => void;
  service: string;
  method: string;
}

export interface RpcClientOptions {
  /** Called when an event or reply arrives that does not match the contract (it is dropped / rejected). */
  onFault?: (error: IpcError) => void;
}

/**
 * Calls the host over a transport. Replies, progress and events are validated against the contract on receipt:
 * a forged or malformed payload rejects the call with `BAD_REPLY` (or drops the event) instead of reaching the UI.
 *
 * @example
 * const api = new RpcClient(transport).api();
 * const runs = await api.runs.list({ sort: 'created', order: 'desc' });
 */
export class RpcClient {
  private nextId = 1;
  private readonly pending = new Map<number, PendingCall>();
  private readonly listeners = new Map<string, Set<(data: unknown) => void>>();
  private readonly offs: Unsubscribe[];

  constructor(
    private readonly transport: Transport,
    private readonly options: RpcClientOptions = {},
  ) {
    this.offs = [
      transport.onMessage((raw) => this.receive(raw)),
      transport.onClose((reason) => this.failAll(disconnectedError(reason || undefined))),
    ];
  }

  /** Calls `service.method`; rejects with an `IpcError` carrying the remote name, code and details. */
  call(service: string, method: string, request: unknown, options: CallOptions = {}): Promise<unknown> {
    const spec = methodSpec(service, method);
    if (!spec) return Promise.reject(unknownMethodError(service, method));
    if (options.signal?.aborted) return Promise.reject(cancelledError());
    const callId = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      this.pending.set(callId, { resolve, reject, onProgress: options.onProgress, service, method });
      options.signal?.addEventListener('abort', () => {
        if (!this.pending.delete(callId)) return;
        reject(cancelledError());
        try {
          this.transport.send({ t: 'cancel', id: callId });
        } catch {
          /* the connection is gone; the host aborts the call itself */
        }
      });
      try {
        this.transport.send({ t: 'call', id: callId, service, method, request });
      } catch (e) {
        this.pending.delete(callId);
        reject(e instanceof IpcError ? e : disconnectedError((e as Error).message));
      }
    });
  }

  /** Listens to a contract event; returns the unsubscribe function. */
  on(service: string, event: string, listener: (data: unknown) => void): Unsubscribe {
    if (!eventSpec(service, event)) throw unknownMethodError(service, event);
    const key = `${service}.${event}`;
    if (!this.listeners.has(key)) this.listeners.set(key, new Set());
    this.listeners.get(key)!.add(listener);
    return () => void this.listeners.get(key)?.delete(listener);
  }

  /** The typed API: one object per service with one function per method, plus `on`. */
  api(): StudioApi {
    return buildApi(
      (s, m, r, o) => this.call(s, m, r, o),
      (s, e, l) => this.on(s, e, l),
    );
  }

  /** Rejects pending calls and stops listening to the transport. */
  dispose(reason = 'the client was closed'): void {
    for (const off of this.offs) off();
    this.failAll(disconnectedError(reason));
  }

  private failAll(error: IpcError): void {
    const calls = [...this.pending.values()];
    this.pending.clear();
    for (const c of calls) c.reject(error);
  }

  private receive(raw: unknown): void {
    const parsed = wireMessageSchema.safeParse(raw);
    if (!parsed.success)
      return this.fault(badPayload(IPC_CODES.badReply, 'malformed message from the host', parsed.error));
    const msg = parsed.data;
    if (msg.t === 'event') return this.deliver(msg.service, msg.event, msg.data);
    if (msg.t === 'call' || msg.t === 'cancel')
      return this.fault(
        new IpcError({
          name: 'IpcError',
          code: IPC_CODES.badReply,
          message: `unexpected "${msg.t}" message from the host`,
        }),
      );
    const call = this.pending.get(msg.id);
    if (!call) return;
    const spec = methodSpec(call.service, call.method)!;
    if (msg.t === 'progress') {
      const p = spec.progress?.safeParse(msg.data);
      if (p?.success) call.onProgress?.(p.data);
      return;
    }
    this.pending.delete(msg.id);
    if (msg.t === 'err') return call.reject(new IpcError(msg.error));
    const reply = spec.reply.safeParse(msg.value);
    if (reply.success) call.resolve(reply.data);
    else call.reject(badPayload(IPC_CODES.badReply, `invalid reply from ${call.service}.${call.method}`, reply.error));
  }

  private deliver(service: string, event: string, data: unknown): void {
    const schema = eventSpec(service, event);
    if (!schema)
      return this.fault(
        new IpcError({ name: 'IpcError', code: IPC_CODES.badReply, message: `unknown event ${service}.${event}` }),
      );
    const parsed = schema.safeParse(data);
    if (!parsed.success)
      return this.fault(badPayload(IPC_CODES.badReply, `invalid ${service}.${event} event`, parsed.error));
    for (const l of [...(this.listeners.get(`${service}.${event}`) ?? [])]) {
      try {
        l(parsed.data);
      } catch (e) {
        this.fault(new IpcError(toSerializedError(e)));
      }
    }
  }

  private fault(error: IpcError): void {
    this.options.onFault?.(error);
  }
}

type CallFn = (service: string, method: string, request: unknown, options?: CallOptions) => Promise<unknown>;
type OnFn = (service: string, event: string, listener: (data: unknown) => void) => Unsubscribe;

/**
 * Builds the `StudioApi` object tree from the contract over a `call` and an `on` function (plain objects and
 * functions only, so it can cross Electron's context bridge).
 */
export function buildApi(call: CallFn, on: OnFn): StudioApi {
  const api: Record<string, Record<string, unknown>> = {};
  for (const [service, spec] of Object.entries(CONTRACT as ContractSpec)) {
    const s: Record<string, unknown> = {};
    for (const name of Object.keys(spec.methods))
      s[name] = (request: unknown, options?: CallOptions) => call(service, name, request, options);
    s.on = (event: string, listener: (data: unknown) => void) => on(service, event, listener);
    api[service] = s;
  }
  return api as unknown as StudioApi;
}

// ---------------------------------------------------------------------------------------------------------------
// In-memory transports and the JSON codec

/** A closable transport end. */
export interface ClosableTransport extends Transport {
  close(reason?: string): void;
  readonly closed: boolean;
}

/**
 * Two connected transports (messages are structured-cloned, delivered asynchronously), for tests and for
 * wiring a host and a client in one process.
 *
 * @example const [clientEnd, serverEnd] = memoryTransportPair();
 */
export function memoryTransportPair(): [ClosableTransport, ClosableTransport] {
  const a = new MemoryEnd();
  const b = new MemoryEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

class MemoryEnd implements ClosableTransport {
  peer: MemoryEnd | null = null;
  private readonly messages = new Listeners<[message: unknown]>();
  private readonly closes = new Listeners<[reason: string]>();
  private isClosed = false;

  get closed(): boolean {
    return this.isClosed;
  }

  send(message: WireMessage): void {
    if (this.isClosed) throw disconnectedError();
    const copy = structuredClone(message);
    const target = this.peer!;
    queueMicrotask(() => {
      if (!target.isClosed) target.messages.emit(copy);
    });
  }

  onMessage(l: (m: unknown) => void): Unsubscribe {
    return this.messages.add(l);
  }

  onClose(l: (r: string) => void): Unsubscribe {
    return this.closes.add(l);
  }

  close(reason = 'closed'): void {
    this.markClosed(reason);
    this.peer?.markClosed(reason);
  }

  private markClosed(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closes.emit(reason);
  }
}

const BYTES_KEY = '__bytes$';

/**
 * Encodes a wire message as JSON text; `Uint8Array` values travel as base64 (`{"__bytes$": "…"}`).
 *
 * @example decodeWire(encodeWire({ t: 'ok', id: 1, value: new Uint8Array([1, 2]) })).value // Uint8Array [1, 2]
 */
export function encodeWire(message: unknown): string {
  return JSON.stringify(message, (_key, value: unknown) =>
    value instanceof Uint8Array ? { [BYTES_KEY]: toBase64(value) } : value,
  );
}

/** Parses JSON text from the wire (bytes restored); throws on invalid JSON. */
export function decodeWire(text: string): unknown {
  return JSON.parse(text, (_key, value: unknown) => {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (
        keys.length === 1 &&
        keys[0] === BYTES_KEY &&
        typeof (value as Record<string, unknown>)[BYTES_KEY] === 'string'
      )
        return fromBase64((value as Record<string, string>)[BYTES_KEY]!);
    }
    return value;
  });
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** Base64 without Node's Buffer or the DOM's btoa (both sides share it). */
export function toBase64(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out +=
      B64[(n >> 18) & 63]! +
      B64[(n >> 12) & 63]! +
      (i + 1 < bytes.length ? B64[(n >> 6) & 63]! : '=') +
      (i + 2 < bytes.length ? B64[n & 63]! : '=');
  }
  return out;
}

export function fromBase64(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let o = 0;
  for (let i = 0; i < clean.length; i += 4) {
    const n =
      ((B64_INDEX.get(clean[i]!) ?? 0) << 18) |
      ((B64_INDEX.get(clean[i + 1]!) ?? 0) << 12) |
      ((B64_INDEX.get(clean[i + 2]!) ?? 0) << 6) |
      (B64_INDEX.get(clean[i + 3]!) ?? 0);
    if (o < out.length) out[o++] = (n >> 16) & 255;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

export type { SerializedError };
