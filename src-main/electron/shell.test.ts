/**
 * @file The Electron shell's wiring without Electron: the host and the preload API connected over an in-memory
 * ipcMain / webContents / ipcRenderer pair; sender checks (another window, an iframe, a navigated page); the
 * preload exposing exactly the contract; errors crossing the bridge as plain data; the window's security settings
 * and guards; the menu.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL } from '../../src-shared/ipc/channel.ts';
import { CONTRACT, SERVICE_NAMES, type StudioApi } from '../../src-shared/ipc/contract.ts';
import { createStudioHost, type StudioHost } from '../node/host/host.ts';
import { TEST_STEPS_MODULE, writeTinyModel } from '../node/jobs/test-steps.ts';
import { mainTransport, type IpcMainLike, type IpcRendererLike, type WebContentsLike } from './ipc.ts';
import { menuTemplate } from './menu.ts';
import { createPreloadApi } from './preload-api.ts';
import { guardContents, RENDERER_CSP, windowOptions, type GuardedContents } from './window.ts';

interface Frame {
  url: string;
}

/** One window's worth of fake Electron IPC: ipcMain, the window's webContents, and its renderer's ipcRenderer. */
function fakeWindow(ipcMain: EventEmitter, url = 'studio://app/index.html') {
  const rendererListeners = new Set<(event: unknown, message: unknown) => void>();
  const destroyed = new EventEmitter();
  const mainFrame: Frame = { url };
  const contents: WebContentsLike & { destroy(): void } = {
    mainFrame,
    send: (channel, message) => {
      if (channel !== CHANNEL) return;
      const copy = structuredClone(message);
      queueMicrotask(() => rendererListeners.forEach((l) => l({}, copy)));
    },
    isDestroyed: () => false,
    once: (event, l) => destroyed.once(event, l),
    destroy: () => destroyed.emit('destroyed'),
  };
  /** What a renderer frame sends: from the main frame by default, or from another frame (an iframe). */
  const fromFrame = (frame: Frame): IpcRendererLike => ({
    send: (channel, message) => {
      const copy = structuredClone(message);
      queueMicrotask(() => ipcMain.emit(channel, { sender: contents, senderFrame: frame }, copy));
    },
    on: (channel, l) => channel === CHANNEL && rendererListeners.add(l),
    removeListener: (_channel, l) => rendererListeners.delete(l),
  });
  return { contents, mainFrame, ipcRenderer: fromFrame(mainFrame), fromFrame };
}

let dir: string;
let host: StudioHost;
let ipcMain: EventEmitter;
let win: ReturnType<typeof fakeWindow>;
let api: StudioApi;
const rejected: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'studio-shell-'));
  writeTinyModel(join(dir, 'tiny.onnx'));
  host = await createStudioHost({ home: join(dir, 'home'), shell: 'electron', stepModules: [TEST_STEPS_MODULE] });
  ipcMain = new EventEmitter();
  win = fakeWindow(ipcMain);
  host.server.connect(
    mainTransport(ipcMain as unknown as IpcMainLike, win.contents, (why) => rejected.push(why)),
    { id: 'window-1', kind: 'electron' },
  );
  api = createPreloadApi(win.ipcRenderer);
});
afterAll(async () => {
  await host.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the contract over Electron IPC', () => {
  it('calls the host through the preload API', async () => {
    const s = await api.settings.get({});
    expect(s).toMatchObject({ shell: 'electron', nativeDialogs: false });
    const ex = await api.models.examples({});
    expect(ex.models[0]!.id).toBe('mnist-cnn');
  });

  it('streams run events to the renderer', async () => {
    const statuses: string[] = [];
    const off = api.runs.on('status', (e) => statuses.push(e.status));
    const { runId } = await api.experiments.start({
      plan: { model: join(dir, 'tiny.onnx'), steps: [{ kind: 'count', n: 2 }] },
    });
    const t0 = Date.now();
    while (!statuses.includes('succeeded') && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 20));
    off();
    expect(statuses).toEqual(expect.arrayContaining(['running', 'succeeded']));
    expect((await api.runs.get({ runId })).status).toBe('succeeded');
  });

  it('errors cross the context bridge as plain { name, code, message, details }', async () => {
    const err = await api.runs.get({ runId: 'deadbeef' }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(Error);
    expect(err).toEqual({ name: 'StoreError', code: 'RUN_NOT_FOUND', message: 'no run "deadbeef"' });
    const bad = (await api.runs.get({ runId: '../etc' } as never).catch((e: unknown) => e)) as {
      code: string;
      details: { issues: { path: string }[] };
    };
    expect(bad.code).toBe('BAD_REQUEST');
    expect(bad.details.issues[0]!.path).toBe('$.runId');
  });

  it('drops messages from an iframe or a foreign origin, and ignores other windows', async () => {
    const iframe = createPreloadApi(win.fromFrame({ url: 'https://evil.example/frame.html' }));
    const seen: unknown[] = [];
    void iframe.settings.get({}).then(
      (v) => seen.push(v),
      (e) => seen.push(e),
    );
    await new Promise((r) => setTimeout(r, 50));
    expect(seen).toEqual([]);
    expect(rejected.at(-1)).toContain('untrusted frame (https://evil.example/frame.html)');

    // the main frame navigated away from the app (its URL is no longer studio://app)
    win.mainFrame.url = 'https://evil.example/';
    const n = rejected.length;
    void api.settings.get({}).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(rejected.length).toBe(n + 1);
    win.mainFrame.url = 'studio://app/index.html';

    const other = fakeWindow(ipcMain);
    const otherApi = createPreloadApi(other.ipcRenderer);
    const nOther = rejected.length;
    void otherApi.settings.get({}).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(rejected.length).toBe(nOther); // not our window: not ours to answer, not an attack either
  });
});

