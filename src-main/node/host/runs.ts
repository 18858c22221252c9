/**
 * @file The experiments, runs and exports services over the runner and the store: validate and start plans,
 * cancel and resume runs, list / get / compare them, follow their jobs and re-broadcast progress, log, step and
 * status as contract events. Imports jobs, store and src-shared; never Electron or the transports.
 */
import { probePath } from '../io/guard.ts';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { compressorCapabilities } from '../../../src-shared/compressors.ts';
import {
  knownStepKinds,
  mapPlanPaths,
  PlanError,
  safeParsePlan,
  type Plan,
  type PlanIssue,
  type ProgressEvent,
} from '../../../src-shared/experiment.ts';
import type { Contract, ServiceImpl } from '../../../src-shared/ipc/contract.ts';
import type { LayerWidth, MetricSeries, RemeasureReply, RunDetail } from '../../../src-shared/ipc/dto.ts';
import { IpcError } from '../../../src-shared/ipc/errors.ts';
import { ranByLabel } from '../../../src-shared/queue.ts';
import { expandSweep, sweepTags } from '../../../src-shared/sweep.ts';
import { newSweepId } from '../jobs/sweep.ts';
import { checkPlanInputs, exportRun, ExportError, registeredSteps, type Job, type Runner } from '../jobs/index.ts';
import { compareLatency, probeProvidersApart, type ProviderInfo } from '../runtime/index.ts';
import { RUN_SORT_KEYS, type RunSortKey, type Store } from '../store/index.ts';
import { planModelIssues } from './model-work.ts';
import { offLoopOnce } from './models.ts';

/** Sends a contract event to every connected renderer. */
export type Emit = (service: 'runs' | 'settings', event: string, data: unknown) => void;

export interface RunServicesOptions {
  store: Store;
  runner: Runner;
  emit: Emit;
  /** Folders exports are confined to (undefined: anywhere the user names). */
  exportRoots?: () => readonly string[] | undefined;
  /** Worker threads of the model-reading work (plan checks, layer widths): their module and time bound. */
  offLoop?: { workerEntry?: string; timeoutMs?: number };
}

export interface RunServices {
  experiments: ServiceImpl<Contract['experiments']>;
  runs: ServiceImpl<Contract['runs']>;
  exports: ServiceImpl<Contract['exports']>;
}

/**
 * Faults of a plan the host would refuse: schema, config lists, missing files, kinds without an executor, and the
 * checks that read the model (`modelIssues`; the host runs them on a worker thread, bounded in time).
 */
export async function planIssues(
  raw: unknown,
  modelIssues: (plan: Plan) => PlanIssue[] | Promise<PlanIssue[]> = planModelIssues,
): Promise<{ plan: Plan | null; issues: PlanIssue[] }> {
  const parsed = safeParsePlan(raw);
  if (!parsed.ok) return { plan: null, issues: parsed.issues };
  const plan = mapPlanPaths(parsed.plan, (f) => resolve(f));
  const have = new Set(registeredSteps());
  const issues = [...checkPlanInputs(plan)];
  plan.steps.forEach((s, i) => {
    if (!have.has(s.kind))
      issues.push({
        path: `$.steps[${i}].kind`,
        message: `this build has no executor for step kind "${s.kind}" (available: ${[...have].join(', ') || 'none'})`,
      });
  });
  if (!issues.some((i) => i.path === '$.model')) issues.push(...(await modelIssues(plan)));
  return { plan, issues };
}

/**
 * The services that drive and read runs.
 *
 * @example const { experiments, runs, exports } = createRunServices({ store, runner, emit: server.emit.bind(server) });
 */
