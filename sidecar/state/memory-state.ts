/**
 * Budgets and rate limits in process memory: the single-replica default. Operations are atomic
 * because each runs to completion on the event loop without awaiting.
 */
import { formatUnits, parseUnits } from '../accounting/decimal.ts';
import {
  DEFAULT_HOLD_TTL_MS,
  PERIOD_GRACE_MS,
  rateWindow,
  type AccountingState,
  type AdmitResult,
  type AlertEvent,
  type RateLimits,
  type RateResult,
  type RateWindow,
  type Reservation,
  type ReserveResult,
  type ScopeHeadroom,
  type ScopeLimit,
  type SettleResult,
  type TokenCount,
} from './accounting-state.ts';
import { amountUnits, fits, headroomOf, ScopeCache, settledWith, snapshotNumber, termsOf, type ScopeTerms } from './scope-math.ts';

interface ScopeCounter {
  spent: bigint;
  /** Holds by reservation id. */
  holds: Map<string, { amount: bigint; expiresAt: number }>;
  /** Sum of `holds`' amounts, kept in step with it. */
  reserved: bigint;
  /** Alert fractions already fired. */
  fired: Set<number>;
  /** Drop the counter after this (epoch ms); Infinity = keep. */
  keepUntil: number;
}

interface RateCounter {
  windowStart: number;
  requests: number;
  tokens: number;
}

export interface MemoryStateOptions {
  /** Epoch ms; injectable for tests. */
  clock?: () => number;
  holdTtlMs?: number;
}

export class MemoryAccountingState implements AccountingState {
  readonly kind = 'memory';
  readonly #clock: () => number;
  readonly #holdTtlMs: number;
  readonly #scopes = new Map<string, ScopeCounter>();
  readonly #rates = new Map<string, RateCounter>();
  /** Limits and thresholds in units, parsed once per scope key and limit rather than per request. */
  readonly #terms = new ScopeCache<ScopeTerms>(termsOf);
  /** Reservation ids: unique within this state, which is all a hold's id has to be. */
  #sequence = 0;

  constructor(options: MemoryStateOptions = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#holdTtlMs = options.holdTtlMs ?? DEFAULT_HOLD_TTL_MS;
  }

