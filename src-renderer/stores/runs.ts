/**
 * @file Runs: the history list (search, sort, tags, notes, delete), the details of the runs being looked at, and
 * their live state from the host's events (progress with ETA, step statuses, log lines, loss points). After a
 * lost connection comes back everything shown is fetched again, so nothing is missed.
 */
import { defineStore } from 'pinia';
import { reactive, ref, watch } from 'vue';
import type { LogEvent, ProgressEvent, RunStatus, StepStatus } from '../../src-shared/experiment.ts';
import type { LayerWidth, MetricSeries, RunDetail, RunFilter, RunSummary } from '../../src-shared/ipc/dto.ts';
import { asIpcError } from '../../src-shared/ipc/errors.ts';
import { useHost } from '../host/host.ts';
import { useConnectionStore } from './connection.ts';
import { useNotifyStore } from './notify.ts';

export interface LiveRun {
  status: RunStatus;
  progress: ProgressEvent | null;
  steps: Record<number, StepStatus>;
  logs: string[];
  /** Loss points as they arrive, per step index. */
  loss: { x: number; value: number; stepIndex: number }[];
  /** Loss parts by name (`loss.task`, `loss.distill`) of the steps that report them. */
  parts: Record<string, { x: number; value: number; stepIndex: number }[]>;
}

export const ACTIVE_STATUSES: readonly RunStatus[] = ['queued', 'running'];
const MAX_LOG_LINES = 2000;

