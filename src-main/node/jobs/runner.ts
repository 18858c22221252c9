/**
 * @file The experiment runner (host side): a queue of jobs with a concurrency limit, one worker process per job,
 * progress / log events, cancellation (cooperative, then SIGKILL after a grace period), checkpoints recorded in
 * the store after each step, resume from the first unfinished step, and recovery of runs a dead host left behind.
 * Imports the store, node:* and src-shared; never ORT, Electron or the host services.
 */
import { EventEmitter } from 'node:events';
import { appendFile, mkdir, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  computeFactors,
  emptySnapshot,
  mapPlanPaths,
  PlanError,
  type LogEvent,
  type MetricSnapshot,
  type Plan,
  type ProgressEvent,
  type RunReport,
  type RunStatus,
  type SerializedError,
  type StepReport,
  type StepStatus,
} from '../../../src-shared/experiment.ts';
import type { StagedArtifact, Store } from '../store/index.ts';
import { checkPlanInputs } from './plan-file.ts';
import {
  decodeWorkerMessage,
  PROTOCOL_VERSION,
  serializeError,
  type StartMessage,
  type WorkerMessage,
  type WorkerMessageOf,
} from './protocol.ts';
import { forkSpawner, type WorkerExit, type WorkerHandle, type WorkerSpawner } from './spawn.ts';

export interface RunnerOptions {
  store: Store;
  /** Jobs running at once (default 1), or a function read whenever a slot may start; the rest wait in order. */
  concurrency?: number | (() => number);
  spawner?: WorkerSpawner;
  /** The worker entry module (default: ./worker.ts). */
  workerEntry?: string;
  /** Modules every worker imports before running (they register steps / step kinds / the measure). */
  stepModules?: readonly string[];
  /** After a cancel request, how long a worker may take to stop before SIGKILL (default 500 ms). */
  cancelGraceMs?: number;
  /** The worker sends a heartbeat progress event when a step was silent this long (default 250 ms). */
  heartbeatMs?: number;
  /** Mark runs a dead host left `running` as `interrupted` when the runner starts (default true). */
  recover?: boolean;
  /** Extra environment for workers. */
  env?: NodeJS.ProcessEnv;
}

export type FinalStatus = Exclude<RunStatus, 'queued' | 'running'>;

export interface JobOutcome {
  runId: string;
  status: FinalStatus;
  error: SerializedError | null;
  report: RunReport | null;
}

export interface StepEvent {
  index: number;
  kind: string;
  status: StepStatus;
}

interface JobEventMap {
  progress: [ProgressEvent];
  log: [LogEvent];
  status: [RunStatus];
  step: [StepEvent];
  snapshot: [{ phase: 'before' | 'after'; snapshot: MetricSnapshot }];
}

/** Where a job starts: the first step, the model it reads, and whether the before-snapshot is still needed. */
interface JobStart {
  startStep: number;
  inputModel: string;
  inputSha256: string | null;
  measureBefore: boolean;
}

const DEFAULT_WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
/** After its terminal message a worker gets this long to exit by itself. */
const EXIT_GRACE_MS = 2000;
const OUTPUT_TAIL = 4000;

/**
 * One run being executed (or waiting): typed events, a `done` promise, and `cancel()`.
 *
 * @example
 * const job = runner.submit(plan);
 * job.on('progress', (e) => bar.update(e.overall));
 * const { status, report } = await job.done;
 */
export class Job extends EventEmitter<JobEventMap> {
  status: RunStatus = 'queued';
  workerPid: number | null = null;
  readonly done: Promise<JobOutcome>;
  private resolveDone!: (o: JobOutcome) => void;
  private worker: WorkerHandle | null = null;
  private chain: Promise<void> = Promise.resolve();
  private cancelReason: string | null = null;
  private killTimer: NodeJS.Timeout | null = null;
  private finalized = false;
  private terminalSeen = false;
  private output = '';
  private workDir = '';
  /** Steps the store held done when this job re-attached to a run already out (their messages are replayed). */
  private doneAtAttach: Set<number> | null = null;
  private loggedUntil = 0;

  constructor(
    readonly runId: string,
    private readonly runner: Runner,
    private readonly start: JobStart,
  ) {
    super();
    this.done = new Promise((res) => (this.resolveDone = res));
  }

