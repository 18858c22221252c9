/**
 * @file The e2e harness: builds the renderer when its sources are newer than dist/renderer, starts the browser
 * mode on a temporary app data folder, launches the Chromium that browser.ts finds (the machine's, else the one
 * an npm package carries) through playwright-core, and records console errors, page errors and CSP violations;
 * screenshots go to test-artifacts/e2e/.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  REPO_ROOT,
  RENDERER_DIST,
  startWebHost,
  type WebHost,
  type WebHostOptions,
} from '../../src-main/node/host/web.ts';
import type { BrowserChoice } from './browser.ts';

export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'e2e');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.endsWith('.test.ts')) continue;
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds dist/renderer with Vite unless it is newer than every renderer and shared source file. */
export function ensureRendererBuilt(): void {
  const index = join(RENDERER_DIST, 'index.html');
  const sources = Math.max(
    newestMtime(join(REPO_ROOT, 'src-renderer')),
    newestMtime(join(REPO_ROOT, 'src-shared')),
    statSync(join(REPO_ROOT, 'vite.renderer.config.ts')).mtimeMs,
  );
  if (existsSync(index) && statSync(index).mtimeMs > sources) return;
  execFileSync(
    process.execPath,
    [
      join(REPO_ROOT, 'node_modules', 'vite', 'bin', 'vite.js'),
      'build',
      '--config',
      join(REPO_ROOT, 'vite.renderer.config.ts'),
      '--logLevel',
      'warn',
    ],
    { cwd: REPO_ROOT, stdio: 'pipe' },
  );
}

export interface Session {
  web: WebHost;
  browser: Browser;
  page: Page;
  /** Console errors, uncaught page errors and CSP violations seen so far. */
  problems: string[];
  shot(name: string, opts?: { fullPage?: boolean }): Promise<string>;
  close(): Promise<void>;
}

/**
 * Starts the web host and a browser page on it (1440 × 900).
 *
 * @example const s = await startSession({ home }, await findBrowser()); await s.page.goto(s.web.url);
 */
export async function startSession(opts: WebHostOptions, choice: BrowserChoice): Promise<Session> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const web = await startWebHost(opts);
  const browser = await chromium.launch({ headless: true, ...choice.launch });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
  const problems: string[] = [];
  page.on('console', (m) => {
    const text = m.text();
    if (/Content Security Policy/i.test(text)) problems.push(`CSP: ${text}`);
    else if (
      m.type() === 'error' &&
      !/WebSocket connection to .* failed|Failed to load resource: the server responded with a status of (403|503)/.test(
        text,
      )
    )
      problems.push(`console: ${text}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return {
    web,
    browser,
    page,
    problems,
    async shot(name, o = {}) {
      const path = join(ARTIFACTS, `${name}.png`);
      // Notices are transient; they would cover the view being documented.
      await page
        .locator('.toast button[aria-label="Dismiss"]')
        .evaluateAll((buttons) => buttons.forEach((b) => (b as unknown as { click(): void }).click()));
      await page.screenshot({ path, fullPage: o.fullPage ?? false });
      return path;
    },
    async close() {
      await browser.close();
      await web.close();
    },
  };
}
