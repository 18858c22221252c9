/**
 * @file Which Chromium the e2e suite drives: one named by STUDIO_E2E_BROWSER (a path, or `bundled` for the npm
 * package's), else one installed on the machine
 * (Chromium, Chrome or Edge at their usual paths, or through playwright-core's channels), else the headless
 * Chromium that the npm package @sparticuz/chromium carries inside it (Linux x64; unpacked once with its own
 * NSS/expat libraries and fonts into node_modules/.cache). When none can be had, the answer says why, and the
 * suite fails on it rather than skipping.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { chromium, type LaunchOptions } from 'playwright-core';
import { x as untar } from 'tar';
import { REPO_ROOT } from '../../src-main/node/host/web.ts';

/** Flags every Chromium gets: no sandbox (root in containers), no GPU, nothing phoning home. */
const COMMON_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface BrowserChoice {
  /** Where it came from, for the suite's log line: "system /usr/bin/chromium", "npm @sparticuz/chromium 143.0.4", … */
  source: string;
  launch: LaunchOptions;
}

export interface NoBrowser {
  /** Every place looked at and why it did not serve. */
  reasons: string[];
}

const SYSTEM_PATHS: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: [
    '/usr/bin/chromium',
    '/usr/bin/chromium-browser',
    '/snap/bin/chromium',
    '/usr/bin/google-chrome',
    '/usr/bin/google-chrome-stable',
    '/opt/google/chrome/chrome',
    '/usr/bin/microsoft-edge',
    '/usr/bin/microsoft-edge-stable',
    '/opt/microsoft/msedge/msedge',
  ],
  darwin: [
    '/Applications/Google Chrome.app/Contents/MacOS/Google Chrome',
    '/Applications/Chromium.app/Contents/MacOS/Chromium',
    '/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge',
  ],
  win32: [
    'C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe',
    'C:\\Program Files (x86)\\Google\\Chrome\\Application\\chrome.exe',
    'C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe',
    'C:\\Program Files\\Microsoft\\Edge\\Application\\msedge.exe',
  ],
};

/** playwright-core's own channels: it knows where Chrome and Edge install on each platform. */
const CHANNELS = ['chrome', 'msedge', 'chromium'] as const;

function systemBrowser(reasons: string[]): BrowserChoice | null {
  for (const p of SYSTEM_PATHS[process.platform] ?? []) {
    if (existsSync(p)) return { source: `system ${p}`, launch: { executablePath: p, args: COMMON_ARGS } };
  }
  reasons.push(
    `no browser at ${(SYSTEM_PATHS[process.platform] ?? []).join(', ') || `any known path on ${process.platform}`}`,
  );
  return null;
}

async function channelBrowser(reasons: string[]): Promise<BrowserChoice | null> {
  for (const channel of CHANNELS) {
    try {
      const b = await chromium.launch({ channel, args: COMMON_ARGS });
      await b.close();
      return { source: `playwright channel "${channel}"`, launch: { channel, args: COMMON_ARGS } };
    } catch (e) {
      reasons.push(`playwright channel "${channel}": ${String((e as Error).message).split('\n')[0]}`);
    }
  }
  return null;
}

/**
 * Unpacks @sparticuz/chromium's brotli-compressed headless shell, its swiftshader and its Amazon Linux NSS / expat
 * libraries (which a bare Linux lacks) and fonts into `node_modules/.cache/studio-e2e-chromium/<version>/`, once.
 */
function bundledBrowser(reasons: string[]): BrowserChoice | null {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    reasons.push(`@sparticuz/chromium carries a Linux x64 build only (this is ${process.platform} ${process.arch})`);
    return null;
  }
  let pkgDir: string;
  try {
    const require = createRequire(join(REPO_ROOT, 'package.json'));
    pkgDir = join(require.resolve('@sparticuz/chromium'), '..', '..', '..');
  } catch {
    reasons.push('the npm package @sparticuz/chromium is not installed (a devDependency: run npm ci)');
    return null;
  }
  const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;
  const dir = join(REPO_ROOT, 'node_modules', '.cache', 'studio-e2e-chromium', version);
  const exe = join(dir, 'chromium');
  if (!existsSync(exe)) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(join(tmp, 'lib'), { recursive: true });
    writeFileSync(join(tmp, 'chromium'), brotliDecompressSync(readFileSync(join(pkgDir, 'bin', 'chromium.br'))), {
      mode: 0o755,
    });
    for (const [archive, into] of [
      ['al2023.tar.br', '.'],
      ['swiftshader.tar.br', '.'],
      ['fonts.tar.br', '.'],
    ] as const) {
      untar({ file: join(pkgDir, 'bin', archive), cwd: join(tmp, into), brotli: true, sync: true });
    }
    // The fonts archive holds the fonts only; fontconfig needs to be told where they are.
    writeFileSync(
      join(tmp, 'fonts', 'fonts.conf'),
      `<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig><dir>${join(dir, 'fonts')}</dir><cachedir>/tmp/fonts-cache/</cachedir><config></config></fontconfig>\n`,
    );
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.LD_LIBRARY_PATH = [join(dir, 'lib'), process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  env.FONTCONFIG_PATH = join(dir, 'fonts');
  try {
    execFileSync(exe, ['--version'], { env, stdio: 'pipe' });
  } catch (e) {
    reasons.push(
      `@sparticuz/chromium ${version} at ${exe} does not start: ${String((e as Error).message).split('\n')[0]}`,
    );
    return null;
  }
  return {
    source: `npm @sparticuz/chromium ${version} (${exe})`,
    launch: { executablePath: exe, env, args: [...COMMON_ARGS, '--no-zygote'] },
  };
}

/**
 * The browser the suite will drive, or every reason none could be had.
 *
 * @example const b = await findBrowser(); if ('launch' in b) await chromium.launch(b.launch);
 */
export async function findBrowser(): Promise<BrowserChoice | NoBrowser> {
  const reasons: string[] = [];
  const named = process.env.STUDIO_E2E_BROWSER;
  if (named === 'bundled') return bundledBrowser(reasons) ?? { reasons };
  if (named) {
    if (existsSync(named))
      return { source: `STUDIO_E2E_BROWSER ${named}`, launch: { executablePath: named, args: COMMON_ARGS } };
    reasons.push(`STUDIO_E2E_BROWSER names ${named}, which does not exist`);
    return { reasons };
  }
  return systemBrowser(reasons) ?? (await channelBrowser(reasons)) ?? bundledBrowser(reasons) ?? { reasons };
}
