/** @file docs/op-coverage.md is the table the registries give today (rebuild it with `npm run docs:coverage`), and its rows say what the registries say. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { opCoverage, opCoverageMarkdown } from './coverage.ts';

describe('the op-coverage table', () => {
  it('in docs/ is current', () => {
    expect(readFileSync('docs/op-coverage.md', 'utf8'), 'docs/op-coverage.md is stale: run npm run docs:coverage').toBe(
      opCoverageMarkdown(),
    );
  });

  it('reads the registries', () => {
    const row = (op: string) => opCoverage().find((r) => r.op === op)!;
    expect(row('Conv')).toMatchObject({
      gradient: 'rule',
      propagation: true,
      replacer: true,
      pruning: ['weight', 'bias'],
      macs: 'macs',
    });
    expect(row('Shape')).toMatchObject({ shape: true, gradient: 'none flows', macs: 'free' });
    expect(row('Relu')).toMatchObject({
      gradient: 'rule',
      macs: 'other',
      quantization: expect.arrayContaining(['_input_', '_output_']),
    });
    expect(row('Flatten').quantization).toBe('shares its input’s parameters');
  });
});
