/**
 * @file The torchvision zoo (test/zoo/models, made by make_zoo.py): every classification model exported with
 * torch's defaults, committed without weights. `runZooModel` is the one recipe the test sample and the zoo
 * benchmark share: open (normalize) → materialize seeded weights (`WELL_CONDITIONED` for the few that need it) → trace → MACs against torchvision's count →
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
import { materializeWeights, type MaterializeOptions } from '../corpus/materialize.ts';

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

/**
 * The models whose seeded weights are drawn otherwise, each with the reason measured. efficientnet_v2_l: torch
 * folds its BatchNorms into the convs, so with plain He-normal weights each of its 72 residual blocks roughly
 * doubles the residual stream's variance (the unpruned output reaches 2.7e12) and, once 50 % of the channels are masked, the
 * output is a small difference of huge terms: nudging every 997th input by 1e-6 moves the masked model's output
 * by 23 %, so float32 rounding decides it and compact = masked cannot be checked. Scaling the last conv of each
 * residual branch by 0.1 (as a trained network's small last-BatchNorm scales do) bounds the stream (largest output
 * 31 unpruned) and the masked model moves by 1.9e-7 under the same nudge. v2_s / v2_m, the same blocks with
 * fewer of them, verify at He-normal and stay as they are. docs/zoo.md lists the values tried.
 */
export const WELL_CONDITIONED: Record<string, MaterializeOptions> = { efficientnet_v2_l: { residualGain: 0.1 } };

/**
 * Open a zoo model the way every command does (normalized on load), then fill its weights from the seed (with
 * `opts`; the zoo recipe passes the model's `WELL_CONDITIONED` entry).
 */
export function loadZooModel(name: string, seed = 0, opts: MaterializeOptions = {}): Model {
  const { model } = openModel(join(ZOO_DIR, name.endsWith('.onnx') ? name : `${name}.onnx`), { allowWeightless: true });
  materializeWeights(model, seed, opts);
  return model;
}

/**
 * torchvision's documented figure for each model at its DEFAULT weights' input size: the "GFLOPS" of the model
 * pages of torchvision ≥ 0.15 (the weights' `_ops` metadata; 0.14, the version here, has none). They count
 * multiply-accumulates (ResNet-50 4.09), published to two decimals, so a small model's figure carries a rounding
 * of up to ±0.005 G.
 */
export const TORCHVISION_GFLOPS: Record<string, number> = {
  alexnet: 0.71,
  convnext_base: 15.36,
  convnext_large: 34.36,
  convnext_small: 8.68,
  convnext_tiny: 4.46,
  densenet121: 2.83,
  densenet161: 7.73,
  densenet169: 3.36,
  densenet201: 4.29,
  efficientnet_b0: 0.39,
  efficientnet_b1: 0.69,
  efficientnet_b2: 1.09,
  efficientnet_b3: 1.83,
  efficientnet_b4: 4.39,
  efficientnet_b5: 10.27,
  efficientnet_b6: 19.07,
  efficientnet_b7: 37.75,
  efficientnet_v2_l: 56.08,
  efficientnet_v2_m: 24.58,
  efficientnet_v2_s: 8.37,
  googlenet: 1.5,
  inception_v3: 5.71,
  maxvit_t: 5.56,
  mnasnet0_5: 0.1,
  mnasnet0_75: 0.215, // the page prints 0.21; the weights' `_ops` metadata is 0.215
  mnasnet1_0: 0.31,
  mnasnet1_3: 0.53,
  mobilenet_v2: 0.3,
  mobilenet_v3_large: 0.22,
  mobilenet_v3_small: 0.06,
  regnet_x_16gf: 15.94,
  regnet_x_1_6gf: 1.6,
  regnet_x_32gf: 31.74,
  regnet_x_3_2gf: 3.18,
  regnet_x_400mf: 0.41,
  regnet_x_800mf: 0.8,
  regnet_x_8gf: 8.0,
  regnet_y_128gf: 374.57,
  regnet_y_16gf: 15.91,
  regnet_y_1_6gf: 1.61,
  regnet_y_32gf: 32.28,
  regnet_y_3_2gf: 3.18,
  regnet_y_400mf: 0.4,
  regnet_y_800mf: 0.83,
  regnet_y_8gf: 8.47,
  resnet101: 7.8,
  resnet152: 11.51,
  resnet18: 1.81,
  resnet34: 3.66,
  resnet50: 4.09,
  resnext101_32x8d: 16.41,
  resnext101_64x4d: 15.46,
  resnext50_32x4d: 4.23,
  shufflenet_v2_x0_5: 0.04,
  shufflenet_v2_x1_0: 0.14,
  shufflenet_v2_x1_5: 0.3,
  shufflenet_v2_x2_0: 0.58,
  squeezenet1_0: 0.82,
  squeezenet1_1: 0.35,
  swin_b: 15.43,
  swin_s: 8.74,
  swin_t: 4.49,
  swin_v2_b: 20.32,
  swin_v2_s: 11.55,
  swin_v2_t: 5.94,
  vgg11: 7.61,
  vgg11_bn: 7.61,
  vgg13: 11.31,
  vgg13_bn: 11.31,
  vgg16: 15.47,
  vgg16_bn: 15.47,
  vgg19: 19.63,
  vgg19_bn: 19.63,
  vit_b_16: 17.56,
  vit_b_32: 4.41,
  vit_h_14: 1016.72,
  vit_l_16: 61.55,
  vit_l_32: 15.38,
  wide_resnet101_2: 22.75,
  wide_resnet50_2: 11.4,
};

