/**
 * @file electron-builder.yml against electron-builder's own schema (node_modules/app-builder-lib/scheme.json):
 * read with app-builder-lib's config loader, checked by our validator and by app-builder-lib's validation, and
 * checked for what packaging this app needs — four installers, native modules unpacked from the asar, the built
 * renderer and shell, the bundled example data.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../src-main/node/host/web.ts';
import { validateSchema } from './json-schema.ts';

const require = createRequire(import.meta.url);
const builderConfig = require('app-builder-lib/out/util/config/config.js') as {
  getConfig(projectDir: string, configPath: string | null, configFromOptions: unknown): Promise<Record<string, any>>;
  validateConfiguration(
    config: unknown,
    debugLogger: { isEnabled: boolean; add(k: string, v: unknown): void },
  ): Promise<void>;
};
const scheme = JSON.parse(
  readFileSync(join(REPO_ROOT, 'node_modules', 'app-builder-lib', 'scheme.json'), 'utf8'),
) as Record<string, unknown>;
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  main: string;
  dependencies: Record<string, string>;
  scripts: Record<string, string>;
};

const load = () => builderConfig.getConfig(REPO_ROOT, join(REPO_ROOT, 'electron-builder.yml'), null);
const targets = (t: unknown): string[] =>
  (Array.isArray(t) ? t : [t]).map((x) => (typeof x === 'string' ? x : (x as { target: string }).target));

describe('electron-builder.yml', () => {
  it('matches electron-builder’s schema (our validator and app-builder-lib’s)', async () => {
    const config = await load();
    expect(validateSchema(scheme, config)).toEqual([]);
    await expect(
      builderConfig.validateConfiguration(config, { isEnabled: false, add: () => undefined }),
    ).resolves.toBeUndefined();
  });

  it('the validator does catch a broken configuration, with paths', async () => {
    const config = {
      ...(await load()),
      asarUnpacked: ['x'],
      linux: { target: 42 },
      win: { target: [{ target: 'nsis', arch: 'sparc' }] },
    };
    const faults = validateSchema(scheme, config).map((f) => f.path);
    expect(faults).toEqual(expect.arrayContaining(['$.asarUnpacked', '$.linux.target', '$.win.target[0].arch']));
    await expect(
      builderConfig.validateConfiguration(config, { isEnabled: false, add: () => undefined }),
    ).rejects.toThrow(/Invalid configuration/);
  });

  it('builds AppImage and deb, NSIS and dmg', async () => {
    const config = await load();
    expect(targets(config.linux.target).sort()).toEqual(['AppImage', 'deb']);
    expect(targets(config.win.target)).toEqual(['nsis']);
    expect(targets(config.mac.target)).toEqual(['dmg']);
  });

  it('keeps the native modules out of the asar and ships what the app loads', async () => {
    const config = await load();
    const unpack: string[] = Array.isArray(config.asarUnpack) ? config.asarUnpack : [config.asarUnpack];
    for (const native of ['better-sqlite3', 'onnxruntime-node']) {
      expect(pkg.dependencies[native]).toBeDefined();
      expect(unpack.some((p) => p.includes(`node_modules/${native}`))).toBe(true);
    }
    // the loader normalises `files` to [{ filter: [...] }]
    const files: string[] = (config.files as (string | { filter: string[] })[]).flatMap((f) =>
      typeof f === 'string' ? [f] : f.filter,
    );
    expect(files).toEqual(expect.arrayContaining(['dist/**', 'resources/**', 'package.json']));
    expect(pkg.main).toBe('dist/electron/main.js');
    expect(pkg.scripts['build:electron']).toContain('vite.electron.config.ts');
  });
});
