/**
 * @file The fuzz worker: a child process that builds each case it is sent and runs it the way a user would meet it
 * (models: open + inspect with a trace, as `studio inspect`; configs: parseConfigList and target resolution on the
 * bundled model; plans: safeParsePlan), then reports the outcome. It says which case it starts before running it, so
 * the parent can name the case behind a crash or a hang.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { StudioError } from '../../src-shared/errors.ts';
import { parseConfigList, ConfigListError } from '../../src-shared/config/index.ts';
import { safeParsePlan } from '../../src-shared/experiment.ts';
import { resolveTargets } from '../../src-main/core/compress/targets/index.ts';
import { inspectModel, openModel } from '../../src-main/node/inspect.ts';
import { buildCase } from './cases.ts';

export type Outcome = 'valid' | 'refused' | 'crash' | 'silent-accept' | 'hang' | 'memory';

export interface CaseResult {
  index: number;
  category: string;
  outcome: Outcome;
  ms: number;
  rssMb: number;
  /** The error's one line, or the crash's message. */
  detail?: string;
}

const MNIST = join(import.meta.dirname, '..', '..', 'resources', 'mnist-cnn.onnx');
const mnist = openModel(MNIST).model;

/** Named (expected) errors carry a stable code; anything else is a crash. */
function isNamed(e: unknown): boolean {
  return (
    e instanceof StudioError ||
    (e instanceof Error &&
      typeof (e as { code?: unknown }).code === 'string' &&
      e.name !== 'Error' &&
      !('syscall' in e))
  );
}

async function runCase(seed: number, index: number, root: string): Promise<CaseResult> {
  const dir = join(root, `case-${index}`);
  let c;
  try {
    c = buildCase(seed, index, dir);
  } catch (e) {
    // A fault of the generator, not of the product: reported as a crash so it is seen and fixed.
    return {
      index,
      category: 'generator',
      outcome: 'crash',
      ms: 0,
      rssMb: 0,
      detail: `generator: ${(e as Error).stack ?? String(e)}`,
    };
  }
  process.send!({ t: 'start', index, category: c.category, timeoutMs: c.timeoutMs });
  const t0 = performance.now();
  let outcome: Outcome;
  let detail: string | undefined;
  try {
    if (c.kind === 'model') {
      const { model } = openModel(c.modelPath!);
      if (!c.skipTrace) {
        const info = await inspectModel(model, { file: c.modelPath });
        if (info.traceError) throw Object.assign(new StudioError(info.traceError, 'TRACE'), { name: 'TraceError' });
      }
    } else if (c.kind === 'config') {
      const parsed = parseConfigList(c.json, 'pruning');
      resolveTargets(mnist, parsed.configs, 'pruning');
    } else {
      const r = safeParsePlan(c.json);
      if (!r.ok)
        throw Object.assign(
          new StudioError(r.issues.map((i) => `${i.path}: ${i.message}`).join('; '), 'PLAN_INVALID'),
          { name: 'PlanError' },
        );
    }
    outcome = c.mustFail ? 'silent-accept' : 'valid';
  } catch (e) {
    if (isNamed(e) || e instanceof ConfigListError) {
      outcome = 'refused';
      detail = `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`;
    } else {
      outcome = 'crash';
      detail = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
    }
  }
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  return { index, category: c.category, outcome, ms, rssMb: process.memoryUsage().rss / 2 ** 20, detail };
}

if (process.send) {
  let queue = Promise.resolve();
  process.on('message', (m: { seed: number; index: number; root: string }) => {
    queue = queue.then(async () => {
      const result = await runCase(m.seed, m.index, m.root);
      process.send!({ t: 'done', result });
    });
  });
  process.send({ t: 'ready' });
}
