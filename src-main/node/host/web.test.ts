/** @file Tests of the browser mode's gate: the per-launch token (URL, then cookie), Host and Origin checks, static files confined to the renderer folder, the contract over WebSocket and POST /rpc, and forged payloads. */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { decodeWire, encodeWire } from '../../../src-shared/ipc/rpc.ts';
import { TEST_STEPS_MODULE } from '../jobs/test-steps.ts';
import { startWebHost, type WebHost } from './web.ts';

let dir: string;
let web: WebHost;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'studio-web-'));
  const renderer = join(dir, 'renderer');
  mkdirSync(join(renderer, 'assets'), { recursive: true });
  writeFileSync(
    join(renderer, 'index.html'),
    '<!doctype html><title>Compression Studio</title><script type="module" src="/assets/app.js"></script>',
  );
  writeFileSync(join(renderer, 'assets', 'app.js'), 'console.log("hi")');
  writeFileSync(join(dir, 'secret.txt'), 'secret');
  web = await startWebHost({ home: join(dir, 'home'), rendererDir: renderer, stepModules: [TEST_STEPS_MODULE] });
});
afterAll(async () => {
  await web.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(
  path: string,
  opts: { headers?: Record<string, string>; method?: string; body?: string } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: web.port, path, method: opts.method ?? 'GET', headers: opts.headers },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

function openSocket(query: string, headers: Record<string, string> = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${web.port}/ws${query}`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function call(ws: WebSocket, msg: object): Promise<any> {
  return new Promise((resolve) => {
    const on = (data: Buffer) => {
      const m = decodeWire(data.toString()) as { t: string; id?: number };
      if (m.t !== 'event' && m.id === (msg as { id: number }).id) {
        ws.off('message', on);
        resolve(m);
      }
    };
    ws.on('message', on);
    ws.send(encodeWire(msg));
  });
}

/** The final answer (ok or err) to a call, skipping its progress messages. */
function reply(ws: WebSocket, msg: { t: string; id: number; [k: string]: unknown }): Promise<any> {
  return new Promise((resolve) => {
    const on = (data: Buffer) => {
      const m = decodeWire(data.toString()) as { t: string; id?: number };
      if ((m.t === 'ok' || m.t === 'err') && m.id === msg.id) {
        ws.off('message', on);
        resolve(m);
      }
    };
    ws.on('message', on);
    ws.send(encodeWire(msg));
  });
}

const token = () => encodeURIComponent(web.token);

describe('the token gate', () => {
  it('binds 127.0.0.1 with a long random token in the URL', () => {
    expect(web.url).toBe(`http://127.0.0.1:${web.port}/?token=${token()}`);
    expect(web.token.length).toBeGreaterThanOrEqual(40);
  });

  it('refuses every request without the token', async () => {
    for (const path of ['/', '/index.html', '/assets/app.js', '/rpc', '/?token=wrong'])
      expect((await http(path)).status).toBe(403);
    expect((await http('/', { headers: { Cookie: 'studio_token=forged' } })).status).toBe(403);
    await expect(openSocket('')).rejects.toThrow('HTTP 403');
    await expect(openSocket('?token=wrong')).rejects.toThrow('HTTP 403');
  });

  it('serves the renderer with the token, sets a strict cookie and a CSP', async () => {
    const res = await http(`/?token=${token()}`);
    expect(res.status).toBe(200);
    expect(res.body).toContain('Compression Studio');
    expect(String(res.headers['set-cookie'])).toMatch(/studio_token=.+; HttpOnly; SameSite=Strict/);
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    const asset = await http('/assets/app.js', { headers: { Cookie: `studio_token=${web.token}` } });
    expect(asset.status).toBe(200);
    expect(asset.headers['content-type']).toContain('javascript');
  });

  it('refuses a foreign Host header (DNS rebinding) and a foreign Origin', async () => {
    expect((await http(`/?token=${token()}`, { headers: { Host: 'evil.example:80' } })).status).toBe(403);
    await expect(openSocket(`?token=${token()}`, { Origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
  });

  it('never serves files outside the renderer folder', async () => {
    const res = await http(`/..%2Fsecret.txt?token=${token()}`);
    expect(res.body).not.toContain('secret');
  });
});

describe('the contract over WebSocket and HTTP', () => {
  it('answers calls over the WebSocket and refuses forged payloads', async () => {
    const ws = await openSocket(`?token=${token()}`, { Origin: `http://127.0.0.1:${web.port}` });
    const ok = await call(ws, { t: 'call', id: 1, service: 'settings', method: 'get', request: {} });
    expect(ok).toMatchObject({ t: 'ok', value: { shell: 'web', nativeDialogs: false } });
    const forged = await call(ws, {
      t: 'call',
      id: 2,
      service: 'runs',
      method: 'delete',
      request: { runId: "1' OR 1=1 --" },
    });
    expect(forged).toMatchObject({
      t: 'err',
      error: { code: 'BAD_REQUEST', details: { issues: [{ path: '$.runId' }] } },
    });
    const dialogs = await call(ws, { t: 'call', id: 3, service: 'settings', method: 'chooseFolder', request: {} });
    expect(dialogs).toMatchObject({ t: 'err', error: { code: 'NOT_SUPPORTED' } });
    ws.close();
  });

  it('answers one-shot calls at POST /rpc with the token', async () => {
    const body = JSON.stringify({ service: 'models', method: 'examples', request: {} });
    const res = await http(`/rpc?token=${token()}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body,
    });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body).value.models[0].id).toBe('mnist-cnn');
    expect((await http('/rpc', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })).status).toBe(
      403,
    );
    const bad = await http(`/rpc?token=${token()}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ service: 'runs', method: 'list', request: { limit: -4 } }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('BAD_REQUEST');
  });
});

describe('hostile requests in the browser mode', () => {
  it('refuses an upgrade on any path without the token (not only /ws)', async () => {
    for (const path of ['/', '/@vite/client', '/hmr']) {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${web.port}${path}`, ['vite-hmr']);
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('open', () => resolve(101));
        ws.once('error', () => resolve(-1));
      });
      expect(status, path).toBe(403);
    }
  });

  it('answers models.open of a file that is not a model with an error, keeping the connection', async () => {
    const ws = await openSocket(`?token=${token()}`, { Origin: `http://127.0.0.1:${web.port}` });
    for (const [id, path] of [
      [1, '/etc/passwd'],
      [2, '/dev/zero'],
      [3, '/proc/self/environ'],
      [4, dir],
    ] as const) {
      const r = await reply(ws, {
        t: 'call',
        id,
        service: 'models',
        method: 'open',
        request: { source: { kind: 'path', path } },
      });
      expect(r.t, path).toBe('err');
      expect(r.error.message, path).toMatch(
        /not an ONNX model|not a regular file|kernel state|truncated or corrupt|corrupt ONNX file/,
      );
    }
    expect(await call(ws, { t: 'call', id: 9, service: 'settings', method: 'get', request: {} })).toMatchObject({
      t: 'ok',
    });
    ws.close();
  });

  it('closes a socket whose message is over the limit with 1009, and other clients go on', async () => {
    const big = await openSocket(`?token=${token()}`, { Origin: `http://127.0.0.1:${web.port}` });
    const other = await openSocket(`?token=${token()}`, { Origin: `http://127.0.0.1:${web.port}` });
    const closed = new Promise<number>((resolve) => big.once('close', (code) => resolve(code)));
    big.send(Buffer.alloc(65 * 1024 * 1024, 0x20));
    expect(await closed).toBe(1009);
    expect(await call(other, { t: 'call', id: 1, service: 'settings', method: 'get', request: {} })).toMatchObject({
      t: 'ok',
    });
    other.close();
  });

  /** POST /upload of `bytes` in 16 KiB writes, as a browser streams a File. */
  const upload = (name: string, bytes: Uint8Array) =>
    new Promise<Res>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: web.port,
          path: `/upload?name=${encodeURIComponent(name)}&token=${token()}`,
          method: 'POST',
          headers: { 'Content-Length': bytes.byteLength },
        },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, headers: r.headers, body }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < bytes.byteLength; i += 16384) req.write(bytes.subarray(i, i + 16384));
      req.end();
    });

  it('streams an upload to the app data folder, then opens it by path under the name the user gave it', async () => {
    const model = await import('node:fs').then((fs) =>
      fs.readFileSync(join(import.meta.dirname, '..', '..', '..', 'resources', 'mnist-cnn.onnx')),
    );
    const res = await upload('../my model.onnx', model);
    expect(res.status).toBe(200);
    const up = JSON.parse(res.body) as { path: string; size: number };
    expect(up.size).toBe(model.byteLength);
    expect(up.path.startsWith(join(dir, 'home', 'uploads'))).toBe(true);
    expect(up.path).toMatch(/[0-9a-f]{12}-_my_model\.onnx$/);
    const ws = await openSocket(`?token=${token()}`, { Origin: `http://127.0.0.1:${web.port}` });
    const opened = await reply(ws, {
      t: 'call',
      id: 1,
      service: 'models',
      method: 'open',
      request: { source: { kind: 'path', path: up.path } },
    });
    expect(opened).toMatchObject({ t: 'ok', value: { name: '_my_model.onnx', info: { opTypes: { Conv: 3 } } } });
    // An upload that is not a model is refused by name, and the host's copy removed.
    const junk = JSON.parse((await upload('notes.onnx', new TextEncoder().encode('not a model'))).body) as {
      path: string;
    };
    expect(existsSync(junk.path)).toBe(true);
    const refused = await reply(ws, {
      t: 'call',
      id: 2,
      service: 'models',
      method: 'open',
      request: { source: { kind: 'path', path: junk.path } },
    });
    expect(refused).toMatchObject({ t: 'err', error: { name: 'ModelFormatError' } });
    expect(existsSync(junk.path)).toBe(false);
    ws.close();
    expect((await http('/upload', { method: 'POST', body: 'x' })).status).toBe(403);
  });
});

