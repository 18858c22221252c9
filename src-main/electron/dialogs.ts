/**
 * @file Native file dialogs for the host's settings service, over Electron's `dialog` (passed in, so this file
 * imports Electron's types only).
 */
import type { BrowserWindow, Dialog, OpenDialogOptions } from 'electron';
import type { Dialogs } from '../node/host/settings.ts';

/**
 * Dialogs attached to the current window.
 *
 * @example createStudioHost({ shell: 'electron', dialogs: electronDialogs(dialog, () => win) });
 */
export function electronDialogs(dialog: Pick<Dialog, 'showOpenDialog'>, window: () => BrowserWindow | null): Dialogs {
  const show = async (options: OpenDialogOptions) => {
    const win = window();
    const r = win ? await dialog.showOpenDialog(win, options) : await dialog.showOpenDialog(options);
    return r.canceled ? null : (r.filePaths[0] ?? null);
  };
  return {
    chooseFile: (o) => show({ title: o.title, properties: ['openFile'], filters: o.filters }),
    chooseFolder: (o) => show({ title: o.title, properties: ['openDirectory', 'createDirectory'] }),
  };
}
