/** @file `studio web`: the browser mode as a command — start the web host, print its URL, stop on a signal. Node layer. */
import { startWebHost, type WebHost, type WebHostOptions } from '../host/web.ts';

/**
 * `studio web`: starts the browser mode, prints the URL, stops on SIGINT / SIGTERM.
 *
 * @example await webCommand({ port: 4600 });
 */
export async function webCommand(
  opts: WebHostOptions & { stdout?: { write(s: string): unknown } } = {},
): Promise<WebHost> {
  const out = opts.stdout ?? process.stdout;
  const web = await startWebHost({ ...opts, log: opts.log ?? ((l) => process.stderr.write(`${l}\n`)) });
  out.write(`Compression Studio is running in browser mode.\nOpen ${web.url}\n(Ctrl+C stops it.)\n`);
  const stop = () => void web.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return web;
}
