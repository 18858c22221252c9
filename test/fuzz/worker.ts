/**
 * @file The fuzz worker: a child process that builds each case it is sent and runs it the way a user would meet it
 * (models: open + inspect with a trace, as `studio inspect`, then — for models that load, up to COMPRESS_MAX_NODES
 * nodes — `studio prune --speedup` (L1, half of every Conv / Gemm / MatMul / ConvTranspose weight) and `studio
 * quantize` (dynamic int8), whose outputs must load again; configs: parseConfigList and target resolution on the
 * bundled model; plans: safeParsePlan), then reports the outcome. It says which case it starts before running it, so
 * the parent can name the case behind a crash or a hang.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StudioError } from '../../src-shared/errors.ts';
import { parseConfigList, ConfigListError } from '../../src-shared/config/index.ts';
import { safeParsePlan } from '../../src-shared/experiment.ts';
import { resolveTargets } from '../../src-main/core/compress/targets/index.ts';
import { inspectModel, openModel } from '../../src-main/node/inspect.ts';
import { pruneCommand } from '../../src-main/node/cli/prune.ts';
import { quantizeCommand } from '../../src-main/node/cli/quantize.ts';
import { buildCase } from './cases.ts';

export type Outcome = 'valid' | 'refused' | 'crash' | 'silent-accept' | 'hang' | 'memory';

/** How a compression command ended on a model that loaded: a valid result (its output loads) or a named error. */
export type StageOutcome = 'valid' | 'refused';

/** Models larger than this skip the compression stage (their trace alone takes most of a case's time bound). */
export const COMPRESS_MAX_NODES = 2000;

export interface CaseResult {
  index: number;
  category: string;
  outcome: Outcome;
  ms: number;
  rssMb: number;
  /** The error's one line, or the crash's message. */
  detail?: string;
  /** Models that loaded: how `studio prune --speedup` and `studio quantize` ended on them. */
  prune?: StageOutcome;
  quantize?: StageOutcome;
  /** The named errors of the stages that refused, one line each. */
  stageErrors?: string[];
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

const quiet = { stdout: () => undefined, stderr: () => undefined };

/** Thrown for a stage's unnamed error: the case is a crash, named by its stage. */
class StageCrash extends Error {}

/** Runs one compression command; a named error is a refusal, anything else a crash of that stage. */
async function stage(name: string, run: () => Promise<void>, errors: string[]): Promise<StageOutcome> {
  try {
    await run();
    return 'valid';
  } catch (e) {
    if (isNamed(e) || e instanceof ConfigListError) {
      errors.push(`${name}: ${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`);
      return 'refused';
    }
    throw new StageCrash(`${name}: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e)}`);
  }
}

/** `studio prune --speedup` and `studio quantize` on a model that loaded; each result must load again. */
async function compress(
  modelPath: string,
  dir: string,
): Promise<Pick<CaseResult, 'prune' | 'quantize' | 'stageErrors'>> {
  const errors: string[] = [];
  const config = join(dir, 'prune.json');
  writeFileSync(config, JSON.stringify([{ op_types: ['Conv', 'Gemm', 'MatMul', 'ConvTranspose'], sparse_ratio: 0.5 }]));
  const prune = await stage(
    'prune',
    async () => {
      const r = await pruneCommand(
        { model: modelPath, config, pruner: 'l1', out: join(dir, 'pruned'), speedup: true, json: true },
        quiet,
      );
      openModel(r.simulatedPath);
      if (r.speedup) openModel(r.speedup.compact);
    },
    errors,
  );
  const quantize = await stage(
    'quantize',
    async () => {
      const r = await quantizeCommand({ model: modelPath, out: join(dir, 'quantized'), json: true, runs: 3 }, quiet);
      if (r.files) openModel(r.files.model);
    },
    errors,
  );
  return { prune, quantize, ...(errors.length ? { stageErrors: errors } : {}) };
}

async function runCase(seed: number, index: number, root: string, withCompress: boolean): Promise<CaseResult> {
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
  let stages: Pick<CaseResult, 'prune' | 'quantize' | 'stageErrors'> = {};
  try {
    if (c.kind === 'model') {
      const { model } = openModel(c.modelPath!);
      if (!c.skipTrace) {
        const info = await inspectModel(model, { file: c.modelPath });
        if (info.traceError) throw Object.assign(new StudioError(info.traceError, 'TRACE'), { name: 'TraceError' });
      }
      // An invalid-by-construction model that loaded is already a silent accept; valid ones go on to compression.
      if (withCompress && !c.mustFail && !c.skipTrace && model.graph.nodes.length <= COMPRESS_MAX_NODES)
        stages = await compress(c.modelPath!, dir);
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
    if (e instanceof StageCrash) {
      outcome = 'crash';
      detail = e.message;
    } else if (isNamed(e) || e instanceof ConfigListError) {
      outcome = 'refused';
      detail = `${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`;
    } else {
      outcome = 'crash';
      detail = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e);
    }
  }
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  return {
    index,
    category: c.category,
    outcome,
    ms,
    rssMb: process.memoryUsage().rss / 2 ** 20,
    detail,
    ...stages,
  };
}

if (process.send) {
  let queue = Promise.resolve();
  process.on('message', (m: { seed: number; index: number; root: string; compress: boolean }) => {
    queue = queue.then(async () => {
      const result = await runCase(m.seed, m.index, m.root, m.compress);
      process.send!({ t: 'done', result });
    });
  });
  process.send({ t: 'ready' });
}
