/**
 * The state area's surface for accounting: budgets, key credit limits and rate limits, in memory
 * (one replica) or Redis (`REDIS_URL`, several). `server.ts` reads the environment and calls
 * `openAccountingState`.
 */
import type { Budget } from '../../engine/index.ts';
import { numberToUnits, formatUnits } from '../accounting/decimal.ts';
import { periodEnd, periodStart, type LimitReset } from '../accounting/periods.ts';
import type { ApiKeyRecord } from '../store/keys.ts';
import type { AccountingState, FailMode, ScopeLimit } from './accounting-state.ts';
import { MemoryAccountingState, type MemoryStateOptions } from './memory-state.ts';
import { RedisAccountingState, type RedisStateOptions } from './redis-state.ts';

export * from './accounting-state.ts';
export { MemoryAccountingState, type MemoryStateOptions } from './memory-state.ts';
export { RedisAccountingState, type RedisStateOptions } from './redis-state.ts';
export { rateLimitHeaders } from './rate-limit-headers.ts';

export type StateOptions = ({ kind: 'memory' } & MemoryStateOptions) | ({ kind: 'redis' } & RedisStateOptions);

/**
 * Opens the configured state. Redis must be reachable at startup (a wrong URL fails loudly);
 * outages after that follow `fail` (see `FailMode`).
 */
export async function openAccountingState(options: StateOptions): Promise<AccountingState> {
  if (options.kind === 'memory') return new MemoryAccountingState(options);
  const state = new RedisAccountingState(options);
  try {
    await state.ready();
  } catch (error) {
    state.redis.disconnect();
    throw new Error(`Redis is unreachable at ${redactUrl(options.url)}: ${(error as Error).message}`, { cause: error });
  }
  return state;
}

export function isFailMode(value: unknown): value is FailMode {
  return value === 'closed' || value === 'open';
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

const BUDGET_PERIODS: Record<Budget['period'], LimitReset> = { day: 'daily', week: 'weekly', month: 'monthly' };

/** The scope a policy budget counts under for one request (`scopeKey` from the engine's `budgetScopeKey`). */
export function budgetScopeLimit(budget: Budget, scopeKey: string, now: Date): ScopeLimit {
  return {
    scopeKey,
    limit: formatUnits(numberToUnits(budget.limit)),
    alerts: budget.alerts ?? [],
    periodEndsAt: periodEnd(BUDGET_PERIODS[budget.period], now).getTime(),
  };
}

/**
 * The scope of a key's credit limit: `key-limit|key=<hash>|<period start date or "lifetime">`.
 * Null when the key has no limit. Alerts at 50/80/100% by default.
 */
export function keyLimitScope(key: ApiKeyRecord, now: Date, alerts: readonly number[] = [0.5, 0.8, 1]): ScopeLimit | null {
  if (key.limit === null) return null;
  if (key.limit_reset === null) return { scopeKey: `key-limit|key=${key.hash}|lifetime`, limit: key.limit, alerts };
  const start = periodStart(key.limit_reset, now).toISOString().slice(0, 10);
  return { scopeKey: `key-limit|key=${key.hash}|${start}`, limit: key.limit, alerts, periodEndsAt: periodEnd(key.limit_reset, now).getTime() };
}
