/**
 * @file The contract's wire over a WebSocket (the `ws` package): JSON text frames with bytes as base64, a ping
 * every 15 s, and a dead peer closed so its calls are aborted. Imports ws and src-shared only.
 */
import { WebSocket } from 'ws';
import {
  decodeWire,
  disconnectedError,
  encodeWire,
  type Transport,
  type WireMessage,
} from '../../../src-shared/ipc/rpc.ts';

const PING_MS = 15_000;

/**
 * A transport over one server-side WebSocket.
 *
 * @example server.connect(webSocketTransport(socket), { id: 'ws-1', kind: 'websocket' });
 */
export function webSocketTransport(socket: WebSocket): Transport {
  let alive = true;
  const timer = setInterval(() => {
    if (!alive) return socket.terminate();
    alive = false;
    socket.ping();
  }, PING_MS);
  timer.unref();
  socket.on('pong', () => (alive = true));
  // A protocol fault (an oversized or malformed frame): ws has already sent the close code (1009, 1002 …); without
  // this listener the 'error' event would be thrown and take the whole host down with it.
  socket.on('error', () => socket.terminate());
  socket.on('close', () => clearInterval(timer));
  return {
    send(message: WireMessage) {
      if (socket.readyState !== WebSocket.OPEN) throw disconnectedError('the WebSocket is closed');
      socket.send(encodeWire(message));
    },
    onMessage(listener) {
      const on = (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        let msg: unknown = null;
        try {
          msg = isBinary
            ? null
            : decodeWire(
                Buffer.isBuffer(data)
                  ? data.toString('utf8')
                  : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]).toString('utf8'),
              );
        } catch {
          msg = null; // not JSON: the server answers or drops it as a malformed message
        }
        listener(msg);
      };
      socket.on('message', on);
      return () => void socket.off('message', on);
    },
    onClose(listener) {
      const on = (code: number) => listener(`the WebSocket closed (${code})`);
      socket.on('close', on);
      return () => void socket.off('close', on);
    },
  };
}
