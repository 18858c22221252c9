/**
 * @file Open a model and summarise it: structure, parameters, size, and (from a concrete trace) MACs and
 * every value's shape. Used by `studio inspect` and the app's model service. May import node:* and ORT.
 */
import { statSync } from 'node:fs';
import type { ModelInfo, TensorInfo } from '../../src-shared/model-info.ts';
import type { Model, Value } from '../core/ir/index.ts';
import { modelStats } from '../core/analysis/stats.ts';
import { openModel } from './io/open-model.ts';
import { trace, type TraceOptions } from './runtime/index.ts';

export interface InspectOptions extends Pick<TraceOptions, 'shapes' | 'dimSizes' | 'ep' | 'seed'> {
  /** Include every traced value's shape. */
  values?: boolean;
}

/** Load a model file the way every command does: decode, then normalize (see io/open-model.ts). */
export { openModel };

const CONTROL_FLOW = new Set(['If', 'Loop', 'Scan', 'LSTM', 'GRU', 'RNN']);

function tensorInfo(v: Value): TensorInfo {
  return { name: v.name, dtype: v.dtype ?? 'unknown', shape: v.shape ? [...v.shape] : null };
}

/** Summarise a model (tracing it once for shapes and MACs). */
export async function inspectModel(
  model: Model,
  opts: InspectOptions & {
    file?: string;
    lifted?: boolean;
    normalized?: string[];
    fileNodes?: number;
    liftedConstantNodes?: number;
  } = {},
): Promise<ModelInfo> {
  const g = model.graph;
  let shapes: Map<string, number[]> | undefined;
  let traceError: string | undefined;
  let tracedInputs: Record<string, number[]> | undefined;
  let values: ModelInfo['values'];
  try {
    const t = await trace(model, { shapes: opts.shapes, dimSizes: opts.dimSizes, ep: opts.ep, seed: opts.seed });
    shapes = new Map([...t.values].map(([k, v]) => [k, v.shape]));
    tracedInputs = Object.fromEntries(Object.entries(t.inputs).map(([k, v]) => [k, [...v.dims]]));
    if (opts.values) values = [...t.values].map(([name, v]) => ({ name, dtype: v.dtype, shape: v.shape }));
  } catch (e) {
    traceError = (e as Error).message;
  }
  const stats = modelStats(model, shapes);
  const controlFlow = [...new Set([...g.allNodes()].map((n) => n.opType).filter((op) => CONTROL_FLOW.has(op)))];
  return {
    file: opts.file,
    fileBytes: opts.file ? statSync(opts.file).size : undefined,
    irVersion: model.irVersion,
    opset: model.opset,
    opsetImports: Object.fromEntries([...model.opsetImports].map(([d, v]) => [d || 'ai.onnx', v])),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    inputs: g.inputs.filter((v) => !v.isInitializer).map(tensorInfo),
    outputs: g.outputs.map(tensorInfo),
    nodes: opts.fileNodes ?? g.nodes.length,
    ...(opts.fileNodes !== undefined && opts.fileNodes !== g.nodes.length ? { loadedNodes: g.nodes.length } : {}),
    ...(opts.liftedConstantNodes ? { liftedConstantNodes: opts.liftedConstantNodes } : {}),
    opTypes: stats.opTypes,
    params: stats.params,
    macs: shapes ? stats.macs : null,
    sizeBytes: stats.sizeBytes,
    uncounted: stats.uncounted,
    liftedConstants: !!opts.lifted,
    ...(opts.normalized?.length ? { normalized: opts.normalized } : {}),
    controlFlow,
    tracedInputs,
    traceError,
    values,
  };
}
