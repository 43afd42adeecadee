/**
 * The state area's surface for accounting: budgets, key credit limits and rate limits, in memory
 * (one replica) or Redis (`REDIS_URL`, several). `server.ts` reads the environment and calls
 * `openAccountingState`.
 */
import { budgetScopeKey, type Budget, type RequestFacts } from '../../engine/index.ts';
import { numberToUnits, formatUnits, parseUnits } from '../accounting/decimal.ts';
import { periodEnd, periodStart, type LimitReset } from '../accounting/periods.ts';
import type { SpendOptions, SpendRow } from '../store/generation-backend.ts';
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

/** The generation log as start-up reads it (a `GenerationBackend`). */
export interface SpendLog {
  spendSince(since: string, options?: SpendOptions): AsyncIterable<SpendRow[]>;
}

export interface SeedResult {
  /** Records read (those with a cost, in the periods needed). */
  records: number;
  /** Budget scopes started. */
  scopes: number;
}

/**
 * Starts the policy budgets' counters of a fresh memory state from the generation log, so that a
 * restart does not give every budget its limit again (issue #6). Each record created in the
 * current period of a budget adds its `total_cost` (exact units) to the scope key that budget
 * gives it (`budgetScopeKey` on the record's key, user, team and tags: the counter its
 * settlement added to). Run it before serving, after the journal replay (`openStores`), while no
 * counter exists yet (`seedSpend` leaves existing counters alone).
 *
 * A record names the budget scopes it was settled against (`budgets`), and counts for exactly
 * those: a budget attached by a rule gets only the requests that rule matched. A record without
 * the field (written before it existed) counts for every budget of its scope, which can only be
 * more than settlement produced (a restart may refuse earlier than before it, never later). Key
 * credit limits are not seeded here: `RequestAccounting` starts them from the log on the key's
 * first request.
 */
export async function seedBudgetSpend(state: AccountingState, budgets: Iterable<Budget>, log: SpendLog, now: number): Promise<SeedResult> {
  const at = new Date(now);
  const periods = [...budgets].map((budget) => {
    const reset = BUDGET_PERIODS[budget.period];
    return { budget, start: periodStart(reset, at).toISOString(), end: periodEnd(reset, at).toISOString() };
  });
  if (periods.length === 0) return { records: 0, scopes: 0 };
  let since = periods[0]!.start;
  for (const period of periods) if (period.start < since) since = period.start;
  const totals = new Map<string, { budget: Budget; units: bigint }>();
  let records = 0;
  for await (const page of log.spendSince(since, { tags: periods.some((period) => period.budget.scope === 'tag') })) {
    for (const row of page) {
      records += 1;
      const units = parseUnits(row.total_cost);
      for (const { budget, start, end } of periods) {
        // Canonical ISO times: text order is time order.
        if (row.created_at < start || row.created_at >= end) continue;
        // The row is in the period containing `now`, so its scope key at `now` is the one at its
        // time. `budgetScopeKey` reads only the key, user, team and tags of the facts.
        const scopeKey = budgetScopeKey(budget, row as unknown as RequestFacts, now);
        if (scopeKey === null) continue;
        if (row.budgets !== undefined && !row.budgets.includes(scopeKey)) continue;
        const total = totals.get(scopeKey);
        if (total === undefined) totals.set(scopeKey, { budget, units });
        else total.units += units;
      }
    }
  }
  for (const [scopeKey, { budget, units }] of totals) await state.seedSpend(budgetScopeLimit(budget, scopeKey, at), formatUnits(units));
  return { records, scopes: totals.size };
}
