/** @file Named errors of the ONNX serde. Pure: imports only the IR's error base. */
import { quoted } from '../../../src-shared/errors.ts';
import { StudioError } from '../ir/errors.ts';

/** Where in a model file a fault is. */
export interface FaultLocation {
  node?: string;
  tensor?: string;
  /** Byte offset in the .onnx file (or in the external data file, with `file`). */
  offset?: number;
  file?: string;
  /** JSON-ish path inside the model, e.g. `graph.node[12].attribute[then_branch]`. */
  path?: string;
}

/** The file is not a valid ONNX model, or holds inconsistent data. Names the node, tensor or byte offset. */
export class ModelFormatError extends StudioError {
  readonly location: FaultLocation;

  constructor(message: string, location: FaultLocation = {}) {
    const where = [
      location.node !== undefined ? `node ${quoted(location.node)}` : '',
      location.tensor !== undefined ? `tensor ${quoted(location.tensor)}` : '',
      location.offset !== undefined
        ? `byte offset ${location.offset}${location.file ? ` of ${location.file}` : ''}`
        : '',
    ]
      .filter(Boolean)
      .join(', ');
    super(where ? `${message} (${where})` : message, 'MODEL_FORMAT', { ...location });
    this.location = location;
  }
}

/** External data that would be read from outside the model's folder. */
export class ExternalDataPathError extends ModelFormatError {}

/**
 * A valid ONNX file whose weights live in an external data file that cannot be had: missing beside the model, or
 * the model came as bytes (an upload) without its folder. The file itself is fine; its data files are not there.
 */
export class MissingExternalDataError extends ModelFormatError {}
