/**
 * @file A step's summary in words: the executors' result keys (maskedFraction, keptMasks, macRatio, seconds, …)
 * become phrases ("50.0 % of the weights masked", "3.78× fewer MACs", "930 steps in 7.1 s"); keys no phrase knows
 * are spelled out from their camelCase. Pure.
 */
import { formatCount, formatFactor } from '../../src-shared/format.ts';

type Summary = Record<string, unknown>;
type Phrase = (v: unknown, all: Summary) => string | null;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const pct = (v: number) => `${(v * 100).toFixed(1)} %`;

/** One phrase per known key; null leaves the key out (it is said by another phrase, or says nothing). */
const PHRASES: Record<string, Phrase> = {
  pruner: (v) => `${String(v).toUpperCase()} pruner`,
  targets: (v) => (num(v) === null ? null : `${formatCount(num(v)!)} target${v === 1 ? '' : 's'}`),
  maskedFraction: (v) => (num(v) === null ? null : `${pct(num(v)!)} of the weights masked`),
  autoGroups: (v) => (num(v) ? `${v} dependency group${v === 1 ? '' : 's'}` : null),
  macRatio: (v) => (num(v) ? `${formatFactor(1 / num(v)!)} fewer MACs` : null),
  paramsBefore: (v, all) =>
    num(v) !== null && num(all.paramsAfter) !== null
      ? `params ${formatCount(num(v)!)} → ${formatCount(num(all.paramsAfter)!)}`
      : null,
  paramsAfter: () => null,
  maxRelErr: (v) => (num(v) === null ? null : `verified (max rel. error ${num(v)!.toExponential(1)})`),
  steps: (v, all) =>
    num(v) === null
      ? null
      : `${formatCount(num(v)!)} steps${num(all.seconds) !== null ? ` in ${num(all.seconds)!.toFixed(1)} s` : ''}`,
  seconds: (v, all) => (num(all.steps) === null && num(v) !== null ? `${num(v)!.toFixed(1)} s` : null),
  keptMasks: (v) => (v === true ? 'pruning masks kept while training' : null),
  reduceRange: (v) => (v === true ? '7-bit weights (reduce range, no VNNI)' : null),
  integerKernels: (v) => {
    if (!v || typeof v !== 'object') return null;
    const parts = Object.entries(v as Record<string, unknown>).filter(([, n]) => num(n));
    return parts.length ? `integer kernels: ${parts.map(([k, n]) => `${n} ${k}`).join(', ')}` : null;
  },
  warning: (v) => `⚠ ${String(v)}`,
  // latency-aware precision of a quantize step: what stayed fp32 because int8 measured slower, and at which batch
  mixedPrecision: (v) => {
    if (!v || typeof v !== 'object') return null;
    const m = v as { floatLayers?: { node: string }[]; wholeModelFloat?: boolean; slowerAt?: number[] };
    const at = m.slowerAt?.length ? ` at batch ${m.slowerAt.join(' and ')}` : '';
    if (m.wholeModelFloat) return `kept fp32: int8 measured slower${at}`;
    const layers = m.floatLayers ?? [];
    if (!layers.length) return null;
    return `${layers.length} layer${layers.length === 1 ? '' : 's'} kept fp32 (int8 slower${at}): ${layers.map((l) => l.node).join(', ')}`;
  },
};

function spelled(key: string, v: unknown): string | null {
  if (typeof v === 'object' && v !== null) return null;
  const words = key.replace(/([A-Z])/g, ' $1').toLowerCase();
  if (typeof v === 'boolean') return v ? words : `no ${words}`;
  return `${words} ${typeof v === 'number' ? +v.toFixed(4) : String(v)}`;
}

/**
 * @example describeSummary({ steps: 930, seconds: 7.1192, keptMasks: false }) // "930 steps in 7.1 s"
 */
export function describeSummary(s: Summary | null | undefined, max = 5): string {
  if (!s) return '';
  const out: string[] = [];
  for (const [k, v] of Object.entries(s)) {
    const phrase = k in PHRASES ? PHRASES[k]!(v, s) : spelled(k, v);
    if (phrase) out.push(phrase);
  }
  return out.slice(0, max).join(' · ');
}
