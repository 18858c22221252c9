/**
 * @file Browser mode: the same renderer and the same contract served on 127.0.0.1 — the built renderer (or Vite's
 * dev middleware) over HTTP, the contract over a WebSocket at /ws and one-shot calls at POST /rpc. A per-launch
 * token in the URL gates everything (then an HttpOnly, SameSite=Strict cookie carries it); requests without it,
 * with a foreign Host header (DNS rebinding) or from a foreign Origin are refused. Imports node:*, ws and the host.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream, createWriteStream, existsSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { prepareOutputDir, READ_LIMITS } from '../io/guard.ts';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';
import { decodeWire, encodeWire, oneShotConnection, type WireMessage } from '../../../src-shared/ipc/rpc.ts';
import { contentSecurityPolicy } from './csp.ts';
import { createStudioHost, type StudioHost, type StudioHostOptions } from './host.ts';
import { uploadsDir } from './model-work.ts';
import { webSocketTransport } from './ws-transport.ts';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const RENDERER_DIST = join(REPO_ROOT, 'dist', 'renderer');
const COOKIE = 'studio_token';
/**
 * Largest WebSocket message. The biggest real payload is a dropped model sent as base64 JSON (4/3 of its size); 64 MiB
 * fits a 45 MiB model, and larger models are uploaded as a stream through POST /upload instead.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const MAX_RPC_BODY = 16 * 1024 * 1024;

export interface WebHostOptions extends Omit<StudioHostOptions, 'shell'> {
  /** TCP port on 127.0.0.1 (default 0: any free port). */
  port?: number;
  /** Folder of the built renderer (default dist/renderer). */
  rendererDir?: string;
  /** Serve the renderer through Vite's dev middleware (default: only when the built renderer is missing). */
  dev?: boolean;
  /** An existing host to serve (tests); otherwise one is created and closed with the web host. */
  host?: StudioHost;
  /** A fixed token (tests); otherwise 32 random bytes. */
  token?: string;
  log?: (line: string) => void;
}

export interface WebHost {
  /** The URL to open, token included. */
  url: string;
  token: string;
  port: number;
  host: StudioHost;
  /**
   * Drops every renderer connection (they reconnect and resync by themselves) and refuses new ones for
   * `refuseMs` — what a host restart or a network blip looks like to the renderer; used by the e2e tests.
   */
  disconnectAll(refuseMs?: number): void;
  close(): Promise<void>;
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
};

/**
 * Starts the browser mode. Open `url` in a browser; `close()` stops the server, the runs and the store.
 *
 * @example
 * const web = await startWebHost({ port: 4600 });
 * console.log(`open ${web.url}`);
 */
