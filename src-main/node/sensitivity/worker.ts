/**
 * @file Entry of a scan pool worker process: receives scan point jobs over the IPC channel, runs them one at a time
 * with a cache shared across its points, and answers with each result or a serialized error. Started by pool.ts.
 */
import type { ScanPointJob } from '../../../src-shared/sensitivity.ts';
import { PointCache, runScanPoint } from './point.ts';

const cache = new PointCache();

process.on('message', (raw: unknown) => {
  const msg = raw as { type: 'job'; job: ScanPointJob } | { type: 'exit' };
  if (msg.type === 'exit') process.exit(0);
  if (msg.type !== 'job') return;
  runScanPoint(msg.job, cache).then(
    (result) => process.send?.({ type: 'result', result }),
    (err: unknown) => {
      const e = err as { name?: string; message?: string; code?: string; details?: unknown; stack?: string };
      process.send?.({
        type: 'error',
        index: msg.job.index,
        error: {
          name: e?.name ?? 'Error',
          message: e?.message ?? String(err),
          code: e?.code,
          details: e?.details,
          stack: e?.stack,
        },
      });
    },
  );
});
// the parent is gone (a queue worker killed with -9, a pool stopped): never run on as an orphan
process.on('disconnect', () => process.exit(0));
process.send?.({ type: 'ready' });
