/**
 * @file The renderer's entry: picks the host (the Electron preload's services, or the browser mode's WebSocket),
 * installs Pinia and mounts the app. Imports src-shared and browser libraries only.
 */
import { createPinia } from 'pinia';
import { createApp } from 'vue';
import App from './App.vue';
import { createBridgeHost } from './host/bridge-host.ts';
import { setHost } from './host/host.ts';
import { createWebHost } from './host/web-host.ts';
import './styles/theme.css';

setHost(window.studio ? createBridgeHost(window.studio) : createWebHost(window.location));
createApp(App).use(createPinia()).mount('#app');
