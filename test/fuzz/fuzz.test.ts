/**
 * @file The quick sample of the fuzz suite in `npm test`: 1,000 seeded cases of malformed models, config lists and
 * plans; each must end in a named error or a valid result within its time and memory bound — no crash, no hang, no
 * silent accept of a case that is invalid by construction. Models that load also go through `studio prune --speedup`
 * and `studio quantize`, each ending in a named error or an output that loads. The full run:
 * `npm run fuzz -- --cases 10000`.
 */
import { describe, expect, it } from 'vitest';
import { formatTable, runFuzz } from './run.ts';

describe('fuzz (quick sample)', () => {
  it('1,000 cases: every one a named error or a valid result, none a crash, hang or silent accept', async () => {
    const report = await runFuzz({ cases: 1000, seed: 2026, workers: 2, timeoutMs: 60_000 });
    console.log(formatTable(report));
    expect(report.results).toHaveLength(1000);
    expect(report.failures.map((f) => `${f.index} ${f.category} ${f.outcome}: ${f.detail?.split('\n')[0]}`)).toEqual(
      [],
    );
    // every category ran, and the invalid-by-construction ones were refused
    for (const [category, row] of report.table)
      expect(
        [...row.values()].reduce((s, n) => s + n, 0),
        category,
      ).toBeGreaterThan(0);
    expect(report.results.filter((r) => r.outcome === 'refused').length).toBeGreaterThan(500);
    // the compression stage ran on the models that loaded, and most of them compressed
    const ran = (stage: 'prune' | 'quantize', how: string) => report.results.filter((r) => r[stage] === how).length;
    expect(ran('prune', 'valid')).toBeGreaterThan(20);
    expect(ran('quantize', 'valid')).toBeGreaterThan(20);
    expect(ran('prune', 'valid')).toBeGreaterThan(ran('prune', 'refused'));
  }, 900_000);
});
