/** Time as the sidecar sees it; tests pass a fixed one. */
export interface Clock {
  /** Wall clock, epoch ms (timestamps, budgets). */
  now(): number;
  /** Monotonic ms (latencies, deadlines). */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
};
