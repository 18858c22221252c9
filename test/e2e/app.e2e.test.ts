/**
 * @file End to end: the browser mode driven in Chromium (the machine's, else the one @sparticuz/chromium carries;
 * with neither the suite fails and says why — it is never skipped). Open the bundled model (after a dropped file that
 * is not a model), build a prune + speedup (+ fine-tune) + PTQ experiment in the wizard (an invalid config typed and fixed, the
 * draft surviving a reload), run it and watch progress arrive, read the report, run a second configuration,
 * survive a lost WebSocket, look at a failed run, compare, export, delete, and refuse forged payloads. Screenshots
 * of every view go to test-artifacts/e2e/.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CallContext } from '../../src-shared/ipc/contract.ts';
import { Model, Tensor, type Value } from '../../src-main/core/ir/index.ts';
import { loadModelFile, saveModelFile } from '../../src-main/node/io/model-file.ts';
import { computeFactors, emptySnapshot, parsePlan } from '../../src-shared/experiment.ts';
import { TEST_STEPS_MODULE } from '../../src-main/node/jobs/test-steps.ts';
import { STEP_MODULES } from '../../src-main/node/steps/index.ts';
import { RESOURCES_DIR } from '../../src-main/node/train/mnist.ts';
import { findBrowser, type BrowserChoice, type NoBrowser } from './browser.ts';
import { ensureRendererBuilt, startSession, type Session } from './harness.ts';

const RUN_TIMEOUT = 300_000;
let dir: string;
let s: Session;
let available: string[] = [];
const runIds: string[] = [];
const ctx = {
  signal: new AbortController().signal,
  progress: () => undefined,
  peer: { id: 'e2e', kind: 'memory' },
} as CallContext<never>;

/** A residual MLP of `blocks` × (MatMul → Relu → Add): 3 nodes per block, for the large-graph view. */
function writeLargeModel(path: string, blocks: number): void {
  const m = new Model();
  const g = m.graph;
  let x: Value = g.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [1, 16] });
  for (let i = 0; i < blocks; i++) {
    const w = g.addInitializer(
      `w${i}`,
      Tensor.float32(
        [16, 16],
        Array.from({ length: 256 }, (_, k) => ((k % 7) - 3) / 100),
      ),
    );
    const mm = g.addNode({ opType: 'MatMul', name: `block${i}/MatMul`, inputs: [x, w], outputs: [`b${i}_mm`] });
    const relu = g.addNode({
      opType: 'Relu',
      name: `block${i}/Relu`,
      inputs: [mm.outputs[0]!],
      outputs: [`b${i}_relu`],
    });
    const add = g.addNode({
      opType: 'Add',
      name: `block${i}/Add`,
      inputs: [relu.outputs[0]!, x],
      outputs: [`b${i}_out`],
    });
    x = add.outputs[0]!;
  }
  x.type = { kind: 'tensor', dtype: 'float32', shape: [1, 16] };
  g.outputs.push(x);
  saveModelFile(m, path);
}

/**
 * Polls the run view until the fine-tune step is a tenth done; returns the ETA it showed then, when, and a clock
 * for the finish (read after the report appears).
 */
async function etaAtTenthOfFinetune(
  page: Session['page'],
): Promise<{ etaMs: number; at: number; step: string; finishedAt: () => number } | null> {
  const parse = (t: string) => {
    const m = /^(?:(\d+) m )?(\d+) (s|ms)$/.exec(t.trim());
    return m ? (m[3] === 'ms' ? Number(m[2]) : Number(m[1] ?? 0) * 60_000 + Number(m[2]) * 1000) : null;
  };
  const t0 = Date.now();
  while (Date.now() - t0 < RUN_TIMEOUT) {
    const text = (await page.getByTestId('run-progress').textContent()) ?? '';
    const m = /step (\d+)\/(\d+)/.exec(text);
    // The first figure shown once a tenth is done ("estimating…" until the step has a pace).
    const etaMs =
      m && Number(m[1]) / Number(m[2]) >= 0.1 ? parse((await page.locator('.eta .v').textContent()) ?? '') : null;
    if (m && etaMs !== null) {
      const at = Date.now();
      let done = 0;
      void page
        .getByTestId('report-figures')
        .waitFor({ timeout: RUN_TIMEOUT })
        .then(() => (done = Date.now()));
      return { etaMs, at, step: m[0], finishedAt: () => done || Date.now() };
    }
    if (await page.getByTestId('report-figures').count()) return null;
    await page.waitForTimeout(100);
  }
  return null;
}

const runIdFromUrl = () => /#\/runs\/([0-9a-f]+)/.exec(s.page.url())?.[1] ?? '';

const found: BrowserChoice | NoBrowser = await findBrowser();

