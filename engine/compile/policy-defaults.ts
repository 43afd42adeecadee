import type { AutoModelSettings, RetryPolicy, Timeouts } from '../types.ts';

/**
 * What a policy gets for settings it leaves out (documented in engine/README.md). Rules and the
 * policy's `defaults` override these key by key.
 */
export const POLICY_DEFAULTS: Readonly<{
  attempts: number;
  retries: Readonly<RetryPolicy>;
  timeouts: Readonly<Timeouts>;
  auto: Readonly<AutoModelSettings>;
}> = Object.freeze({
  attempts: 4,
  retries: Object.freeze({ max: 1, backoff_ms: 500, multiplier: 2, max_backoff_ms: 30_000 }),
  timeouts: Object.freeze({ first_byte_ms: 30_000, attempt_ms: 120_000, total_ms: 300_000 }),
  auto: Object.freeze({ strategy: 'cheapest' as const }),
});

/** The reserved model name that asks the policy to pick a model. */
export const AUTO_MODEL = 'auto';
