/**
 * Budgets, key credit limits and rate limits on the request path.
 *
 * 1. Before routing, the spend of every policy budget scope the request counts under (committed +
 *    held, from the accounting state) joins the snapshot, so the engine excludes, downgrades or
 *    answers 402 with its reasons, and plans show them.
 * 2. Before any provider is called, the key's per-minute limits are checked (429 + `Retry-After`,
 *    `X-RateLimit-*`), then the plan's worst case is held against the key's credit limit and the
 *    plan's budget scopes, all or nothing (402 saying what `max_tokens` would fit).
 *    The worst case is the MAXIMUM over the plan's attempts (prompt estimate + max completion
 *    tokens at each endpoint's prices): only one attempt is billed, but a fallback may serve at a
 *    dearer endpoint than the first, and the hold must cover whichever serves.
 * 3. When the generation record is written, the hold is settled with the record's `total_cost`
 *    (the serving attempt's cost only; failures and empty completions cost 0), the tokens count
 *    against the token rate, and crossed alert thresholds are notified.
 */
import type { Context } from '@opentelemetry/api';
import type { ServerResponse } from 'node:http';
import { budgetScopeKey, type Budget, type CompiledCatalog, type CompiledEndpoint, type CompiledPolicy, type Identity, type Plan, type PlanAttempt, type RequestFacts } from '../../engine/index.ts';
import { affordableCompletionTokens, insufficientCreditsMessage, worstCaseUnits } from '../accounting/cost.ts';
import { formatUnits } from '../accounting/decimal.ts';
import type { AlertNotifier } from '../accounting/alerts.ts';
import type { Logger } from '../logger.ts';
import type { AccountingState, RateLimits, Reservation, ReserveResult, ScopeLimit, TokenCount } from '../state/accounting-state.ts';
import { budgetScopeLimit, keyLimitScope } from '../state/index.ts';
import { rateLimitHeaders } from '../state/rate-limit-headers.ts';
import type { GenerationRecord } from '../store/generation-record.ts';
import { keyUsage, type CostSummer } from '../store/key-usage.ts';
import { usageAgainstLimit, type ApiKeyRecord, type KeyRateLimit } from '../store/keys.ts';
import { GatewayError } from './errors.ts';
import { planRequest, requestFactsOf, type GatewayContext, type Routed } from './gateway-context.ts';

export interface RequestAccountingOptions {
  state: AccountingState;
  /** Sums a key's spend from the generation log (seeds key-limit counters). */
  generations: CostSummer;
  /** The stored key behind an identity (limit, reset period); undefined for config keys. */
  storedKeyOf: (identity: Identity) => ApiKeyRecord | undefined;
  /** Per key, the config-wide default (`accounting.rate_limits`); absent = none. A stored key's own `rate_limit` overrides it kind by kind. */
  rateLimits: RateLimits;
  alertThresholds: readonly number[];
  alerts: AlertNotifier;
  logger: Logger;
  now?: () => number;
  /**
   * How long routing may reuse a budget scope's spend, ms. Default 0 with memory state (exact),
   * 250 with Redis (one round trip fewer per request). Only the engine's view is cached: the hold
   * that enforces a budget always reads the live counter, so a stale view can at worst answer 402
   * where a downgrade would have fit, never overspend.
   */
  spendCacheMs?: number;
}

interface Hold {
  reservation: Reservation;
  subject: string | null;
}

/**
 * A scope limit built at `builtAt`, reused until its period ends: every instant in
 * [builtAt, periodEndsAt) lies in the same period, so the scope built then is the same.
 */
interface ScopeEntry {
  scope: ScopeLimit;
  builtAt: number;
}

/** Reusable while `now` is in the same period as when it was built (a clock going back rebuilds). */
function current(entry: ScopeEntry | undefined, now: number): entry is ScopeEntry {
  return entry !== undefined && now >= entry.builtAt && (entry.scope.periodEndsAt === undefined || now < entry.scope.periodEndsAt);
}

/** Bound on the scope limits kept per budget: scope keys change with callers and periods. */
const BUDGET_SCOPES_KEPT = 10_000;