  /**
   * Asks the job to stop: a queued job ends at once; a running worker gets a `cancel` message and, if it has not
   * exited within the grace period, SIGKILL. Steps finished before the cancel stay recorded.
   */
  cancel(reason = 'cancelled by user'): void {
    if (this.finalized || this.cancelReason !== null) return;
    this.cancelReason = reason;
    if (!this.worker) {
      this.runner.dequeue(this);
      this.enqueueWork(() => this.finalize('cancelled', cancelledError(reason)));
      return;
    }
    this.worker.send({ v: PROTOCOL_VERSION, type: 'cancel', reason });
    this.killTimer = setTimeout(() => this.worker?.kill('SIGKILL'), this.runner.cancelGraceMs);
  }

  /**
   * Follows a run that is already executing elsewhere (a queue job a restarted host re-attaches to): the handle
   * replays the run's messages from its start, and steps the store already holds are not recorded again.
   */
  attach(worker: WorkerHandle, workDir: string): void {
    const { store } = this.runner;
    this.workDir = workDir;
    this.doneAtAttach = new Set(
      store
        .getSteps(this.runId)
        .filter((s) => s.status === 'done')
        .map((s) => s.index),
    );
    store.dropMetrics(this.runId, (i) => !this.doneAtAttach!.has(i));
    this.setStatus('running');
    this.enqueueWork(async () => {
      await mkdir(this.workDir, { recursive: true });
      // log lines the run's log already holds are not appended again
      const log = await readFile(join(store.runDir(this.runId), 'run.log'), 'utf8').catch(() => '');
      const last = log.trimEnd().split('\n').at(-1)?.split(' ')[0];
      this.loggedUntil = last ? Date.parse(last) || 0 : 0;
    });
    this.worker = worker;
    worker.onOutput((text) => (this.output = (this.output + text).slice(-OUTPUT_TAIL)));
    worker.onMessage((raw) => this.onMessage(raw));
    worker.onExit((exit) => this.onExit(exit));
  }

  /** Stops following a run that goes on elsewhere (a queue job when the host closes); nothing more is recorded. */
  detach(): boolean {
    if (this.finalized || !this.worker?.detach) return false;
    this.finalized = true;
    this.terminalSeen = true;
    this.worker.detach();
    this.worker = null;
    this.runner.finished(this);
    return true;
  }

  /** Starts the worker (called by the runner when a slot is free). */
  launch(): void {
    const { store } = this.runner;
    try {
      store.markRunStarted(this.runId);
      const run = store.getRun(this.runId)!;
      this.workDir = join(store.workDir(this.runId), `attempt-${run.attempts}`);
      this.setStatus('running');
      this.enqueueWork(() => this.spawn(run.plan, run.attempts));
    } catch (e) {
      this.enqueueWork(() => this.finalize('failed', serializeError(e)));
    }
  }

  private async spawn(plan: Plan, attempt: number): Promise<void> {
    const { store, spawner, options } = this.runner;
    await rm(store.workDir(this.runId), { recursive: true, force: true });
    await mkdir(this.workDir, { recursive: true });
    if (this.cancelReason !== null) return this.finalize('cancelled', cancelledError(this.cancelReason));
    const worker = spawner.spawn(options.workerEntry ?? DEFAULT_WORKER, {
      env: { ...process.env, ...options.env },
      name: `studio job ${this.runId}`,
    });
    this.worker = worker;
    this.workerPid = worker.pid ?? null;
    store.setWorkerPid(this.runId, this.workerPid);
    worker.onOutput((text) => (this.output = (this.output + text).slice(-OUTPUT_TAIL)));
    worker.onMessage((raw) => this.onMessage(raw));
    worker.onExit((exit) => this.onExit(exit));
    const start: StartMessage = {
      v: PROTOCOL_VERSION,
      type: 'start',
      runId: this.runId,
      attempt,
      plan,
      ...this.start,
      workDir: this.workDir,
      stepModules: [...(options.stepModules ?? [])],
      heartbeatMs: options.heartbeatMs ?? 250,
    };
    worker.send(start);
  }

