/**
 * @file `studio prune … --speedup [--round-to N] --json`: run ModelSpeedup on a model and its masks, write
 * `compact.onnx`, and give back the report as the flat JSON the CLI prints (plus a text rendering). The CLI wiring
 * itself is in main.ts beside it. May import core, the runtime and node:*.
 */
import { prepareOutputDir } from '../io/guard.ts';
import { dirname, join } from 'node:path';
import type { Model } from '../../core/ir/index.ts';
import type { Masks } from '../../core/compress/masks.ts';
import type { ApplyMethods } from '../../core/compress/simulate/index.ts';
import { saveModelFile } from '../io/model-file.ts';
import { openModel } from '../io/open-model.ts';
import type { SpeedupReport } from '../../../src-shared/speedup-report.ts';
import { ModelSpeedup, type ModelSpeedupOptions } from '../speedup/model-speedup.ts';

export interface SpeedupCommandOptions extends Omit<ModelSpeedupOptions, 'applyMethods'> {
  /** A model, or the path of a .onnx file. */
  model: Model | string;
  masks: Masks;
  applyMethods?: ApplyMethods;
  /** Where to write the compact model: a `.onnx` path, or a folder that receives `compact.onnx`. */
  out: string;
}

/** The flat JSON `--json` prints. */
export interface SpeedupCommandJson {
  compact: string;
  params_before: number;
  params_after: number;
  macs_before: number;
  macs_after: number;
  size_before: number;
  size_after: number;
  mac_ratio: number;
  latency_before_ms: number | null;
  latency_after_ms: number | null;
  latency_ratio: number | null;
  max_rel_err: number;
  lost_sparsity: number;
  speedup_ms: number;
  round_to: number | null;
  warnings: string[];
  report: SpeedupReport;
}

/**
 * Speed up, verify, write and summarise.
 * @example
 * const { json, text } = await speedupCommand({ model: 'resnet50.onnx', masks, out: 'out/', roundTo: 8 });
 * process.stdout.write(asJson ? JSON.stringify(json, null, 2) : text);
 */
export async function speedupCommand(
  o: SpeedupCommandOptions,
): Promise<{ json: SpeedupCommandJson; text: string; path: string }> {
  const model = typeof o.model === 'string' ? openModel(o.model).model : o.model;
  const { model: _m, masks, out, ...opts } = o;
  const { model: compact, report } = await new ModelSpeedup(model, masks, opts).speedupModel();
  const path = out.endsWith('.onnx') ? out : join(out, 'compact.onnx');
  prepareOutputDir(dirname(path), { what: 'output folder' });
  const saved = saveModelFile(compact, path);
  const json: SpeedupCommandJson = {
    compact: path,
    params_before: report.before.params,
    params_after: report.after.params,
    macs_before: report.before.macs,
    macs_after: report.after.macs,
    size_before: report.before.sizeBytes,
    size_after: report.after.sizeBytes,
    mac_ratio: report.macRatio,
    latency_before_ms: report.before.latencyMs ?? null,
    latency_after_ms: report.after.latencyMs ?? null,
    latency_ratio: report.latencyRatio ?? null,
    max_rel_err: report.verification.maxRelErr,
    lost_sparsity: report.sparsity.lost,
    speedup_ms: report.timings.speedupMs,
    round_to: report.roundTo ?? null,
    warnings: report.warnings,
    report,
  };
  const where = saved.externalFile ? `${path} (weights over 2 GB: in ${saved.externalFile} beside it)` : path;
  return { json, text: renderReport(report, where), path };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
const count = (n: number) =>
  n >= 1e9
    ? `${(n / 1e9).toFixed(2)}G`
    : n >= 1e6
      ? `${(n / 1e6).toFixed(2)}M`
      : n >= 1e3
        ? `${(n / 1e3).toFixed(1)}k`
        : `${n}`;

/** A short human summary of a speedup report. */
export function renderReport(r: SpeedupReport, path: string): string {
  const lines = [
    `compact model: ${path}`,
    `  params   ${count(r.before.params)} → ${count(r.after.params)} (${pct(r.after.params / Math.max(1, r.before.params))})`,
    `  MACs     ${count(r.before.macs)} → ${count(r.after.macs)} (${pct(r.macRatio)})`,
  ];
  if (r.latency) {
    lines.push(
      `  latency  ${r.latency.before.p50.toFixed(2)} ms → ${r.latency.after.p50.toFixed(2)} ms p50 (${pct(r.latencyRatio!)}; ${r.latency.threads} thread(s), ${r.latency.rounds} rounds side by side)`,
    );
  }
  lines.push(
    `  verified max relative error ${r.verification.maxRelErr.toExponential(2)} over ${r.verification.samples} input(s) (tolerance ${r.verification.tolerance})`,
  );
  if (r.sparsity.requestedChannels)
    lines.push(
      `  channels removed ${r.sparsity.removedChannels} of ${r.sparsity.requestedChannels} requested (lost ${pct(r.sparsity.lost)} to group conflicts)`,
    );
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