export class RequestAccounting {
  readonly state: AccountingState;
  readonly #options: RequestAccountingOptions;
  readonly #now: () => number;
  readonly #holds = new Map<string, Hold>();
  /** Rate subjects of requests admitted under a token limit and not yet settled (for the token window). */
  readonly #subjects = new Map<string, string>();
  /** Key-limit scopes already started from the generation log in this process. */
  readonly #seeded = new Set<string>();
  readonly #endpoints = new WeakMap<CompiledCatalog, Map<string, CompiledEndpoint>>();
  /** Whether the config-wide default limits anything. */
  readonly #rateLimited: boolean;
  /** The limits of stored keys with their own `rate_limit`, by record (built once per record). */
  readonly #keyRateLimits = new WeakMap<ApiKeyRecord, { own: KeyRateLimit; limits: RateLimits; limited: boolean }>();
  readonly #settling = new Set<Promise<void>>();
  readonly #spendCacheMs: number;
  readonly #spendCache = new Map<string, { at: number; spend: Record<string, number> }>();
  /** Key-limit scopes by stored key record, with the limit fields they were built from. */
  readonly #keyScopes = new WeakMap<ApiKeyRecord, ScopeEntry & { hash: string; limit: string | null; reset: ApiKeyRecord['limit_reset'] }>();
  /** Budget scope limits by budget, then by scope key. */
  readonly #budgetScopes = new WeakMap<Budget, Map<string, ScopeEntry & Pick<Budget, 'limit' | 'period' | 'alerts'>>>();

  constructor(options: RequestAccountingOptions) {
    this.state = options.state;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#rateLimited = options.rateLimits.requestsPerMinute !== undefined || options.rateLimits.tokensPerMinute !== undefined;
    this.#spendCacheMs = options.spendCacheMs ?? (options.state.kind === 'redis' ? 250 : 0);
  }

  /** The config-wide rate limits (`accounting.rate_limits`), for keys without their own. */
  get rateLimitDefaults(): RateLimits {
    return this.#options.rateLimits;
  }

  /** Facts -> the spend of the request's budget scopes -> plan. */
  async route(gateway: GatewayContext, body: Record<string, unknown>, headers: Record<string, string | string[] | undefined>, identity: Identity, seed: number, parentContext: Context): Promise<Routed> {
    const facts = requestFactsOf(gateway, body, headers, identity);
    if (!facts.ok) return facts;
    const now = this.#now();
    const scopeKeys: string[] = [];
    for (const budget of facts.state.policy.budgets.values()) {
      const key = budgetScopeKey(budget, facts.facts, now);
      if (key !== null) scopeKeys.push(key);
    }
    let spend: Record<string, number> | undefined;
    if (scopeKeys.length > 0) {
      try {
        spend = await this.#spendOf(scopeKeys, now);
      } catch (error) {
        // The reservation below still enforces (or follows `fail`); routing goes on without spend.
        this.#options.logger.warn({ err: error }, 'could not read budget spend for routing');
      }
    }
    return planRequest(gateway, facts.state, facts.facts, seed, parentContext, spend);
  }

