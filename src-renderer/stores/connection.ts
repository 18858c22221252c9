/**
 * @file The state of the connection to the host, for the banner the app shows while it is lost, and a counter the
 * other stores watch to resync after it comes back.
 */
import { defineStore } from 'pinia';
import { ref } from 'vue';
import { useHost, type ConnectionState } from '../host/host.ts';

export const useConnectionStore = defineStore('connection', () => {
  const host = useHost();
  const state = ref<ConnectionState>(host.connection.state);
  const reason = ref<string | null>(null);
  /** Incremented after each reconnection. */
  const resyncs = ref(0);
  host.connection.onState((s, info) => {
    state.value = s;
    if (s !== 'open') reason.value = info.reason ?? null;
    if (s === 'open') reason.value = null;
    if (info.reconnected) resyncs.value++;
  });
  return { state, reason, resyncs };
});