export async function startWebHost(opts: WebHostOptions = {}): Promise<WebHost> {
  const log = opts.log ?? (() => undefined);
  const token = opts.token ?? randomBytes(32).toString('base64url');
  const ownHost = !opts.host;
  const host =
    opts.host ??
    (await createStudioHost({ ...opts, shell: 'web', onFault: opts.onFault ?? ((m) => log(`ipc: ${m}`)) }));
  const rendererDir = resolve(opts.rendererDir ?? RENDERER_DIST);
  const dev = opts.dev ?? !existsSync(join(rendererDir, 'index.html'));
  if (dev && opts.dev === undefined)
    log(
      `no built renderer in ${rendererDir}; serving through Vite's dev middleware (npm run build:renderer builds it)`,
    );

  const server = createServer();
  let port = 0;
  const origins = () => [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
  const hostHeaders = () => [`127.0.0.1:${port}`, `localhost:${port}`];
  const csp = () => contentSecurityPolicy({ connect: [`ws://127.0.0.1:${port}`, `ws://localhost:${port}`], dev });

  // Vite's HMR socket listens on this emitter, which receives only upgrades that passed the token check.
  const hmrUpgrades = new EventEmitter();
  const vite = dev ? await viteMiddleware(hmrUpgrades) : null;
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  let peers = 0;
  let refuseUntil = 0;

  const authorised = (req: IncomingMessage, url: URL): 'query' | 'cookie' | null => {
    if (!hostHeaders().includes(req.headers.host ?? '')) return null;
    const q = url.searchParams.get('token');
    if (q !== null && safeEqual(q, token)) return 'query';
    const c = cookieValue(req.headers.cookie, COOKIE);
    return c !== null && safeEqual(c, token) ? 'cookie' : null;
  };

  server.on('request', (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const auth = authorised(req, url);
    if (!auth)
      return refuse(
        res,
        403,
        'Forbidden: this Compression Studio session needs its token. Open the URL that `studio web` printed.',
      );
    if (auth === 'query') res.setHeader('Set-Cookie', `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('X-Frame-Options', 'DENY');
    if (url.pathname === '/rpc') return void handleRpc(req, res, host, origins());
    if (url.pathname === '/upload') return void handleUpload(req, res, uploadsDir(host.store.home), origins());
    if (req.method !== 'GET' && req.method !== 'HEAD') return refuse(res, 405, 'Method not allowed');
    res.setHeader('Content-Security-Policy', csp());
    if (vite) return vite(req, res, () => refuse(res, 404, 'Not found'));
    serveStatic(rendererDir, url.pathname, res);
  });

  server.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // Every upgrade — ours and Vite's HMR socket — passes the same token, Host and Origin checks first.
    const origin = req.headers.origin;
    if (!authorised(req, url) || (origin !== undefined && !origins().includes(origin))) {
      socket.write('HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return;
    }
    if (url.pathname !== '/ws') {
      if (vite) hmrUpgrades.emit('upgrade', req, socket, head);
      else {
        socket.write('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        socket.destroy();
      }
      return;
    }
    if (Date.now() < refuseUntil) {
      socket.write('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const id = `ws-${++peers}`;
      host.server.connect(webSocketTransport(ws), { id, kind: 'websocket' });
      log(`renderer connected (${id})`);
    });
  });

  port = await listen(server, opts.port ?? 0);
  const url = `http://127.0.0.1:${port}/?token=${encodeURIComponent(token)}`;
  let closed: Promise<void> | null = null;
  return {
    url,
    token,
    port,
    host,
    disconnectAll(refuseMs = 0) {
      refuseUntil = Date.now() + refuseMs;
      for (const c of wss.clients) c.terminate();
    },
    close: () =>
      (closed ??= (async () => {
        for (const c of wss.clients) c.terminate();
        wss.close();
        await vite?.close();
        server.closeAllConnections();
        await new Promise<void>((res) => server.close(() => res()));
        if (ownHost) await host.close();
      })()),
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', rej);
      res((server.address() as AddressInfo).port);
    });
  });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return null;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`${message}\n`);
}

/** Files of the built renderer only (no traversal, no links out); unknown paths get index.html (history routes). */
function serveStatic(root: string, pathname: string, res: ServerResponse): void {
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return refuse(res, 400, 'Bad path');
  }
  let file = resolve(root, `.${rel}`);
  if (file !== root && !file.startsWith(root + sep)) return refuse(res, 403, 'Forbidden');
  if (!existsSync(file) || statSync(file).isDirectory()) file = join(root, 'index.html');
  if (!existsSync(file)) return refuse(res, 503, 'The renderer is not built: run `npm run build:renderer`.');
  const real = realpathSync(file);
  if (!real.startsWith(realpathSync(root) + sep)) return refuse(res, 403, 'Forbidden');
  const type = MIME[extname(real)] ?? 'application/octet-stream';
  res.writeHead(200, {
    'Content-Type': type,
    'Cache-Control': real.endsWith('index.html') ? 'no-store' : 'public, max-age=3600',
  });
  createReadStream(real).pipe(res);
}

/** POST /rpc with `{ service, method, request }`: one call, its reply or error as JSON. */
async function handleRpc(
  req: IncomingMessage,
  res: ServerResponse,
  host: StudioHost,
  origins: string[],
): Promise<void> {
  if (req.method !== 'POST') return refuse(res, 405, 'POST only');
  if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
    return refuse(res, 415, 'application/json only');
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.includes(origin)) return refuse(res, 403, 'Forbidden origin');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_RPC_BODY) return refuse(res, 413, 'Request too large');
    chunks.push(c as Buffer);
  }
  let body: { service?: unknown; method?: unknown; request?: unknown };
  try {
    body = decodeWire(Buffer.concat(chunks).toString('utf8')) as typeof body;
  } catch {
    return refuse(res, 400, 'Body is not JSON');
  }
  const reply = await new Promise<WireMessage>((done) => {
    const conn = oneShotConnection({ id: 'http', kind: 'http' }, done);
    void host.server.receive(conn, {
      t: 'call',
      id: 1,
      service: body?.service,
      method: body?.method,
      request: body?.request,
    });
  });
  res.writeHead(reply.t === 'ok' ? 200 : 400, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(
    encodeWire(
      reply.t === 'ok'
        ? { ok: true, value: reply.value }
        : { ok: false, error: reply.t === 'err' ? reply.error : null },
    ),
  );
}

