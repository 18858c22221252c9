/**
 * @file Which figures of a comparison can be set side by side: accuracies measured on different evaluation sets
 * (2,000 vs 10,000 test images), latencies taken at different times under different load (their originals' timings
 * disagree), and runs whose model did not change (their accuracy is the original's, not a result). Pure.
 */
import type { RunDetail } from '../../src-shared/ipc/dto.ts';
import { formatCount } from '../../src-shared/format.ts';

/** Originals timed within this factor of each other count as "the same load". */
const LATENCY_SPREAD = 1.15;

export interface Comparability {
  /** Per run: what its accuracy was measured on ("2,000 test images"), or null when unknown. */
  evalLabels: (string | null)[];
  /** A sentence when the runs' evaluation sets differ, else null. */
  accuracyNote: string | null;
  /** A sentence when the runs' latencies were taken under different load, else null. */
  latencyNote: string | null;
  /** Per run: true when the run's model is the original (nothing pruned, removed or quantized). */
  unchanged: boolean[];
}

interface Split {
  paths?: string[];
  offset?: number;
  limit?: number;
}

function evalSet(r: RunDetail): { key: string; label: string | null } {
  const plan = r.plan as unknown as {
    dataset?: { evaluation?: Split };
    evaluator?: { maxBatches?: number; batchSize?: number };
  };
  const split = plan.dataset?.evaluation;
  if (!split) return { key: 'none', label: null };
  const cap = plan.evaluator?.maxBatches ? plan.evaluator.maxBatches * (plan.evaluator.batchSize ?? 64) : undefined;
  const n = [split.limit, cap]
    .filter((x): x is number => typeof x === 'number')
    .reduce<number | undefined>((a, b) => (a === undefined ? b : Math.min(a, b)), undefined);
  const file = (split.paths?.[0] ?? '').split(/[\\/]/).pop() ?? '';
  const skip = split.offset ?? 0;
  const from = skip > 0 ? ` from image ${formatCount(skip + 1)}` : '';
  return {
    key: JSON.stringify([split.paths ?? [], skip, n ?? null]),
    label:
      n !== undefined
        ? `${formatCount(n)} images of ${file}${from}`
        : skip > 0
          ? `${file}${from} on`
          : `all of ${file}`,
  };
}

const near1 = (f: number | null | undefined) => f == null || Math.abs(f - 1) < 1e-3;

/**
 * @example comparability(runs).accuracyNote // "Accuracies were measured on different test sets: …"
 */
export function comparability(runs: readonly RunDetail[]): Comparability {
  const sets = runs.map(evalSet);
  const measured = sets.filter((s, i) => s.label && runs[i]!.after?.accuracy != null);
  const accuracyNote =
    new Set(measured.map((s) => s.key)).size > 1
      ? `Accuracies were measured on different test sets (${[...new Set(measured.map((s) => s.label))].join('; ')}): they do not rank against each other.`
      : null;
  const baselines = runs
    .map((r) => r.after?.latencyMs?.baselineP50 ?? r.before?.latencyMs?.p50 ?? null)
    .filter((x): x is number => x != null && x > 0);
  const spread = baselines.length > 1 ? Math.max(...baselines) / Math.min(...baselines) : 1;
  const latencyNote =
    spread > LATENCY_SPREAD
      ? `Latencies were taken at different times under different load: the original model itself measured ${baselines.map((b) => `${b.toFixed(3)} ms`).join(', ')}. Re-measure them side by side to compare.`
      : null;
  const unchanged = runs.map(
    (r) =>
      !!r.report && near1(r.report.factors.params) && near1(r.report.factors.macs) && near1(r.report.factors.sizeBytes),
  );
  return { evalLabels: sets.map((s) => s.label), accuracyNote, latencyNote, unchanged };
}
