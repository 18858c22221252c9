/**
 * @file Execution-provider choice: which providers this onnxruntime-node build and platform offer, and
 * session creation that tries the requested provider and falls back to CPU with a reason that says why.
 * May import core, node:* and onnxruntime-node.
 */
import * as ort from 'onnxruntime-node';
import { Model } from '../../core/ir/index.ts';
import { encodeModel } from '../../core/onnx/index.ts';
import { ortMessage, SessionCreateError, UnknownProviderError } from './errors.ts';

/** Every provider name we accept; ORT's own names. */
export const PROVIDER_NAMES = ['cpu', 'webgpu', 'cuda', 'tensorrt', 'dml', 'coreml'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

export interface ProviderInfo {
  name: ProviderName;
  /** The provider's binaries ship with this onnxruntime-node install. */
  bundled: boolean;
  /** Bundled, right platform, and not known to fail here (a probe may still find no device). */
  available: boolean;
  /** True once `probeProvider` has created a session with it in this process. */
  verified: boolean;
  /** Why it is not available. */
  reason?: string;
}

interface ProviderRule {
  label: string;
  platforms: readonly NodeJS.Platform[] | 'any';
}

const RULES = {
  cpu: { label: 'CPU', platforms: 'any' },
  webgpu: { label: 'WebGPU', platforms: 'any' },
  cuda: { label: 'CUDA', platforms: ['linux', 'win32'] },
  tensorrt: { label: 'TensorRT', platforms: ['linux', 'win32'] },
  dml: { label: 'DirectML', platforms: ['win32'] },
  coreml: { label: 'CoreML', platforms: ['darwin'] },
} satisfies Record<ProviderName, ProviderRule>;

const PLATFORM_NAMES: Partial<Record<NodeJS.Platform, string>> = { win32: 'Windows', darwin: 'macOS', linux: 'Linux' };

/** Outcome of session creation per provider in this process: a failure of the environment is remembered. */
const probed = new Map<ProviderName, { ok: true } | { ok: false; reason: string }>();

/** Narrow a user-given name; unknown names are an error, not a fallback. */
export function parseProvider(name: string): ProviderName {
  const n = name.trim().toLowerCase();
  if ((PROVIDER_NAMES as readonly string[]).includes(n)) return n as ProviderName;
  throw new UnknownProviderError(name, PROVIDER_NAMES);
}

/**
 * Providers with their availability, from `ort.listSupportedBackends()` plus platform rules and what
 * earlier sessions in this process found.
 * @example listProviders().filter((p) => p.available).map((p) => p.name) // ['cpu', 'webgpu'] on Linux
 */
export function listProviders(
  platform: NodeJS.Platform = process.platform,
  backends: readonly { name: string; bundled: boolean }[] = ort.listSupportedBackends(),
): ProviderInfo[] {
  return PROVIDER_NAMES.map((name) => {
    const bundled = backends.some((b) => b.name === name && b.bundled);
    const reason = staticReason(name, platform, bundled) ?? failedProbe(name);
    const info: ProviderInfo = {
      name,
      bundled,
      available: reason === undefined,
      verified: probed.get(name)?.ok === true,
    };
    if (reason !== undefined) info.reason = reason;
    return info;
  });
}

function staticReason(name: ProviderName, platform: NodeJS.Platform, bundled: boolean): string | undefined {
  const rule: ProviderRule = RULES[name];
  if (rule.platforms !== 'any' && !rule.platforms.includes(platform)) {
    const where = rule.platforms.map((p) => PLATFORM_NAMES[p] ?? p).join(' and ');
    return `${rule.label} runs only on ${where} (this is ${PLATFORM_NAMES[platform] ?? platform})`;
  }
  if (!bundled) {
    return name === 'cuda' || name === 'tensorrt'
      ? `${rule.label} is not bundled with this onnxruntime-node install (its install script, which downloads the GPU binaries, is skipped)`
      : `${rule.label} is not bundled with this onnxruntime-node build`;
  }
  return undefined;
}

function failedProbe(name: ProviderName): string | undefined {
  const p = probed.get(name);
  return p && !p.ok ? p.reason : undefined;
}

export type OptimizationLevel = 'disabled' | 'basic' | 'extended' | 'all';
export type LogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';

export interface SessionOptions {
  /** Execution provider (default 'cpu'); unavailable ones fall back to CPU, unknown names throw. */
  ep?: string;
  /** intraOpNumThreads; default: ORT's choice (one per physical core). */
  threads?: number;
  /** interOpNumThreads (only matters with parallel execution); default 1. */
  interOpThreads?: number;
  /** Graph optimization level (default 'all'). */
  optimization?: OptimizationLevel;
  /** Let idle intra-op threads spin (default false: spinning hurts on shared, small machines). */
  spinning?: boolean;
  /** Write an ORT profile (JSON, in the working folder) with this file prefix, or 'ort_profile' when true. */
  profile?: boolean | { prefix?: string };
  /** ORT's CPU memory arena and memory pattern (both default true; off trades ~20% speed for peak memory). */
  memArena?: boolean;
  memPattern?: boolean;
  /** Native log level (default 'fatal': ORT's errors reach callers as exceptions, not as stderr lines). */
  logLevel?: LogLevel;
}

export interface Fallback {
  requested: ProviderName;
  reason: string;
}

export interface SessionHandle {
  session: ort.InferenceSession;
  /** The provider the session was created with. */
  ep: ProviderName;
  /** Present when the requested provider could not be used. */
  fallback?: Fallback;
  /** Milliseconds spent creating the session (including a failed attempt). */
  createMs: number;
}

const LOG_LEVELS: Record<LogLevel, 0 | 1 | 2 | 3 | 4> = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 };