/** Whether our MAC count agrees with the documented figure: within 1 %, or within its two-decimal rounding. */
export function agreesWithDocumented(macs: number, gflops: number): boolean {
  return Math.abs(macs / 1e9 - gflops) <= Math.max(0.01 * gflops, 0.005 + 1e-9);
}

export interface ZooRow {
  model: string;
  gmacs: number;
  /** Our MAC count (from the trace), in G. */
  our_gmacs: number | null;
  /** Our MAC count ÷ torchvision's documented figure (TORCHVISION_GFLOPS). */
  macs_vs_doc: number;
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
export async function runZooModel(
  e: ZooEntry,
  opts: { benchmark?: boolean; progress?: (stage: string) => void } = {},
): Promise<ZooRow> {
  const row: ZooRow = {
    model: e.name.replace('.onnx', ''),
    gmacs: e.torchMacs / 1e9,
    our_gmacs: null,
    macs_vs_doc: NaN,
    macs_vs_torch: NaN,
    pruned: 'no',
    mac_ratio: null,
    latency_ratio: null,
    max_err: null,
    why_not: '',
  };
  if (e.exportError) return { ...row, why_not: `torch.onnx.export failed: ${e.exportError}` };
  let stage = 'load';
  const step = (s: string) => {
    stage = s;
    opts.progress?.(s);
  };
  try {
    step('load');
    const model = loadZooModel(e.name, 0, WELL_CONDITIONED[e.model]);
    step('trace');
    const t = await trace(model, { dimSizes: { batch: 1 } });
    const shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
    const macs = modelStats(model, shapes).macs;
    row.our_gmacs = macs / 1e9;
    row.macs_vs_torch = macs / e.torchMacs;
    const doc = TORCHVISION_GFLOPS[e.model];
    if (doc !== undefined) row.macs_vs_doc = macs / 1e9 / doc;
    step('prune');
    const auto = resolveAutoDependencyGroups(ZOO_CONFIG, model, shapes);
    const pruner = new L1NormPruner(model, auto.configList, undefined, { shapes });
    const { masks, applyMethods } = await pruner.compress();
    step('speedup');
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
    step('done');
    row.pruned = report.macRatio < 1 ? 'yes' : 'no';
    if (report.macRatio >= 1) row.why_not = report.warnings[0] ?? 'no channel removed';
    else row.why_not = leftAlone(auto.diagnostics);
  } catch (err) {
    row.why_not = `${stage}: ${(err as Error).name}: ${(err as Error).message.split('\n').slice(0, 2).join(' ')}`;
  }
  return row;
}
