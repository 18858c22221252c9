/**
 * @file The opened model: open it (dropped file, typed path, native dialog, bundled example), its summary and
 * graph view, the bundled examples, and checks of config lists against it. A failed open leaves the previous
 * model in place and says why, where the user dropped the file.
 */
import { defineStore } from 'pinia';
import { ref, shallowRef } from 'vue';
import type {
  CompressionMode,
  Examples,
  GraphView,
  ModelSource,
  OpenedModel,
  TargetsReply,
} from '../../src-shared/ipc/dto.ts';
import { asIpcError, type IpcError } from '../../src-shared/ipc/errors.ts';
import { useHost, type Host, type PickedFile } from '../host/host.ts';

/**
 * Largest file sent as bytes in one message (Electron's IPC; the host's WebSocket takes 64 MiB messages, but the
 * browser mode streams files through the host's upload instead).
 */
export const MAX_MODEL_BYTES = 512 * 1024 * 1024;

/** Largest upload: what protobuf can address in one .onnx file (the host's limit). */
export const MAX_UPLOAD_BYTES = 2 * 1024 * 1024 * 1024 - 1;

export interface OpenError {
  title: string;
  message: string;
  code: string;
}

export const useModelStore = defineStore('model', () => {
  const { api, upload } = useHost();
  const opened = shallowRef<OpenedModel | null>(null);
  const graph = shallowRef<GraphView | null>(null);
  const examples = shallowRef<Examples | null>(null);
  const loading = ref(false);
  const phase = ref('');
  const error = ref<OpenError | null>(null);
  let controller: AbortController | null = null;

  async function loadExamples(): Promise<Examples | null> {
    if (!examples.value) {
      try {
        examples.value = await api.models.examples({});
      } catch {
        examples.value = null;
      }
    }
    return examples.value;
  }

  async function open(source: ModelSource, label: string): Promise<OpenedModel | null> {
    controller?.abort();
    const mine = (controller = new AbortController());
    loading.value = true;
    phase.value = 'reading';
    error.value = null;
    try {
      const m = await api.models.open({ source }, { signal: mine.signal, onProgress: (p) => (phase.value = p.phase) });
      const g = await api.models.graph({ modelId: m.modelId });
      opened.value = m;
      graph.value = g;
      return m;
    } catch (e) {
      const err = asIpcError(e);
      if (err.code !== 'CANCELLED') error.value = describeOpenError(label, err);
      return null;
    } finally {
      if (controller === mine) {
        loading.value = false;
        controller = null;
      }
    }
  }

  /** A file the user dropped or picked in the browser: refused early when it is clearly not a model. */
  async function openFile(file: PickedFile): Promise<OpenedModel | null> {
    if (file.size > (upload ? MAX_UPLOAD_BYTES : MAX_MODEL_BYTES)) {
      error.value = {
        title: `${file.name} is too large`,
        message: `It is ${(file.size / 2 ** 20).toFixed(0)} MiB; open it by path instead.`,
        code: 'TOO_LARGE',
      };
      return null;
    }
    if (file.size === 0) {
      error.value = {
        title: `${file.name} is empty`,
        message: 'An ONNX model file holds a serialized ModelProto; this file has no bytes.',
        code: 'EMPTY',
      };
      return null;
    }
    if (upload) return uploadAndOpen(file, upload);
    const bytes = new Uint8Array(await file.arrayBuffer());
    return open({ kind: 'bytes', name: file.name, bytes }, file.name);
  }

  /** The browser mode: the file streams to the host first, then the host opens its copy. */
  async function uploadAndOpen(file: PickedFile, send: NonNullable<Host['upload']>): Promise<OpenedModel | null> {
    controller?.abort();
    const mine = (controller = new AbortController());
    loading.value = true;
    phase.value = 'uploading';
    error.value = null;
    let path: string;
    try {
      path = (await send(file, { signal: mine.signal })).path;
    } catch (e) {
      const err = asIpcError(e);
      if (err.code !== 'CANCELLED') error.value = describeOpenError(file.name, err);
      if (controller === mine) {
        loading.value = false;
        controller = null;
      }
      return null;
    }
    if (mine.signal.aborted) return null;
    return open({ kind: 'path', path }, file.name);
  }

  const openPath = (path: string) => open({ kind: 'path', path }, path.split(/[\\/]/).pop() ?? path);
  /** Paths the shell asks to open (File › Open model…, recent files); the wizard records them. */
  const requested = ref<{ path: string; at: number } | null>(null);
  api.models.on('openRequested', ({ path }) => (requested.value = { path, at: Date.now() }));
  const openExample = (id: string) => open({ kind: 'example', id }, id);

  /** The native "open file" dialog (Electron); null when cancelled. */
  async function chooseAndOpen(): Promise<OpenedModel | null> {
    try {
      const { path } = await api.settings.chooseFile({
        title: 'Open an ONNX model',
        filters: [{ name: 'ONNX models', extensions: ['onnx'] }],
      });
      return path ? openPath(path) : null;
    } catch (e) {
      error.value = describeOpenError('the file dialog', asIpcError(e));
      return null;
    }
  }

  function cancel(): void {
    controller?.abort();
  }

  function clearError(): void {
    error.value = null;
  }

  /** Checks a config list against the opened model (null when no model is open). */
  async function targets(
    mode: CompressionMode,
    configList: unknown,
    signal?: AbortSignal,
  ): Promise<TargetsReply | null> {
    if (!opened.value) return null;
    return api.models.targets({ modelId: opened.value.modelId, mode, configList }, { signal });
  }

  return {
    opened,
    graph,
    examples,
    loading,
    phase,
    error,
    requested,
    loadExamples,
    open,
    openFile,
    openPath,
    openExample,
    chooseAndOpen,
    cancel,
    clearError,
    targets,
  };
});

function describeOpenError(label: string, err: IpcError): OpenError {
  const first = err.message.split('\n')[0]!;
  if (err.code === 'DISCONNECTED') return { title: 'The host is not reachable', message: first, code: err.code };
  // A valid model whose weights are in data files that did not come with it: not a format problem.
  if (err.name === 'MissingExternalDataError')
    return { title: `${label} is missing its weight data`, message: first, code: err.code };
  if (err.name === 'ModelFormatError' || /protobuf|ModelProto|not an ONNX|invalid wire|decode/i.test(first)) {
    return {
      title: `${label} is not an ONNX model`,
      message: `${first}. Export the model to ONNX (e.g. torch.onnx.export) and open the .onnx file.`,
      code: err.code,
    };
  }
  return { title: `Could not open ${label}`, message: first, code: err.code };
}
