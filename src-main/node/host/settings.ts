/**
 * @file The settings service: theme and recent files persisted as `settings.json` in the app data folder, facts
 * about the shell, and native file dialogs when the shell provides them (Electron); the web mode answers
 * NOT_SUPPORTED and the renderer asks for a typed path instead. Imports node:* and src-shared only.
 */
import { existsSync } from 'node:fs';
import { READ_LIMITS, readTextInput } from '../io/guard.ts';
import { join } from 'node:path';
import { z } from 'zod';
import type { Contract, ServiceImpl } from '../../../src-shared/ipc/contract.ts';
import { EXECUTION_PROVIDERS } from '../../../src-shared/experiment.ts';
import { THEMES, type Settings } from '../../../src-shared/ipc/dto.ts';
import { IpcError } from '../../../src-shared/ipc/errors.ts';
import { writeFileAtomic } from '../store/files.ts';

/** Native dialogs a shell can offer (Electron's `dialog`). */
export interface Dialogs {
  chooseFile(opts: { title?: string; filters?: { name: string; extensions: string[] }[] }): Promise<string | null>;
  chooseFolder(opts: { title?: string }): Promise<string | null>;
}

export interface SettingsServiceOptions {
  home: string;
  shell: Settings['shell'];
  version: string;
  dialogs?: Dialogs;
  emit: (service: 'settings', event: 'changed', data: Settings) => void;
}

// `exportRoots` is edited in settings.json by the user, never over the contract: a page must not widen its own reach.
const stored = z.object({
  theme: z.enum(THEMES).catch('system'),
  executionProvider: z.enum(EXECUTION_PROVIDERS).catch('cpu'),
  recentFiles: z.array(z.string()).catch([]),
  exportRoots: z.array(z.string()).catch([]).default([]),
  /** The job queue's URL (postgres://…), edited in settings.json by the user; never sent to the renderer. */
  queue: z.string().optional().catch(undefined),
});
const DEFAULTS: z.infer<typeof stored> = {
  theme: 'system',
  executionProvider: 'cpu',
  recentFiles: [],
  exportRoots: [],
};
const MAX_RECENT = 10;

export interface SettingsService extends ServiceImpl<Contract['settings']> {
  /** Puts a model file at the top of the recent files. */
  addRecent(path: string): void;
  current(): Settings;
  /** Folders the browser mode may export into, from settings.json (`exportRoots`). */
  exportRoots(): string[];
  /** The job queue's URL from settings.json (`queue`), if set. */
  queue(): string | undefined;
}

/**
 * Settings persisted under the app data folder. A missing or damaged file reads as the defaults.
 *
 * @example const settings = createSettingsService({ home, shell: 'web', version: '0.1.0', emit });
 */
export function createSettingsService(opts: SettingsServiceOptions): SettingsService {
  const file = join(opts.home, 'settings.json');
  let data = read(file);
  // the queue URL carries a password: it stays in this process, never in what the renderer receives
  const current = (): Settings => ({
    theme: data.theme,
    executionProvider: data.executionProvider,
    recentFiles: data.recentFiles,
    dataDir: opts.home,
    version: opts.version,
    shell: opts.shell,
    nativeDialogs: !!opts.dialogs,
  });
  const save = () => {
    writeFileAtomic(file, JSON.stringify(data, null, 2));
    opts.emit('settings', 'changed', current());
  };
  const noDialogs = () =>
    new IpcError({
      name: 'NotSupportedError',
      code: 'NOT_SUPPORTED',
      message: 'native file dialogs are only available in the desktop app; type the path instead',
    });
  return {
    current,
    exportRoots: () => [...data.exportRoots],
    queue: () => data.queue,
    addRecent(path) {
      data = { ...data, recentFiles: [path, ...data.recentFiles.filter((p) => p !== path)].slice(0, MAX_RECENT) };
      save();
    },
    get: () => current(),
    set(patch) {
      data = {
        theme: patch.theme ?? data.theme,
        executionProvider: patch.executionProvider ?? data.executionProvider,
        recentFiles: patch.recentFiles ?? data.recentFiles,
        exportRoots: data.exportRoots,
      };
      save();
      return current();
    },
    async chooseFile(req) {
      if (!opts.dialogs) throw noDialogs();
      return { path: await opts.dialogs.chooseFile(req) };
    },
    async chooseFolder(req) {
      if (!opts.dialogs) throw noDialogs();
      return { path: await opts.dialogs.chooseFolder(req) };
    },
  };
}

function read(file: string): z.infer<typeof stored> {
  if (!existsSync(file)) return { ...DEFAULTS };
  try {
    return stored.parse(JSON.parse(readTextInput(file, { what: 'settings file', maxBytes: READ_LIMITS.json })));
  } catch {
    return { ...DEFAULTS };
  }
}
