import type { Budget, RequestFacts } from '../types.ts';

/**
 * The key under which a budget's spend is counted for this request in the period containing `now`,
 * e.g. `team-daily|team=ml|2026-11-25`. Null when the request has no value for the scope (no team).
 * STUB: engine-evaluate helper replaces this.
 */
export function budgetScopeKey(budget: Budget, facts: RequestFacts, now: number): string | null {
  void budget;
  void facts;
  void now;
  throw new Error('not implemented');
}
