/**
 * @file A one-shot process that probes the execution providers (`probeProviders`) and sends the list to its parent:
 * the app's host never creates a session itself, so a provider whose driver crashes costs this process only.
 * Run by `probeProvidersApart`; run directly it prints the list as JSON.
 */
import { probeProviders } from './providers.ts';

const list = await probeProviders();
if (process.send) process.send(list, () => process.exit(0));
else process.stdout.write(`${JSON.stringify(list)}\n`);
