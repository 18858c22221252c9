/**
 * @file The preload script (sandboxed, context-isolated): exposes the contract's services as `window.studio` and
 * nothing else — no ipcRenderer, no channels, no Node.
 */
import { contextBridge, ipcRenderer } from 'electron';
import { createPreloadApi } from './preload-api.ts';

contextBridge.exposeInMainWorld('studio', createPreloadApi(ipcRenderer));
