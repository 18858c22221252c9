/**
 * @file The renderer's Content Security Policy, one definition for the Electron shell and the web host: scripts
 * and styles only from the app itself, no eval, no inline script, no plugins, no framing, connections only to
 * the host. Pure string building; imports nothing.
 */

/**
 * The CSP header value.
 *
 * @example contentSecurityPolicy({ connect: ['ws://127.0.0.1:4600'] })
 */
export function contentSecurityPolicy(opts: { connect?: readonly string[]; dev?: boolean } = {}): string {
  const directives: Record<string, string[]> = {
    'default-src': ["'self'"],
    // Vite's dev server injects an inline preamble; the built app needs none.
    'script-src': opts.dev ? ["'self'", "'unsafe-inline'"] : ["'self'"],
    'style-src': ["'self'", "'unsafe-inline'"],
    'img-src': ["'self'", 'data:', 'blob:'],
    'font-src': ["'self'", 'data:'],
    'connect-src': ["'self'", ...(opts.connect ?? [])],
    'worker-src': ["'self'", 'blob:'],
    'object-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"],
  };
  return Object.entries(directives)
    .map(([k, v]) => `${k} ${v.join(' ')}`)
    .join('; ');
}
