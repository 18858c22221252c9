/**
 * @file Starts a TypeScript worker-thread entry through tsx (development and tests; the packaged app bundles the
 * entry as plain JavaScript). Worker threads do not take `--import tsx`, so the loader is registered here.
 */
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.tsEntry);
