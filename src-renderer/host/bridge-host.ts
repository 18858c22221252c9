/**
 * @file The Electron shell's host: the services the preload exposes on `window.studio`, adapted so that abort
 * signals cross the context bridge as plain objects and rejections (plain `{ name, code, message, details }`
 * objects there) come back as `IpcError`s. Imports src-shared only.
 */
import { CONTRACT, type CallOptions, type StudioApi } from '../../src-shared/ipc/contract.ts';
import { asIpcError } from '../../src-shared/ipc/errors.ts';
import { alwaysOpen, type Host } from './host.ts';

type Fn = (request: unknown, options?: CallOptions) => Promise<unknown>;

/** A signal as a plain object with functions (the only shape Electron's bridge proxies faithfully). */
function plainSignal(signal: CallOptions['signal']): CallOptions['signal'] {
  if (!signal) return undefined;
  return {
    get aborted() {
      return signal.aborted;
    },
    addEventListener: (type, listener) => signal.addEventListener(type, listener),
  };
}

/**
 * Wraps the preload's API.
 *
 * @example if (window.studio) setHost(createBridgeHost(window.studio));
 */
export function createBridgeHost(bridge: StudioApi): Host {
  const api: Record<string, Record<string, unknown>> = {};
  for (const [service, spec] of Object.entries(CONTRACT)) {
    const remote = bridge[service as keyof StudioApi] as unknown as Record<string, Fn> & {
      on: StudioApi['runs']['on'];
    };
    const local: Record<string, unknown> = { on: (event: never, listener: never) => remote.on(event, listener) };
    for (const name of Object.keys(spec.methods)) {
      local[name] = (request: unknown, options: CallOptions = {}) =>
        remote[name]!(request, { onProgress: options.onProgress, signal: plainSignal(options.signal) }).catch(
          (e: unknown) => {
            throw asIpcError(e);
          },
        );
    }
    api[service] = local;
  }
  return { api: api as unknown as StudioApi, connection: alwaysOpen() };
}
