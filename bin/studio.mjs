#!/usr/bin/env node
// The `studio` command: registers the TypeScript loader, then runs the CLI in src-main/node/cli.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src-main/node/cli/main.ts');
process.exitCode = await main(process.argv);
