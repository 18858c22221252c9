/**
 * @file The contract's wire over Electron IPC, both ends: the main side listens on one channel and accepts messages
 * only from the window's own main frame loaded from the app's origin (VS Code's sender validation); the preload
 * side sends and receives on that channel. Structural types only, so the wiring is testable without Electron
 * (imports Electron's types, never its runtime).
 */
import type { IpcMainEvent, IpcRendererEvent } from 'electron';
import { CHANNEL, ELECTRON_ORIGIN, urlOrigin } from '../../src-shared/ipc/channel.ts';
import { disconnectedError, type Transport, type WireMessage } from '../../src-shared/ipc/rpc.ts';
import { Listeners } from '../../src-shared/ipc/listeners.ts';

/** The parts of `ipcMain` the main side uses. */
export interface IpcMainLike {
  on(
    channel: string,
    listener: (event: Pick<IpcMainEvent, 'sender' | 'senderFrame'>, message: unknown) => void,
  ): unknown;
  removeListener(channel: string, listener: (...args: any[]) => void): unknown;
}

/** The parts of a window's `webContents` the main side uses. */
export interface WebContentsLike {
  send(channel: string, message: unknown): void;
  isDestroyed(): boolean;
  once(event: 'destroyed', listener: () => void): unknown;
  readonly mainFrame: unknown;
}

/** The parts of `ipcRenderer` the preload uses. */
export interface IpcRendererLike {
  send(channel: string, message: unknown): void;
  on(channel: string, listener: (event: IpcRendererEvent | unknown, message: unknown) => void): unknown;
  removeListener(channel: string, listener: (...args: any[]) => void): unknown;
}

/**
 * Whether an IPC message comes from the window's own top frame showing the app: not from another window, an
 * iframe, or a page the window was navigated to.
 */
export function isTrustedSender(
  event: Pick<IpcMainEvent, 'sender' | 'senderFrame'>,
  contents: WebContentsLike,
): boolean {
  if ((event.sender as unknown) !== contents) return false;
  const frame = event.senderFrame;
  if (!frame || (frame as unknown) !== contents.mainFrame) return false;
  return urlOrigin(frame.url) === ELECTRON_ORIGIN;
}

/**
 * The main side of one window: a transport to connect to the host's `RpcServer`. Messages from untrusted senders
 * are dropped and reported through `onRejected`.
 *
 * @example host.server.connect(mainTransport(ipcMain, win.webContents), { id: `window-${win.id}`, kind: 'electron' });
 */
export function mainTransport(
  ipc: IpcMainLike,
  contents: WebContentsLike,
  onRejected: (why: string) => void = () => undefined,
): Transport {
  const messages = new Listeners<[message: unknown]>();
  const closes = new Listeners<[reason: string]>();
  let closed = false;
  const receive = (event: Pick<IpcMainEvent, 'sender' | 'senderFrame'>, message: unknown) => {
    if ((event.sender as unknown) !== contents) return; // another window's traffic, for its own transport
    if (!isTrustedSender(event, contents))
      return onRejected(`IPC from an untrusted frame (${event.senderFrame?.url ?? 'unknown'}) was dropped`);
    messages.emit(message);
  };
  ipc.on(CHANNEL, receive);
  contents.once('destroyed', () => {
    closed = true;
    ipc.removeListener(CHANNEL, receive);
    closes.emit('the window was closed');
  });
  return {
    send(message: WireMessage) {
      if (closed || contents.isDestroyed()) throw disconnectedError('the window is closed');
      contents.send(CHANNEL, message);
    },
    onMessage: (l) => messages.add(l),
    onClose: (l) => closes.add(l),
  };
}

/** The preload side: messages to and from the main process on the one channel. */
export function rendererTransport(ipc: IpcRendererLike): Transport {
  return {
    send(message: WireMessage) {
      ipc.send(CHANNEL, message);
    },
    onMessage(l) {
      const on = (_event: unknown, message: unknown) => l(message);
      ipc.on(CHANNEL, on);
      return () => void ipc.removeListener(CHANNEL, on);
    },
    // The renderer lives exactly as long as its window: the channel never closes under it.
    onClose: () => () => undefined,
  };
}
