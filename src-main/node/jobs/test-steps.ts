/**
 * @file Test-only step kinds for exercising the runner without compression algorithms: `count` (rewrites the
 * model, logs each execution to a file, emits a loss series), `sleep` (silent or chatty waiting, optionally
 * ignoring cancellation), `spin` (CPU-heavy, yielding) and `fail`. Loaded by workers through `stepModules` and
 * imported by tests (so plans using these kinds validate). Never imported by product code.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { registerStepKind } from '../../../src-shared/experiment.ts';
import { tinyGemmModel } from '../../core/autodiff/op-model.ts';
import { loadModelFile, saveModelFile } from '../io/model-file.ts';
import { sleep } from './cancel.ts';
import { registerStep } from './registry.ts';

export const TEST_STEPS_MODULE = new URL(import.meta.url).pathname;

const countStep = z.strictObject({
  kind: z.literal('count'),
  n: z.int().positive().default(5),
  delayMs: z.int().nonnegative().default(10),
  /** File to which each execution appends `<runId> <index>` (to prove resumed runs skip finished steps). */
  logFile: z.string().optional(),
});
const sleepStep = z.strictObject({
  kind: z.literal('sleep'),
  ms: z.int().nonnegative(),
  /** Report progress while sleeping (default true); false = a silent step, relying on heartbeats. */
  chatty: z.boolean().default(true),
  /** Block the event loop instead of checking the token (a step that ignores cancellation). */
  ignoreCancel: z.boolean().default(false),
  /** End early once this file exists (lets a test finish a long step on resume). */
  stopFile: z.string().optional(),
});
const spinStep = z.strictObject({
  kind: z.literal('spin'),
  ms: z.int().positive(),
  sliceMs: z.number().positive().default(4),
});
const failStep = z.strictObject({ kind: z.literal('fail'), message: z.string().default('step failed on purpose') });

registerStepKind('count', countStep);
registerStepKind('sleep', sleepStep);
registerStepKind('spin', spinStep);
registerStepKind('fail', failStep);
/** A kind with options but deliberately no executor. */
registerStepKind('orphan', z.strictObject({ kind: z.literal('orphan') }));

registerStep<z.infer<typeof countStep>>('count', async (ctx) => {
  const { n, delayMs, logFile } = ctx.step;
  if (logFile) appendFileSync(logFile, `${ctx.runId} ${ctx.index}\n`);
  for (let i = 0; i < n; i++) {
    await sleep(delayMs, ctx.token);
    ctx.progress({ fraction: (i + 1) / n, loss: 1 / (i + 1) });
  }
  ctx.log(`counted to ${n}`);
  const model = loadModelFile(ctx.inputModel);
  model.metadata.set(`count_step_${ctx.index}`, String(n));
  const out = join(ctx.checkpointDir, 'model.onnx');
  saveModelFile(model, out);
  return { outputModel: out, summary: { counted: n } };
});

registerStep<z.infer<typeof sleepStep>>('sleep', async (ctx) => {
  const { ms, chatty, ignoreCancel, stopFile } = ctx.step;
  const t0 = Date.now();
  if (ignoreCancel) {
    while (Date.now() - t0 < ms) {
      /* busy: the event loop is blocked, so neither cancel messages nor heartbeats get through */
    }
    return {};
  }
  while (Date.now() - t0 < ms && !(stopFile && existsSync(stopFile))) {
    await sleep(Math.min(50, ms - (Date.now() - t0)), ctx.token);
    if (chatty) ctx.progress({ fraction: (Date.now() - t0) / ms });
  }
  return { summary: { sleptMs: Date.now() - t0 } };
});

registerStep<z.infer<typeof spinStep>>('spin', async (ctx) => {
  const { ms, sliceMs } = ctx.step;
  const t0 = Date.now();
  let acc = 0;
  while (Date.now() - t0 < ms) {
    const s = performance.now();
    while (performance.now() - s < sliceMs) for (let i = 0; i < 1000; i++) acc += Math.sqrt(i + acc) % 1;
    ctx.token.throwIfCancelled();
    ctx.progress({ fraction: (Date.now() - t0) / ms });
    await new Promise((r) => setImmediate(r));
  }
  return { summary: { acc } };
});

registerStep<z.infer<typeof failStep>>('fail', async (ctx) => {
  throw Object.assign(new Error(ctx.step.message), { code: 'TEST_FAIL' });
});

/** Writes a tiny valid model (x·Wᵀ, 3×4 float weights = 12 parameters) for tests. */
export function writeTinyModel(path: string): void {
  saveModelFile(tinyGemmModel(), path);
}
