/**
 * @file Messages for the user that are not tied to one field: a failed action, a run that ended, a lost
 * connection coming back. Each carries the error's code and issues so the view can show them in full.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { asIpcError, errorIssues } from '../../src-shared/ipc/errors.ts';

export interface Notice {
  id: number;
  kind: 'error' | 'info' | 'success';
  title: string;
  message: string;
  code?: string;
  issues?: { path: string; message: string }[];
}

export const useNotifyStore = defineStore('notify', () => {
  const notices = ref<Notice[]>([]);
  let next = 1;

  function push(n: Omit<Notice, 'id'>, ttlMs = n.kind === 'error' ? 12_000 : 5_000): number {
    const id = next++;
    notices.value = [...notices.value.slice(-4), { ...n, id }];
    if (ttlMs > 0) setTimeout(() => dismiss(id), ttlMs);
    return id;
  }

  /** Shows an error from the host (or any thrown value) with its code and issues. */
  function error(title: string, e: unknown): number {
    const err = asIpcError(e);
    return push({
      kind: 'error',
      title,
      message: err.message.split('\n')[0]!,
      code: err.code,
      issues: errorIssues(err),
    });
  }

  function dismiss(id: number): void {
    notices.value = notices.value.filter((n) => n.id !== id);
  }

  return { notices, push, error, dismiss };
});