  private onMessage(raw: unknown): void {
    let msg: WorkerMessage;
    try {
      msg = decodeWorkerMessage(raw);
    } catch (e) {
      this.fail(serializeError(e));
      return;
    }
    // After a terminal message (or a host-side failure) the record is being closed: nothing more is written.
    if (this.terminalSeen) return;
    const { store } = this.runner;
    const replayed = this.doneAtAttach;
    if (replayed && (msg.type === 'step-start' || msg.type === 'step-done') && replayed.has(msg.index)) return;
    if (replayed && msg.type === 'metric') {
      const points = msg.points.filter((p) => !replayed.has(p.stepIndex));
      return this.enqueueWork(() => store.appendMetrics(this.runId, points));
    }
    switch (msg.type) {
      case 'ready':
        return;
      case 'progress':
        this.emit('progress', msg.event);
        return;
      case 'log':
        this.emit('log', msg.event);
        this.enqueueWork(
          () =>
            msg.event.t > this.loggedUntil &&
            appendFile(
              join(store.runDir(this.runId), 'run.log'),
              `${new Date(msg.event.t).toISOString()} ${msg.event.level} ${msg.event.message}\n`,
            ),
        );
        return;
      case 'metric':
        return this.enqueueWork(() => store.appendMetrics(this.runId, msg.points));
      case 'snapshot':
        this.emit('snapshot', { phase: msg.phase, snapshot: msg.snapshot });
        return this.enqueueWork(() => store.recordSnapshot(this.runId, msg.phase, msg.snapshot));
      case 'step-start':
        return this.enqueueWork(() => {
          store.startStep(this.runId, msg.index);
          this.emit('step', { index: msg.index, kind: msg.kind, status: 'running' });
        });
      case 'step-done':
        return this.enqueueWork(() => this.checkpoint(msg));
      case 'done':
        this.terminalSeen = true;
        return this.enqueueWork(() => this.finalize('succeeded', null));
      case 'failed':
        this.terminalSeen = true;
        return this.enqueueWork(() => this.finalize('failed', msg.error));
      case 'cancelled':
        this.terminalSeen = true;
        return this.enqueueWork(() => this.finalize('cancelled', cancelledError(this.cancelReason ?? 'cancelled')));
    }
  }

  /** Copies a finished step's files into the store and records the step as done, in one transaction. */
  private async checkpoint(msg: WorkerMessageOf<'step-done'>): Promise<void> {
    const { store } = this.runner;
    const staged: StagedArtifact[] = [];
    for (const f of msg.files) {
      const a = await store.stageArtifact(this.runId, msg.index, f.path, { kind: f.kind, name: f.name });
      if (a.sha256 !== f.sha256)
        throw Object.assign(
          new Error(`step ${msg.index} output ${f.name} changed while it was copied (sha256 mismatch)`),
          { code: 'CHECKPOINT_CORRUPT' },
        );
      staged.push(a);
    }
    // the provider the run's measurement really used (a fallback shows), else the one the plan asked for
    const ranBy = msg.ranBy ?? {
      worker: 'local',
      machine: hostname(),
      ep:
        store.getSnapshot(this.runId, 'before')?.provider?.used ??
        store.getRun(this.runId)?.plan.executionProvider ??
        'cpu',
    };
    store.completeStep(this.runId, msg.index, {
      durationMs: msg.durationMs,
      result: { ...msg.result, ranBy },
      artifacts: staged,
    });
    this.emit('step', { index: msg.index, kind: msg.kind, status: 'done' });
  }

  private onExit(exit: WorkerExit): void {
    if (this.killTimer) clearTimeout(this.killTimer);
    this.worker = null;
    if (this.terminalSeen) return;
    if (this.cancelReason !== null)
      return this.enqueueWork(() => this.finalize('cancelled', cancelledError(this.cancelReason!)));
    const how = exit.error
      ? `could not start (${exit.error.message})`
      : exit.signal
        ? `was killed by ${exit.signal}`
        : `exited with code ${exit.code}`;
    const tail = this.output.trim() ? `; last output:\n${this.output.trim().split('\n').slice(-8).join('\n')}` : '';
    const who = this.workerPid === null ? 'the worker process' : `the worker process ${this.workerPid}`;
    const error: SerializedError = {
      name: 'WorkerCrashError',
      code: 'WORKER_CRASHED',
      message: `${who} ${how}${tail}`,
      details: { code: exit.code, signal: exit.signal },
    };
    this.enqueueWork(() => this.finalize('failed', error));
  }

