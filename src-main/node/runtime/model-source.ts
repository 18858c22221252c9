/**
 * @file What ORT is handed for a model: its encoded bytes in memory, or — when its tensor data is over protobuf's
 * 2 GB limit (vit_h_14, regnet_y_128gf), which no in-memory protobuf can hold — the model written with external data
 * to a temporary folder and opened by path, the folder removed as soon as ORT has read it. May import core, node:*
 * and the file layer.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Graph, Model } from '../../core/ir/index.ts';
import { encodeModel } from '../../core/onnx/index.ts';
import { exceedsInlineLimit, saveModelFile } from '../io/model-file.ts';
import { WeightlessModelError } from './errors.ts';

/** A model as ORT takes it, and how to drop what was made for it. */
export interface SessionSource {
  /** Encoded bytes, or the path of a model file (with its external data beside it). */
  model: Uint8Array | string;
  /** Whether the model went through a temporary folder with external data. */
  external: boolean;
  /** Remove the temporary folder (a no-op otherwise); safe to call twice. */
  dispose(): void;
}

function* graphsOf(g: Graph): Generator<Graph> {
  yield g;
  for (const n of g.nodes) for (const sg of n.subgraphs()) yield* graphsOf(sg);
}

/** Refuse a weightless model with the tensors it lacks (ORT would fail on the first of them with less to say). */
export function assertRunnable(model: Model): void {
  const missing: string[] = [];
  for (const g of graphsOf(model.graph)) {
    for (const v of g.initializers) if (!v.initializer!.hasData) missing.push(v.name);
    for (const n of g.nodes) {
      for (const [k, a] of n.attributes) if (a.type === 'tensor' && !a.value.hasData) missing.push(`${n.name}.${k}`);
    }
  }
  if (missing.length) throw new WeightlessModelError(missing);
}

/** Folders whose removal failed (Windows keeps a mapped file open): tried again when the process exits. */
const leftover = new Set<string>();
let exitHook = false;

function removeFolder(dir: string): void {
  try {
    rmSync(dir, { recursive: true, force: true });
    leftover.delete(dir);
  } catch {
    leftover.add(dir);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => leftover.forEach((d) => rmSync(d, { recursive: true, force: true })));
    }
  }
}

/**
 * The source for a session: bytes and paths pass through; a model is encoded in memory, or written with external
 * data to a fresh folder under the OS temp folder (`TMPDIR`) when its tensor data is over the inline limit
 * (`setInlineDataLimit`, io/model-file.ts). Call `dispose()` once the session exists: ORT has read (or mapped) the
 * weights by then, so the files can go.
 * @example
 * const src = sessionSource(model);
 * try { session = await ort.InferenceSession.create(src.model as string, opts); } finally { src.dispose(); }
 */
export function sessionSource(model: Model | Uint8Array | string): SessionSource {
  if (typeof model === 'string' || model instanceof Uint8Array) return { model, external: false, dispose: () => {} };
  assertRunnable(model);
  if (!exceedsInlineLimit(model)) return { model: encodeModel(model).bytes, external: false, dispose: () => {} };
  const dir = mkdtempSync(join(tmpdir(), 'studio-session-'));
  try {
    const file = join(dir, 'model.onnx');
    saveModelFile(model, file, { external: { location: 'model.onnx.data' } });
    return { model: file, external: true, dispose: () => removeFolder(dir) };
  } catch (e) {
    removeFolder(dir);
    throw e;
  }
}

/** Create something from a model's session source and drop the source afterwards, whatever happened. */
export async function withSessionSource<T>(
  model: Model | Uint8Array | string,
  create: (source: Uint8Array | string) => Promise<T>,
): Promise<T> {
  const src = sessionSource(model);
  try {
    return await create(src.model);
  } finally {
    src.dispose();
  }
}
