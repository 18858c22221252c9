/**
 * @file The torchvision zoo (test/zoo/models, made by make_zoo.py): every classification model exported with
 * torch's defaults, committed without weights. `runZooModel` is the one recipe the test sample and the zoo
 * benchmark share: open (normalize) → materialize seeded weights → trace → MACs against torchvision's count →
 * 50 % L1 with automatic dependency groups → ModelSpeedup (compact = masked within 1e-4) → one table row.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { modelStats } from '../../src-main/core/analysis/stats.ts';
import { L1NormPruner, resolveAutoDependencyGroups } from '../../src-main/core/compress/pruning/index.ts';
import type { Diagnostic } from '../../src-shared/config/index.ts';
import type { Model } from '../../src-main/core/ir/index.ts';
import { openModel } from '../../src-main/node/io/open-model.ts';
import { trace } from '../../src-main/node/runtime/index.ts';
import { ModelSpeedup } from '../../src-main/node/speedup/index.ts';
import type { SpeedupReport } from '../../src-shared/speedup-report.ts';
import { materializeWeights } from '../corpus/materialize.ts';

export const ZOO_DIR = join(import.meta.dirname, 'models');

export interface ZooEntry {
  name: string;
  model: string;
  opset: number;
  inputSize: number;
  torchMacs: number;
  torchParams: number;
  exportError?: string;
  nodeCount?: number;
  identityCount?: number;
}

/** The zoo manifest written by make_zoo.py. */
export function zooManifest(): ZooEntry[] {
  return JSON.parse(readFileSync(join(ZOO_DIR, 'manifest.json'), 'utf8')).models;
}

/** Open a zoo model the way every command does (normalized on load), then fill its weights from the seed. */
export function loadZooModel(name: string, seed = 0): Model {
  const { model } = openModel(join(ZOO_DIR, name.endsWith('.onnx') ? name : `${name}.onnx`), { allowWeightless: true });
  materializeWeights(model, seed);
  return model;
}

export interface ZooRow {
  model: string;
  gmacs: number;
  /** Our MAC count ÷ torchvision's (forward hooks over Conv2d, Linear, MultiheadAttention). */
  macs_vs_torch: number;
  pruned: 'yes' | 'no';
  mac_ratio: number | null;
  latency_ratio: number | null;
  max_err: number | null;
  why_not: string;
  report?: SpeedupReport;
}

export const ZOO_CONFIG = [{ op_types: ['Conv', 'Gemm', 'MatMul'], sparse_ratio: 0.5, dependency_group_id: 'auto' }];

/** "n layers left alone: reason; reason" from the auto-groups diagnostics (names elided, distinct reasons). */
function leftAlone(diagnostics: readonly Diagnostic[]): string {
  const out = diagnostics.filter((d) => d.code === 'unprunable-layer');
  if (out.length === 0) return '';
  const reasons = [
    ...new Set(
      out.map((d) =>
        d.message.replace(/^left out: none of its channels can be removed \(|\)$/g, '').replace(/"[^"]*"/g, '…'),
      ),
    ),
  ];
  return `${out.length} layer(s) left alone: ${reasons.slice(0, 3).join('; ')}${reasons.length > 3 ? `; +${reasons.length - 3} more reasons` : ''}`;
}

/** One model through the whole recipe; failures become a row that says why, never an exception. */
export async function runZooModel(e: ZooEntry, opts: { benchmark?: boolean } = {}): Promise<ZooRow> {
  const row: ZooRow = {
    model: e.name.replace('.onnx', ''),
    gmacs: e.torchMacs / 1e9,
    macs_vs_torch: NaN,
    pruned: 'no',
    mac_ratio: null,
    latency_ratio: null,
    max_err: null,
    why_not: '',
  };
  if (e.exportError) return { ...row, why_not: `torch.onnx.export failed: ${e.exportError}` };
  let stage = 'load';
  try {
    const model = loadZooModel(e.name);
    stage = 'trace';
    const t = await trace(model, { dimSizes: { batch: 1 } });
    const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
    row.macs_vs_torch = modelStats(model, shapes).macs / e.torchMacs;
    stage = 'prune';
    const auto = resolveAutoDependencyGroups(ZOO_CONFIG, model, shapes);
    const pruner = new L1NormPruner(model, auto.configList, undefined, { shapes });
    const { masks, applyMethods } = await pruner.compress();
    stage = 'speedup';
    const bench = opts.benchmark ? { runs: 10, warmup: 2, maxMs: 8000 } : false;
    const { report } = await new ModelSpeedup(model, masks, {
      applyMethods,
      benchmark: bench,
      verifySamples: 1,
    }).speedupModel();
    row.report = report;
    row.mac_ratio = report.macRatio;
    row.latency_ratio = report.latencyRatio ?? null;
    row.max_err = report.verification.maxRelErr;
    row.pruned = report.macRatio < 1 ? 'yes' : 'no';
    if (report.macRatio >= 1) row.why_not = report.warnings[0] ?? 'no channel removed';
    else row.why_not = leftAlone(auto.diagnostics);
  } catch (err) {
    row.why_not = `${stage}: ${(err as Error).name}: ${(err as Error).message.split('\n').slice(0, 2).join(' ')}`;
  }
  return row;
}