/** ORT session options for one provider. */
export function ortSessionOptions(ep: ProviderName, opts: SessionOptions): ort.InferenceSession.SessionOptions {
  const o: ort.InferenceSession.SessionOptions = {
    executionProviders: [ep],
    graphOptimizationLevel: opts.optimization ?? 'all',
    interOpNumThreads: opts.interOpThreads ?? 1,
    executionMode: 'sequential',
    logSeverityLevel: LOG_LEVELS[opts.logLevel ?? 'fatal'],
    extra: {
      session: {
        intra_op: { allow_spinning: opts.spinning ? '1' : '0' },
        inter_op: { allow_spinning: opts.spinning ? '1' : '0' },
      },
    },
  };
  if (opts.threads !== undefined) o.intraOpNumThreads = opts.threads;
  if (opts.memArena !== undefined) o.enableCpuMemArena = opts.memArena;
  if (opts.memPattern !== undefined) o.enableMemPattern = opts.memPattern;
  if (opts.profile) {
    o.enableProfiling = true;
    o.profileFilePrefix = (typeof opts.profile === 'object' && opts.profile.prefix) || 'ort_profile';
  }
  return o;
}

/**
 * Create a session on the requested provider, falling back to CPU when it is not bundled, not for this
 * platform, or its session cannot be created here (e.g. no GPU adapter).
 * @example
 * const { session, ep, fallback } = await createSession(bytes, { ep: 'webgpu', threads: 1 });
 * // on a machine without a GPU: ep === 'cpu', fallback.reason === 'webgpu requested but no GPU adapter was found: …; ran on cpu'
 */
export async function createSession(model: Uint8Array | string, opts: SessionOptions = {}): Promise<SessionHandle> {
  const requested = parseProvider(opts.ep ?? 'cpu');
  const t0 = performance.now();
  let fallback: Fallback | undefined;
  if (requested !== 'cpu') {
    const tried = await tryProvider(requested, model, opts);
    if ('session' in tried) return { session: tried.session, ep: requested, createMs: performance.now() - t0 };
    fallback = { requested, reason: `${requested} requested but ${tried.why}; ran on cpu` };
  }
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(model as Uint8Array, ortSessionOptions('cpu', opts));
  } catch (e) {
    throw new SessionCreateError(ortMessage(e), fallback ? { ep: 'cpu', fallback } : { ep: 'cpu' });
  }
  return fallback
    ? { session, ep: 'cpu', fallback, createMs: performance.now() - t0 }
    : { session, ep: 'cpu', createMs: performance.now() - t0 };
}

