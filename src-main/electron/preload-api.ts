/**
 * @file What the preload exposes to the renderer: exactly the contract's services (one object per service, one
 * function per method, plus `on` for its events), built over the IPC channel. Rejections cross the context bridge
 * as plain `{ name, code, message, details }` objects (the bridge would strip an Error's own fields). No Electron
 * runtime import, so it is testable; preload.ts hands it `ipcRenderer`.
 */
import { CONTRACT, type CallOptions, type StudioApi } from '../../src-shared/ipc/contract.ts';
import { toSerializedError } from '../../src-shared/ipc/errors.ts';
import { RpcClient } from '../../src-shared/ipc/rpc.ts';
import { rendererTransport, type IpcRendererLike } from './ipc.ts';

/**
 * The API object for `contextBridge.exposeInMainWorld('studio', …)`.
 *
 * @example contextBridge.exposeInMainWorld('studio', createPreloadApi(ipcRenderer));
 */
export function createPreloadApi(ipc: IpcRendererLike): StudioApi {
  const client = new RpcClient(rendererTransport(ipc));
  const api: Record<string, Record<string, unknown>> = {};
  for (const [service, spec] of Object.entries(CONTRACT)) {
    const s: Record<string, unknown> = {};
    for (const method of Object.keys(spec.methods)) {
      s[method] = (request: unknown, options?: CallOptions) =>
        client
          .call(service, method, request, { onProgress: options?.onProgress, signal: options?.signal })
          .catch((e: unknown) => {
            throw toSerializedError(e);
          });
    }
    s.on = (event: string, listener: (data: unknown) => void) => client.on(service, event, listener);
    api[service] = Object.freeze(s);
  }
  return Object.freeze(api) as unknown as StudioApi;
}