  /**
   * Rate limits, then the hold. Sets `X-RateLimit-*` on the response; returns the refusal, or
   * undefined when the request may go on (settle it through `settle(record)`).
   */
  async admit(id: string, identity: Identity, plan: Plan, facts: RequestFacts, policy: CompiledPolicy, catalog: CompiledCatalog, response: ServerResponse): Promise<GatewayError | undefined> {
    const subject = identity.key ?? null;
    const stored = this.#options.storedKeyOf(identity);
    let rateLimits = this.#options.rateLimits;
    let rateLimited = this.#rateLimited;
    const ownRate = stored?.rate_limit;
    if (ownRate) {
      const own = this.#ownRateLimits(stored as ApiKeyRecord, ownRate);
      rateLimits = own.limits;
      rateLimited = own.limited;
    }
    const rateSubject = rateLimited ? subject : null;
    const now = this.#now();
    const scopes: ScopeLimit[] = [];
    const keyScope = stored ? this.#keyScope(stored, now) : null;
    if (stored && keyScope) {
      await this.#seed(stored, keyScope, now);
      scopes.push(keyScope);
    }
    for (const checked of plan.budgets) {
      const budget = policy.budgets.get(checked.id);
      if (budget) scopes.push(this.#budgetScope(budget, checked.scope_key, now));
    }
    const worst = scopes.length > 0 ? this.worstCase(plan, facts, catalog) : undefined;

    // Rate check and hold in one step (one Redis round trip) when both apply.
    let held: ReserveResult | undefined;
    if (rateSubject !== null) {
      const admitted = worst
        ? await this.state.admit(rateSubject, rateLimits, scopes, worst.amount)
        : { rate: await this.state.checkRate(rateSubject, rateLimits) };
      const rate = admitted.rate;
      const headers = rateLimitHeaders(rate);
      for (const name in headers) response.setHeader(name, headers[name] as string);
      if (!rate.ok) {
        if (rate.reason === 'state_unavailable') return new GatewayError('accounting_unavailable', 'Rate limits cannot be checked right now (accounting state unreachable).');
        const window = rate.limited === 'requests' ? rate.requests : rate.tokens;
        return new GatewayError(
          'key_rate_limited',
          `Rate limit of ${window?.limit ?? 0} ${rate.limited} per minute reached for this key; retry in ${rate.retryAfterSeconds} s.`,
          { limited: rate.limited },
          rate.retryAfterSeconds,
        );
      }
      if (rateLimits.tokensPerMinute !== undefined) this.#subjects.set(id, rateSubject);
      held = admitted.hold;
    }
    if (!worst) return undefined;

    held ??= await this.state.reserve(scopes, worst.amount);
    if (!held.ok) {
      this.#subjects.delete(id);
      if (held.reason === 'state_unavailable') return new GatewayError('accounting_unavailable', 'Budgets cannot be checked right now (accounting state unreachable).');
      const affordable = affordableCompletionTokens(worst.attempt.pricing, { promptTokens: facts.prompt_tokens }, held.exceeded.remaining);
      const message = insufficientCreditsMessage(worst.completionTokens, affordable ?? worst.completionTokens);
      return new GatewayError('insufficient_credits', message, {
        scope: held.exceeded.scopeKey,
        limit: held.exceeded.limit,
        spent: held.exceeded.spent,
        reserved: held.exceeded.reserved,
        remaining: held.exceeded.remaining,
        worst_case: worst.amount,
        affordable_max_tokens: affordable,
      });
    }
    this.#holds.set(id, { reservation: held.reservation, subject });
    return undefined;
  }

  /** The hold for a plan: the dearest attempt's worst case (exact decimal), and which attempt. */
  worstCase(plan: Plan, facts: RequestFacts, catalog: CompiledCatalog): { amount: string; attempt: PlanAttempt; completionTokens: number } {
    let best: PlanAttempt | undefined;
    let bestUnits = 0n;
    let bestTokens = 0;
    for (const attempt of plan.attempts) {
      const completionTokens = this.#maxCompletionTokens(attempt, facts, catalog, plan);
      const units = worstCaseUnits(attempt.pricing, { promptTokens: facts.prompt_tokens, maxCompletionTokens: completionTokens });
      if (best === undefined || units > bestUnits) {
        best = attempt;
        bestUnits = units;
        bestTokens = completionTokens;
      }
    }
    if (!best) throw new Error('a plan without attempts cannot be admitted');
    return { amount: formatUnits(bestUnits), attempt: best, completionTokens: bestTokens };
  }

  /** Settles the request's hold with the record's cost; counts its tokens. Never throws. */
  settle(record: GenerationRecord): void {
    const hold = this.#holds.get(record.id);
    const subject = this.#subjects.get(record.id);
    this.#holds.delete(record.id);
    this.#subjects.delete(record.id);
    let tokens: TokenCount | undefined;
    // Only requests admitted under a token limit (the key's own or the default) have a subject here.
    if (subject !== undefined) {
      const count = (record.usage.prompt_tokens ?? 0) + (record.usage.completion_tokens ?? 0);
      // Counted with the settlement (one Redis round trip) unless there is none, or the count is
      // not a whole number: then alone, so its refusal cannot cost the settlement.
      if (hold && Number.isSafeInteger(count) && count > 0) tokens = { subject, tokens: count };
      else if (count > 0) this.state.recordTokens(subject, count).catch((error: unknown) => this.#options.logger.warn({ err: error }, 'could not count tokens'));
    }
    if (!hold) return;
    const settling = this.#settle(hold.reservation, record, tokens);
    this.#settling.add(settling);
    void settling.then(() => this.#settling.delete(settling));
  }

  /** One settlement; never rejects. */
  async #settle(reservation: Reservation, record: GenerationRecord, tokens: TokenCount | undefined): Promise<void> {
    try {
      const settled = await this.state.settle(reservation, record.total_cost, tokens);
      if (!settled.recorded) this.#options.logger.error({ id: record.id, cost: record.total_cost }, 'spend not counted: accounting state unreachable');
      if (settled.alerts.length > 0) this.#options.alerts.notify(settled.alerts);
    } catch (error) {
      this.#options.logger.error({ err: error, id: record.id }, 'could not settle the request');
    }
  }

  /** A stored key's limits: its own kinds, the config default's for the others; built once per record. */
  #ownRateLimits(key: ApiKeyRecord, own: KeyRateLimit): { limits: RateLimits; limited: boolean } {
    const entry = this.#keyRateLimits.get(key);
    if (entry !== undefined && entry.own === own) return entry;
    const defaults = this.#options.rateLimits;
    const requests = own.requests_per_minute === undefined ? defaults.requestsPerMinute : (own.requests_per_minute ?? undefined);
    const tokens = own.tokens_per_minute === undefined ? defaults.tokensPerMinute : (own.tokens_per_minute ?? undefined);
    const limits: RateLimits = { ...(requests !== undefined ? { requestsPerMinute: requests } : {}), ...(tokens !== undefined ? { tokensPerMinute: tokens } : {}) };
    const built = { own, limits, limited: requests !== undefined || tokens !== undefined };
    this.#keyRateLimits.set(key, built);
    return built;
  }

  /** `keyLimitScope`, built once per key record and period. */
  #keyScope(key: ApiKeyRecord, now: number): ScopeLimit | null {
    if (key.limit === null) return null;
    const entry = this.#keyScopes.get(key);
    // The record's limit fields are compared too, in case a store updates a record in place.
    if (current(entry, now) && entry.hash === key.hash && entry.limit === key.limit && entry.reset === key.limit_reset) return entry.scope;
    const scope = keyLimitScope(key, new Date(now), this.#options.alertThresholds);
    if (scope !== null) this.#keyScopes.set(key, { scope, builtAt: now, hash: key.hash, limit: key.limit, reset: key.limit_reset });
    return scope;
  }

  /** `budgetScopeLimit`, built once per budget, scope key and period. */
  #budgetScope(budget: Budget, scopeKey: string, now: number): ScopeLimit {
    let scopes = this.#budgetScopes.get(budget);
    if (scopes === undefined) {
      scopes = new Map();
      this.#budgetScopes.set(budget, scopes);
    }
    const entry = scopes.get(scopeKey);
    // The budget's fields are compared too, in case a policy object is changed in place.
    if (current(entry, now) && entry.limit === budget.limit && entry.period === budget.period && entry.alerts === budget.alerts) return entry.scope;
    const scope = budgetScopeLimit(budget, scopeKey, new Date(now));
    if (scopes.size >= BUDGET_SCOPES_KEPT) scopes.clear();
    scopes.set(scopeKey, { scope, builtAt: now, limit: budget.limit, period: budget.period, alerts: budget.alerts });
    return scope;
  }

