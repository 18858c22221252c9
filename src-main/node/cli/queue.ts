/**
 * @file `studio worker` (pull jobs from a PostgreSQL queue and run them here) and `studio queue up|status` (a local
 * embedded PostgreSQL to try it on one machine; what the queue holds). The queue modules load only here, on demand.
 * The URL is never printed with its password. May import node:* and the node layers.
 */
import { redactQueueUrl } from '../../../src-shared/queue.ts';
import { table } from './format.ts';
import type { CommandIO } from './prune.ts';

const processIO: CommandIO = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
};

export interface WorkerCommandOptions {
  queue: string;
  providers?: string[];
  concurrency?: number;
  name?: string;
  cacheDir?: string;
  artifactsDir?: string;
}

/**
 * Run a worker until SIGINT / SIGTERM (then it stops taking jobs; a point running is abandoned and retried elsewhere).
 * @example await workerCommand({ queue: 'postgres://studio:pw@db.lan/studio', providers: ['cuda', 'cpu'] });
 */
export async function workerCommand(o: WorkerCommandOptions, io: CommandIO = processIO): Promise<void> {
  const { startWorker } = await import('../queue/worker.ts');
  const { probeProviders } = await import('../runtime/providers.ts');
  const found = (await probeProviders()).filter((p) => p.available).map((p) => p.name);
  io.stderr(`providers found here (studio providers): ${found.join(', ')}\n`);
  const w = await startWorker({
    url: o.queue,
    providers: o.providers,
    concurrency: o.concurrency,
    name: o.name,
    cacheDir: o.cacheDir,
    artifactsDir: o.artifactsDir,
    log: (line) => io.stderr(`${new Date().toISOString()} ${line}\n`),
  });
  const stop = () => void w.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await w.done;
  const s = w.stats();
  io.stdout(`worker ${w.name} stopped: ${s.done} done, ${s.failed} failed\n`);
}

/** `studio queue up`: start an embedded PostgreSQL here and keep it running until interrupted. */
export async function queueUpCommand(o: { dir?: string; port?: number }, io: CommandIO = processIO): Promise<void> {
  const { startEmbeddedPostgres } = await import('../queue/embedded.ts');
  const { openQueue } = await import('../queue/connect.ts');
  const pg = await startEmbeddedPostgres({ dir: o.dir, port: o.port });
  const q = await openQueue(pg.url);
  await q.close();
  io.stdout(
    [
      `PostgreSQL ${pg.dir} is up on 127.0.0.1:${pg.port}, pg-boss schema ready`,
      `queue URL (password hidden): ${redactQueueUrl(pg.url)}`,
      `the full URL is in ${pg.urlFile} (mode 0600); on this machine:`,
      `  export STUDIO_QUEUE="$(cat ${pg.urlFile})"`,
      '  studio worker &            # as many as you like, here or elsewhere',
      '  studio sensitivity model.onnx --data <folder>   # now runs as jobs',
      'Ctrl-C stops the server (the data folder stays).',
      '',
    ].join('\n'),
  );
  await new Promise<void>((resolveStop) => {
    process.once('SIGINT', resolveStop);
    process.once('SIGTERM', resolveStop);
  });
  await pg.stop();
  io.stdout('PostgreSQL stopped\n');
}

/** `studio queue status`: connected workers and jobs by state. */
export async function queueStatusCommand(o: { queue: string; json?: boolean }, io: CommandIO = processIO) {
  const { openQueue } = await import('../queue/connect.ts');
  const { queueStatus } = await import('../queue/status.ts');
  const q = await openQueue(o.queue);
  try {
    const s = await queueStatus(q);
    if (o.json) io.stdout(`${JSON.stringify(s, null, 2)}\n`);
    else {
      io.stdout(`queue ${s.queue}\n`);
      io.stdout(
        `jobs: ${s.jobs.queued} queued, ${s.jobs.running} running, ${s.jobs.done} done, ${s.jobs.failed} failed\n`,
      );
      io.stdout(
        `${table([
          ['worker', 'machine', 'providers', 'slots', 'running', 'done', 'failed', 'last heartbeat'],
          ...s.workers.map((w) => [
            w.name,
            w.machine,
            w.providers.join(','),
            String(w.concurrency),
            String(w.running),
            String(w.done),
            String(w.failed),
            `${w.silentSeconds.toFixed(1)} s ago`,
          ]),
        ])}\n`,
      );
    }
    return s;
  } finally {
    await q.close();
  }
}
