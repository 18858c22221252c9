/**
 * @file The fuzz runner: hands seeded cases to worker processes (each case bounded in time and memory; a worker that
 * dies or overruns is replaced and its case recorded as a crash, a hang or a memory fault) and prints the outcome
 * table. `npm run fuzz -- --cases 10000 [--seed N] [--workers K] [--timeout-ms T] [--no-compress] [--stage-errors]`; `npm test` runs
 * a quick sample through fuzz.test.ts.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CATEGORIES } from './cases.ts';
import type { CaseResult, Outcome } from './worker.ts';

export interface FuzzOptions {
  cases: number;
  seed?: number;
  /** Worker processes (default 2). */
  workers?: number;
  /** A case running longer than this is a hang (default 30 s). */
  timeoutMs?: number;
  /** Models that load also go through `studio prune --speedup` and `studio quantize` (default true). */
  compress?: boolean;
  /** A worker whose memory exceeds this after a case is a memory fault (default 3 GiB). */
  memoryMb?: number;
  onResult?: (r: CaseResult) => void;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  results: CaseResult[];
  /** category → outcome → count */
  table: Map<string, Map<Outcome, number>>;
  failures: CaseResult[];
  wallMs: number;
}

const OUTCOMES: Outcome[] = ['refused', 'valid', 'crash', 'hang', 'memory', 'silent-accept'];
const BAD: ReadonlySet<Outcome> = new Set(['crash', 'hang', 'memory', 'silent-accept']);

/** Run `cases` cases of `seed` and collect the outcome table. */
export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const seed = opts.seed ?? 1;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const memoryMb = opts.memoryMb ?? 3072;
  const root = mkdtempSync(join(tmpdir(), 'studio-fuzz-'));
  const results: CaseResult[] = [];
  let next = 0;
  const t0 = Date.now();

  const worker = async (): Promise<void> => {
    while (next < opts.cases) {
      const child = fork(join(import.meta.dirname, 'worker.ts'), [], {
        execArgv: ['--import', 'tsx', `--max-old-space-size=${memoryMb}`, '--stack-size=984'],
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        env: { ...process.env, ORT_LOGGING_LEVEL: '4' },
      });
      child.stderr!.resume();
      await new Promise<void>((res, rej) => {
        child.once('message', () => res());
        child.once('exit', (code) => rej(new Error(`fuzz worker exited during start (${code})`)));
      });
      await drive(child);
    }
  };

  /** Feeds cases to one child until it dies, overruns, or the cases run out. */
  const drive = (child: ChildProcess): Promise<void> =>
    new Promise((resolve) => {
      let current: { index: number; category: string } | null = null;
      let timer: NodeJS.Timeout | null = null;
      const finish = (r: CaseResult | null) => {
        if (timer) clearTimeout(timer);
        if (r) {
          results.push(r);
          opts.onResult?.(r);
        }
      };
      const arm = (index: number, ms: number) => {
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          finish({
            index,
            category: current!.category,
            outcome: 'hang',
            ms,
            rssMb: 0,
            detail: `no answer in ${ms} ms`,
          });
          current = null;
          child.kill('SIGKILL');
        }, ms);
      };
      const send = () => {
        if (next >= opts.cases) {
          child.kill();
          resolve();
          return;
        }
        const index = next++;
        current = { index, category: '?' };
        arm(index, timeoutMs);
        child.send({ seed, index, root, compress: opts.compress ?? true });
      };
      child.on(
        'message',
        (m: { t: string; index?: number; category?: string; timeoutMs?: number; result?: CaseResult }) => {
          if (m.t === 'start' && current && m.index === current.index) {
            current.category = m.category!;
            if (m.timeoutMs && m.timeoutMs > timeoutMs) arm(current.index, m.timeoutMs);
          }
          if (m.t === 'done' && current && m.result!.index === current.index) {
            const r = m.result!;
            if (r.rssMb > memoryMb) r.outcome = 'memory';
            finish(r);
            current = null;
            if (r.outcome === 'memory') {
              child.kill('SIGKILL');
              return;
            }
            send();
          }
        },
      );
      child.on('exit', (code, signal) => {
        if (current)
          finish({
            index: current.index,
            category: current.category,
            outcome: 'crash',
            ms: 0,
            rssMb: 0,
            detail: `worker died (${signal ?? code})`,
          });
        current = null;
        resolve();
      });
      send();
    });

  try {
    await Promise.all(Array.from({ length: opts.workers ?? 2 }, () => worker()));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  results.sort((a, b) => a.index - b.index);
  const table = new Map<string, Map<Outcome, number>>(CATEGORIES.map((c) => [c, new Map()]));
  for (const r of results) {
    const row = table.get(r.category) ?? new Map<Outcome, number>();
    table.set(r.category, row);
    row.set(r.outcome, (row.get(r.outcome) ?? 0) + 1);
  }
  return {
    seed,
    cases: opts.cases,
    results,
    table,
    failures: results.filter((r) => BAD.has(r.outcome)),
    wallMs: Date.now() - t0,
  };
}

