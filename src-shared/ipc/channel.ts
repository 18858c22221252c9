/** @file Names the Electron shell and its preload share: the one IPC channel and the app's origin. Pure constants. */

/** The single Electron IPC channel the contract's wire messages travel on (both directions). */
export const CHANNEL = 'studio:rpc';

/** The origin the renderer is loaded from in Electron (a custom, privileged scheme; never http). */
export const ELECTRON_ORIGIN = 'studio://app';
