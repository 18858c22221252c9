/** @file Named errors of the runtime layer (sessions, runs, sample inputs). Imports only the IR's error base. */
import { StudioError } from '../../core/ir/errors.ts';

/** An execution-provider name that is not one of ours (a typo, not an unavailable device). */
export class UnknownProviderError extends StudioError {
  constructor(
    readonly requested: string,
    readonly valid: readonly string[],
  ) {
    super(`unknown execution provider "${requested}"; valid names: ${valid.join(', ')}`, 'UNKNOWN_PROVIDER', {
      requested,
      valid: [...valid],
    });
  }
}

/** ONNX Runtime refused the model (also on the CPU fallback): the model, not the device, is at fault. */
export class SessionCreateError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(`onnxruntime could not load the model: ${message}`, 'SESSION_CREATE', details);
  }
}

/** ONNX Runtime failed while running the model. */
export class RunError extends StudioError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(`onnxruntime failed to run the model: ${message}`, 'RUN', details);
  }
}

/** A feed that does not fit the model's input: wrong dtype, rank or size, unknown or missing name. */
export class InputMismatchError extends StudioError {
  constructor(
    readonly input: string,
    readonly expected: string,
    readonly given: string,
  ) {
    super(`input "${input}": expected ${expected}, given ${given}`, 'INPUT_MISMATCH', { input, expected, given });
  }
}

/** An input whose sample cannot be generated: no declared dtype or rank, or a dtype with no generator. */
export class UnresolvedInputError extends StudioError {
  constructor(
    readonly input: string,
    why: string,
  ) {
    super(`cannot make a sample for input "${input}": ${why}`, 'UNRESOLVED_INPUT', { input });
  }
}

/** A dtype ONNX Runtime's JS tensors cannot carry (bfloat16, for one). */
export class UnsupportedDTypeError extends StudioError {
  constructor(
    readonly dtype: string,
    where: string,
  ) {
    super(`${where}: onnxruntime-node tensors cannot hold ${dtype}`, 'UNSUPPORTED_DTYPE', { dtype, where });
  }
}

/** The model has initializers without data (a weightless graph): it cannot run until they are materialized. */
export class WeightlessModelError extends StudioError {
  constructor(readonly tensors: string[]) {
    super(
      `the model cannot run: ${tensors.length} initializer(s) hold no data (${tensors.slice(0, 5).join(', ')}${
        tensors.length > 5 ? ', …' : ''
      }); materialize its weights first`,
      'WEIGHTLESS_MODEL',
      { tensors: tensors.slice(0, 50) },
    );
  }
}

/** First line of an ORT error without its C++ source location and failed-check preamble. */
export function ortMessage(e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).trim().split('\n')[0]!;
  return msg
    .replace(/^.*? was false\.\s*/, '')
    .replace(/^\S+\.(cc|cpp|h):\d+\s+/, '')
    .slice(0, 500);
}

/** Inputs whose dynamic dims nothing sizes: names each input, dim and axis, and the `--shape` that would. */
export class DynamicDimsError extends StudioError {
  constructor(
    readonly unresolved: {
      input: string;
      dims: { axis: number; name: string }[];
      declared: (number | string | null)[];
    }[],
  ) {
    const what = unresolved
      .map((u) => `input "${u.input}" dims ${u.dims.map((d) => `${d.name} (axis ${d.axis})`).join(', ')}`)
      .join('; ');
    const dim = (d: number | string | null, i: number) =>
      typeof d === 'number' && d >= 0 ? d : i === 0 ? 1 : `<${typeof d === 'string' && d ? d : `axis ${i}`}>`;
    const hint = unresolved.map((u) => `--shape ${u.input}=${u.declared.map(dim).join(',')}`).join(' ');
    super(
      `the model has dynamic dims that cannot be inferred: ${what}; give the full input shape (${hint}, or "inputShapes" in a plan)`,
      'DYNAMIC_DIMS',
      {
        unresolved: unresolved.map((u) => ({ input: u.input, dims: u.dims })),
      },
    );
  }
}
