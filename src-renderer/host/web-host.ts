/**
 * @file The browser mode's host: the contract over a WebSocket to 127.0.0.1 with the session token, reconnecting
 * with backoff when the connection drops. Calls made while it is down wait (up to a limit) for it to come back;
 * calls in flight when it drops fail with DISCONNECTED. Imports src-shared only.
 */
import type { CallOptions, Unsubscribe } from '../../src-shared/ipc/contract.ts';
import {
  buildApi,
  decodeWire,
  disconnectedError,
  encodeWire,
  RpcClient,
  type Transport,
  type WireMessage,
} from '../../src-shared/ipc/rpc.ts';
import { Listeners } from '../../src-shared/ipc/listeners.ts';
import { IpcError, type SerializedError } from '../../src-shared/ipc/errors.ts';
import type { ConnectionState, Host, HostConnection } from './host.ts';

const BACKOFF_MS = [200, 500, 1000, 2000, 4000];
const WAIT_FOR_OPEN_MS = 15_000;

class ReconnectingSocket implements Transport, HostConnection {
  state: ConnectionState = 'connecting';
  private ws: WebSocket | null = null;
  private attempt = 0;
  private everOpened = false;
  private readonly messages = new Listeners<[message: unknown]>();
  private readonly closes = new Listeners<[reason: string]>();
  private readonly states = new Listeners<[state: ConnectionState, info: { reconnected: boolean; reason?: string }]>();
  private openWaiters: (() => void)[] = [];

  constructor(private readonly url: string) {
    this.connect();
  }

  send(message: WireMessage): void {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw disconnectedError('not connected to the host');
    this.ws.send(encodeWire(message));
  }

  onMessage(l: (m: unknown) => void): Unsubscribe {
    return this.messages.add(l);
  }

  onClose(l: (r: string) => void): Unsubscribe {
    return this.closes.add(l);
  }

  onState(l: (s: ConnectionState, info: { reconnected: boolean; reason?: string }) => void): Unsubscribe {
    return this.states.add(l);
  }

  /** Resolves when the socket is open; rejects with DISCONNECTED after `ms`. */
  whenOpen(ms = WAIT_FOR_OPEN_MS): Promise<void> {
    if (this.state === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.openWaiters = this.openWaiters.filter((w) => w !== done);
        reject(disconnectedError('the host is not reachable; is `studio web` still running?'));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.openWaiters.push(done);
    });
  }

  private setState(state: ConnectionState, info: { reconnected: boolean; reason?: string }): void {
    this.state = state;
    this.states.emit(state, info);
  }

  private connect(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.setState('open', { reconnected });
      const waiters = this.openWaiters;
      this.openWaiters = [];
      for (const w of waiters) w();
    };
    ws.onmessage = (e: MessageEvent) => {
      let msg: unknown = null;
      try {
        msg = decodeWire(String(e.data));
      } catch {
        msg = null;
      }
      this.messages.emit(msg);
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const reason = e.code === 1006 ? 'the connection to the host was lost' : `the connection closed (${e.code})`;
      this.closes.emit(reason);
      this.setState(this.everOpened ? 'reconnecting' : 'connecting', { reconnected: false, reason });
      const delay = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]!;
      setTimeout(() => this.connect(), delay);
    };
  }
}

/**
 * The host of the browser mode, connected to `/ws` of the page's own origin. The token comes from the page URL
 * (the host's cookie covers reloads without it).
 *
 * @example setHost(createWebHost(window.location));
 */
export function createWebHost(location: { protocol: string; host: string; search: string }): Host {
  const token = new URLSearchParams(location.search).get('token');
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new ReconnectingSocket(
    `${scheme}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ''}`,
  );
  const client = new RpcClient(socket, {
    onFault: (e) => console.warn(`ignored a payload from the host: ${e.message}`),
  });
  const api = buildApi(
    async (service: string, method: string, request: unknown, options?: CallOptions) => {
      await socket.whenOpen();
      return client.call(service, method, request, options);
    },
    (service, event, listener) => client.on(service, event, listener),
  );
  const upload: Host['upload'] = async (file, opts) => {
    const query = `name=${encodeURIComponent(file.name)}${token ? `&token=${encodeURIComponent(token)}` : ''}`;
    let res: Response;
    try {
      res = await fetch(`/upload?${query}`, {
        method: 'POST',
        body: file instanceof Blob ? file : await file.arrayBuffer(),
        signal: opts?.signal,
      });
    } catch (e) {
      if ((e as Error).name === 'AbortError')
        throw new IpcError({ name: 'AbortError', code: 'CANCELLED', message: 'cancelled' });
      throw disconnectedError(`the upload of ${file.name} failed: ${(e as Error).message}`);
    }
    const reply = (await res.json().catch(() => null)) as
      { ok: true; path: string; size: number } | { ok: false; error: SerializedError } | null;
    if (reply?.ok) return { path: reply.path, size: reply.size };
    throw new IpcError(
      reply?.error ?? {
        name: 'UploadError',
        code: 'UPLOAD_FAILED',
        message: `the host answered ${res.status} to the upload`,
      },
    );
  };
  return { api, connection: socket, upload };
}
