/** @file Ambient types of the renderer: Vue single-file components and the API the Electron preload exposes. */
import type { StudioApi } from '../src-shared/ipc/contract.ts';

declare module '*.vue' {
  import type { DefineComponent } from 'vue';
  const component: DefineComponent<object, object, unknown>;
  export default component;
}

declare global {
  interface Window {
    /** Present only in the Electron shell: the contract's services, exposed by the preload. */
    studio?: StudioApi;
  }
}
