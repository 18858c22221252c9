/**
 * @file The one way every command, step and the app open a model: decode the file, then normalize it
 * (core/passes/normalize.ts: Constant-node weights lifted, de-duplicated weights given their own initializer,
 * constant Cast / Reshape / Transpose of weights folded). A pattern no pass knows is refused by name before
 * anything is written. May import core, node:* and the file layer.
 */
import { normalizeModel, type NormalizationReport } from '../../core/passes/index.ts';
import type { Model } from '../../core/ir/index.ts';
import { loadModelBytes, loadModelFile, type LoadOptions } from './model-file.ts';

export interface OpenedModelFile {
  model: Model;
  /** Weights held in Constant nodes were lifted to initializers. */
  lifted: boolean;
  /** Nodes of the main graph as the file holds them (before normalization lifts or folds any). */
  fileNodes: number;
  /** Constant nodes lifted to initializers (main graph and subgraphs). */
  liftedConstantNodes: number;
  /** What each normalization pass changed. */
  normalization: NormalizationReport;
}

function opened(raw: Model): OpenedModelFile {
  const fileNodes = raw.graph.nodes.length;
  const { model, report } = normalizeModel(raw);
  const liftedConstantNodes = report.steps.filter((s) => s.pass === 'lift-constants').reduce((n, s) => n + s.count, 0);
  return { model, lifted: liftedConstantNodes > 0, fileNodes, liftedConstantNodes, normalization: report };
}

/**
 * Load and normalize a model file.
 * @example const { model, normalization } = openModel('densenet121.onnx'); console.log(normalization.summary);
 * @throws ModelFileError, ModelFormatError, UnknownExportPatternError
 */
export function openModel(path: string, opts: LoadOptions = {}): OpenedModelFile {
  return opened(loadModelFile(path, opts));
}

/** Decode and normalize model bytes that came without a file. */
export function openModelBytes(bytes: Uint8Array, opts: LoadOptions = {}): OpenedModelFile {
  return opened(loadModelBytes(bytes, opts));
}
