/** @file Cooperative cancellation: a token steps check, and the error they throw. Pure TypeScript; imports nothing. */

/** Thrown by `throwIfCancelled` once a job is cancelled; the runner records the run as cancelled, not failed. */
export class CancelledError extends Error {
  readonly code = 'CANCELLED';
  constructor(reason = 'cancelled') {
    super(reason);
    this.name = 'CancelledError';
  }
}

/** The read side a step sees. Check it between batches; a step that ignores it is killed after a grace period. */
export interface CancellationToken {
  readonly cancelled: boolean;
  readonly reason: string | null;
  /** Throws `CancelledError` when cancelled. */
  throwIfCancelled(): void;
  /** Calls `listener` once on cancellation (at once if already cancelled); returns an unsubscribe function. */
  onCancel(listener: (reason: string) => void): () => void;
}

/**
 * The owner's side of a token.
 *
 * @example
 * const source = new CancellationSource();
 * await step({ token: source.token });  // elsewhere: source.cancel('user asked')
 */
export class CancellationSource {
  private reasonText: string | null = null;
  private readonly listeners = new Set<(reason: string) => void>();
  readonly token: CancellationToken;

  constructor() {
    const get = () => this.reasonText;
    const listeners = this.listeners;
    this.token = {
      get cancelled() {
        return get() !== null;
      },
      get reason() {
        return get();
      },
      throwIfCancelled() {
        const reason = get();
        if (reason !== null) throw new CancelledError(reason);
      },
      onCancel(listener) {
        const reason = get();
        if (reason !== null) {
          listener(reason);
          return () => undefined;
        }
        listeners.add(listener);
        return () => void listeners.delete(listener);
      },
    };
  }

  cancel(reason = 'cancelled'): void {
    if (this.reasonText !== null) return;
    this.reasonText = reason;
    for (const l of [...this.listeners]) l(reason);
    this.listeners.clear();
  }
}

/**
 * Resolves after `ms`, or rejects with `CancelledError` as soon as the token is cancelled.
 *
 * @example await sleep(100, ctx.token);
 */
export function sleep(ms: number, token?: CancellationToken): Promise<void> {
  return new Promise((resolve, reject) => {
    if (token?.cancelled) return reject(new CancelledError(token.reason ?? undefined));
    const off = token?.onCancel((reason) => {
      clearTimeout(timer);
      reject(new CancelledError(reason));
    });
    const timer = setTimeout(() => {
      off?.();
      resolve();
    }, ms);
  });
}
