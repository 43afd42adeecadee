/**
 * Facts derived from a generation record, computed one way for metrics, logs and the dashboard.
 */
import type { AttemptRecord, GenerationRecord } from '../store/generation-record.ts';

/** Attempts that were actually made (skipped plan entries left out), in order. */
export function madeAttempts(record: GenerationRecord): AttemptRecord[] {
  return record.attempts.filter((attempt) => attempt.outcome !== 'skipped');
}

/** The attempt that served the response, if any. */
export function servingAttempt(record: GenerationRecord): AttemptRecord | undefined {
  return record.attempts.find((attempt) => attempt.outcome === 'ok');
}

/**
 * Served by a fallback: the serving attempt is on another endpoint than the first attempt (a retry
 * of the same endpoint is not a fallback).
 */
export function servedByFallback(record: GenerationRecord): boolean {
  const served = servingAttempt(record);
  const first = madeAttempts(record)[0];
  return served !== undefined && first !== undefined && served.endpoint !== first.endpoint;
}
