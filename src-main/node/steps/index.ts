/**
 * @file The step modules a job's worker imports: each registers the executors of its step kinds with the
 * runner (`registerStep`). Listed here once so the CLI, the host and the app agree.
 */
import { fileURLToPath } from 'node:url';

export const STEP_MODULES: string[] = [fileURLToPath(new URL('./register.ts', import.meta.url))];