describe('the preload', () => {
  it('exposes exactly the contract’s services, frozen', () => {
    expect(Object.keys(api).sort()).toEqual([...SERVICE_NAMES].sort());
    for (const name of SERVICE_NAMES) {
      const service = api[name] as unknown as Record<string, unknown>;
      expect(Object.keys(service).sort()).toEqual([...Object.keys(CONTRACT[name].methods), 'on'].sort());
      expect(Object.values(service).every((v) => typeof v === 'function')).toBe(true);
      expect(Object.isFrozen(service)).toBe(true);
    }
    expect(Object.isFrozen(api)).toBe(true);
  });
});

describe('the window', () => {
  it('isolates the renderer: context isolation, sandbox, no Node, web security', () => {
    const p = windowOptions('/app/preload.cjs').webPreferences!;
    expect(p).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      preload: '/app/preload.cjs',
    });
  });

  it('has a strict CSP: scripts only from the app, no eval, no plugins, no framing', () => {
    expect(RENDERER_CSP).toContain("script-src 'self'");
    expect(RENDERER_CSP).not.toContain('unsafe-eval');
    expect(RENDERER_CSP).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(RENDERER_CSP).toContain("object-src 'none'");
    expect(RENDERER_CSP).toContain("frame-ancestors 'none'");
  });

  it('blocks navigation, new windows, webviews and permission requests', () => {
    const handlers = new Map<string, (...a: any[]) => void>();
    let openHandler: ((d: { url: string }) => { action: string }) | null = null;
    let permission: ((c: unknown, p: string, cb: (ok: boolean) => void) => void) | null = null;
    const opened: string[] = [];
    const contents = {
      on: (event: string, l: (...a: any[]) => void) => handlers.set(event, l),
      setWindowOpenHandler: (h: typeof openHandler) => (openHandler = h),
      session: {
        setPermissionRequestHandler: (h: typeof permission) => (permission = h),
        setPermissionCheckHandler: () => undefined,
      },
    } as unknown as GuardedContents;
    guardContents(contents, (u) => opened.push(u));
    const nav = (url: string) => {
      let prevented = false;
      handlers.get('will-navigate')!({ preventDefault: () => (prevented = true) }, url);
      return prevented;
    };
    expect(nav('https://evil.example/')).toBe(true);
    expect(nav('file:///etc/passwd')).toBe(true);
    expect(nav('studio://app/index.html#/runs')).toBe(false);
    expect(openHandler!({ url: 'https://github.com/microsoft/nni' })).toEqual({ action: 'deny' });
    expect(openHandler!({ url: 'file:///tmp/x' })).toEqual({ action: 'deny' });
    expect(opened).toEqual(['https://github.com/microsoft/nni']);
    let webview = false;
    handlers.get('will-attach-webview')!({ preventDefault: () => (webview = true) });
    expect(webview).toBe(true);
    let granted: boolean | null = null;
    permission!(null, 'media', (ok) => (granted = ok));
    expect(granted).toBe(false);
  });
});

describe('the menu', () => {
  it('opens models from File and lists recent files', () => {
    const calls: string[] = [];
    const actions = {
      openModel: () => calls.push('open'),
      openRecent: (p: string) => calls.push(`recent ${p}`),
      clearRecent: () => calls.push('clear'),
      about: () => calls.push('about'),
    };
    const t = menuTemplate({ recentFiles: ['/m/a.onnx', '/m/b.onnx'], actions, platform: 'linux' });
    const file = t.find((m) => m.label === 'File')!.submenu as {
      label?: string;
      accelerator?: string;
      click?: () => void;
      submenu?: unknown;
    }[];
    const open = file.find((i) => i.label === 'Open Model…')!;
    expect(open.accelerator).toBe('CmdOrCtrl+O');
    open.click!();
    const recent = file.find((i) => i.label === 'Open Recent')!.submenu as { label?: string; click?: () => void }[];
    expect(recent.map((r) => r.label)).toEqual(['/m/a.onnx', '/m/b.onnx', undefined, 'Clear Recent']);
    recent[1]!.click!();
    expect(calls).toEqual(['open', 'recent /m/b.onnx']);
    const view = t.find((m) => m.label === 'View')!.submenu as { role?: string }[];
    expect(view.some((i) => i.role === 'toggleDevTools')).toBe(false);
  });
});
