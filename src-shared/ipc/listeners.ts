/** @file A set of listeners with an unsubscribe per subscription, for the transports' message / close / state events. */
import type { Unsubscribe } from './contract.ts';

/**
 * Listeners of one event. `emit` calls a snapshot, so a listener may unsubscribe (or subscribe another) while it runs.
 *
 * @example
 * const closes = new Listeners<[reason: string]>();
 * const off = closes.add((r) => console.log(r));
 * closes.emit('the window was closed'); off();
 */
export class Listeners<A extends unknown[]> {
  private readonly set = new Set<(...args: A) => void>();

  add(listener: (...args: A) => void): Unsubscribe {
    this.set.add(listener);
    return () => void this.set.delete(listener);
  }

  emit(...args: A): void {
    for (const l of [...this.set]) l(...args);
  }
}