  async reserve(scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<ReserveResult> {
    return this.#reserve(scopes, worstCaseUsd);
  }

  async admit(subject: string, limits: RateLimits, scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<AdmitResult> {
    // No await between the two: nothing else runs in between, as in one Redis script.
    const rate = this.#checkRate(subject, limits);
    return rate.ok ? { rate, hold: this.#reserve(scopes, worstCaseUsd) } : { rate };
  }

  #reserve(scopes: readonly ScopeLimit[], worstCaseUsd: string | number): ReserveResult {
    const amount = amountUnits(worstCaseUsd);
    const now = this.#clock();
    for (const scope of scopes) {
      const counter = this.#counter(scope, now);
      const limit = this.#terms.get(scope).limit;
      if (!fits(limit, counter.spent, counter.reserved, amount)) {
        return { ok: false, reason: 'limit_exceeded', exceeded: headroomOf(scope.scopeKey, limit, counter.spent, counter.reserved) };
      }
    }
    const id = (this.#sequence++).toString(36);
    for (const scope of scopes) {
      const counter = this.#counter(scope, now);
      counter.holds.set(id, { amount, expiresAt: now + this.#holdTtlMs });
      counter.reserved += amount;
    }
    return { ok: true, reservation: { id, amount: formatUnits(amount), scopes: [...scopes], enforced: true } };
  }

  async settle(reservation: Reservation, actualUsd: string, tokens?: TokenCount): Promise<SettleResult> {
    const actual = amountUnits(actualUsd);
    if (tokens) this.#recordTokens(tokens.subject, tokens.tokens);
    const now = this.#clock();
    const totals: bigint[] = [];
    const alerts: AlertEvent[] = [];
    for (const scope of reservation.scopes) {
      const counter = this.#counter(scope, now);
      this.#release(counter, reservation.id);
      counter.spent += actual;
      totals.push(counter.spent);
      for (const threshold of this.#terms.get(scope).thresholds) {
        if (counter.spent >= threshold.units && !counter.fired.has(threshold.fraction)) {
          counter.fired.add(threshold.fraction);
          alerts.push({ scopeKey: scope.scopeKey, threshold: threshold.fraction, spent: formatUnits(counter.spent), limit: scope.limit });
        }
      }
    }
    return settledWith(reservation.scopes, totals, alerts);
  }

  async seedSpend(scope: ScopeLimit, spentUsd: string): Promise<boolean> {
    const spent = amountUnits(spentUsd);
    const now = this.#clock();
    if (this.#existing(scope.scopeKey, now)) return false;
    const counter = this.#counter(scope, now);
    counter.spent = spent;
    // A threshold the seeded spend already reached fired when that spend was settled, before the
    // restart: it does not fire again this period.
    for (const threshold of this.#terms.get(scope).thresholds) if (spent >= threshold.units) counter.fired.add(threshold.fraction);
    return true;
  }

  async headroom(scopes: readonly ScopeLimit[]): Promise<ScopeHeadroom[]> {
    const now = this.#clock();
    return scopes.map((scope) => {
      const counter = this.#existing(scope.scopeKey, now);
      return headroomOf(scope.scopeKey, parseUnits(scope.limit), counter?.spent ?? 0n, counter?.reserved ?? 0n);
    });
  }

  async snapshotSpend(scopeKeys: readonly string[]): Promise<Record<string, number>> {
    const now = this.#clock();
    const spend: Record<string, number> = {};
    for (const scopeKey of scopeKeys) {
      const counter = this.#existing(scopeKey, now);
      spend[scopeKey] = counter ? snapshotNumber(counter.spent, counter.reserved) : 0;
    }
    return spend;
  }

  async checkRate(subject: string, limits: RateLimits): Promise<RateResult> {
    return this.#checkRate(subject, limits);
  }

  #checkRate(subject: string, limits: RateLimits): RateResult {
    const now = this.#clock();
    const window = rateWindow(now);
    const counter = this.#rate(subject, window.start);
    const requestsOver = limits.requestsPerMinute !== undefined && counter.requests + 1 > limits.requestsPerMinute;
    const tokensOver = limits.tokensPerMinute !== undefined && counter.tokens >= limits.tokensPerMinute;
    if (!requestsOver && !tokensOver) counter.requests += 1;
    if (requestsOver || tokensOver) {
      const windows = describeWindows(limits, counter.requests, counter.tokens, window.end);
      return { ok: false, reason: 'rate_limited', limited: requestsOver ? 'requests' : 'tokens', retryAfterSeconds: Math.max(1, Math.ceil((window.end - now) / 1000)), ...windows };
    }
    return allowedWithWindows(limits, counter.requests, counter.tokens, window.end);
  }

  async recordTokens(subject: string, tokens: number): Promise<void> {
    this.#recordTokens(subject, tokens);
  }

  #recordTokens(subject: string, tokens: number): void {
    if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`tokens must be a whole number, got ${tokens}`);
    this.#rate(subject, rateWindow(this.#clock()).start).tokens += tokens;
  }

  async close(): Promise<void> {}

  #counter(scope: ScopeLimit, now: number): ScopeCounter {
    let counter = this.#existing(scope.scopeKey, now);
    if (!counter) {
      counter = { spent: 0n, holds: new Map(), reserved: 0n, fired: new Set(), keepUntil: scope.periodEndsAt === undefined ? Infinity : scope.periodEndsAt + PERIOD_GRACE_MS };
      this.#scopes.set(scope.scopeKey, counter);
    }
    return counter;
  }

  /** The counter if it exists and its period is not long over; expired holds are dropped. */
  #existing(scopeKey: string, now: number): ScopeCounter | undefined {
    const counter = this.#scopes.get(scopeKey);
    if (!counter) return undefined;
    if (counter.keepUntil <= now) {
      this.#scopes.delete(scopeKey);
      return undefined;
    }
    // Holds are in insertion order with one TTL, so expired ones are at the front.
    for (const [id, hold] of counter.holds) {
      if (hold.expiresAt > now) break;
      this.#release(counter, id);
    }
    return counter;
  }

  #release(counter: ScopeCounter, id: string): void {
    const hold = counter.holds.get(id);
    if (!hold) return;
    counter.holds.delete(id);
    counter.reserved -= hold.amount;
  }

  #rate(subject: string, windowStart: number): RateCounter {
    let counter = this.#rates.get(subject);
    if (!counter || counter.windowStart !== windowStart) {
      counter = { windowStart, requests: 0, tokens: 0 };
      this.#rates.set(subject, counter);
    }
    return counter;
  }
}

/** The windows to report for the limits configured (shared with the Redis state). */
export function describeWindows(limits: RateLimits, requests: number, tokens: number, resetAt: number): { requests?: RateWindow; tokens?: RateWindow } {
  return withWindows({}, limits, requests, tokens, resetAt);
}

/**
 * `{ ok: true }` and the windows, set field by field: a result spread from the windows on every
 * request kept objects alive through scavenges on Node 20 (`npm run bench:gc-patterns`).
 */
export function allowedWithWindows(limits: RateLimits, requests: number, tokens: number, resetAt: number): RateResult {
  return withWindows<{ ok: true; requests?: RateWindow; tokens?: RateWindow }>({ ok: true }, limits, requests, tokens, resetAt);
}

function withWindows<T extends { requests?: RateWindow; tokens?: RateWindow }>(target: T, limits: RateLimits, requests: number, tokens: number, resetAt: number): T {
  if (limits.requestsPerMinute !== undefined) target.requests = { limit: limits.requestsPerMinute, remaining: Math.max(0, limits.requestsPerMinute - requests), resetAt };
  if (limits.tokensPerMinute !== undefined) target.tokens = { limit: limits.tokensPerMinute, remaining: Math.max(0, limits.tokensPerMinute - tokens), resetAt };
  return target;
}
