/**
 * @file The CPU facts a latency number depends on (model, cores, SIMD and matrix extensions), read from
 * /proc/cpuinfo on Linux; elsewhere the flags are 'unknown'. May import node:*.
 */
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, platform } from 'node:os';

/** true / false when the OS says so; 'unknown' where it cannot be read (non-Linux). */
export type Flag = boolean | 'unknown';

export interface CpuInfo {
  model: string;
  /** Logical CPUs this process may use. */
  logicalCores: number;
  /** Physical cores (from `cpu cores` × sockets), when known. */
  physicalCores?: number;
  platform: string;
  arch: string;
  flags: {
    avx2: Flag;
    avx512f: Flag;
    avx512_vnni: Flag;
    avx_vnni: Flag;
    /** Intel AMX tiles (amx_tile; int8/bf16 matrix units). */
    amx: Flag;
  };
}

const UNKNOWN_FLAGS: CpuInfo['flags'] = {
  avx2: 'unknown',
  avx512f: 'unknown',
  avx512_vnni: 'unknown',
  avx_vnni: 'unknown',
  amx: 'unknown',
};

/**
 * Parse the text of /proc/cpuinfo (pure, for tests). x86 lists `flags`; other architectures list
 * `Features` and have none of these x86 extensions.
 */
export function parseCpuInfo(text: string): Pick<CpuInfo, 'model' | 'flags' | 'physicalCores'> {
  const first = new Map<string, string>();
  const sockets = new Set<string>();
  for (const line of text.split('\n')) {
    const k = line.indexOf(':');
    if (k < 0) continue;
    const key = line.slice(0, k).trim();
    const value = line.slice(k + 1).trim();
    if (!first.has(key)) first.set(key, value);
    if (key === 'physical id') sockets.add(value);
  }
  const model =
    first.get('model name') ?? first.get('Model') ?? first.get('Hardware') ?? first.get('cpu model') ?? 'unknown';
  const flagText = first.get('flags') ?? (first.has('Features') ? '' : undefined);
  const flags =
    flagText === undefined
      ? UNKNOWN_FLAGS
      : ((set: Set<string>) => ({
          avx2: set.has('avx2'),
          avx512f: set.has('avx512f'),
          avx512_vnni: set.has('avx512_vnni'),
          avx_vnni: set.has('avx_vnni'),
          amx: set.has('amx_tile'),
        }))(new Set(flagText.split(/\s+/)));
  const perSocket = Number(first.get('cpu cores'));
  const out: Pick<CpuInfo, 'model' | 'flags' | 'physicalCores'> = { model, flags };
  if (Number.isFinite(perSocket) && perSocket > 0) out.physicalCores = perSocket * Math.max(1, sockets.size);
  return out;
}

let cached: CpuInfo | null = null;

/**
 * This machine's CPU, read once per process.
 * @example cpuInfo() // { model: 'AMD EPYC', logicalCores: 2, flags: { avx2: true, avx512f: false, … }, … }
 */
export function cpuInfo(): CpuInfo {
  if (cached) return cached;
  const base = { logicalCores: availableParallelism(), platform: platform(), arch: arch() };
  let parsed: Pick<CpuInfo, 'model' | 'flags' | 'physicalCores'> = {
    model: cpus()[0]?.model?.trim() || 'unknown',
    flags: UNKNOWN_FLAGS,
  };
  if (base.platform === 'linux') {
    try {
      parsed = parseCpuInfo(readFileSync('/proc/cpuinfo', 'utf8'));
    } catch {
      // unreadable (sandbox): keep the os module's view with unknown flags
    }
  }
  cached = { ...parsed, ...base };
  return cached;
}
