/** @file Vite configuration of the renderer: Vue 3 single-file components from src-renderer, built into dist/renderer (served by the web host and loaded by the Electron shell). */
import vue from '@vitejs/plugin-vue';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./src-renderer', import.meta.url)),
  base: './',
  plugins: [vue()],
  // Vue's options API is not used; echarts is tree-shaken through its modular imports.
  define: {
    __VUE_OPTIONS_API__: 'false',
    __VUE_PROD_DEVTOOLS__: 'false',
    __VUE_PROD_HYDRATION_MISMATCH_DETAILS__: 'false',
  },
  build: {
    outDir: fileURLToPath(new URL('./dist/renderer', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1500,
    sourcemap: false,
  },
  // The dev server reads only the renderer, the shared code it imports and the dependencies — never the rest of the
  // checkout (node_modules may be a link, so its real folder is allowed too).
  server: {
    fs: {
      strict: true,
      allow: [
        './src-renderer',
        './src-shared',
        './node_modules',
        realpathSync(fileURLToPath(new URL('./node_modules', import.meta.url))),
      ].map((p) => (p.startsWith('.') ? fileURLToPath(new URL(p, import.meta.url)) : p)),
    },
  },
});
