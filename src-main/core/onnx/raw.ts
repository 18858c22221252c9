/**
 * @file Raw ModelProto encoding from a plain object in onnx-proto's field names (camelCase): how tests and the fuzz
 * suite build files the IR would never produce (cycles, dangling inputs, bad opsets, external data anywhere).
 * Pure: imports only the protobuf schema.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/**
 * Encode a ModelProto given as a plain object; `irVersion` 8 and the default-domain opset 17 unless given.
 *
 * @example encodeRawModel({ graph: { name: 'g', node: [{ opType: 'Relu', input: ['y'], output: ['y'] }] } })
 */
export function encodeRawModel(model: Record<string, unknown>): Uint8Array {
  return onnx.ModelProto.encode(
    onnx.ModelProto.fromObject({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], ...model }),
  ).finish();
}