describe('a browser for the end-to-end suite', () => {
  it('is found on this machine or in the npm package @sparticuz/chromium', () => {
    if ('reasons' in found) {
      // Loud on purpose: a green `npm test` must mean the app was driven in a browser.
      console.error(`\n*** END-TO-END SUITE NOT RUN: no browser could be had ***\n  ${found.reasons.join('\n  ')}\n`);
    } else {
      console.info(`e2e browser: ${found.source}`);
    }
    expect(
      'reasons' in found ? found.reasons : [],
      'no browser for the e2e suite (set STUDIO_E2E_BROWSER to one)',
    ).toEqual([]);
  });
});

describe.runIf('launch' in found)('the app in the browser mode', () => {
  beforeAll(async () => {
    ensureRendererBuilt();
    dir = mkdtempSync(join(tmpdir(), 'studio-e2e-'));
    s = await startSession(
      { home: join(dir, 'home'), stepModules: [...STEP_MODULES, TEST_STEPS_MODULE], exportRoots: [dir] },
      found as BrowserChoice,
    );
    available = (await s.web.host.impl.experiments.capabilities({}, ctx)).stepKinds;
  }, 180_000);

  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses a page request without the session token', async () => {
    const res = await s.page.goto(s.web.url.replace(/\?token=.*/, ''));
    expect(res?.status()).toBe(403);
    expect(await s.page.textContent('body')).toContain('needs its token');
  });

  it('explains a dropped file that is not a model, then opens the bundled model', async () => {
    const { page } = s;
    await page.goto(s.web.url);
    await page.getByTestId('dropzone').waitFor();
    // A real drag and drop of a text file onto the drop zone.
    await page.getByTestId('dropzone').evaluate((el) => {
      // Runs in the page (DOM globals, not typed in this Node-side file).
      const w = globalThis as any;
      const dt = new w.DataTransfer();
      dt.items.add(new File(['name,accuracy\nresnet,0.76\n'], 'results.csv', { type: 'text/csv' }));
      el.dispatchEvent(new w.DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    const error = page.getByTestId('open-error');
    await error.waitFor();
    expect(await error.textContent()).toContain('results.csv is not an ONNX model');
    await s.shot('01-open-not-a-model');

    await page.getByTestId('open-example').click();
    await page.getByTestId('model-name').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('model-name').textContent()).toBe('mnist-cnn.onnx');
    expect(await page.locator('.figures').first().textContent()).toContain('Parameters');
    await page.waitForTimeout(300);
    await s.shot('02-wizard-model-and-graph');
  });

  it('draws the graph: Fit shows every node, the minimap follows a pan, Find highlights a named node at a readable zoom', async () => {
    const { page } = s;
    const canvas = page.locator('canvas[role="img"]');
    type Frame = {
      width: number;
      height: number;
      scale: number;
      nodes: {
        name: string;
        kind: string;
        x: number;
        y: number;
        w: number;
        h: number;
        halo: boolean;
        texts: string[];
      }[];
    };
    // What the last frame drew where (GraphCanvas leaves it on the element), after the next animation frame.
    const frame = async (): Promise<Frame> => {
      await canvas.evaluate(
        () =>
          new Promise((r) =>
            (globalThis as any).requestAnimationFrame(() => (globalThis as any).requestAnimationFrame(r)),
          ),
      );
      return canvas.evaluate((el) => (el as unknown as { graphFrame: Frame }).graphFrame);
    };
    const total = Number(
      (await page
        .getByText(/^\d+ nodes/)
        .first()
        .textContent())!.match(/^(\d+)/)![1],
    );
    expect(total).toBe(16);

    // Fit: all 16 nodes drawn, each box wholly inside the canvas, at a scale that is not a speck.
    await canvas.focus();
    for (let i = 0; i < 6; i++) await page.keyboard.press('+');
    await page.getByRole('button', { name: 'Fit' }).click();
    const fit = await frame();
    expect(fit.nodes).toHaveLength(total);
    for (const n of fit.nodes) {
      expect(n.x, n.name).toBeGreaterThanOrEqual(0);
      expect(n.y, n.name).toBeGreaterThanOrEqual(0);
      expect(n.x + n.w, n.name).toBeLessThanOrEqual(fit.width);
      expect(n.y + n.h, n.name).toBeLessThanOrEqual(fit.height);
    }
    const ys = fit.nodes.map((n) => n.y);
    expect(Math.max(...ys) - Math.min(...ys)).toBeGreaterThan(fit.height * 0.5); // the graph fills the view's height
    expect(fit.scale).toBeGreaterThan(0.2);

    // The minimap is there, and its rectangle of the main view moves down when the view pans down.
    const minimap = page.getByTestId('graph-minimap');
    expect((await minimap.boundingBox())!.width).toBeGreaterThan(40);
    for (let i = 0; i < 4; i++) await page.keyboard.press('+');
    await frame();
    const before = (await minimap.getAttribute('data-view'))!.split(',').map(Number);
    await canvas.focus();
    for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
    await frame();
    const after = (await minimap.getAttribute('data-view'))!.split(',').map(Number);
    expect(after[1]!).toBeGreaterThan(before[1]! + 1);
    expect(after[2]).toBeCloseTo(before[2]!, 1); // a pan, not a zoom

    // Find from an extreme zoom (in, then out): the node is selected with a halo, centred, at a readable zoom, its
    // name written on it.
    for (const key of ['+', '-']) {
      await canvas.focus();
      for (let i = 0; i < 12; i++) await page.keyboard.press(key);
      await page.getByPlaceholder('Find a node…').fill('conv2');
      await page.getByPlaceholder('Find a node…').press('Enter');
      const found = await frame();
      const name = (await canvas.getAttribute('data-selected'))!;
      expect(name).toMatch(/conv2/);
      expect(found.scale).toBeGreaterThanOrEqual(0.8);
      expect(found.scale).toBeLessThanOrEqual(1.6);
      const node = found.nodes.find((n) => n.name === name)!;
      expect(node.halo).toBe(true);
      expect(found.nodes.filter((n) => n.halo)).toHaveLength(1);
      expect(Math.abs(node.x + node.w / 2 - found.width / 2)).toBeLessThan(2);
      expect(Math.abs(node.y + node.h / 2 - found.height / 2)).toBeLessThan(2);
      expect(node.texts.join(' ')).toContain(name.split('/').filter(Boolean).slice(-2).join('/'));
    }
    await s.shot('02b-graph-found-node');
  });

  it('builds a prune + speedup + PTQ experiment; an invalid config is flagged and the draft survives a reload', async () => {
    const { page } = s;
    await page.getByTestId('wizard-next').click();
    await page.getByText('MNIST (quick)').first().click();
    await s.shot('03-wizard-data');
    await page.getByTestId('wizard-next').click();
    await page.getByTestId('prune-preset-balanced').click();
    const want = {
      'enable-prune': true,
      'enable-speedup': available.includes('speedup'),
      'enable-quantize': available.includes('quantize'),
      'enable-finetune': available.includes('finetune'),
    };
    // this scenario is the sequential recipe (the fused one, the default for two compressions, has its own)
    if (await page.getByTestId('combine-sequential').isVisible())
      await page.getByTestId('combine-sequential').setChecked(true);
    for (const [id, on] of Object.entries(want)) await page.getByTestId(id).setChecked(on);
    await s.shot('04-wizard-compression', { fullPage: true });
    await page.getByTestId('wizard-next').click();

    await page.getByTestId('config-tab-pruning').click();
    await page.getByTestId('json-tab').click();
    await page
      .getByTestId('config-json')
      .fill('[\n  { "op_types": ["Conv"], "sparse_ratio": 1.5, "granularity": "per_row" }\n]');
    const faults = page.getByTestId('config-faults');
    await faults.waitFor();
    expect(await faults.textContent()).toContain('$[0].sparse_ratio');
    await s.shot('05-config-invalid');

    await page.reload();
    await page.getByTestId('config-status').waitFor();
    // the reload reopens the draft's model on a fresh worker thread before the list is checked: seconds under load
    await expect.poll(() => page.getByTestId('config-status').textContent(), { timeout: 30_000 }).toContain('fault');
    await page.getByTestId('json-tab').click();
    expect(await page.getByTestId('config-json').inputValue()).toContain('"sparse_ratio": 1.5');

    await page.getByTestId('config-json').fill('[\n  { "op_types": ["Conv"], "sparse_ratio": 0.5 }\n]');
    await expect.poll(() => page.getByTestId('config-status').textContent(), { timeout: 20_000 }).toContain('Valid');
    expect(await page.getByTestId('config-status').textContent()).toContain('on 3 nodes');
    await page.waitForTimeout(300);
    await s.shot('06-wizard-config-targets');
    if (want['enable-quantize']) {
      await page.getByTestId('config-tab-quantization').click();
      await expect.poll(() => page.getByTestId('config-status').textContent(), { timeout: 20_000 }).toContain('Valid');
    }
  });

  it('reviews, runs, streams progress and shows the report', { timeout: RUN_TIMEOUT }, async () => {
    const { page } = s;
    await page.getByTestId('step-review').click();
    await page.getByTestId('run-name').fill('balanced 50 %');
    await page.getByTestId('validation-ok').waitFor({ timeout: 30_000 });
    await s.shot('07-wizard-review');
    await page.getByTestId('run-button').click();
    await page.getByTestId('run-title').waitFor();
    runIds.push(runIdFromUrl());
    await expect.poll(() => page.getByTestId('overall-progress').textContent(), { timeout: 60_000 }).not.toBe('0 %');
    await s.shot('08-run-progress');
    await page.getByTestId('report-figures').waitFor({ timeout: RUN_TIMEOUT });
    expect(await page.getByTestId('run-status').textContent()).toContain('Succeeded');
    const report = await page.getByTestId('report-figures').textContent();
    expect(report).toContain('Accuracy');
    expect(report).toContain('Latency p50');
    if (available.includes('speedup')) expect(report).toMatch(/smaller/);
    await page.waitForTimeout(500);
    await s.shot('09-run-report', { fullPage: true });
  });

  it('runs a second configuration from the same draft', { timeout: RUN_TIMEOUT }, async () => {
    const { page } = s;
    await page.getByTestId('nav-wizard').click();
    await page.getByTestId('step-compression').click();
    await page.getByTestId('prune-preset-aggressive').click();
    await page.getByTestId('step-review').click();
    await page.getByTestId('run-name').fill('aggressive 70 %');
    await page.getByTestId('validation-ok').waitFor({ timeout: 30_000 });
    await page.getByTestId('run-button').click();
    await page.getByTestId('run-title').waitFor();
    runIds.push(runIdFromUrl());
    await page.getByTestId('report-figures').waitFor({ timeout: RUN_TIMEOUT });
    expect(runIds[0]).not.toBe(runIds[1]);
  });

  it(
    'shows an ETA within ±30 % of the time really left once a tenth of a fine-tune is done',
    { timeout: RUN_TIMEOUT },
    async () => {
      if (!available.includes('finetune')) return;
      const { page } = s;
      const mnist = (f: string) => join(RESOURCES_DIR, 'mnist', f);
      const train = { kind: 'idx', paths: [mnist('train-images-idx3-ubyte.gz'), mnist('train-labels-idx1-ubyte.gz')] };
      // A fine-tune of ~1,400 steps after quick prune and speedup steps: the case the even spread got wrong. Long
      // enough that a tenth of it is past the session start-up, so the check measures the estimate, not warm-up.
      const plan = {
        name: 'eta check',
        model: join(RESOURCES_DIR, 'mnist-cnn.onnx'),
        dataset: {
          train,
          calibration: { ...train, limit: 256 },
          evaluation: {
            kind: 'idx',
            paths: [mnist('t10k-images-idx3-ubyte.gz'), mnist('t10k-labels-idx1-ubyte.gz')],
            limit: 1000,
          },
        },
        evaluator: { metric: 'top1', batchSize: 100 },
        steps: [
          { kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] },
          { kind: 'speedup' },
          {
            kind: 'finetune',
            epochs: 9,
            lr: 0.003,
            optimizer: { kind: 'adam' },
            schedule: { kind: 'cosine' },
            batchSize: 64,
          },
        ],
      };
      const { runId } = await s.web.host.impl.experiments.start({ plan, name: 'eta check' }, ctx);
      runIds.push(runId);
      await page.goto(`${s.web.url}#/runs/${runId}`);
      const eta = await etaAtTenthOfFinetune(page);
      await page.getByTestId('report-figures').waitFor({ timeout: RUN_TIMEOUT });
      expect(eta, 'the run view showed no ETA during the fine-tune').not.toBeNull();
      const really = eta!.finishedAt() - eta!.at;
      console.info(`ETA at ${eta!.step}: ${eta!.etaMs} ms shown, ${really} ms really left`);
      // The view shows whole seconds, so the figure read may be off by up to half a second before any estimate error.
      const error = Math.max(0, Math.abs(eta!.etaMs - really) - 500) / really;
      expect(error, `ETA ${eta!.etaMs} ms vs ${really} ms`).toBeLessThanOrEqual(0.3);
    },
  );

  it('shows a failed run where the user looks', { timeout: RUN_TIMEOUT }, async () => {
    const { page } = s;
    const plan = {
      name: 'calibration mismatch',
      model: join(RESOURCES_DIR, 'mnist-cnn.onnx'),
      steps: [{ kind: 'fail', message: 'calibration data has 3 channels but the model input "input" expects 1' }],
    };
    const { runId } = await s.web.host.impl.experiments.start({ plan, name: 'calibration mismatch' }, ctx);
    runIds.push(runId);
    await page.goto(`${s.web.url}#/runs/${runId}`);
    await page.getByTestId('run-error').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('run-error').textContent()).toContain('expects 1');
    expect(await page.getByTestId('resume-run').isVisible()).toBe(true);
    await s.shot('10-run-failed');
  });

  it('reconnects after the WebSocket is lost and resyncs what changed meanwhile', async () => {
    const { page } = s;
    await page.getByTestId('nav-history').click();
    await page.getByTestId('runs-table').waitFor();
    s.web.host.store.setTags(runIds[0]!, ['changed-while-offline']);
    s.web.disconnectAll(2500);
    const banner = page.getByText('Connection to the host lost');
    await banner.waitFor({ timeout: 10_000 });
    await s.shot('11-connection-lost');
    await banner.waitFor({ state: 'detached', timeout: 20_000 });
    await page.getByTestId(`run-row-${runIds[0]}`).getByText('changed-while-offline').waitFor({ timeout: 10_000 });
  });

  it('lists, searches, sorts and tags runs', async () => {
    const { page } = s;
    expect(await page.locator('[data-testid^="run-row-"]').count()).toBe(4);
    await page.getByTestId('run-search').fill('aggressive');
    await expect.poll(() => page.locator('[data-testid^="run-row-"]').count()).toBe(1);
    await page.getByTestId('run-search').fill('');
    await expect.poll(() => page.locator('[data-testid^="run-row-"]').count()).toBe(4);
    await page.getByRole('button', { name: /Accuracy/ }).click();
    const row = page.getByTestId(`run-row-${runIds[1]}`);
    await row.getByRole('button', { name: /Edit the name, tags and notes/ }).click();
    await page.getByLabel('Tags', { exact: true }).fill('mnist, aggressive');
    await page.getByLabel('Notes', { exact: true }).fill('70 % of the Conv channels');
    await page.getByRole('button', { name: 'Save' }).click();
    await row.getByText('aggressive', { exact: true }).waitFor();
    await s.shot('12-history');
  });

  it('compares the two runs: only differences, metrics, Pareto chart, layer widths', async () => {
    const { page } = s;
    for (const id of runIds.slice(0, 2)) await page.getByTestId(`run-row-${id}`).getByRole('checkbox').check();
    await page.getByTestId('compare-selected').click();
    await page.getByTestId('metrics-table').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('only-differences').isChecked()).toBe(true);
    const params = await page.getByTestId('params-table').textContent();
    expect(params).toContain('steps[0].configList');
    expect(params).toContain('aggressive 70 %');
    expect(params).not.toContain('executionProvider');
    expect(await page.getByTestId('widths-table').textContent()).toContain('conv1');
    // At 1440 px the page fits the window: no horizontal scroll.
    expect(await page.evaluate(() => (globalThis as any).document.documentElement.scrollWidth)).toBeLessThanOrEqual(
      1440,
    );
    // Latencies taken at two moments, measured again side by side on request.
    await page.getByTestId('remeasure').click();
    await page.getByTestId('metric-Latency p50 now').waitFor({ timeout: 60_000 });
    const now = await page.getByTestId('metric-Latency p50 now').textContent();
    expect(now).toMatch(/\d+\.\d+ ms.*\d+\.\d+ ms/);
    expect(await page.getByTestId('remeasured-note').textContent()).toContain('alternating with its original');
    await page.waitForTimeout(600);
    await s.shot('13-compare', { fullPage: true });
    await page.getByRole('radio', { name: 'Dark', exact: true }).click();
    await page.waitForTimeout(600);
    await s.shot('14-compare-dark', { fullPage: true });
    await page.getByRole('radio', { name: 'Light', exact: true }).click();
  });

  it('exports the compressed model, report and experiment record', async () => {
    const { page } = s;
    await page.goto(`${s.web.url}#/runs/${runIds[0]}`);
    await page.getByTestId('export-run').click();
    const out = join(dir, 'exported');
    await page.getByTestId('export-dir').fill(out);
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-done').waitFor({ timeout: 30_000 });
    expect(readdirSync(out).sort()).toEqual(expect.arrayContaining(['experiment.json', 'plan.json', 'report.json']));
    expect(readdirSync(out).some((f) => f.endsWith('.onnx'))).toBe(true);
    await s.shot('15-export');
    await page.getByTestId('export-button').click();
    await page.getByTestId('export-error').waitFor();
    expect(await page.getByTestId('export-error').textContent()).toContain('already exists');
  });

  it('deletes a run after a confirmation', async () => {
    const { page } = s;
    await page.getByTestId('nav-history').click();
    const row = page.getByTestId(`run-row-${runIds[2]}`);
    await row.getByRole('button', { name: /Delete/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    await s.shot('16-delete-confirmation');
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached' });
    expect(existsSync(join(dir, 'home', 'artifacts', runIds[2]!))).toBe(false);
  });

  it('refuses forged payloads on the wire', async () => {
    const reply = await s.page.evaluate(async (token) => {
      const ws = new WebSocket(`ws://${(globalThis as any).location.host}/ws?token=${encodeURIComponent(token)}`);
      await new Promise((r) => (ws.onopen = r));
      const answer = new Promise<string>((r) => (ws.onmessage = (e) => r(String(e.data))));
      ws.send(JSON.stringify({ t: 'call', id: 1, service: 'runs', method: 'delete', request: { runId: '../../etc' } }));
      const text = await answer;
      ws.close();
      return JSON.parse(text);
    }, s.web.token);
    expect(reply).toMatchObject({
      t: 'err',
      id: 1,
      error: { code: 'BAD_REQUEST', details: { issues: [{ path: '$.runId' }] } },
    });
    expect(await s.page.locator('[data-testid^="run-row-"]').count()).toBe(3);
  });

  it(
    'runs a distillation from the wizard and draws its task and distillation losses as two curves',
    { timeout: RUN_TIMEOUT },
    async () => {
      const { page } = s;
      await page.getByTestId('nav-wizard').click();
      await page.getByTestId('step-compression').click();
      for (const id of ['enable-quantize', 'enable-finetune'])
        if (await page.getByTestId(id).isVisible()) await page.getByTestId(id).setChecked(false);
      await page.getByTestId('enable-distill').setChecked(true);
      // pruning + distillation would fuse by default: this scenario draws the distill step's own curves
      await page.getByTestId('combine-sequential').setChecked(true);
      await page.getByTestId('distill-preset-logits').click();
      expect(await page.getByTestId('teacher').getAttribute('placeholder')).toContain('the original model');
      await s.shot('18-wizard-distillation', { fullPage: true });
      await page.getByTestId('step-review').click();
      await page.getByTestId('run-name').fill('distilled 70 %');
      await page.getByTestId('validation-ok').waitFor({ timeout: 30_000 });
      await page.getByTestId('run-button').click();
      await page.getByTestId('run-title').waitFor();
      await page.getByTestId('report-figures').waitFor({ timeout: RUN_TIMEOUT });
      expect(await page.getByTestId('run-status').textContent()).toContain('Succeeded');
      const label = () => page.getByTestId('loss-chart').getAttribute('aria-label');
      await expect.poll(label, { timeout: 20_000 }).toContain('distill — task loss');
      expect(await label()).toContain('distill — distillation loss');
      await page.waitForTimeout(500);
      await s.shot('19-run-distillation-curves', { fullPage: true });
    },
  );

  it(
    'builds a fused run in the wizard (pruning + quantization + distillation in one training run), runs it and checks the report',
    { timeout: RUN_TIMEOUT },
    async () => {
      const { page } = s;
      await page.getByTestId('nav-wizard').click();
      await page.getByTestId('step-compression').click();
      await page.getByTestId('prune-preset-balanced').click();
      await page.getByTestId('enable-quantize').setChecked(true);
      await page.getByTestId('quant-preset-int8').click();
      await page.getByTestId('enable-distill').setChecked(true);
      await page.getByTestId('distill-preset-logits').click();
      // three compressions: the wizard fuses them by default, one training run for all
      await page.getByTestId('combine-fused').setChecked(true);
      await page.getByTestId('fused-training').waitFor();
      await page.locator('#fu-epochs').fill('2');
      const notes = await page.getByTestId('fused-notes').textContent();
      expect(notes).toContain('schedules it with AGP');
      expect(notes).toContain('uses QAT');
      await s.shot('23-wizard-fused', { fullPage: true });
      await page.getByTestId('step-review').click();
      const outline = await page.getByTestId('fused-outline').textContent();
      expect(outline).toContain(
        'order on every target: quantize-dequantize → pruning mask → recorded for distillation',
      );
      expect(outline).toMatch(/masks updated every \d+ steps, 10 times \(goals reached at step \d+ of 62\)/);
      expect(outline).toContain('int8 QDQ export');
      expect(await page.getByTestId('plan-json').textContent()).toContain('"kind": "compress"');
      await page.getByTestId('run-name').fill('fused 50 % + int8 + distill');
      await page.getByTestId('validation-ok').waitFor({ timeout: 30_000 });
      await s.shot('24-wizard-fused-review');
      await page.getByTestId('run-button').click();
      await page.getByTestId('run-title').waitFor();
      runIds.push(runIdFromUrl());
      // the run view draws sparsity and quantization ranges as they train
      await page.getByTestId('sparsity-live').waitFor({ timeout: RUN_TIMEOUT });
      await page.getByTestId('qrange-live').waitFor({ timeout: RUN_TIMEOUT });
      await page.getByTestId('report-figures').waitFor({ timeout: RUN_TIMEOUT });
      expect(await page.getByTestId('run-status').textContent()).toContain('Succeeded');
      const label = () => page.getByTestId('loss-chart').getAttribute('aria-label');
      await expect.poll(label, { timeout: 20_000 }).toContain('1. compress — task loss');
      expect(await label()).toContain('1. compress — distillation loss');
      expect(await page.getByTestId('sparsity-live').textContent()).toContain('step 1 (compress)');
      // before → after: accuracy, parameters (50 % of the channels gone), MACs, size, latency at batch 1 and at the
      // evaluation batch size
      for (const id of ['accuracy', 'params', 'macs', 'size', 'latency', 'latency-eval'])
        expect(await page.getByTestId(`figure-${id}`).count()).toBe(1);
      const fewer = /([\d.]+)× smaller/.exec((await page.getByTestId('figure-params').textContent()) ?? '');
      expect(Number(fewer?.[1])).toBeGreaterThanOrEqual(2);
      expect(await page.getByTestId('figure-latency').textContent()).toContain('batch 1');
      expect(await page.getByTestId('figure-latency-eval').textContent()).toContain('batch 100');
      expect(await page.locator('table').last().textContent()).toContain('compress');
      await page.waitForTimeout(500);
      await s.shot('25-run-fused-report', { fullPage: true });
      // the draft goes back to the sequential prune step the next scenarios edit
      await page.getByTestId('nav-wizard').click();
      await page.getByTestId('step-compression').click();
      await page.getByTestId('combine-sequential').setChecked(true);
      for (const id of ['enable-quantize', 'enable-distill']) await page.getByTestId(id).setChecked(false);
    },
  );

  it(
    'opens a graph of 3,000 nodes and stays responsive',
    async () => {
      const { page } = s;
      const file = join(dir, 'residual-mlp-1000.onnx');
      writeLargeModel(file, 1000);
      await page.getByTestId('nav-wizard').click();
      await page.getByTestId('step-model').click();
      const t0 = Date.now();
      await page.getByRole('button', { name: 'Open another…' }).waitFor();
      await page.getByTestId('file-input').setInputFiles(file);
      await page.getByTestId('model-name').filter({ hasText: 'residual-mlp-1000.onnx' }).waitFor({ timeout: 90_000 });
      await page.getByText('3,002 nodes').waitFor({ timeout: 30_000 });
      const openMs = Date.now() - t0;
      const canvas = page.locator('canvas[role="img"]');
      await canvas.focus();
      const t1 = Date.now();
      for (const key of ['0', '+', '+', 'ArrowDown', 'ArrowDown', 'n', '-']) await page.keyboard.press(key);
      await page.getByPlaceholder('Find a node…').fill('block500/Relu');
      await page.getByPlaceholder('Find a node…').press('Enter');
      await page.waitForTimeout(200);
      expect(Date.now() - t1).toBeLessThan(5_000);
      expect(openMs).toBeLessThan(90_000);
      await s.shot('17-large-graph');
    },
    RUN_TIMEOUT,
  );

  it(
    'opens a dropped 72 MB model, streamed to the host through POST /upload (over the 64 MiB WebSocket message limit)',
    async () => {
      const { page } = s;
      // x[1,16] · W[16, 1.125 M]: 72 MB of weights in one .onnx file.
      const cols = 1_125_000;
      const m = new Model();
      const x = m.graph.addInput('x', { kind: 'tensor', dtype: 'float32', shape: [1, 16] });
      const w = m.graph.addInitializer('w', Tensor.float32([16, cols], new Float32Array(16 * cols).fill(0.01)));
      const mm = m.graph.addNode({ opType: 'MatMul', name: 'wide/MatMul', inputs: [x, w], outputs: ['y'] });
      mm.outputs[0]!.type = { kind: 'tensor', dtype: 'float32', shape: [1, cols] };
      m.graph.outputs.push(mm.outputs[0]!);
      const file = join(dir, 'wide-72mb.onnx');
      saveModelFile(m, file);
      expect(statSync(file).size).toBeGreaterThan(64 * 2 ** 20);
      await page.getByTestId('nav-wizard').click();
      await page.getByTestId('step-model').click();
      await page.getByRole('button', { name: 'Open another…' }).waitFor();
      const uploads: string[] = [];
      page.on('request', (r) => void (r.url().includes('/upload?') && uploads.push(r.method())));
      await page.getByTestId('file-input').setInputFiles(file);
      await page.getByTestId('model-name').filter({ hasText: 'wide-72mb.onnx' }).waitFor({ timeout: 120_000 });
      expect(uploads).toEqual(['POST']);
      expect(await page.getByTestId('open-error').count()).toBe(0);
      // The host's copy is in its uploads folder, under the content hash and the name the user gave it.
      expect(await page.locator('.path').first().textContent()).toMatch(/uploads\/[0-9a-f]{12}-wide-72mb\.onnx$/);
    },
    RUN_TIMEOUT,
  );

  it('reopens a model by typing its path; a model without its weight data says so', async () => {
    const { page } = s;
    const folder = join(dir, 'weightless');
    mkdirSync(folder, { recursive: true });
    saveModelFile(loadModelFile(join(RESOURCES_DIR, 'mnist-cnn.onnx')), join(folder, 'net.onnx'), {
      external: { location: 'net.onnx.data', threshold: 1024 },
    });
    rmSync(join(folder, 'net.onnx.data'));
    const form = page.getByTestId('reopen-path');
    await form.getByRole('textbox').fill(join(folder, 'net.onnx'));
    await form.getByRole('button', { name: 'Open path' }).click();
    const error = page.getByTestId('open-error');
    await error.waitFor({ timeout: 30_000 });
    expect(await error.textContent()).toContain('net.onnx is missing its weight data');
    expect(await error.textContent()).not.toContain('not an ONNX model');
    await s.shot('18-weightless-model');
    await form.getByRole('textbox').fill(join(RESOURCES_DIR, 'mnist-cnn.onnx'));
    await form.getByRole('button', { name: 'Open path' }).click();
    await page.getByTestId('model-name').filter({ hasText: 'mnist-cnn.onnx' }).waitFor({ timeout: 60_000 });
  });

  it('blocks a config list that selects no target, naming what it could select', async () => {
    const { page } = s;
    await page.getByTestId('step-config').click();
    await page.getByTestId('config-tab-pruning').click();
    await page.getByTestId('json-tab').click();
    await page.getByTestId('config-json').fill('[\n  { "op_names": ["/conv9/Conv"], "sparse_ratio": 0.5 }\n]');
    const faults = page.getByTestId('config-faults');
    await faults.waitFor({ timeout: 20_000 });
    expect(await faults.textContent()).toContain('selects no pruning target');
    expect(await faults.textContent()).toContain('/conv1/Conv');
    await page.getByTestId('step-review').click();
    await page.getByTestId('validation-issues').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('validation-issues').textContent()).toContain('$.steps[0].configList');
    expect(await page.getByTestId('validation-ok').count()).toBe(0);
    await s.shot('19-zero-targets-blocked');
    await page.getByTestId('step-config').click();
    await page.getByTestId('json-tab').click();
    await page
      .getByTestId('config-json')
      .fill('[\n  { "op_types": ["Conv"], "sparse_ratio": 0.5, "dependency_group_id": "auto" }\n]');
  });

  it('shows the provider fallback of a run that asked for WebGPU', { timeout: RUN_TIMEOUT }, async () => {
    const { page } = s;
    const plan = {
      name: 'on webgpu',
      model: join(RESOURCES_DIR, 'mnist-cnn.onnx'),
      executionProvider: 'webgpu',
      steps: [{ kind: 'prune', pruner: 'l1', configList: [{ op_types: ['Conv'], sparse_ratio: 0.5 }] }],
    };
    const { runId } = await s.web.host.impl.experiments.start({ plan, name: 'on webgpu' }, ctx);
    await page.goto(`${s.web.url}#/runs/${runId}`);
    await expect
      .poll(() => page.getByTestId('run-status').textContent(), { timeout: RUN_TIMEOUT })
      .toContain('Succeeded');
    const provider = s.web.host.store.getSnapshot(runId, 'after')?.provider;
    expect(provider?.requested).toBe('webgpu');
    if (provider?.used === 'webgpu') return; // a machine with a GPU: nothing fell back
    await page.getByTestId('ep-fallback').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('ep-fallback').textContent()).toMatch(
      /Measured on CPU, not webgpu.*webgpu requested but/,
    );
    expect(await page.getByTestId('run-log').textContent()).toContain('execution provider: webgpu requested but');
    const report = JSON.parse(readFileSync(join(s.web.host.store.runDir(runId), 'report.json'), 'utf8'));
    expect(report.after.provider).toMatchObject({ requested: 'webgpu', used: 'cpu' });
    await s.shot('20-provider-fallback');
  });

  it('draws the Pareto front of three runs with known figures', async () => {
    const { page } = s;
    const figures = [
      { name: 'fast', accuracy: 0.9799, latency: 0.219 },
      { name: 'middle (dominated)', accuracy: 0.926, latency: 0.45 },
      { name: 'accurate', accuracy: 0.984, latency: 0.822 },
    ];
    const plan = parsePlan({ model: join(RESOURCES_DIR, 'mnist-cnn.onnx'), steps: [{ kind: 'speedup' }] });
    const ids = figures.map((f, i) => {
      const run = s.web.host.store.createRun({ plan, name: f.name });
      const before = {
        ...emptySnapshot(),
        params: 24170,
        sizeBytes: 100_000,
        accuracy: 0.9921,
        latencyMs: { p50: 0.2 },
      };
      // the middle run is the smallest model: a front over size too would have kept it
      const after = {
        ...emptySnapshot(),
        params: 12000 - i,
        sizeBytes: i === 1 ? 20_000 : 40_000,
        accuracy: f.accuracy,
        latencyMs: { p50: f.latency },
      };
      s.web.host.store.recordSnapshot(run.id, 'before', before);
      s.web.host.store.recordSnapshot(run.id, 'after', after);
      s.web.host.store.finishRun(run.id, 'succeeded', {
        report: {
          runId: run.id,
          planName: null,
          status: 'succeeded',
          before,
          after,
          factors: computeFactors(before, after),
          steps: [],
          startedAt: null,
          finishedAt: null,
          modelSha256: null,
        },
      });
      return run.id;
    });
    await page.goto(`${s.web.url}#/compare?ids=${ids.join(',')}`);
    const chart = page.getByTestId('pareto-chart');
    await chart.waitFor({ timeout: 30_000 });
    // The chart is redrawn when the three runs' data arrive (the previous comparison may show until then).
    await expect
      .poll(async () => (await chart.getAttribute('data-front'))?.split(',').sort(), { timeout: 30_000 })
      .toEqual(['accurate', 'fast']);
    await page.waitForTimeout(500);
    await s.shot('21-pareto-three-runs');
  });

  it('met no console error, page error or CSP violation on the way', () => {
    expect(s.problems).toEqual([]);
  });
});
