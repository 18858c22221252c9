/** @file Settings from the host (theme, recent files, shell facts) and the applied theme. */
import { defineStore } from 'pinia';
import { computed, ref } from 'vue';
import type { ExecutionProvider } from '../../src-shared/experiment.ts';
import type { Settings } from '../../src-shared/ipc/dto.ts';
import { applyTheme, rememberedTheme, type ThemeSetting } from '../composables/theme.ts';
import { useHost } from '../host/host.ts';
import { useNotifyStore } from './notify.ts';

export const useSettingsStore = defineStore('settings', () => {
  const { api } = useHost();
  const settings = ref<Settings | null>(null);
  const theme = ref<ThemeSetting>(rememberedTheme());
  applyTheme(theme.value);

  const take = (s: Settings) => {
    settings.value = s;
    theme.value = s.theme;
    applyTheme(s.theme);
  };
  api.settings.on('changed', take);

  async function load(): Promise<void> {
    try {
      take(await api.settings.get({}));
    } catch (e) {
      useNotifyStore().error('Could not read the settings', e);
    }
  }

  async function setTheme(t: ThemeSetting): Promise<void> {
    theme.value = t;
    applyTheme(t);
    try {
      take(await api.settings.set({ theme: t }));
    } catch (e) {
      useNotifyStore().error('Could not save the theme', e);
    }
  }

  /** The provider new experiments start with. */
  async function setProvider(ep: ExecutionProvider): Promise<void> {
    try {
      take(await api.settings.set({ executionProvider: ep }));
    } catch (e) {
      useNotifyStore().error('Could not save the execution provider', e);
    }
  }

  const nativeDialogs = computed(() => settings.value?.nativeDialogs ?? false);
  const executionProvider = computed<ExecutionProvider>(() => settings.value?.executionProvider ?? 'cpu');
  return { settings, theme, nativeDialogs, executionProvider, load, setTheme, setProvider };
});
