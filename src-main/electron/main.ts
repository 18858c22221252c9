/**
 * @file The Electron main process, kept thin: the app's privileged scheme serving the built renderer with its CSP,
 * one hardened window, the host (store, runner with utility-process workers, services) connected over the checked
 * IPC channel, the menu with recent files, native dialogs, and the app data folder. Never runs a model itself.
 */
import { app, BrowserWindow, dialog, ipcMain, Menu, protocol, shell, utilityProcess } from 'electron';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import '../node/steps/register.ts';
import { createStudioHost, type StudioHost } from '../node/host/host.ts';
import { utilityProcessSpawner } from '../node/jobs/spawn.ts';
import { electronDialogs } from './dialogs.ts';
import { mainTransport } from './ipc.ts';
import { menuTemplate } from './menu.ts';
import { APP_SCHEME, APP_URL, guardContents, RENDERER_CSP, windowOptions } from './window.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const RENDERER = resolve(HERE, '..', 'renderer');
const PRELOAD = join(HERE, 'preload.cjs');
const WORKER = join(HERE, 'worker.js');
const MODEL_WORKER = join(HERE, 'model-worker.js');
const DEV = !app.isPackaged;
const MIME: Record<string, string> = {
  '.html': 'text/html',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

let host: StudioHost | null = null;
let win: BrowserWindow | null = null;

protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);
if (!app.requestSingleInstanceLock()) app.quit();

/** studio://app/<path> → a file of the built renderer (nothing outside it), with the CSP. */
async function serveRenderer(request: Request): Promise<Response> {
  const path = decodeURIComponent(new URL(request.url).pathname);
  const file = resolve(RENDERER, `.${path === '/' ? '/index.html' : path}`);
  if (!file.startsWith(RENDERER + sep)) return new Response('forbidden', { status: 403 });
  try {
    const body = await readFile(file);
    return new Response(body, {
      headers: {
        'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
        'Content-Security-Policy': RENDERER_CSP,
        'X-Content-Type-Options': 'nosniff',
      },
    });
  } catch {
    return new Response('not found', { status: 404 });
  }
}

function requestOpen(path: string): void {
  host?.server.emit('models', 'openRequested', { path });
  win?.show();
}

async function openModelDialog(): Promise<void> {
  const r = win
    ? await dialog.showOpenDialog(win, {
        title: 'Open an ONNX model',
        properties: ['openFile'],
        filters: [{ name: 'ONNX models', extensions: ['onnx'] }],
      })
    : null;
  if (r && !r.canceled && r.filePaths[0]) requestOpen(r.filePaths[0]);
}

function buildMenu(recentFiles: readonly string[]): void {
  const template = menuTemplate({
    recentFiles,
    platform: process.platform,
    dev: DEV,
    actions: {
      openModel: () => void openModelDialog(),
      openRecent: requestOpen,
      clearRecent: () =>
        void host?.impl.settings.set(
          { recentFiles: [] },
          { signal: new AbortController().signal, progress: () => undefined, peer: { id: 'menu', kind: 'electron' } },
        ),
      about: () =>
        void dialog.showMessageBox({
          title: 'Compression Studio',
          message: `Compression Studio ${app.getVersion()}`,
          detail: 'NNI 3.0 compression for ONNX models, on onnxruntime.',
        }),
    },
  });
  Menu.setApplicationMenu(Menu.buildFromTemplate(template));
}

function createWindow(studio: StudioHost): void {
  win = new BrowserWindow(windowOptions(PRELOAD));
  const contents = win.webContents;
  studio.server.connect(
    mainTransport(ipcMain, contents, (why) => console.warn(why)),
    { id: `window-${win.id}`, kind: 'electron' },
  );
  win.once('ready-to-show', () => win?.show());
  win.on('closed', () => (win = null));
  void win.loadURL(APP_URL);
}

app.on('web-contents-created', (_event, contents) => guardContents(contents, (url) => void shell.openExternal(url)));

app.on('second-instance', (_event, argv) => {
  const model = argv.find((a) => a.toLowerCase().endsWith('.onnx'));
  if (model) requestOpen(model);
  if (win?.isMinimized()) win.restore();
  win?.focus();
});

app.on('window-all-closed', () => {
  if (process.platform !== 'darwin') app.quit();
});

let closing = false;
app.on('before-quit', (event) => {
  if (closing || !host) return;
  closing = true;
  event.preventDefault();
  void host.close().finally(() => app.exit(0));
});

void app.whenReady().then(async () => {
  protocol.handle(APP_SCHEME, serveRenderer);
  host = await createStudioHost({
    home: process.env.STUDIO_HOME || join(app.getPath('userData'), 'workspace'),
    shell: 'electron',
    resourcesDir: join(app.getAppPath(), 'resources'),
    // The steps are registered by the import above (here) and by the bundled worker entry (in each worker).
    stepModules: [],
    dialogs: electronDialogs(dialog, () => win),
    runner: {
      workerEntry: WORKER,
      // The bundled worker is plain JavaScript: no loader (execArgv) needed. Its stdout / stderr are
      // NodeJS.ReadableStreams, of which the spawner uses only on('data').
      spawner: utilityProcessSpawner((modulePath, args, options) =>
        utilityProcess.fork(modulePath, args, { ...options, execArgv: [] }),
      ),
    },
    // The bundled model worker thread (plain JavaScript, no loader).
    offLoop: { workerEntry: MODEL_WORKER },
    onSettingsChanged: (s) => buildMenu(s.recentFiles),
    onFault: (message) => console.warn(`ipc: ${message}`),
  });
  buildMenu(host.settings.current().recentFiles);
  createWindow(host);
  app.on('activate', () => {
    if (!win && host) createWindow(host);
  });
});
