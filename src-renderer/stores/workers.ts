/** @file The Workers panel's state: the configured queue's workers and jobs, polled every few seconds while shown. */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { QueueStatusDto } from '../../src-shared/ipc/dto.ts';
import { asIpcError } from '../../src-shared/ipc/errors.ts';
import { useHost } from '../host/host.ts';

/** How often the panel asks again (heartbeats come every 2 s). */
export const WORKERS_POLL_MS = 3000;

export const useWorkersStore = defineStore('workers', () => {
  const { api } = useHost();
  const status = shallowRef<QueueStatusDto | null>(null);
  const error = ref<string | null>(null);
  let timer: ReturnType<typeof setInterval> | null = null;

  async function refresh(): Promise<void> {
    try {
      status.value = await api.queue.status({});
      error.value = null;
    } catch (e) {
      error.value = asIpcError(e).message;
    }
  }

  /** Poll while the panel is shown. */
  function watch(): void {
    if (timer) return;
    void refresh();
    timer = setInterval(() => void refresh(), WORKERS_POLL_MS);
  }

  function unwatch(): void {
    if (timer) clearInterval(timer);
    timer = null;
  }

  return { status, error, refresh, watch, unwatch };
});
