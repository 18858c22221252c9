/**
 * @file The time a run has left: the current phase at its own pace (measured from its first progress report, so a
 * fine-tune's one-off graph building does not count as training pace), plus an estimate for each phase still to
 * come (the same kind's duration earlier in this run, the "before" measure for the "after" one, else a multiple of
 * the "before" measure, which scales with the model and the data). The old estimate spread the elapsed time evenly
 * over the steps, so a long fine-tune after three quick steps looked almost done. Pure; imports nothing.
 */

/** A phase kind not yet seen, as a multiple of the measure-before duration (both run the model over data). */
const PRIOR_FACTOR: Readonly<Record<string, number>> = {
  measure: 1,
  prune: 0.5,
  speedup: 0.5,
  quantize: 1,
  finetune: 5,
  distill: 5,
};
const DEFAULT_PRIOR_FACTOR = 1;
/** Without a measured phase: rough durations (ms) on the bundled example's scale. */
const PRIOR_MS: Readonly<Record<string, number>> = {
  measure: 4000,
  prune: 2000,
  speedup: 2000,
  quantize: 4000,
  finetune: 20000,
  distill: 20000,
};
const DEFAULT_PRIOR_MS = 4000;

/** Below this much progress (or time) in the current phase its pace is noise: no estimate yet. */
const MIN_FRACTION = 0.01;
const MIN_PHASE_MS = 300;
/** The shortest span after the anchor whose pace is trusted (reports come every few steps). */
const MIN_ANCHOR_MS = 50;

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
  /** The first progress report of this phase that had work done: its fraction and time into the phase. */
  anchor?: { fraction: number; phaseElapsedMs: number };
}

function expected(kind: string, finished: EtaState['finished']): number {
  const seen = finished.get(kind);
  if (seen?.length) return seen.reduce((a, b) => a + b, 0) / seen.length;
  const measure = finished.get('measure')?.[0];
  if (measure !== undefined) return measure * (PRIOR_FACTOR[kind] ?? DEFAULT_PRIOR_FACTOR);
  return PRIOR_MS[kind] ?? DEFAULT_PRIOR_MS;
}

/**
 * Milliseconds the current phase still needs: its pace since the anchor (null until the span after it is long enough
 * to have one), or since the phase's start when there is no anchor.
 */
function phaseLeft(s: EtaState): number | null {
  const f = Math.min(1, s.fraction);
  const a = s.anchor;
  if (!a) return (s.phaseElapsedMs * (1 - f)) / f;
  if (f - a.fraction < MIN_FRACTION || s.phaseElapsedMs - a.phaseElapsedMs < MIN_ANCHOR_MS) return null;
  return ((s.phaseElapsedMs - a.phaseElapsedMs) / (f - a.fraction)) * (1 - f);
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
  const current = phaseLeft(s);
  if (current === null) return null;
  let left = current;
  for (let p = s.phase + 1; p <= n; p++) left += expected(kindOf(p), s.finished);
  return Math.round(left);
}
