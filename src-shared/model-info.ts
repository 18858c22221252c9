/** @file The summary of an opened model, as the CLI prints it and the app shows it. Pure types: no Node, no DOM. */

export interface TensorInfo {
  name: string;
  dtype: string;
  /** Dims: numbers, symbolic names, or null for unknown. */
  shape: (number | string | null)[] | null;
}

export interface ModelInfo {
  file?: string;
  fileBytes?: number;
  irVersion: number;
  opset: number;
  opsetImports: Record<string, number>;
  producer: string;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  /** Node count of the main graph as the file holds it (Constant nodes included). */
  nodes: number;
  /** Node count of the main graph once opened (after Constant nodes were lifted and weight casts folded), when it differs. */
  loadedNodes?: number;
  /** How many Constant nodes were lifted to initializers, when any were. */
  liftedConstantNodes?: number;
  opTypes: Record<string, number>;
  params: number;
  /** Multiply-accumulates for the traced input shapes; null when the model could not be traced. */
  macs: number | null;
  /** Bytes of all weights. */
  sizeBytes: number;
  /** Nodes whose MACs are not in the total, and why. */
  uncounted: { node: string; opType: string; reason: string }[];
  /** Weights that were held in Constant nodes and lifted to initializers. */
  liftedConstants: boolean;
  /** What normalization on load changed, one line per pass (de-duplicated weights, folded Cast/Transpose, …). */
  normalized?: string[];
  /** Op types with control flow or recurrence (If, Loop, Scan, LSTM, GRU, RNN) present. */
  controlFlow: string[];
  /** Input shapes the trace ran with. */
  tracedInputs?: Record<string, number[]>;
  /** Why the trace failed, when it did. */
  traceError?: string;
  /** Every traced value's shape (with `--trace`). */
  values?: { name: string; dtype: string; shape: number[] }[];
}
