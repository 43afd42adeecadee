/**
 * The arithmetic both state backends share, in units of 10^-18 USD, so that memory and Redis
 * decide identically.
 */
import { DECIMAL_SCALE, decimalToNumber, formatUnits, numberToUnits, parseUnits } from '../accounting/decimal.ts';
import type { AlertEvent, ScopeHeadroom, ScopeLimit, SettleResult } from './accounting-state.ts';

const ONE = 10n ** BigInt(DECIMAL_SCALE);

/** A non-negative amount in units; money given as a number takes its shortest decimal form. */
export function amountUnits(value: string | number): bigint {
  const units = typeof value === 'number' ? numberToUnits(value) : parseUnits(value);
  if (units < 0n) throw new RangeError(`amount must not be negative: ${value}`);
  return units;
}

/** Spend at which an alert fires: limit x fraction, rounded up so it never fires early. */
export function thresholdUnits(limit: bigint, fraction: number): bigint {
  const product = limit * numberToUnits(fraction);
  return (product + ONE - 1n) / ONE;
}

/**
 * Whether a request of `amount` fits. An exhausted scope (spend at or over the limit) refuses
 * everything, free requests included, as OpenRouter does for a spent key.
 */
export function fits(limit: bigint, spent: bigint, reserved: bigint, amount: bigint): boolean {
  return spent < limit && spent + reserved + amount <= limit;
}

export function headroomOf(scopeKey: string, limit: bigint, spent: bigint, reserved: bigint): ScopeHeadroom {
  const remaining = limit - spent - reserved;
  return {
    scopeKey,
    limit: formatUnits(limit),
    spent: formatUnits(spent),
    reserved: formatUnits(reserved),
    remaining: formatUnits(remaining > 0n ? remaining : 0n),
  };
}

/** Alert thresholds, sorted, each with its firing amount. */
export function thresholdsOf(scope: ScopeLimit): Array<{ fraction: number; units: bigint }> {
  const limit = parseUnits(scope.limit);
  return [...(scope.alerts ?? [])].sort((left, right) => left - right).map((fraction) => ({ fraction, units: thresholdUnits(limit, fraction) }));
}

/** USD number for the engine snapshot (spent + reserved). */
export function snapshotNumber(spent: bigint, reserved: bigint): number {
  return decimalToNumber(formatUnits(spent + reserved));
}

/** A scope's limit and alert thresholds in units. */
export interface ScopeTerms {
  limit: bigint;
  thresholds: Array<{ fraction: number; units: bigint }>;
}

export function termsOf(scope: ScopeLimit): ScopeTerms {
  return { limit: parseUnits(scope.limit), thresholds: thresholdsOf(scope) };
}

/** Entries kept before a cache starts over: scope keys change with callers and periods. */
const SCOPE_CACHE_SIZE = 10_000;

/**
 * What a state derives from a scope's limit and alerts (units, script arguments), kept per scope
 * key so that the request path does not parse and sort them again for every request. An entry is
 * used only while the scope still has the same limit and alerts; otherwise it is rebuilt.
 */
export class ScopeCache<T> {
  readonly #build: (scope: ScopeLimit) => T;
  readonly #entries = new Map<string, { limit: string; alerts: readonly number[]; value: T }>();

  constructor(build: (scope: ScopeLimit) => T) {
    this.#build = build;
  }

  get(scope: ScopeLimit): T {
    const entry = this.#entries.get(scope.scopeKey);
    if (entry !== undefined && entry.limit === scope.limit && sameFractions(entry.alerts, scope.alerts ?? NO_ALERTS)) return entry.value;
    if (this.#entries.size >= SCOPE_CACHE_SIZE) this.#entries.clear();
    const value = this.#build(scope);
    this.#entries.set(scope.scopeKey, { limit: scope.limit, alerts: [...(scope.alerts ?? NO_ALERTS)], value });
    return value;
  }
}

const NO_ALERTS: readonly number[] = [];

function sameFractions(left: readonly number[], right: readonly number[]): boolean {
  if (left.length !== right.length) return false;
  for (let index = 0; index < left.length; index += 1) if (left[index] !== right[index]) return false;
  return true;
}

/**
 * A settlement's result, its `spent` (each scope's total as a decimal string) rendered when first
 * read: the request path reads only `alerts`, and one BigInt rendering per scope per request adds up (both states answer this way).
 */
export function settledWith(scopes: readonly ScopeLimit[], totals: readonly bigint[], alerts: AlertEvent[]): SettleResult {
  let spent: Record<string, string> | undefined;
  return {
    recorded: true,
    get spent(): Record<string, string> {
      if (spent === undefined) {
        spent = {};
        for (let index = 0; index < scopes.length; index++) spent[(scopes[index] as ScopeLimit).scopeKey] = formatUnits(totals[index] ?? 0n);
      }
      return spent;
    },
    alerts,
  };
}
