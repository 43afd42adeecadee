/**
 * A circuit breaker for one endpoint: closed -> open on repeated failures or a high error rate ->
 * half-open after a cool-down, letting one probe through -> closed on the probe's success (or open
 * again on its failure). Time is passed in (epoch ms), never read.
 *
 * An open circuit never removes an endpoint from a plan: the engine moves it to the end
 * (`circuit open`), so it still serves when everything else fails.
 */

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitOptions {
  /** Consecutive failures that open the circuit. Default 5. */
  consecutiveFailures: number;
  /** Error rate (0..1) over `errorRateWindowMs` that opens it, once `minimumRequests` were seen. Default 0.5. */
  errorRateThreshold: number;
  /** Default 60 s. */
  errorRateWindowMs: number;
  /** Requests needed in the window before the error rate counts. Default 10. */
  minimumRequests: number;
  /**
   * How long it stays open before half-opening. Default 60 s: longer than the engine's 30 s
   * `recently_failed` window, so an open circuit keeps the endpoint last after that has passed.
   */
  coolDownMs: number;
  /**
   * How long one half-open probe slot is held for a request before another request may take it
   * (the probe may never reach this endpoint, e.g. when the first choice served). Default 5 s.
   */
  probeLeaseMs: number;
}

export const DEFAULT_CIRCUIT_OPTIONS: Readonly<CircuitOptions> = Object.freeze({
  consecutiveFailures: 5,
  errorRateThreshold: 0.5,
  errorRateWindowMs: 60_000,
  minimumRequests: 10,
  coolDownMs: 60_000,
  probeLeaseMs: 5_000,
});

/** Why the state changed, for logs and metrics. */
export interface CircuitTransition {
  from: CircuitState;
  to: CircuitState;
  reason: string;
}

export class CircuitBreaker {
  readonly #options: CircuitOptions;
  #state: CircuitState = 'closed';
  #consecutiveFailures = 0;
  #openedAt = 0;
  /** When the current half-open probe slot was handed out; null when free. */
  #probeLeasedAt: number | null = null;

  constructor(options: CircuitOptions = DEFAULT_CIRCUIT_OPTIONS) {
    this.#options = options;
  }

  /** The state at `now` (an open circuit whose cool-down ended reads as half-open). */
  state(now: number): CircuitState {
    this.#advance(now);
    return this.#state;
  }

  get consecutiveFailures(): number {
    return this.#consecutiveFailures;
  }

  /**
   * The state a request should route with: half-open hands its single probe slot to the first
   * caller; later callers see `open` until the probe reports or its lease runs out.
   */
  stateForRequest(now: number): CircuitState {
    this.#advance(now);
    if (this.#state !== 'half_open') return this.#state;
    if (this.#probeLeasedAt !== null && now - this.#probeLeasedAt < this.#options.probeLeaseMs) return 'open';
    this.#probeLeasedAt = now;
    return 'half_open';
  }

  /**
   * Record one finished attempt. `windowErrors`/`windowRequests` are the error and request counts
   * over `errorRateWindowMs` including this attempt. Returns the transition, if any.
   */
  record(now: number, success: boolean, windowErrors: number, windowRequests: number): CircuitTransition | null {
    this.#advance(now);
    const from = this.#state;
    if (success) {
      this.#consecutiveFailures = 0;
      if (from === 'closed') return null;
      this.#close();
      return { from, to: 'closed', reason: from === 'half_open' ? 'probe succeeded' : 'success while open' };
    }
    this.#consecutiveFailures++;
    if (from === 'half_open') {
      this.#open(now);
      return { from, to: 'open', reason: 'probe failed' };
    }
    if (from === 'open') {
      // A failure as a last-resort fallback restarts the cool-down.
      this.#openedAt = now;
      return null;
    }
    if (this.#consecutiveFailures >= this.#options.consecutiveFailures) {
      this.#open(now);
      return { from, to: 'open', reason: `${this.#consecutiveFailures} consecutive failures` };
    }
    if (windowRequests >= this.#options.minimumRequests && windowErrors / windowRequests >= this.#options.errorRateThreshold) {
      this.#open(now);
      return { from, to: 'open', reason: `error rate ${((windowErrors / windowRequests) * 100).toFixed(0)}% over ${windowRequests} requests` };
    }
    return null;
  }

  #advance(now: number): void {
    if (this.#state === 'open' && now - this.#openedAt >= this.#options.coolDownMs) {
      this.#state = 'half_open';
      this.#probeLeasedAt = null;
    }
  }

  #open(now: number): void {
    this.#state = 'open';
    this.#openedAt = now;
    this.#probeLeasedAt = null;
  }

  #close(): void {
    this.#state = 'closed';
    this.#consecutiveFailures = 0;
    this.#probeLeasedAt = null;
  }
}
