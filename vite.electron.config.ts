/**
 * @file Vite configuration of the Electron shell (`npm run build:electron`): `--mode main` bundles the main process,
 * the job worker entry and the model worker thread as ES modules (dependencies stay in node_modules, native ones
 * unpacked by electron-builder); `--mode preload` bundles the sandboxed preload as one CommonJS file with zod inlined (a
 * sandboxed preload can require nothing but Electron).
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const src = (p: string) => fileURLToPath(new URL(`./src-main/electron/${p}`, import.meta.url));
const outDir = fileURLToPath(new URL('./dist/electron', import.meta.url));
const node = ['electron', ...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default defineConfig(({ mode }) =>
  mode === 'preload'
    ? {
        build: {
          outDir,
          emptyOutDir: false,
          ssr: true,
          target: 'node20',
          minify: false,
          rollupOptions: {
            input: { preload: src('preload.ts') },
            external: ['electron'],
            output: { format: 'cjs', entryFileNames: '[name].cjs' },
          },
        },
        ssr: { noExternal: true },
      }
    : {
        build: {
          outDir,
          emptyOutDir: true,
          ssr: true,
          target: 'node20',
          minify: false,
          rollupOptions: {
            input: {
              main: src('main.ts'),
              worker: src('worker-entry.ts'),
              'model-worker': fileURLToPath(new URL('./src-main/node/host/model-worker.ts', import.meta.url)),
            },
            external: [...node, 'vite'],
            output: { format: 'es', entryFileNames: '[name].js' },
          },
        },
      },
);
