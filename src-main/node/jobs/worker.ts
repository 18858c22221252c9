/**
 * @file The worker process of one job: loads the step modules, runs the plan's steps from the first unfinished
 * one, and reports progress (heartbeat when a step is silent), metrics, snapshots and each step's output files
 * to the host. Never touches the store (the host owns it); never imports Electron.
 * Started by the runner (`fork` or Electron's utilityProcess); run directly it exits with an error.
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  parsePlan,
  stepResultSchema,
  type LogLevel,
  type Plan,
  type ProgressEvent,
  type Step,
} from '../../../src-shared/experiment.ts';
import { hashFile } from '../store/files.ts';
import { savedDataFile } from '../io/model-file.ts';
import { CancellationSource, CancelledError } from './cancel.ts';
import { remainingMs } from './eta.ts';
import { assertPlanInputs } from './plan-file.ts';
import {
  decodeHostMessage,
  PROTOCOL_VERSION,
  serializeError,
  type StartMessage,
  type StepFile,
  type WorkerMessage,
} from './protocol.ts';
import { currentMeasure, stepExecutor, type StepContext, type StepProgress } from './registry.ts';

/** Wire to the host: Node's IPC channel, or Electron's `process.parentPort` in a utility process. */
interface ParentChannel {
  send(message: WorkerMessage): Promise<void>;
  onMessage(listener: (raw: unknown) => void): void;
  onDisconnect(listener: () => void): void;
}

interface ParentPortLike {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}

function parentChannel(): ParentChannel | null {
  const port = (process as unknown as { parentPort?: ParentPortLike }).parentPort;
  if (port) {
    return {
      send: (m) => Promise.resolve(port.postMessage(m)),
      onMessage: (l) => port.on('message', (e) => l(e.data)),
      onDisconnect: () => undefined, // Electron ends utility processes with their parent
    };
  }
  if (!process.send) return null;
  return {
    send: (m) =>
      new Promise<void>((res) => (process.connected ? process.send!(m, undefined, undefined, () => res()) : res())),
    onMessage: (l) => void process.on('message', l),
    onDisconnect: (l) => void process.on('disconnect', l),
  };
}

/** Minimum gap between two progress events a step triggers (heartbeats are separate). */
const PROGRESS_THROTTLE_MS = 100;

/** Turns step progress into throttled progress events with overall fraction and ETA, plus heartbeats and metric batches. */
class Reporter {
  private stepIndex = -1;
  private kind = 'measure';
  private last: StepProgress = { fraction: 0 };
  private lastSentAt = 0;
  private readonly stepCount: number;
  private metrics: { stepIndex: number; name: string; x: number; value: number; t: number }[] = [];
  private readonly counters = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private phaseStartedAt = Date.now();
  private inPhase = false;
  /** The phase's first report with work done: the pace is measured from there (setup is not pace). */
  private anchor: { fraction: number; phaseElapsedMs: number } | undefined;
  private readonly finished = new Map<string, number[]>();

  constructor(
    private readonly send: (m: WorkerMessage) => void,
    private readonly kinds: readonly string[],
    private readonly heartbeatMs: number,
  ) {
    this.stepCount = kinds.length;
    this.timer = setInterval(() => this.tick(), Math.max(20, Math.floor(heartbeatMs / 2)));
  }

  /** A new phase: step `index` (−1 = before-measure, stepCount = after-measure). */
  phase(index: number, kind: string): void {
    const now = Date.now();
    if (this.inPhase)
      this.finished.set(this.kind, [...(this.finished.get(this.kind) ?? []), now - this.phaseStartedAt]);
    this.inPhase = true;
    this.phaseStartedAt = now;
    this.anchor = undefined;
    this.stepIndex = index;
    this.kind = kind;
    this.counters.clear();
    this.progress({ fraction: 0 }, true);
  }

  progress(update: StepProgress, force = false): void {
    const fraction = Math.min(1, Math.max(0, Number.isFinite(update.fraction) ? update.fraction : this.last.fraction));
    this.last = { ...update, fraction };
    if (!this.anchor && fraction > 0 && fraction < 1)
      this.anchor = { fraction, phaseElapsedMs: Date.now() - this.phaseStartedAt };
    if (update.loss !== undefined) this.metric('loss', update.loss, update.step);
    for (const [k, v] of Object.entries(update.parts ?? {})) this.metric(k, v, update.step);
    if (update.metric !== undefined) this.metric('metric', update.metric);
    if (force || fraction === 1 || Date.now() - this.lastSentAt >= PROGRESS_THROTTLE_MS) this.emit(false);
  }

