/** @file Names the Electron shell and its preload share: the one IPC channel and the app's origin. Pure constants. */

/** The single Electron IPC channel the contract's wire messages travel on (both directions). */
export const CHANNEL = 'studio:rpc';

/** The origin the renderer is loaded from in Electron (a custom, privileged scheme; never http). */
export const ELECTRON_ORIGIN = 'studio://app';

/**
 * `scheme://host` of a URL. (The WHATWG `origin` of a custom scheme is "null" outside a browser that registered
 * it as standard, so the app's origin is compared by scheme and host.)
 *
 * @example urlOrigin('studio://app/index.html#/runs') // 'studio://app'
 */
export function urlOrigin(url: string): string | null {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return null;
  }
}