describe('the dev server', () => {
  // Run in a child process: a Vite dev server inside Vitest's own Vite stalls.
  it("limits Vite's file access to the renderer's sources and puts its HMR socket behind the token", async () => {
    const repo = join(import.meta.dirname, '..', '..', '..');
    const script = `
      import { request } from 'node:http';
      import { WebSocket } from 'ws';
      import { startWebHost } from ${JSON.stringify(join(repo, 'src-main', 'node', 'host', 'web.ts'))};
      const dev = await startWebHost({ home: ${JSON.stringify(join(dir, 'home-dev'))}, dev: true, stepModules: [] });
      const get = (path) => new Promise((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: dev.port, path, headers: { Cookie: 'studio_token=' + dev.token } }, (r) => (r.resume(), resolve(r.statusCode)));
        req.on('error', reject);
        req.end();
      });
      const upgrade = (headers) => new Promise((resolve) => {
        const ws = new WebSocket('ws://127.0.0.1:' + dev.port + '/', ['vite-hmr'], { headers });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
        ws.once('open', () => (ws.close(), resolve(101)));
        ws.once('error', () => resolve(-1));
      });
      const out = {
        pkg: await get('/@fs' + ${JSON.stringify(join(repo, 'package.json'))}),
        host: await get('/@fs' + ${JSON.stringify(join(repo, 'src-main', 'node', 'host', 'web.ts'))}),
        renderer: await get('/@fs' + ${JSON.stringify(join(repo, 'src-renderer', 'main.ts'))}),
        hmrNoToken: await upgrade({}),
        hmrToken: await upgrade({ Cookie: 'studio_token=' + dev.token }),
      };
      // Not dev.close(): Vite's dependency optimizer may still be running, and the process ends here anyway.
      process.stdout.write(JSON.stringify(out));
      process.exit(0);`;
    const { execFile } = await import('node:child_process');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', '--input-type=module', '-e', script],
        { cwd: repo, timeout: 90_000 },
        (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out)),
      ),
    );
    expect(JSON.parse(stdout.slice(stdout.indexOf('{')))).toEqual({
      pkg: 403,
      host: 403,
      renderer: 200,
      hmrNoToken: 403,
      hmrToken: 101,
    });
  }, 120_000);
});
