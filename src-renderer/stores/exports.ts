/** @file Export of a run to a folder: a suggested folder, the native folder dialog where there is one, the export itself and its result or fault. */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type { ExportResultDto } from '../../src-shared/ipc/dto.ts';
import { asIpcError } from '../../src-shared/ipc/errors.ts';
import { useHost } from '../host/host.ts';

export const useExportStore = defineStore('exports', () => {
  const { api } = useHost();
  const dir = ref('');
  const overwrite = ref(false);
  const busy = ref(false);
  const result = shallowRef<ExportResultDto | null>(null);
  const error = ref<{ message: string; code: string } | null>(null);

  async function prepare(runId: string): Promise<void> {
    result.value = null;
    error.value = null;
    dir.value = '';
    try {
      const suggested = (await api.exports.suggestDir({ runId })).dir;
      // A folder the user typed while the suggestion was on its way is theirs: a late suggestion does not replace it.
      if (dir.value === '') dir.value = suggested;
    } catch {
      /* no suggestion: the field stays as the user left it */
    }
  }

  async function chooseFolder(): Promise<void> {
    try {
      const { path } = await api.settings.chooseFolder({ title: 'Export to folder' });
      if (path) dir.value = path;
    } catch (e) {
      error.value = { message: asIpcError(e).message, code: asIpcError(e).code };
    }
  }

  async function run(runId: string): Promise<boolean> {
    busy.value = true;
    error.value = null;
    result.value = null;
    try {
      result.value = await api.exports.run({ runId, dir: dir.value.trim(), overwrite: overwrite.value });
      return true;
    } catch (e) {
      const err = asIpcError(e);
      error.value = { message: err.message.split('\n')[0]!, code: err.code };
      return false;
    } finally {
      busy.value = false;
    }
  }

  return { dir, overwrite, busy, result, error, prepare, chooseFolder, run };
});
