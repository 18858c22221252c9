/**
 * @file The queue service behind the Workers panel: the configured queue's workers and jobs, its URL redacted.
 * The URL comes from settings.json (`queue`, edited by the user, never over the contract) or STUDIO_QUEUE; the
 * renderer never sees the password. One connection, opened on first use and closed with the host.
 * Imports node:* and the node layers.
 */
import type { Contract, ServiceImpl } from '../../../src-shared/ipc/contract.ts';
import type { QueueStatusDto } from '../../../src-shared/ipc/dto.ts';
import { redactQueueUrl } from '../../../src-shared/queue.ts';
import type { Queue } from '../queue/connect.ts';

export interface QueueService extends ServiceImpl<Contract['queue']> {
  close(): Promise<void>;
}

const EMPTY = { workers: [], jobs: { queued: 0, running: 0, done: 0, failed: 0 } };

/**
 * @param url the configured URL, undefined for none; throws QueueUrlError for a malformed one (shown as the error)
 * @example const queue = createQueueService(() => configuredQueue({ setting: settings.queue() }));
 */
export function createQueueService(url: () => string | undefined): QueueService {
  let open: { url: string; q: Promise<Queue> } | null = null;
  const connect = (u: string) => {
    if (open?.url !== u) {
      void open?.q.then((q) => q.close()).catch(() => undefined);
      open = { url: u, q: import('../queue/connect.ts').then((m) => m.openQueue(u, { connectTimeoutMs: 5000 })) };
    }
    return open.q;
  };
  return {
    async status(): Promise<QueueStatusDto> {
      let u: string | undefined;
      try {
        u = url();
      } catch (e) {
        return { configured: true, queue: null, error: (e as Error).message, ...EMPTY };
      }
      if (!u) return { configured: false, queue: null, error: null, ...EMPTY };
      try {
        const { queueStatus } = await import('../queue/status.ts');
        const s = await queueStatus(await connect(u));
        return { configured: true, queue: s.queue, error: null, workers: s.workers, jobs: s.jobs };
      } catch (e) {
        open = null; // try again on the next call
        return { configured: true, queue: redactQueueUrl(u), error: (e as Error).message, ...EMPTY };
      }
    },
    async close() {
      const o = open;
      open = null;
      await o?.q.then((q) => q.close()).catch(() => undefined);
    },
  };
}
