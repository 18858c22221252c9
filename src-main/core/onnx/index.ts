/** @file The ONNX serde: the only code that reads or writes the ONNX protobuf schema. */
export { decodeModel, type DecodeOptions } from './decode.ts';
export {
  encodeModel,
  inlineDataBytes,
  INLINE_DATA_LIMIT,
  PROTOBUF_LIMIT,
  type EncodeOptions,
  type EncodedModel,
} from './encode.ts';
export { ModelFormatError, ExternalDataPathError, MissingExternalDataError, type FaultLocation } from './errors.ts';
export { confineLocation, type ExternalReader } from './external.ts';
