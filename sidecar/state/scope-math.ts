/**
 * The arithmetic both state backends share, in units of 10^-18 USD, so that memory and Redis
 * decide identically.
 */
import { DECIMAL_SCALE, decimalToNumber, formatUnits, numberToUnits, parseUnits } from '../accounting/decimal.ts';
import type { ScopeHeadroom, ScopeLimit } from './accounting-state.ts';

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