  metric(name: string, value: number, x?: number): void {
    if (!Number.isFinite(value)) return;
    const n = this.counters.get(name) ?? 0;
    this.counters.set(name, n + 1);
    this.metrics.push({ stepIndex: this.stepIndex, name, x: x ?? n, value, t: Date.now() });
  }

  log(message: string, level: LogLevel = 'info'): void {
    this.send({
      v: PROTOCOL_VERSION,
      type: 'log',
      event: {
        level,
        message,
        stepIndex: this.stepIndex >= 0 && this.stepIndex < this.stepCount ? this.stepIndex : null,
        t: Date.now(),
      },
    });
  }

  flushMetrics(): void {
    if (this.metrics.length === 0) return;
    this.send({ v: PROTOCOL_VERSION, type: 'metric', points: this.metrics });
    this.metrics = [];
  }

  stop(): void {
    clearInterval(this.timer);
    this.flushMetrics();
  }

  private tick(): void {
    this.flushMetrics();
    if (Date.now() - this.lastSentAt >= this.heartbeatMs * 0.9) this.emit(true);
  }

  private emit(heartbeat: boolean): void {
    const units = this.stepCount + 1;
    const overall = this.stepIndex < 0 ? 0 : Math.min(1, (this.stepIndex + this.last.fraction) / units);
    const event: ProgressEvent = {
      stepIndex: this.stepIndex,
      stepCount: this.stepCount,
      kind: this.kind,
      fraction: this.last.fraction,
      overall,
      etaMs: remainingMs({
        kinds: this.kinds,
        phase: this.stepIndex,
        fraction: this.last.fraction,
        phaseElapsedMs: Date.now() - this.phaseStartedAt,
        finished: this.finished,
        anchor: this.anchor,
      }),
      heartbeat,
      t: Date.now(),
    };
    if (this.last.loss !== undefined) event.loss = this.last.loss;
    if (this.last.step !== undefined) event.step = this.last.step;
    if (this.last.parts !== undefined) event.parts = this.last.parts;
    if (this.last.metric !== undefined) event.metric = this.last.metric;
    if (this.last.message !== undefined) event.message = this.last.message;
    this.lastSentAt = Date.now();
    this.send({ v: PROTOCOL_VERSION, type: 'progress', event });
  }
}

function moduleUrl(spec: string): string {
  return /^(file|data|node):/.test(spec) ? spec : pathToFileURL(resolve(spec)).href;
}

/** The files a step result names, checked and hashed. */
async function collectFiles(
  result: ReturnType<typeof stepResultSchema.parse>,
  inputModel: string,
): Promise<StepFile[]> {
  const wanted: { kind: string; path: string }[] = [];
  if (result.outputModel && resolve(result.outputModel) !== resolve(inputModel)) {
    wanted.push({ kind: 'model', path: result.outputModel });
    // a model over protobuf's 2 GB limit keeps its weights beside it: they are checkpointed (and exported) with it
    const data = savedDataFile(result.outputModel);
    if (data) wanted.push({ kind: 'model-data', path: data });
  }
  for (const a of result.artifacts ?? []) wanted.push({ kind: a.kind, path: a.path });
  const names = new Set<string>();
  const files: StepFile[] = [];
  for (const w of wanted) {
    if (!isAbsolute(w.path)) throw new Error(`step output "${w.path}" must be an absolute path`);
    if (!statSync(w.path, { throwIfNoEntry: false })?.isFile())
      throw new Error(`step output "${w.path}" does not exist or is not a file`);
    const name = basename(w.path);
    if (names.has(name)) throw new Error(`two step outputs are named "${name}"`);
    names.add(name);
    files.push({ kind: w.kind, name, path: w.path, ...(await hashFile(w.path)) });
  }
  return files;
}