  /** A host-side fault (protocol error, failed checkpoint): record it and stop the worker. */
  private fail(error: SerializedError): void {
    this.terminalSeen = true;
    this.worker?.kill('SIGKILL');
    this.enqueueWork(() => this.finalize('failed', error));
  }

  /** Host work for this job runs in message order; a failure in it fails the run. */
  private enqueueWork(fn: () => unknown): void {
    this.chain = this.chain.then(fn).then(
      () => undefined,
      (e: unknown) => this.fail(serializeError(e)),
    );
  }

  private async finalize(status: FinalStatus, error: SerializedError | null): Promise<void> {
    if (this.finalized) return;
    this.finalized = true;
    const { store } = this.runner;
    let report: RunReport | null = null;
    try {
      if (status === 'succeeded') report = buildReport(store, this.runId, status);
      store.finishRun(this.runId, status, {
        ...(error ? { error } : {}),
        ...(report ? { report } : {}),
        stepStatus: stepStatusFor(status),
      });
    } catch (e) {
      error = serializeError(e);
      status = 'failed';
      report = null;
      try {
        store.finishRun(this.runId, 'failed', { error });
      } catch {
        /* the store itself is failing; the outcome below still reports it */
      }
    }
    await this.stopWorker();
    await rm(store.workDir(this.runId), { recursive: true, force: true }).catch(() => undefined);
    this.setStatus(status);
    this.runner.finished(this);
    this.resolveDone({ runId: this.runId, status, error, report });
  }

  private async stopWorker(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    await new Promise<void>((res) => {
      const timer = setTimeout(() => {
        worker.kill('SIGKILL');
        res();
      }, EXIT_GRACE_MS);
      worker.onExit(() => {
        clearTimeout(timer);
        res();
      });
    });
  }

  private setStatus(status: RunStatus): void {
    this.status = status;
    this.emit('status', status);
  }
}

function cancelledError(reason: string): SerializedError {
  return { name: 'CancelledError', code: 'CANCELLED', message: reason };
}

function stepStatusFor(status: FinalStatus): StepStatus {
  return status === 'succeeded' ? 'done' : status;
}

/** The report of a run from what the store holds: snapshots, steps, model hashes and factors. */
export function buildReport(store: Store, runId: string, status: RunStatus): RunReport {
  const run = store.getRun(runId)!;
  const artifacts = store.listArtifacts(runId);
  const before = store.getSnapshot(runId, 'before') ?? emptySnapshot();
  const after = store.getSnapshot(runId, 'after') ?? before;
  const steps: StepReport[] = store.getSteps(runId).map((s) => ({
    index: s.index,
    kind: s.kind,
    status: s.status === 'running' ? 'done' : s.status,
    startedAt: s.startedAt,
    finishedAt: s.finishedAt,
    durationMs: s.durationMs,
    metrics: s.result?.metrics ?? null,
    summary: s.result?.summary ?? null,
    modelSha256: artifacts.find((a) => a.stepIndex === s.index && a.kind === 'model')?.sha256 ?? null,
    error: s.error,
    ranBy: s.result?.ranBy ?? null,
  }));
  return {
    runId,
    planName: run.plan.name ?? null,
    status,
    before,
    after,
    factors: computeFactors(before, after),
    steps,
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    modelSha256: store.latestModel(runId)?.model.sha256 ?? null,
  };
}

/**
 * Runs experiment plans in worker processes, at most `concurrency` at a time.
 *
 * @example
 * const runner = new Runner({ store: openStore(studioHome()) });
 * const job = runner.submit(loadPlanFile('plan.json'));
 * await job.done;
 */
export class Runner {
  readonly store: Store;
  readonly spawner: WorkerSpawner;
  readonly cancelGraceMs: number;
  readonly options: RunnerOptions;
  private readonly queue: Job[] = [];
  private readonly running = new Set<Job>();
  private readonly jobs = new Map<string, Job>();
  private idleWaiters: (() => void)[] = [];

