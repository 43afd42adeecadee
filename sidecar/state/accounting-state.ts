/**
 * Budgets, key credit limits and rate limits behind one interface, so one replica (memory) and
 * many (Redis) behave the same.
 *
 * Budgets work by reservation: before a call, `reserve` holds the request's worst-case cost
 * (prompt estimate + max tokens at the endpoint's prices) against every scope it counts under,
 * and refuses when any scope cannot fit it. After the call, `settle` releases the hold and adds
 * the real cost. As long as the real cost never exceeds the worst case, committed spend never
 * exceeds a limit; concurrent requests see each other's holds. A hold that is never settled
 * (crashed replica) expires after `holdTtlMs` and stops counting.
 *
 * Money is exact: amounts are decimal strings in and out, BigInt units of 10^-18 USD inside
 * (see accounting/decimal.ts), and integer pairs in Redis.
 */

/** One scope a request counts against: a policy budget in one period, or a key's credit limit. */
export interface ScopeLimit {
  /**
   * The counter's name. Policy budgets use the engine's `budgetScopeKey`
   * (`<budget id>|<scope>=<value>|<period>`); key credit limits use `keyLimitScope`.
   */
  scopeKey: string;
  /** USD, exact decimal string. */
  limit: string;
  /** Alert thresholds as fractions of the limit, e.g. [0.5, 0.8, 1]; each fires once per scope key. */
  alerts?: readonly number[];
  /** Epoch ms when the period ends; the counter is kept one day past it, then dropped. Absent: kept. */
  periodEndsAt?: number;
}

/** Headroom of one scope, USD exact decimal strings. */
export interface ScopeHeadroom {
  scopeKey: string;
  limit: string;
  /** Committed (settled) spend. */
  spent: string;
  /** Held by requests in flight. */
  reserved: string;
  /** limit - spent - reserved, never below 0. */
  remaining: string;
}

/**
 * A hold taken by `reserve`; hand this object back to `settle`. Its fields are plain data, but
 * the Redis state also keeps, out of sight, where the hold is: a copy (serialized, spread)
 * settles the spend but releases nothing, and its hold expires after `holdTtlMs`.
 */
export interface Reservation {
  id: string;
  /** Worst case held, USD exact decimal string. */
  amount: string;
  scopes: ScopeLimit[];
  /** False when the state store was unreachable and `fail: open` let the request through unheld. */
  enforced: boolean;
}

export type ReserveResult =
  | { ok: true; reservation: Reservation }
  /** The first scope (in the order given) that cannot fit the request. */
  | { ok: false; reason: 'limit_exceeded'; exceeded: ScopeHeadroom }
  /** The state store was unreachable and `fail: closed` refuses rather than risk overspending. */
  | { ok: false; reason: 'state_unavailable'; message: string };

/** A budget alert threshold crossed. Fired once per threshold and scope key (so once per period). */
export interface AlertEvent {
  scopeKey: string;
  /** The fraction configured, e.g. 0.8. */
  threshold: number;
  /** Spend after the settlement that crossed it, USD exact decimal string. */
  spent: string;
  limit: string;
}

export interface SettleResult {
  /** False when the state store was unreachable (the spend was not counted; see `onError`). */
  recorded: boolean;
  /** Committed spend per scope key after this settlement. */
  spent: Record<string, string>;
  alerts: AlertEvent[];
}

/** Limits per minute for one subject (a key hash). Absent = unlimited. */
export interface RateLimits {
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

/** One fixed one-minute window, for `X-RateLimit-Limit/Remaining/Reset`. */
export interface RateWindow {
  limit: number;
  /** After this request (requests) or as of now (tokens); never below 0. */
  remaining: number;
  /** Epoch ms when the window ends and counts start over. */
  resetAt: number;
}

export type RateResult =
  | { ok: true; requests?: RateWindow; tokens?: RateWindow }
  | { ok: false; reason: 'rate_limited'; limited: 'requests' | 'tokens'; retryAfterSeconds: number; requests?: RateWindow; tokens?: RateWindow }
  | { ok: false; reason: 'state_unavailable'; message: string };

/** Tokens a finished request used, counted against its subject's current token window. */
export interface TokenCount {
  subject: string;
  tokens: number;
}

/**
 * The rate check, and the hold when the rate allowed the request (absent when it did not). The
 * request counts against the rate window even when the hold is then refused, as with separate
 * `checkRate` and `reserve` calls.
 */
export interface AdmitResult {
  rate: RateResult;
  hold?: ReserveResult;
}

/**
 * When the state store (Redis) cannot be reached:
 * - `closed` (default): `reserve` and `checkRate` refuse (`state_unavailable`; answer 503), so no
 *   limit can be overspent;
 * - `open`: they allow the request unenforced (`enforced: false`), so an outage of Redis is not an
 *   outage of the gateway; spend during the outage is not counted in Redis (the generation log
 *   still has it).
 */
export type FailMode = 'closed' | 'open';

export interface AccountingState {
  readonly kind: 'memory' | 'redis';
  /** Holds `worstCaseUsd` against every scope, or says which one cannot fit it. */
  reserve(scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<ReserveResult>;
  /**
   * Releases the hold and adds the real cost (use "0" for a request that cost nothing); with
   * `tokens`, also does what `recordTokens` does, in the same step (one Redis round trip).
   */
  settle(reservation: Reservation, actualUsd: string, tokens?: TokenCount): Promise<SettleResult>;
  /**
   * Sets a scope's committed spend to `spentUsd` when the scope has no counter yet (a fresh
   * process, a new period, a Redis that lost its data), and does nothing otherwise. Used to start
   * key-limit counters from the generation log. True when it seeded.
   */
  seedSpend(scope: ScopeLimit, spentUsd: string): Promise<boolean>;
  /** Headroom per scope (absent scopes: nothing spent). For `/key`, `switchyard plan` and the snapshot. */
  headroom(scopes: readonly ScopeLimit[]): Promise<ScopeHeadroom[]>;
  /** Committed spend plus holds, USD numbers, keyed by scope key: the engine's `Snapshot.spend`. */
  snapshotSpend(scopeKeys: readonly string[]): Promise<Record<string, number>>;
  /** Counts one request against the subject's per-minute windows, or refuses it. */
  checkRate(subject: string, limits: RateLimits): Promise<RateResult>;
  /**
   * `checkRate`, then (when the rate allows it) `reserve`, as one atomic step: one Redis round
   * trip instead of two on the request path. Failures follow `FailMode` as the two calls would.
   */
  admit(subject: string, limits: RateLimits, scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<AdmitResult>;
  /** Adds the tokens a finished request used to the subject's current token window. */
  recordTokens(subject: string, tokens: number): Promise<void>;
  close(): Promise<void>;
}

/** One minute: the rate-limit window. */
export const RATE_WINDOW_MS = 60_000;
/** Default lifetime of an unsettled hold: longer than any request's total deadline. */
export const DEFAULT_HOLD_TTL_MS = 10 * 60_000;
/** Counters of a finished period are kept this long after it, for late settlements and reports. */
export const PERIOD_GRACE_MS = 24 * 60 * 60_000;

/** Start and end of the rate window containing `now`. */
export function rateWindow(now: number): { start: number; end: number } {
  const start = Math.floor(now / RATE_WINDOW_MS) * RATE_WINDOW_MS;
  return { start, end: start + RATE_WINDOW_MS };
}
