/** @file A debounced watcher: run an effect once its sources have been still for a while (live validation while typing). */
import { onScopeDispose, watch, type WatchSource } from 'vue';

/**
 * Calls `effect` `ms` after the last change of `source` (and once at start when `immediate`).
 *
 * @example watchDebounced(() => draft.configText, () => store.checkTargets(), 300);
 */
export function watchDebounced<T>(
  source: WatchSource<T>,
  effect: (value: T) => void,
  ms: number,
  opts: { immediate?: boolean; deep?: boolean } = {},
): void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  const stop = watch(
    source,
    (value) => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => effect(value), ms);
    },
    { immediate: opts.immediate, deep: opts.deep },
  );
  onScopeDispose(() => {
    if (timer) clearTimeout(timer);
    stop();
  });
}
