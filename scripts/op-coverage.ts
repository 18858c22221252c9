/** @file Writes docs/op-coverage.md from the registries (`npm run docs:coverage`); src-main/core/analysis/coverage.test.ts checks it is current. */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { opCoverageMarkdown } from '../src-main/core/analysis/coverage.ts';

const out = fileURLToPath(new URL('../docs/op-coverage.md', import.meta.url));
writeFileSync(out, opCoverageMarkdown());
process.stdout.write(`wrote ${out}\n`);
