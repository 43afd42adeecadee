/**
 * The abort signal of one provider attempt: what `AbortController` gives, without Node's
 * `AbortSignal`.
 *
 * Why not Node's: on Node 20 every `AbortSignal` is an `EventTarget` whose prototype is swapped
 * after construction, and making one per request kept about 15 % of everything allocated near it
 * alive through the next scavenge (`npm run bench:gc-patterns`: a paced loop making one signal per
 * iteration has 14 % of its allocations survive a scavenge; with an `EventTarget`, 0.1 %). In the
 * gateway that was most of the 5-6 KB per request promoted to the old generation, which made
 * scavenges slow and mark-compacts frequent (`npm run bench:gateway`'s GC pause line).
 *
 * It has the instance surface of `AbortSignal` that adapters and the libraries they hand it to use:
 * `aborted`, `reason`, `onabort`, `throwIfAborted()`, `addEventListener`/`removeEventListener` for
 * `'abort'` (functions or `handleEvent` objects, `once`). undici (`request({ signal })`) and
 * `node:timers/promises` check signals by shape, not by class. It is not an `EventTarget`:
 * `AbortSignal.any()` and `instanceof AbortSignal` do not accept it.
 */

type AbortListener = ((event: AbortEvent) => void) | { handleEvent(event: AbortEvent): void };

/** What listeners receive: the event's type and the signal. */
interface AbortEvent {
  readonly type: 'abort';
  readonly target: AttemptSignal;
}

export class AttemptSignal {
  aborted = false;
  reason: unknown = undefined;
  onabort: ((event: AbortEvent) => void) | null = null;
  #listeners: Array<{ listener: AbortListener; once: boolean }> = [];

  throwIfAborted(): void {
    if (this.aborted) throw this.reason;
  }

  addEventListener(type: string, listener: AbortListener | null, options?: boolean | { once?: boolean }): void {
    if (type !== 'abort' || listener === null || this.aborted) return;
    for (const entry of this.#listeners) if (entry.listener === listener) return;
    this.#listeners.push({ listener, once: typeof options === 'object' && options.once === true });
  }

  removeEventListener(type: string, listener: AbortListener | null): void {
    if (type !== 'abort') return;
    const index = this.#listeners.findIndex((entry) => entry.listener === listener);
    if (index >= 0) this.#listeners.splice(index, 1);
  }

  /** `AbortController.abort(reason)`: once; listeners in the order they were added, then `onabort`. */
  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new DOMException('This operation was aborted', 'AbortError');
    const listeners = this.#listeners;
    this.#listeners = [];
    const event: AbortEvent = { type: 'abort', target: this };
    for (const { listener } of listeners) {
      if (typeof listener === 'function') listener.call(this, event);
      else listener.handleEvent(event);
    }
    this.onabort?.call(this, event);
  }

  /** As `AbortSignal` for the adapter interface (see the header for what it supports). */
  asAbortSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }
}

/** `AbortController`'s shape over an `AttemptSignal`. */
export class AttemptAbort {
  readonly signal = new AttemptSignal();

  abort(reason?: unknown): void {
    this.signal.abort(reason);
  }
}
