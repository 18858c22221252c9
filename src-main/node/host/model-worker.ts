/**
 * @file The worker thread behind the models service: it opens one model (decode, validation, normalization, the
 * trace) and keeps it for the graph view, config-list checks and the node inspector, off the host's event loop;
 * one-shot threads answer a plan's model checks, a run's layer widths, its before / after graph diff, and an
 * allocation's refinement (measured candidates, short-term fine-tunes) and its check against the run that used it. Started by off-loop.ts (bundled as dist/electron/model-worker.js
 * in the packaged app). Imports model-work and layers; never Electron or the transports.
 */
import type { Mode } from '../../../src-shared/config/index.ts';
import type { Plan } from '../../../src-shared/experiment.ts';
import type { Examples, GraphView, ModelSource } from '../../../src-shared/ipc/dto.ts';
import type { ModelInfo } from '../../../src-shared/model-info.ts';
import type { Model } from '../../core/ir/index.ts';
import type { AllocateOptions } from '../../core/compress/pruning/index.ts';
import { inspectModel } from '../inspect.ts';
import { openModel } from '../io/open-model.ts';
import { refineAllocation } from '../sensitivity/refine.ts';
import { readScan } from '../sensitivity/scan.ts';
import { measureCompact } from '../sensitivity/verify.ts';
import { widthDiff } from './layers.ts';
import { checkTargets, graphDiffOf, graphView, inspectNode, loadSource, planModelIssues } from './model-work.ts';
import { serveOffLoop } from './off-loop.ts';

let open: { model: Model; info: ModelInfo; graph: GraphView | null } | null = null;

const current = () => {
  if (!open) throw new Error('no model is open on this worker thread');
  return open;
};

serveOffLoop({
  async open(args: { source: ModelSource; home: string; examples: Examples }, progress) {
    const { path, name, model, lifted, normalization, fileNodes, liftedConstantNodes } = loadSource(
      args.source,
      args.home,
      args.examples,
    );
    progress({ phase: 'tracing', fraction: 0.3 });
    const info = await inspectModel(model, {
      file: path,
      lifted,
      normalized: normalization.summary,
      values: true,
      fileNodes,
      liftedConstantNodes,
    });
    open = { model, info, graph: null };
    return { path, name, info: { ...info, values: undefined } };
  },
  inspect: () => current().info,
  graph: () => (current().graph ??= graphView(current().model, current().info)),
  targets: (args: { mode: Mode; configList: unknown }) => checkTargets(current().model, args.mode, args.configList),
  planIssues: (args: { plan: Plan }) => planModelIssues(args.plan),
  widthDiffs: (args: { pairs: ({ before: string; after: string | null } | null)[] }) =>
    args.pairs.map((p) => (p ? widthDiff(p.before, p.after) : [])),
  node: (args: { node: string; configList?: unknown }) => inspectNode(current(), args.node, args.configList),
  graphDiff: (args: { before: string; after: string }) => graphDiffOf(args.before, args.after),
  refineAllocation: (args: { scanPath: string; options: AllocateOptions; shortTermSteps?: number }) =>
    refineAllocation(readScan(args.scanPath), args.options, { shortTermSteps: args.shortTermSteps }),
  measureAllocation: (args: { scanPath: string; dense: string; compact: string }) =>
    measureCompact(readScan(args.scanPath), openModel(args.dense).model, openModel(args.compact).model),
});