async function runJob(
  start: StartMessage,
  source: CancellationSource,
  post: (m: WorkerMessage) => void,
): Promise<WorkerMessage> {
  let plan: Plan | null = null;
  let stepIndex: number | null = null;
  let reporter: Reporter | null = null;
  try {
    for (const m of start.stepModules) await import(moduleUrl(m));
    plan = parsePlan(start.plan);
    plan.steps.forEach((s, i) => stepExecutor(s.kind, i));
    assertPlanInputs(plan);
    if (start.inputSha256) {
      const { sha256 } = await hashFile(start.inputModel);
      if (sha256 !== start.inputSha256)
        throw Object.assign(new Error(`checkpoint ${start.inputModel} is corrupt (sha256 mismatch)`), {
          code: 'CHECKPOINT_CORRUPT',
        });
    }
    const rep = (reporter = new Reporter(
      post,
      plan.steps.map((st) => st.kind),
      start.heartbeatMs,
    ));
    const measure = currentMeasure();
    const measureCtx = (phase: 'before' | 'after', modelPath: string) => ({
      phase,
      modelPath,
      plan: plan!,
      token: source.token,
      progress: (u: StepProgress) => rep.progress(u),
      log: (msg: string, level?: LogLevel) => rep.log(msg, level),
    });
    if (start.measureBefore) {
      rep.phase(-1, 'measure');
      post({
        v: PROTOCOL_VERSION,
        type: 'snapshot',
        phase: 'before',
        snapshot: await measure(measureCtx('before', plan.model)),
      });
    }
    let input = start.inputModel;
    for (let i = start.startStep; i < plan.steps.length; i++) {
      source.token.throwIfCancelled();
      const step = plan.steps[i]!;
      stepIndex = i;
      rep.phase(i, step.kind);
      post({ v: PROTOCOL_VERSION, type: 'step-start', index: i, kind: step.kind, t: Date.now() });
      const dir = join(start.workDir, `step-${i}`);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const t0 = performance.now();
      const ctx: StepContext<Step> = {
        runId: start.runId,
        index: i,
        step,
        plan,
        inputModel: input,
        checkpointDir: dir,
        token: source.token,
        progress: (u) => rep.progress(u),
        metric: (name, value, x) => rep.metric(name, value, x),
        log: (msg, level) => rep.log(msg, level),
      };
      const result = stepResultSchema.parse(await stepExecutor(step.kind, i)(ctx));
      const files = await collectFiles(result, input);
      rep.progress({ fraction: 1 });
      rep.flushMetrics();
      const summary =
        result.summary === undefined
          ? undefined
          : (JSON.parse(JSON.stringify(result.summary)) as Record<string, unknown>);
      post({
        v: PROTOCOL_VERSION,
        type: 'step-done',
        index: i,
        kind: step.kind,
        durationMs: performance.now() - t0,
        result: { metrics: result.metrics, summary },
        files,
      });
      input = files.find((f) => f.kind === 'model')?.path ?? input;
    }
    stepIndex = null;
    source.token.throwIfCancelled();
    rep.phase(plan.steps.length, 'measure');
    post({
      v: PROTOCOL_VERSION,
      type: 'snapshot',
      phase: 'after',
      snapshot: await measure(measureCtx('after', input)),
    });
    rep.stop();
    return { v: PROTOCOL_VERSION, type: 'done' };
  } catch (e) {
    reporter?.stop();
    if (e instanceof CancelledError || source.token.cancelled)
      return { v: PROTOCOL_VERSION, type: 'cancelled', stepIndex };
    return { v: PROTOCOL_VERSION, type: 'failed', stepIndex, error: serializeError(e) };
  }
}

/** Entry point: wires the channel, waits for `start`, runs, sends the terminal message and exits. */
function main(): void {
  const channel = parentChannel();
  if (!channel) {
    process.stderr.write('the job worker is started by the runner, not directly\n');
    process.exit(2);
  }
  const source = new CancellationSource();
  let started = false;
  const finish = async (message: WorkerMessage, code: number) => {
    await channel.send(message);
    process.exit(code);
  };
  // A host that is gone cannot record anything: stop at once (the run is marked interrupted on its next start).
  channel.onDisconnect(() => {
    source.cancel('host disconnected');
    process.exit(3);
  });
  process.on(
    'uncaughtException',
    (e) => void finish({ v: PROTOCOL_VERSION, type: 'failed', stepIndex: null, error: serializeError(e) }, 1),
  );
  process.on(
    'unhandledRejection',
    (e) => void finish({ v: PROTOCOL_VERSION, type: 'failed', stepIndex: null, error: serializeError(e) }, 1),
  );
  channel.onMessage((raw) => {
    let msg;
    try {
      msg = decodeHostMessage(raw);
    } catch (e) {
      void finish({ v: PROTOCOL_VERSION, type: 'failed', stepIndex: null, error: serializeError(e) }, 1);
      return;
    }
    if (msg.type === 'cancel') return source.cancel(msg.reason);
    if (started) return;
    started = true;
    const post = (m: WorkerMessage) => void channel.send(m);
    void runJob(msg, source, post).then((terminal) => finish(terminal, 0));
  });
  void channel.send({ v: PROTOCOL_VERSION, type: 'ready', pid: process.pid });
}

main();
