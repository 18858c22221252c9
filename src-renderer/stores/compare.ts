/** @file The comparison of two or more runs: their details, metric series and per-layer widths in one call, and the "only differences" switch. */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { CompareReply, RemeasureReply } from '../../src-shared/ipc/dto.ts';
import { asIpcError } from '../../src-shared/ipc/errors.ts';
import { useHost } from '../host/host.ts';

export const useCompareStore = defineStore('compare', () => {
  const { api } = useHost();
  const data = shallowRef<CompareReply | null>(null);
  const loading = ref(false);
  const error = ref<string | null>(null);
  const onlyDifferences = ref(true);
  /** Latencies of the compared runs measured again side by side (null until asked for). */
  const remeasured = shallowRef<RemeasureReply | null>(null);
  const remeasuring = ref(false);

  async function load(runIds: string[]): Promise<void> {
    if (runIds.length < 2) {
      data.value = null;
      error.value = 'Choose at least two runs to compare (in Runs, tick them and press Compare).';
      return;
    }
    loading.value = true;
    remeasured.value = null;
    // another selection: the previous comparison is not shown under the new one's address while this one loads
    const shown = data.value?.runs.map((r) => r.id) ?? [];
    if (shown.join(',') !== runIds.join(',')) data.value = null;
    try {
      data.value = await api.runs.compare({ runIds });
      error.value = null;
    } catch (e) {
      error.value = asIpcError(e).message;
    } finally {
      loading.value = false;
    }
  }

  /** Times the compared runs' models again now, one after another, each alternating with its original. */
  async function remeasure(): Promise<void> {
    const ids = data.value?.runs.map((r) => r.id) ?? [];
    if (ids.length === 0) return;
    remeasuring.value = true;
    try {
      remeasured.value = await api.runs.remeasure({ runIds: ids });
    } catch (e) {
      error.value = asIpcError(e).message;
    } finally {
      remeasuring.value = false;
    }
  }

  return { data, loading, error, onlyDifferences, remeasured, remeasuring, load, remeasure };
});
