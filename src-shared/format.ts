/** @file Number and time formatting for people — counts (k / M / G), bytes, percentages, factors, durations, dates — shared by the CLI and the renderer. Pure functions: no Node, no DOM. */

/** @example formatCount(1234567) // '1.23 M' */
export function formatCount(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const abs = Math.abs(n);
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (abs >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (abs >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return n.toLocaleString('en-US', { maximumFractionDigits: 0 });
}

/** @example formatBytes(2048) // '2.0 KiB' */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/** @example formatPercent(0.9911) // '99.11 %' */
export function formatPercent(v: number | null | undefined, digits = 2): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)} %`;
}

/** A compression factor or speedup. @example formatFactor(3.456) // '3.46×' */
export function formatFactor(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`;
}

/**
 * A ratio as a change in words; below 1 its inverse the other way round.
 * @example formatChange(2.19, 'fewer', 'more') // '2.19× fewer'; formatChange(0.8, 'faster', 'slower') // '1.25× slower'
 */
export function formatChange(v: number, up: string, down: string): string {
  return v >= 1 ? `${formatFactor(v)} ${up}` : `${formatFactor(1 / v)} ${down}`;
}

/** A signed difference in percentage points. @example formatDelta(-0.0042) // '−0.42 pt' */
export function formatDelta(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const pts = v * 100;
  return `${pts >= 0 ? '+' : '−'}${Math.abs(pts).toFixed(2)} pt`;
}

/** @example formatMs(0.4213) // '0.421 ms' */
export function formatMs(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  return v < 1 ? `${v.toFixed(3)} ms` : v < 100 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`;
}

/** @example formatDuration(65_000) // '1 m 05 s' */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} m`;
}

/** @example formatDate('2025-01-02T03:04:05Z') // '2025-01-02 03:04' (local time) */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Shape as `[1, 16, 28, 28]`, symbolic dims by name. */
export function formatShape(shape: readonly (number | string | null)[] | null | undefined): string {
  if (!shape) return '?';
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}