export function createRunServices({ store, runner, emit, exportRoots, offLoop }: RunServicesOptions): RunServices {
  const latest = new Map<string, ProgressEvent>();
  // Reading models is long or risky file work: it runs on worker threads, bounded in time.
  const modelIssues = (plan: Plan) =>
    offLoopOnce<PlanIssue[]>('planIssues', { plan }, { ...offLoop, what: `checking the plan's model ${plan.model}` });

  const follow = (job: Job) => {
    job.on('progress', (event) => {
      latest.set(job.runId, event);
      emit('runs', 'progress', { runId: job.runId, event });
    });
    job.on('log', (event) => emit('runs', 'log', { runId: job.runId, event }));
    job.on('step', (s) => emit('runs', 'step', { runId: job.runId, ...s }));
    job.on('status', (status) => {
      if (status === 'queued' || status === 'running')
        emit('runs', 'status', { runId: job.runId, status, error: null });
    });
    void job.done.then((outcome) => {
      latest.delete(job.runId);
      if (outcome.report) emit('runs', 'report', { runId: job.runId, report: outcome.report });
      emit('runs', 'status', { runId: job.runId, status: outcome.status, error: outcome.error });
      emit('runs', 'changed', { runId: job.runId, change: 'updated' });
    });
  };

  // runs this host re-attached to at its start (queue jobs still out) are shown like the ones it starts
  for (const job of runner.active()) follow(job);

  const detail = (runId: string): RunDetail => {
    const d = store.getRunDetail(store.resolveRunId(runId));
    if (!d) throw new IpcError({ name: 'StoreError', code: 'RUN_NOT_FOUND', message: `no run "${runId}"` });
    return { ...d, progress: latest.get(d.id) ?? null };
  };

  /** Each run's layer widths, input model → latest model, read on one worker thread for all of them. */
  const layers = async (runIds: readonly string[]): Promise<LayerWidth[][]> => {
    const pairs = runIds.map((id) => {
      const run = store.getRun(store.resolveRunId(id));
      if (!run || !existsSync(run.plan.model)) return null;
      const after = store.latestModel(run.id);
      return { before: run.plan.model, after: after && existsSync(after.model.path) ? after.model.path : null };
    });
    if (pairs.every((p) => p === null)) return pairs.map(() => []);
    return offLoopOnce<LayerWidth[][]>(
      'widthDiffs',
      { pairs },
      { ...offLoop, what: `reading the layer widths of run${runIds.length > 1 ? 's' : ''} ${runIds.join(', ')}` },
    );
  };

  const series = (runIds: readonly string[], names?: readonly string[]): MetricSeries => {
    const ids = runIds.map((id) => store.resolveRunId(id));
    const m = store.metricSeries(ids, names);
    return Object.fromEntries(
      [...m].map(([id, byName]) => [
        id,
        Object.fromEntries(
          [...byName].map(([n, pts]) => [n, pts.map(({ stepIndex, x, value, t }) => ({ stepIndex, x, value, t }))]),
        ),
      ]),
    );
  };

  const experiments: RunServices['experiments'] = {
    validate: async ({ plan }) => {
      const { issues } = await planIssues(plan, modelIssues);
      return { ok: issues.length === 0, issues };
    },
    create: ({ name }) => store.ensureExperiment(name),
    list: () => store.listExperiments(),
    start: async ({ plan: raw, experiment, name, tags, notes }) => {
      const { plan, issues } = await planIssues(raw, modelIssues);
      if (!plan || issues.length > 0) throw new PlanError(issues);
      const job = runner.submit(plan, { experiment, name, tags, notes });
      follow(job);
      emit('runs', 'changed', { runId: job.runId, change: 'created' });
      return { runId: job.runId };
    },
    sweep: ({ runId, grid }) => {
      const base = store.getRun(store.resolveRunId(runId));
      if (!base) throw new IpcError({ name: 'StoreError', code: 'RUN_NOT_FOUND', message: `no run "${runId}"` });
      // the base run's own sweep parameters are not carried into the new sweep's names
      const plan = { ...base.plan, name: base.plan.name?.replace(/ \[[^\]]*\]$/, '') ?? base.name };
      const points = expandSweep(plan, grid);
      const sweepId = newSweepId();
      const runIds = points.map((p) => {
        const job = runner.submit(p.plan, { experiment: `sweep ${sweepId}`, tags: sweepTags(sweepId, p) });
        follow(job);
        emit('runs', 'changed', { runId: job.runId, change: 'created' });
        return job.runId;
      });
      return { sweepId, runIds };
    },
    cancel: ({ runId }) => ({ cancelled: runner.cancel(store.resolveRunId(runId), 'cancelled from the app') }),
    resume: ({ runId }) => {
      const job = runner.resume(runId);
      follow(job);
      emit('runs', 'changed', { runId: job.runId, change: 'updated' });
      return { runId: job.runId };
    },
    capabilities: async () => ({
      stepKinds: registeredSteps(),
      knownStepKinds: knownStepKinds(),
      executionProviders: await safeProviders(),
      ...compressorCapabilities(),
    }),
  };

  const runs: RunServices['runs'] = {
    list: (filter) => {
      if (filter.sort && !RUN_SORT_KEYS.includes(filter.sort as RunSortKey)) {
        throw new IpcError({
          name: 'IpcValidationError',
          code: 'BAD_REQUEST',
          message: `cannot sort runs by "${filter.sort}"`,
          details: { issues: [{ path: '$.sort', message: `one of ${RUN_SORT_KEYS.join(', ')}` }] },
        });
      }
      return store.listRuns({ ...filter, sort: filter.sort as RunSortKey | undefined }).map((r) => {
        const ranOn = [
          ...new Set(store.getSteps(r.id).flatMap((s) => (s.result?.ranBy ? [ranByLabel(s.result.ranBy)] : []))),
        ];
        return ranOn.length ? { ...r, ranOn } : r;
      });
    },
    get: ({ runId }) => detail(runId),
    metrics: ({ runIds, names }) => series(runIds, names),
    layers: async ({ runId }) => (await layers([runId]))[0]!,
    compare: async ({ runIds }) => {
      const details = runIds.map(detail);
      const widths = await layers(details.map((d) => d.id));
      return {
        runs: details,
        series: series(details.map((d) => d.id)),
        layers: Object.fromEntries(details.map((d, i) => [d.id, widths[i]!])),
      };
    },
    remeasure: async ({ runIds }) => {
      const results = [];
      for (const runId of runIds) results.push(await remeasureRun(store, store.resolveRunId(runId)));
      return { measuredAt: new Date().toISOString(), results };
    },
    log: async ({ runId }) => {
      const file = join(store.runDir(store.resolveRunId(runId)), 'run.log');
      // Read without blocking the event loop (a long run's log can be large).
      const lines = existsSync(file) ? (await readFile(file, 'utf8')).split('\n').filter(Boolean) : [];
      return { lines: lines.slice(-2000) };
    },
    active: () =>
      runner.active().map((job) => ({ runId: job.runId, status: job.status, progress: latest.get(job.runId) ?? null })),
    update: ({ runId, name, tags, notes }) => {
      const id = store.resolveRunId(runId);
      if (name !== undefined) store.setName(id, name);
      if (tags !== undefined) store.setTags(id, tags);
      if (notes !== undefined) store.setNotes(id, notes);
      emit('runs', 'changed', { runId: id, change: 'updated' });
      return store.listRuns({ text: id }).find((r) => r.id === id)!;
    },
    delete: ({ runId }) => {
      const id = store.resolveRunId(runId);
      store.deleteRun(id);
      emit('runs', 'changed', { runId: id, change: 'deleted' });
      return { deleted: id };
    },
  };

  const exports: RunServices['exports'] = {
    run: async ({ runId, dir, overwrite }) => {
      // The first touch of the client's folder happens off the event loop, bounded in time; then the guarded export.
      await probePath(dir, { what: 'export folder', output: true }).catch((e: Error) => {
        throw new ExportError('EXPORT_PATH', e.message);
      });
      return exportRun(store, store.resolveRunId(runId), dir, { overwrite, roots: exportRoots?.() });
    },
    suggestDir: ({ runId }) => {
      const run = store.getRun(store.resolveRunId(runId));
      const slug =
        (run?.name ?? 'run')
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '-')
          .replace(/^-|-$/g, '')
          .slice(0, 40) || 'run';
      return { dir: join(store.home, 'exports', `${slug}-${run?.id ?? runId}`) };
    },
  };

  return { experiments, runs, exports };
}