export const useRunsStore = defineStore('runs', () => {
  const { api } = useHost();
  const notify = useNotifyStore();
  const list = ref<RunSummary[]>([]);
  const filter = reactive<{ text: string; sort: string; order: 'asc' | 'desc'; tag: string; status: RunStatus | '' }>({
    text: '',
    sort: 'created',
    order: 'desc',
    tag: '',
    status: '',
  });
  const listLoading = ref(false);
  const listError = ref<string | null>(null);
  const details = reactive<Record<string, RunDetail>>({});
  const detailErrors = reactive<Record<string, string>>({});
  const live = reactive<Record<string, LiveRun>>({});
  const series = reactive<Record<string, MetricSeries[string]>>({});
  const layers = reactive<Record<string, LayerWidth[]>>({});
  /** Runs the user is looking at (their details are kept fresh). */
  const watched = new Set<string>();

  const liveOf = (runId: string): LiveRun =>
    (live[runId] ??= { status: 'queued', progress: null, steps: {}, logs: [], loss: [], parts: {} });
  const logLine = (e: LogEvent) =>
    `${new Date(e.t).toISOString().slice(11, 19)} ${e.level === 'info' ? '' : `${e.level}: `}${e.message}`;
  /** run.log lines (`<ISO time> <level> <message>`) in the same form as live ones. */
  const storedLine = (line: string) =>
    line.replace(
      /^\d{4}-\d\d-\d\dT(\d\d:\d\d:\d\d)\.\d+Z (\w+) /,
      (_m, t: string, level: string) => `${t} ${level === 'info' ? '' : `${level}: `}`,
    );

  api.runs.on('progress', ({ runId, event }) => {
    const l = liveOf(runId);
    l.progress = event;
    if (l.status === 'queued') l.status = 'running';
    if (event.loss !== undefined && !event.heartbeat && event.stepIndex >= 0 && event.stepIndex < event.stepCount) {
      // x is the training step when the step says it (a point per ORT call of several steps), else a count.
      l.loss.push({ x: event.step ?? l.loss.length, value: event.loss, stepIndex: event.stepIndex });
      for (const [name, value] of Object.entries(event.parts ?? {}))
        (l.parts[name] ??= []).push({ x: event.step ?? l.loss.length - 1, value, stepIndex: event.stepIndex });
    }
  });
  api.runs.on('log', ({ runId, event }) => {
    const l = liveOf(runId);
    l.logs.push(logLine(event));
    if (l.logs.length > MAX_LOG_LINES) l.logs.splice(0, l.logs.length - MAX_LOG_LINES);
  });
  api.runs.on('step', ({ runId, index, status }) => {
    liveOf(runId).steps[index] = status;
    if (status === 'done' && watched.has(runId)) void refreshDetail(runId);
  });
  api.runs.on('status', ({ runId, status, error }) => {
    liveOf(runId).status = status;
    if (ACTIVE_STATUSES.includes(status)) return;
    if (watched.has(runId)) void load(runId);
    if (status === 'failed' && error)
      notify.push({
        kind: 'error',
        title: `Run ${details[runId]?.name ?? runId} failed`,
        message: error.message.split('\n')[0]!,
        code: error.code,
      });
    // The run on screen shows its own status and report; a notice there would only cover them.
    if (status === 'succeeded' && !watched.has(runId))
      notify.push({
        kind: 'success',
        title: `Run ${details[runId]?.name ?? runId} finished`,
        message: 'The report is ready.',
      });
  });
  api.runs.on('report', ({ runId, report }) => {
    const d = details[runId];
    if (d) details[runId] = { ...d, report, before: report.before, after: report.after };
  });
  let changedTimer: ReturnType<typeof setTimeout> | null = null;
  api.runs.on('changed', () => {
    if (changedTimer) clearTimeout(changedTimer);
    changedTimer = setTimeout(() => void refreshList(), 150);
  });

  watch(
    () => useConnectionStore().resyncs,
    () => void resync(),
  );

  async function refreshList(): Promise<void> {
    listLoading.value = true;
    try {
      const f: RunFilter = { sort: filter.sort, order: filter.order };
      if (filter.text.trim()) f.text = filter.text.trim();
      if (filter.tag) f.tag = filter.tag;
      if (filter.status) f.status = [filter.status];
      list.value = await api.runs.list(f);
      listError.value = null;
    } catch (e) {
      listError.value = asIpcError(e).message;
    } finally {
      listLoading.value = false;
    }
  }

  async function loadSeries(runId: string): Promise<void> {
    try {
      const s = await api.runs.metrics({ runIds: [runId] });
      series[runId] = s[runId] ?? {};
    } catch {
      /* the curve keeps its live points */
    }
  }

  /** Loads (or reloads) a run: details, metric series, per-layer widths, log. */
  async function load(runId: string): Promise<RunDetail | null> {
    watched.add(runId);
    try {
      const [d, log] = await Promise.all([api.runs.get({ runId }), api.runs.log({ runId })]);
      details[runId] = d;
      delete detailErrors[runId];
      const l = liveOf(runId);
      l.status = d.status;
      if (d.progress) l.progress = d.progress;
      for (const s of d.steps) l.steps[s.index] = s.status;
      if (log.lines.length >= l.logs.length) l.logs = log.lines.map(storedLine);
      await loadSeries(runId);
      if (!ACTIVE_STATUSES.includes(d.status)) layers[runId] = await api.runs.layers({ runId });
      return d;
    } catch (e) {
      detailErrors[runId] = asIpcError(e).message;
      return null;
    }
  }

  /** The run's steps and status after a step finished (durations, summaries) and its metric series. */
  async function refreshDetail(runId: string): Promise<void> {
    try {
      const d = await api.runs.get({ runId });
      details[runId] = d;
      await loadSeries(runId);
    } catch {
      /* the next status event reloads it */
    }
  }

  function unwatch(runId: string): void {
    watched.delete(runId);
  }

  /** After a reconnect: the list, the runs on screen, and the progress of active runs. */
  async function resync(): Promise<void> {
    await refreshList();
    await Promise.all([...watched].map((id) => load(id)));
    try {
      for (const a of await api.runs.active({})) {
        const l = liveOf(a.runId);
        l.status = a.status;
        if (a.progress) l.progress = a.progress;
      }
    } catch {
      /* the next event fills it in */
    }
  }

  async function cancel(runId: string): Promise<void> {
    try {
      await api.experiments.cancel({ runId });
    } catch (e) {
      notify.error('Could not cancel the run', e);
    }
  }

  async function resume(runId: string): Promise<void> {
    try {
      const l = liveOf(runId);
      l.loss = [];
      l.parts = {};
      l.progress = null;
      await api.experiments.resume({ runId });
      l.status = 'queued';
    } catch (e) {
      notify.error('Could not resume the run', e);
    }
  }

  /** Sweeps started from this window: their runs, and when they began (for the sweep's ETA). */
  const sweeps = ref<{ sweepId: string; runIds: string[]; startedAt: number }[]>([]);

  /** Start a sweep over a run's plan; its runs are shown in the history under the tag `sweep:<id>`. */
  async function sweep(runId: string, grid: Record<string, unknown[]>): Promise<string | null> {
    try {
      const r = await api.experiments.sweep({ runId, grid });
      sweeps.value = [...sweeps.value, { ...r, startedAt: Date.now() }];
      for (const id of r.runIds) liveOf(id).status = 'queued';
      return r.sweepId;
    } catch (e) {
      notify.error('Could not start the sweep', e);
      return null;
    }
  }

  async function remove(runId: string): Promise<boolean> {
    try {
      await api.runs.delete({ runId });
      list.value = list.value.filter((r) => r.id !== runId);
      delete details[runId];
      return true;
    } catch (e) {
      notify.error('Could not delete the run', e);
      return false;
    }
  }

  async function updateMeta(runId: string, patch: { name?: string; tags?: string[]; notes?: string }): Promise<void> {
    try {
      const r = await api.runs.update({ runId, ...patch });
      list.value = list.value.map((x) => (x.id === runId ? r : x));
      if (details[runId]) details[runId] = { ...details[runId]!, name: r.name, tags: r.tags, notes: r.notes };
    } catch (e) {
      notify.error('Could not save the name / tags / notes', e);
    }
  }

  return {
    list,
    filter,
    listLoading,
    listError,
    details,
    detailErrors,
    live,
    series,
    layers,
    refreshList,
    load,
    unwatch,
    resync,
    cancel,
    resume,
    sweep,
    sweeps,
    remove,
    updateMeta,
    liveOf,
  };
});
