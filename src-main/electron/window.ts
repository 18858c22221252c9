/**
 * @file The main window's security settings and guards: context isolation, the sandbox, no Node in the renderer,
 * web security on; navigation, new windows, webviews and permission requests refused; the CSP on every response
 * of the app's scheme. Imports Electron's types only (main.ts applies them), so tests can check them.
 */
import type { BrowserWindowConstructorOptions, Event as ElectronEvent, WebContents } from 'electron';
import { ELECTRON_ORIGIN, urlOrigin } from '../../src-shared/ipc/channel.ts';
import { contentSecurityPolicy } from '../node/host/csp.ts';

/** The app's scheme (`studio://app/…`), served from the built renderer. */
export const APP_SCHEME = new URL(ELECTRON_ORIGIN).protocol.replace(':', '');
export const APP_URL = `${ELECTRON_ORIGIN}/index.html`;
export const RENDERER_CSP = contentSecurityPolicy();

/** Options of the main window. */
export function windowOptions(preload: string): BrowserWindowConstructorOptions {
  return {
    width: 1440,
    height: 920,
    minWidth: 960,
    minHeight: 640,
    title: 'Compression Studio',
    show: false,
    backgroundColor: '#f4f5f8',
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  };
}

/** The part of `WebContents` the guards touch. */
export type GuardedContents = Pick<WebContents, 'on' | 'setWindowOpenHandler' | 'session'>;

/**
 * Refuses everything a page could use to leave the app: navigation away from the app's origin (a dropped file
 * or a link), new windows (https links go to the system browser through `openExternal`), webviews, and
 * permission requests (camera, notifications, …).
 */
export function guardContents(contents: GuardedContents, openExternal: (url: string) => void): void {
  const leaves = (url: string) => urlOrigin(url) !== ELECTRON_ORIGIN;
  contents.on('will-navigate', (event: ElectronEvent, url: string) => {
    if (leaves(url)) event.preventDefault();
  });
  contents.on('will-redirect', (event: ElectronEvent, url: string) => {
    if (leaves(url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event: ElectronEvent) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (/^https:\/\//.test(url)) openExternal(url);
    return { action: 'deny' };
  });
  contents.session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  contents.session.setPermissionCheckHandler(() => false);
}
