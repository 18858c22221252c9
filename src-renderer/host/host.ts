/**
 * @file The renderer's view of the host: the contract's API plus the state of the connection to it. Two
 * implementations — the Electron preload's bridge and the browser mode's WebSocket — and the holder the setup
 * stores read it from (the stores are the only callers of the API). Imports src-shared only.
 */
import type { StudioApi, Unsubscribe } from '../../src-shared/ipc/contract.ts';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting';

export interface HostConnection {
  readonly state: ConnectionState;
  /** Called on every state change; `reconnected` is true when a lost connection came back (time to resync). */
  onState(listener: (state: ConnectionState, info: { reconnected: boolean; reason?: string }) => void): Unsubscribe;
}

/** A file the user dropped or picked: a Blob with a name (a DOM `File`). */
export interface PickedFile {
  readonly name: string;
  readonly size: number;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export interface Host {
  api: StudioApi;
  connection: HostConnection;
  /**
   * Streams a picked file to the host and answers where it was saved (the browser mode's POST /upload: no size
   * limit of a WebSocket message, the bytes never held in page memory). Absent where files travel as bytes (Electron).
   */
  upload?(file: PickedFile, opts?: { signal?: AbortSignal }): Promise<{ path: string; size: number }>;
}

let current: Host | null = null;

/** Installs the host (main.ts at start-up; tests install a fake one). */
export function setHost(host: Host): void {
  current = host;
}

/** The installed host. Only setup stores call this. */
export function useHost(): Host {
  if (!current) throw new Error('no host installed: call setHost() before using the stores');
  return current;
}

/** A connection that is always open (Electron's IPC, fakes). */
export function alwaysOpen(): HostConnection {
  return { state: 'open', onState: () => () => undefined };
}