/** Probed once per host, in a child process (the host never creates a session itself). */
let probed: Promise<ProviderInfo[]> | undefined;

async function safeProviders(): Promise<{ name: string; available: boolean }[]> {
  try {
    return (await (probed ??= probeProvidersApart())).map((p) => ({ name: p.name, available: p.available }));
  } catch {
    return [{ name: 'cpu', available: true }];
  }
}

/**
 * One run's final model timed again now, alternating with the run's original model (the measure step's settings:
 * one thread, batch 1, the plan's provider). Faults (files gone, a model that does not run) come back as `error`.
 */
async function remeasureRun(store: Store, runId: string): Promise<RemeasureReply['results'][number]> {
  const blank = { runId, p50: null, baselineP50: null, speedup: null, ep: null };
  try {
    const run = store.getRun(runId)!;
    const latest = store.latestModel(runId);
    if (!latest || !existsSync(latest.model.path))
      return { ...blank, error: 'the run kept no model of its own (it changed nothing, or its files are gone)' };
    if (!existsSync(run.plan.model)) return { ...blank, error: `its original model ${run.plan.model} is gone` };
    const c = await compareLatency(run.plan.model, latest.model.path, {
      threads: 1,
      warmup: 10,
      runs: 200,
      maxMs: 2500,
      dimSizes: { batch: 1 },
      ep: run.plan.executionProvider,
    });
    return { runId, p50: c.b.p50, baselineP50: c.a.p50, speedup: 1 / c.roundRatio, ep: c.ep, error: null };
  } catch (e) {
    return { ...blank, error: (e as Error).message.split('\n')[0]! };
  }
}
