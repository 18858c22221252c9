/**
 * @file The time a run has left: the current phase at its own pace, plus an estimate for each phase still to come
 * (the same kind's duration earlier in this run, the "before" measure for the "after" one, else a prior). The old
 * estimate spread the elapsed time evenly over the steps, so a long fine-tune after three quick steps looked
 * almost done. Pure; imports nothing.
 */

/** Rough durations (ms) of a phase kind not yet seen in this run, on the bundled example's scale. */
const PRIOR_MS: Readonly<Record<string, number>> = { measure: 4000, prune: 2000, speedup: 3000, quantize: 8000, finetune: 60000, distill: 60000 };
const DEFAULT_PRIOR_MS = 5000;

/** Below this much progress (or time) in the current phase its pace is noise: no estimate yet. */
const MIN_FRACTION = 0.01;
const MIN_PHASE_MS = 300;

export interface EtaState {
  /** The plan's step kinds in order. */
  kinds: readonly string[];
  /** −1 = measuring before, 0…n−1 = step, n = measuring after. */
  phase: number;
  /** The current phase's own progress, 0…1. */
  fraction: number;
  /** Time spent in the current phase so far. */
  phaseElapsedMs: number;
  /** Durations of the phases finished in this run, by kind ('measure' for both measures). */
  finished: ReadonlyMap<string, readonly number[]>;
}

function expected(kind: string, finished: EtaState['finished']): number {
  const seen = finished.get(kind);
  if (seen?.length) return seen.reduce((a, b) => a + b, 0) / seen.length;
  return PRIOR_MS[kind] ?? DEFAULT_PRIOR_MS;
}

/**
 * Milliseconds left in the run, or null while the current phase is too young to have a pace.
 *
 * @example remainingMs({ kinds: ['prune', 'finetune'], phase: 1, fraction: 0.1, phaseElapsedMs: 4000, finished }) // ≈ 36 s + the measure after
 */
export function remainingMs(s: EtaState): number | null {
  const n = s.kinds.length;
  const kindOf = (phase: number) => (phase < 0 || phase >= n ? 'measure' : s.kinds[phase]!);
  if (s.fraction < MIN_FRACTION || s.phaseElapsedMs < MIN_PHASE_MS) return null;
  let left = (s.phaseElapsedMs * (1 - Math.min(1, s.fraction))) / s.fraction;
  for (let p = s.phase + 1; p <= n; p++) left += expected(kindOf(p), s.finished);
  return Math.round(left);
}
