/**
 * @file A whole run on a queue worker (job kind `run`): its artifacts are laid out from the cache (each checked
 * against its hash), the plan's `artifact:<i>` paths point at them, and the runner's own worker entry runs the plan
 * with this worker's step modules — never any named by the payload. Every message the run sends is relayed in order
 * to `studio_queue.run_message` for the host; a step's output files are published by hash first, and each finished
 * step says which worker, machine and provider ran it. May import node:*.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QUEUE_ENV, QueuePayloadError, RUN_ARTIFACT_PREFIX, type RunPayload } from '../../../src-shared/queue.ts';
import { PROTOCOL_VERSION, type StartMessage } from '../jobs/protocol.ts';
import { forkSpawner } from '../jobs/spawn.ts';
import { publish, type ArtifactCache, type ArtifactStore } from './artifacts.ts';
import type { Queue } from './connect.ts';

const RUN_ENTRY = fileURLToPath(new URL('../jobs/worker.ts', import.meta.url));
const STEP_MODULES = [fileURLToPath(new URL('../steps/register.ts', import.meta.url))];

export interface RunOnWorkerContext {
  q: Queue;
  cache: ArtifactCache;
  store: ArtifactStore;
  worker: { id: string; name: string; machine: string };
  /** Called once the run is started, with the way to ask it to stop. */
  onStart: (cancel: () => void) => void;
  log: (line: string) => void;
}

export type RunOnWorkerResult =
  | { status: 'done' | 'failed' | 'cancelled' }
  | { status: 'failed-to-start' | 'crashed'; error: { name: string; message: string; code?: string } };

/** Replace every `artifact:<i>` string in the plan by the local path of artifact i. */
export function localizePlan(plan: unknown, paths: readonly string[]): unknown {
  const walk = (v: unknown, at: string): unknown => {
    if (typeof v === 'string' && v.startsWith(RUN_ARTIFACT_PREFIX)) {
      const i = Number(v.slice(RUN_ARTIFACT_PREFIX.length));
      if (!Number.isInteger(i) || i < 0 || i >= paths.length)
        throw new QueuePayloadError(`job payload ${at}: "${v}" names no artifact of this run`, at);
      return paths[i];
    }
    if (Array.isArray(v)) return v.map((x, k) => walk(x, `${at}[${k}]`));
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, `${at}.${k}`)]));
    return v;
  };
  return walk(plan, '$.plan');
}

/**
 * Run one `run` job to its end and relay its messages; resolves with how it ended (never rejects).
 * @example const r = await runOnWorker(payload, { q, cache, store, worker, onStart, log });
 */
export async function runOnWorker(p: RunPayload, c: RunOnWorkerContext): Promise<RunOnWorkerResult> {
  const workDir = mkdtempSync(join(tmpdir(), 'studio-run-'));
  let chain = Promise.resolve();
  // messages go out one at a time, in the order the run sent them
  const relay = (msg: Record<string, unknown> | (() => Promise<Record<string, unknown>>)) => {
    chain = chain.then(async () => {
      const m = typeof msg === 'function' ? await msg() : msg;
      await c.q.sql('INSERT INTO studio_queue.run_message (key, worker_id, msg) VALUES ($1, $2, $3)', [
        p.key,
        c.worker.id,
        JSON.stringify(m),
      ]);
    });
    return chain;
  };
  try {
    let paths: string[];
    let plan: unknown;
    try {
      paths = [];
      for (const a of p.artifacts) paths.push(await c.cache.materialize(a));
      plan = localizePlan(p.plan, paths);
      if (p.inputModel >= paths.length)
        throw new QueuePayloadError('job payload $.inputModel names no artifact of this run', '$.inputModel');
    } catch (e) {
      const error = { name: (e as Error).name, message: (e as Error).message, code: (e as { code?: string }).code };
      await relay({
        v: PROTOCOL_VERSION,
        type: 'failed',
        stepIndex: null,
        error: { ...error, code: error.code ?? 'ERROR' },
      });
      return { status: 'failed-to-start', error };
    }
    // the run's own scan points stay on this worker's local pool: a run waiting on jobs it queued could take every slot
    const child = forkSpawner.spawn(RUN_ENTRY, {
      env: { ...process.env, [QUEUE_ENV]: '' },
      name: `studio queue run ${p.runId}`,
    });
    let terminal: 'done' | 'failed' | 'cancelled' | undefined;
    let ep = p.ep;
    let output = '';
    child.onOutput((t) => (output = (output + t).slice(-4000)));
    child.onMessage((raw) => {
      const msg = raw as Record<string, unknown>;
      if (msg.type === 'done' || msg.type === 'failed' || msg.type === 'cancelled') terminal = msg.type;
      // the provider the measurement really used (a fallback shows), for "who ran each step"
      const used = (msg.snapshot as { provider?: { used?: string } } | undefined)?.provider?.used;
      if (msg.type === 'snapshot' && used) ep = used;
      if (msg.type === 'step-done') void relay(() => stepDone(msg, ep, c));
      else void relay(msg);
    });
    const exited = new Promise<{ code: number | null; signal: string | null }>((res) => child.onExit(res));
    const start: StartMessage = {
      v: PROTOCOL_VERSION,
      type: 'start',
      runId: p.runId,
      attempt: p.attempt,
      plan,
      startStep: p.startStep,
      inputModel: paths[p.inputModel]!,
      inputSha256: p.inputSha256,
      workDir,
      stepModules: STEP_MODULES,
      heartbeatMs: p.heartbeatMs,
      measureBefore: p.measureBefore,
    };
    child.send(start);
    c.onStart(() => child.send({ v: PROTOCOL_VERSION, type: 'cancel', reason: 'cancelled from the host' }));
    const exit = await exited;
    await chain.catch(() => undefined);
    if (terminal) return { status: terminal };
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const error = {
      name: 'WorkerCrashError',
      code: 'WORKER_CRASHED',
      message: `the run's process on ${c.worker.name}@${c.worker.machine} ${how}${output.trim() ? `; last output:\n${output.trim().split('\n').slice(-8).join('\n')}` : ''}`,
    };
    await relay({ v: PROTOCOL_VERSION, type: 'failed', stepIndex: null, error });
    return { status: 'crashed', error };
  } catch (e) {
    c.log(`run ${p.runId}: ${(e as Error).message}`);
    return { status: 'crashed', error: { name: (e as Error).name, message: (e as Error).message } };
  } finally {
    await chain.catch(() => undefined);
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** A step's output files are published by hash (the host fetches and checks them); the step says who ran it. */
async function stepDone(msg: Record<string, unknown>, ep: string, c: RunOnWorkerContext) {
  const files = (msg.files as { kind: string; name: string; path: string; sha256: string; size: number }[]) ?? [];
  const out = [];
  for (const f of files) {
    const ref = await publish(c.store, f.path);
    out.push({ ...f, path: `sha256:${ref.files[0]!.sha256}`, sha256: ref.files[0]!.sha256 });
  }
  return { ...msg, files: out, ranBy: { worker: c.worker.name, machine: c.worker.machine, ep } };
}