  /** Resolves when every settlement started so far has finished (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.#settling.size > 0) await Promise.all([...this.#settling]);
  }

  /** Holds not yet settled (tests, drain). */
  get openHolds(): number {
    return this.#holds.size;
  }

  async #spendOf(scopeKeys: string[], now: number): Promise<Record<string, number>> {
    if (this.#spendCacheMs <= 0) return this.state.snapshotSpend(scopeKeys);
    const cacheKey = scopeKeys.join('\n');
    const cached = this.#spendCache.get(cacheKey);
    if (cached && now - cached.at < this.#spendCacheMs) return cached.spend;
    const spend = await this.state.snapshotSpend(scopeKeys);
    // Bounded: scope keys change with callers and periods.
    if (this.#spendCache.size >= 10_000) this.#spendCache.clear();
    this.#spendCache.set(cacheKey, { at: now, spend });
    return spend;
  }

  async #seed(key: ApiKeyRecord, scope: ScopeLimit, now: number): Promise<void> {
    if (this.#seeded.has(scope.scopeKey)) return;
    try {
      const usage = await keyUsage(this.#options.generations, key.hash, new Date(now));
      await this.state.seedSpend(scope, usageAgainstLimit(key, usage));
      this.#seeded.add(scope.scopeKey);
    } catch (error) {
      // Tried again on the key's next request; the reservation itself follows `fail`.
      this.#options.logger.warn({ err: error, scope: scope.scopeKey }, 'could not start the key-limit counter from the generation log');
    }
  }

  #maxCompletionTokens(attempt: PlanAttempt, facts: RequestFacts, catalog: CompiledCatalog, plan: Plan): number {
    if (facts.max_tokens !== null) return facts.max_tokens;
    let endpoints = this.#endpoints.get(catalog);
    if (!endpoints) {
      endpoints = new Map(catalog.endpoints.map((endpoint) => [endpoint.id, endpoint]));
      this.#endpoints.set(catalog, endpoints);
    }
    const endpoint = endpoints.get(attempt.endpoint);
    // Same bound as the engine's estimate: what the endpoint can still produce after the prompt.
    if (!endpoint) return plan.estimate.max_completion_tokens;
    return Math.max(0, Math.min(endpoint.max_completion_tokens, endpoint.context_length - facts.prompt_tokens));
  }
}