/** Create a session on a non-CPU provider, or say why not (remembering failures of the environment). */
async function tryProvider(
  ep: ProviderName,
  model: Uint8Array | string,
  opts: SessionOptions,
): Promise<{ session: ort.InferenceSession } | { why: string }> {
  const known = listProviders().find((p) => p.name === ep)!;
  if (known.reason !== undefined) return { why: known.reason };
  try {
    const session = await ort.InferenceSession.create(model as Uint8Array, ortSessionOptions(ep, opts));
    probed.set(ep, { ok: true });
    return { session };
  } catch (e) {
    const why = describeFailure(e);
    if (isEnvironmental(e)) probed.set(ep, { ok: false, reason: why });
    return { why };
  }
}

/** The part of a provider failure worth showing, phrased to follow "<ep> requested but …". */
function describeFailure(e: unknown): string {
  const msg = ortMessage(e);
  if (/adapter/i.test(msg)) return `no GPU adapter was found: ${msg}`;
  if (/load (shared )?library|cannot open shared object/i.test(msg)) return `its library could not be loaded: ${msg}`;
  return `its session could not be created: ${msg}`;
}

/** Failures that will repeat for any model in this process (no device, missing library). */
function isEnvironmental(e: unknown): boolean {
  return /adapter|load (shared )?library|cannot open shared object|backend not found/i.test(ortMessage(e));
}

let probeBytes: Uint8Array | null = null;

/** A one-op model (Relu over float32[1]) to try providers with. */
function probeModel(): Uint8Array {
  if (!probeBytes) {
    const m = new Model();
    const x = m.graph.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [1] });
    m.graph.addOutput(m.graph.addNode({ opType: 'Relu', inputs: [x], outputs: ['y'] }).outputs[0]!);
    probeBytes = encodeModel(m).bytes;
  }
  return probeBytes;
}

/**
 * Try a provider for real (create a tiny session with it) and return its updated info. The result is
 * remembered for this process, so later sessions fall back at once instead of retrying a missing device.
 */
export async function probeProvider(name: string): Promise<ProviderInfo> {
  const ep = parseProvider(name);
  const before = listProviders().find((p) => p.name === ep)!;
  if (!before.available || before.verified) return before;
  const handle = await createSession(probeModel(), { ep, threads: 1 });
  await handle.session.release();
  if (!handle.fallback) probed.set(ep, { ok: true });
  else if (!probed.has(ep)) {
    // a one-op model failing is the device's fault, not the model's: remember it like an environmental failure
    probed.set(ep, {
      ok: false,
      reason: handle.fallback.reason.slice(`${ep} requested but `.length, -'; ran on cpu'.length),
    });
  }
  return listProviders().find((p) => p.name === ep)!;
}

/**
 * Providers as this machine can really use them: every provider that the static rules allow is probed (a one-op
 * session is created on it), so `available` means a session was created here — WebGPU bundled on a box without a GPU
 * adapter is listed with its reason instead. Probes are remembered for the process, so a second call is free.
 * @example (await probeProviders()).filter((p) => p.available).map((p) => p.name) // ['cpu'] on a box without a GPU
 */
export async function probeProviders(): Promise<ProviderInfo[]> {
  for (const p of listProviders()) if (p.available && !p.verified) await probeProvider(p.name);
  return listProviders();
}

/**
 * `probeProviders` in a child process of its own (a provider's driver that crashes while probed takes that process
 * down, not the caller). Falls back to the static list, every non-CPU provider marked unverified, if the child fails.
 * @example const list = await probeProvidersApart(); // what the app's capabilities list
 */
export async function probeProvidersApart(timeoutMs = 60_000): Promise<ProviderInfo[]> {
  const { fork } = await import('node:child_process');
  const entry = new URL('./probe-child.ts', import.meta.url);
  return new Promise((resolveList) => {
    const child = fork(entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
    const fallback = (why: string) =>
      resolveList(
        listProviders().map((p) =>
          p.name === 'cpu' || !p.available ? p : { ...p, available: false, reason: `its probe failed (${why})` },
        ),
      );
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fallback(`no answer within ${timeoutMs / 1000} s`);
    }, timeoutMs);
    child.once('message', (list) => {
      clearTimeout(timer);
      resolveList(list as ProviderInfo[]);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      fallback(signal ? `the probe process was killed by ${signal}` : `the probe process exited with code ${code}`);
    });
  });
}
