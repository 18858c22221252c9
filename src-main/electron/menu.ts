/**
 * @file The application menu: File (open a model, recent files, quit), Edit, View (reload, zoom, full screen; dev
 * tools only in development) and Help. Built as plain template data so tests can read it; main.ts turns it into a
 * Menu. Imports Electron's types only.
 */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  openModel(): void;
  openRecent(path: string): void;
  clearRecent(): void;
  about(): void;
}

/**
 * The menu template.
 *
 * @example Menu.setApplicationMenu(Menu.buildFromTemplate(menuTemplate({ recentFiles, actions, platform: process.platform })));
 */
export function menuTemplate(opts: {
  recentFiles: readonly string[];
  actions: MenuActions;
  platform: NodeJS.Platform;
  dev?: boolean;
}): MenuItemConstructorOptions[] {
  const { actions } = opts;
  const mac = opts.platform === 'darwin';
  const recent: MenuItemConstructorOptions[] = opts.recentFiles.length
    ? [
        ...opts.recentFiles.slice(0, 10).map((p) => ({ label: p, click: () => actions.openRecent(p) })),
        { type: 'separator' as const },
        { label: 'Clear Recent', click: () => actions.clearRecent() },
      ]
    : [{ label: 'No recent models', enabled: false }];
  return [
    ...(mac ? [{ role: 'appMenu' as const }] : []),
    {
      label: 'File',
      submenu: [
        { label: 'Open Model…', accelerator: 'CmdOrCtrl+O', click: () => actions.openModel() },
        { label: 'Open Recent', submenu: recent },
        { type: 'separator' },
        mac ? { role: 'close' } : { role: 'quit' },
      ],
    },
    { role: 'editMenu' },
    {
      label: 'View',
      submenu: [
        { role: 'reload' },
        ...(opts.dev ? [{ role: 'toggleDevTools' as const }] : []),
        { type: 'separator' },
        { role: 'resetZoom' },
        { role: 'zoomIn' },
        { role: 'zoomOut' },
        { type: 'separator' },
        { role: 'togglefullscreen' },
      ],
    },
    { role: 'help', submenu: [{ label: 'About Compression Studio', click: () => actions.about() }] },
  ];
}