/**
 * POST /upload?name=<file name>: a model streamed to `<app data>/uploads/` (never held in memory, at most the size
 * protobuf can address), written to a temporary name and renamed when complete. Answers `{ ok, path, size, sha256 }`;
 * the renderer then opens the model by that path. Used for models too large for a WebSocket message.
 */
async function handleUpload(req: IncomingMessage, res: ServerResponse, dir: string, origins: string[]): Promise<void> {
  if (req.method !== 'POST') return refuse(res, 405, 'POST only');
  const origin = req.headers.origin;
  if (origin !== undefined && !origins.includes(origin)) return refuse(res, 403, 'Forbidden origin');
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const name =
    (url.searchParams.get('name') ?? 'model.onnx')
      .replace(/[^\w.-]+/g, '_')
      .replace(/^\.+/, '')
      .slice(0, 120) || 'model.onnx';
  const declared = Number(req.headers['content-length'] ?? NaN);
  const reply = (status: number, body: Record<string, unknown>) => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
  if (declared > READ_LIMITS.model)
    return reply(413, {
      ok: false,
      error: {
        name: 'UploadError',
        code: 'UPLOAD_TOO_LARGE',
        message: `the upload is ${declared} bytes, over the ${READ_LIMITS.model}-byte limit of an .onnx file`,
      },
    });
  const folder = prepareOutputDir(dir, { what: 'upload folder' });
  const tmp = join(folder, `.upload-${randomBytes(6).toString('hex')}`);
  const hash = createHash('sha256');
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > READ_LIMITS.model)
        return done(new Error(`the upload is over the ${READ_LIMITS.model}-byte limit of an .onnx file`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  try {
    await pipeline(req, meter, createWriteStream(tmp, { flags: 'wx' }));
  } catch (e) {
    rmSync(tmp, { force: true });
    return reply(400, {
      ok: false,
      error: { name: 'UploadError', code: 'UPLOAD_FAILED', message: (e as Error).message },
    });
  }
  const sha256 = hash.digest('hex');
  const path = join(folder, `${sha256.slice(0, 12)}-${name.endsWith('.onnx') ? name : `${name}.onnx`}`);
  renameSync(tmp, path);
  reply(200, { ok: true, path, size, sha256 });
}

type Middleware = ((req: IncomingMessage, res: ServerResponse, next: () => void) => void) & { close(): Promise<void> };

/**
 * Vite in middleware mode, rooted at src-renderer. Its HMR socket listens on `upgrades` (only authorised upgrades are
 * forwarded there), and its file access is limited to the renderer's sources, src-shared and the dependencies: no
 * `/@fs/` path reaches the rest of the checkout.
 */
async function viteMiddleware(upgrades: EventEmitter): Promise<Middleware> {
  const { createServer: createVite } = await import('vite');
  const modules = join(REPO_ROOT, 'node_modules');
  const allow = [
    join(REPO_ROOT, 'src-renderer'),
    join(REPO_ROOT, 'src-shared'),
    modules,
    ...(existsSync(modules) ? [realpathSync(modules)] : []),
  ];
  const vite = await createVite({
    configFile: join(REPO_ROOT, 'vite.renderer.config.ts'),
    server: { middlewareMode: true, hmr: { server: upgrades as unknown as Server }, fs: { strict: true, allow } },
    appType: 'spa',
  });
  const mw = ((req: IncomingMessage, res: ServerResponse, next: () => void) =>
    vite.middlewares(req, res, next)) as Middleware;
  mw.close = () => vite.close();
  return mw;
}