/** `valid/refused` counts of one compression stage over some results ('-' when none ran it). */
function stageCell(rs: CaseResult[], stage: 'prune' | 'quantize'): string {
  const ran = rs.filter((r) => r[stage]);
  if (ran.length === 0) return '-';
  return `${ran.filter((r) => r[stage] === 'valid').length}/${ran.filter((r) => r[stage] === 'refused').length}`;
}

/**
 * The outcome table as text: one row per category, one column per outcome, then the compression stage on the models
 * that loaded (`valid/refused` of prune + speedup and of quantize), totals last.
 */
export function formatTable(report: FuzzReport): string {
  const rows = [['category', ...OUTCOMES, 'prune v/r', 'quantize v/r', 'max ms', 'max RSS MiB']];
  const total = new Map<Outcome, number>();
  for (const [category, row] of report.table) {
    const rs = report.results.filter((r) => r.category === category);
    if (rs.length === 0) continue;
    for (const o of OUTCOMES) total.set(o, (total.get(o) ?? 0) + (row.get(o) ?? 0));
    rows.push([
      category,
      ...OUTCOMES.map((o) => String(row.get(o) ?? 0)),
      stageCell(rs, 'prune'),
      stageCell(rs, 'quantize'),
      Math.max(...rs.map((r) => r.ms)).toFixed(0),
      Math.max(...rs.map((r) => r.rssMb)).toFixed(0),
    ]);
  }
  const maxMs = Math.max(0, ...report.results.map((r) => r.ms));
  const maxRss = Math.max(0, ...report.results.map((r) => r.rssMb));
  rows.push([
    'total',
    ...OUTCOMES.map((o) => String(total.get(o) ?? 0)),
    stageCell(report.results, 'prune'),
    stageCell(report.results, 'quantize'),
    maxMs.toFixed(0),
    maxRss.toFixed(0),
  ]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `fuzz: ${report.cases} cases, seed ${report.seed}, ${(report.wallMs / 1000).toFixed(0)} s`,
    line(rows[0]!),
    ...rows.slice(1, -1).map(line),
    line(rows[rows.length - 1]!),
  ].join('\n');
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cases = arg('cases', 1000);
  let done = 0;
  const report = await runFuzz({
    cases,
    seed: arg('seed', 1),
    workers: arg('workers', 2),
    timeoutMs: arg('timeout-ms', 30_000),
    compress: !process.argv.includes('--no-compress'),
    onResult: () => {
      if (++done % 500 === 0) process.stderr.write(`  ${done}/${cases}\n`);
    },
  });
  process.stdout.write(`${formatTable(report)}\n`);
  if (process.argv.includes('--stage-errors'))
    for (const r of report.results)
      for (const e of r.stageErrors ?? []) process.stdout.write(`stage case ${r.index} (${r.category}): ${e}\n`);
  for (const f of report.failures.slice(0, 20))
    process.stdout.write(
      `FAIL case ${f.index} (${f.category}): ${f.outcome} ${f.detail?.split('\n').slice(0, 3).join(' | ') ?? ''}\n`,
    );
  process.exit(report.failures.length === 0 ? 0 : 1);
}