  constructor(options: RunnerOptions) {
    this.options = options;
    this.store = options.store;
    this.spawner = options.spawner ?? forkSpawner;
    this.cancelGraceMs = options.cancelGraceMs ?? 500;
    if (options.recover !== false) this.recoverInterrupted();
  }

  get concurrency(): number {
    const c = this.options.concurrency;
    return Math.max(1, Math.floor((typeof c === 'function' ? c() : c) ?? 1));
  }

  /**
   * Queues a plan (paths resolved against the current folder). Throws `PlanError` naming any missing model or
   * data file; nothing is recorded then.
   */
  submit(plan: Plan, meta: { experiment?: string; name?: string; tags?: readonly string[]; notes?: string } = {}): Job {
    const absolute = mapPlanPaths(plan, (f) => resolve(f));
    const issues = checkPlanInputs(absolute);
    if (issues.length > 0) throw new PlanError(issues);
    const run = this.store.createRun({ plan: absolute, ...meta });
    return this.enqueue(
      new Job(run.id, this, { startStep: 0, inputModel: absolute.model, inputSha256: null, measureBefore: true }),
    );
  }

  /** Queues a stopped run (failed, cancelled, interrupted) to continue at its first unfinished step. */
  resume(runIdOrPrefix: string): Job {
    const id = this.store.resolveRunId(runIdOrPrefix);
    if (this.jobs.has(id)) throw new Error(`run ${id} is already queued or running`);
    const startStep = this.store.prepareResume(id);
    const latest = this.store.latestModel(id, startStep);
    const run = this.store.getRun(id)!;
    return this.enqueue(
      new Job(id, this, {
        startStep,
        inputModel: latest?.model.path ?? run.plan.model,
        inputSha256: latest?.model.sha256 ?? null,
        measureBefore: this.store.getSnapshot(id, 'before') === null,
      }),
    );
  }

  /** The job of a run queued or running here. */
  get(runId: string): Job | undefined {
    return this.jobs.get(runId);
  }

  /** Jobs queued or running here. */
  active(): Job[] {
    return [...this.jobs.values()];
  }

  cancel(runId: string, reason?: string): boolean {
    const job = this.jobs.get(runId);
    job?.cancel(reason);
    return job !== undefined;
  }

  /** Resolves when no job is queued or running. */
  onIdle(): Promise<void> {
    if (this.jobs.size === 0) return Promise.resolve();
    return new Promise((res) => this.idleWaiters.push(res));
  }

  /**
   * Follows a run already executing elsewhere (a queue job a restarted host finds): it counts as running here, and
   * ends as its messages say. Call before `recoverInterrupted` (which leaves it alone then).
   */
  attach(runId: string, worker: WorkerHandle, workDir: string): Job {
    if (this.jobs.has(runId)) throw new Error(`run ${runId} is already queued or running`);
    const job = new Job(runId, this, { startStep: 0, inputModel: '', inputSha256: null, measureBefore: false });
    this.jobs.set(runId, job);
    this.running.add(job);
    job.attach(worker, workDir);
    return job;
  }

  /**
   * Cancels every job and waits for them to end. Runs that execute elsewhere and go on without this host (queue
   * jobs) are detached instead: a host started later re-attaches to them.
   */
  async shutdown(reason = 'the app is closing'): Promise<void> {
    const all = this.active().filter((j) => !j.detach());
    for (const job of all) job.cancel(reason);
    await Promise.all(all.map((j) => j.done));
  }

  /** Marks runs that a dead host left running as interrupted; returns their ids. */
  recoverInterrupted(): string[] {
    return this.store.recoverInterrupted({ active: this.jobs.keys(), by: `the host starting (pid ${process.pid})` });
  }

  /** @internal a queued job was cancelled before it started */
  dequeue(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** @internal a job reached its final status */
  finished(job: Job): void {
    this.running.delete(job);
    this.jobs.delete(job.runId);
    this.pump();
    if (this.jobs.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private enqueue(job: Job): Job {
    this.jobs.set(job.runId, job);
    this.queue.push(job);
    queueMicrotask(() => this.pump());
    return job;
  }

  private pump(): void {
    while (this.running.size < this.concurrency && this.queue.length > 0) {
      const job = this.queue.shift()!;
      this.running.add(job);
      job.launch();
    }
  }
}
