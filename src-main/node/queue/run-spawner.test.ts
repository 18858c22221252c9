/** @file A run sent to a queue that cannot be reached fails at once with the host named and the password never shown; the plan's paths travel as artifact indexes. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePlan } from '../../../src-shared/experiment.ts';
import { Runner } from '../jobs/runner.ts';
import { TEST_STEPS_MODULE, writeTinyModel } from '../jobs/test-steps.ts';
import { openStore } from '../store/index.ts';
import { folderStore } from './artifacts.ts';
import { queueRunSpawner, runPayloadParts } from './run-spawner.ts';

const dir = mkdtempSync(join(tmpdir(), 'studio-run-spawner-'));
const model = join(dir, 'tiny.onnx');
writeTinyModel(model);
const store = openStore(join(dir, 'home'));
afterAll(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('queueRunSpawner', () => {
  it('fails a run at once when the queue cannot be reached, naming the host and never the password', async () => {
    const runner = new Runner({
      store,
      stepModules: [TEST_STEPS_MODULE],
      spawner: queueRunSpawner('postgres://studio:s3cret-pw@127.0.0.1:1/studio'),
    });
    const job = runner.submit(parsePlan({ model, steps: [{ kind: 'count', n: 1 }] }));
    const out = await job.done;
    expect(out.status).toBe('failed');
    expect(out.error!.message).toMatch(
      /cannot use the job queue at 127\.0\.0\.1:1 \(database "studio"\): connection refused/,
    );
    expect(JSON.stringify(store.getRun(job.runId))).not.toContain('s3cret-pw');
  });

  it("names a plan's files by artifact index, publishing each once", async () => {
    const plan = parsePlan({ model, steps: [{ kind: 'count', n: 1 }] });
    const parts = await runPayloadParts(folderStore(join(dir, 'artifacts')), plan, model);
    expect(parts.plan.model).toBe('artifact:0');
    expect(parts.inputModel).toBe(0);
    expect(parts.artifacts).toHaveLength(1);
    expect(parts.artifacts[0]!.files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});
