/**
 * Exact USD amounts. Money never passes through a float: amounts are BigInt counts of
 * 10^-18 USD ("units"), and leave as canonical decimal strings ("0.000123", "-2", "0").
 *
 * Why 18 digits: catalog prices are USD per token with up to ~12 significant decimals
 * ("0.0000000375"); a product of such a price and an integer token count is exact at 18 digits,
 * and BigInt has no upper bound, so sums of any number of costs stay exact.
 */

/** Decimal places kept. A price with more non-zero decimals is rejected, not rounded. */
export const DECIMAL_SCALE = 18;

const SCALE_FACTOR = 10n ** BigInt(DECIMAL_SCALE);
const DECIMAL_PATTERN = /^([+-])?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/;

/** `ZEROS.slice(0, n)`: up to 18 zeros without building them. */
const ZEROS = '0'.repeat(DECIMAL_SCALE);
/** `POWERS[n]` = 10^n, n = 0..18. */
const POWERS: readonly bigint[] = Array.from({ length: DECIMAL_SCALE + 1 }, (_, n) => 10n ** BigInt(n));
/** Digits a float holds exactly when accumulated one by one (10^15 < 2^53). */
const EXACT_DIGITS = 15;

/**
 * Parses a decimal string ("0.000003", "3e-6", "-1", "12.50") into units of 10^-18.
 * Throws RangeError for anything that is not a finite decimal, or that needs more than 18 decimals.
 */
export function parseUnits(text: string): bigint {
  return parsePlain(text) ?? parseGeneral(text);
}

/**
 * The common form, `[-]digits[.digits]` with at most 18 decimals, in one scan without a regular
 * expression or intermediate strings; undefined for anything else (parsed, or refused, by
 * `parseGeneral`, which accepts a superset of this form and gives the same value on it).
 */
function parsePlain(text: string): bigint | undefined {
  const length = text.length;
  let index = 0;
  const negative = length > 0 && text.charCodeAt(0) === 45; // '-'
  if (negative) index = 1;
  const integerStart = index;
  let integerValue = 0;
  for (; index < length; index++) {
    const digit = text.charCodeAt(index) - 48;
    if (digit < 0 || digit > 9) break;
    integerValue = integerValue * 10 + digit;
  }
  const integerLength = index - integerStart;
  let fractionStart = index;
  let fractionValue = 0;
  if (index < length) {
    if (text.charCodeAt(index) !== 46) return undefined; // '.'
    fractionStart = ++index;
    for (; index < length; index++) {
      const digit = text.charCodeAt(index) - 48;
      if (digit < 0 || digit > 9) return undefined;
      fractionValue = fractionValue * 10 + digit;
    }
  }
  const fractionLength = index - fractionStart;
  if (integerLength + fractionLength === 0 || fractionLength > DECIMAL_SCALE) return undefined;
  let magnitude: bigint;
  if (integerLength <= EXACT_DIGITS && fractionLength <= EXACT_DIGITS) {
    magnitude = fractionValue === 0 ? 0n : BigInt(fractionValue) * (POWERS[DECIMAL_SCALE - fractionLength] as bigint);
    if (integerValue !== 0) magnitude += BigInt(integerValue) * SCALE_FACTOR;
  } else {
    const integerDigits = text.slice(integerStart, integerStart + integerLength);
    magnitude = BigInt(integerDigits + text.slice(fractionStart) + ZEROS.slice(fractionLength));
  }
  return negative ? -magnitude : magnitude;
}

function parseGeneral(text: string): bigint {
  const match = DECIMAL_PATTERN.exec(text.trim());
  const integerDigits = match?.[2] ?? '';
  const fractionDigits = match?.[3] ?? '';
  if (!match || (integerDigits === '' && fractionDigits === '')) {
    throw new RangeError(`not a decimal amount: ${JSON.stringify(text)}`);
  }
  const exponent = Number(match[4] ?? '0');
  if (!Number.isSafeInteger(exponent) || Math.abs(exponent) > 1000) {
    throw new RangeError(`decimal exponent out of range: ${JSON.stringify(text)}`);
  }
  // Shift the decimal point by the exponent on the digit string itself, never on a number.
  const digits = integerDigits + fractionDigits;
  const pointPosition = integerDigits.length + exponent;
  let whole: string;
  let fraction: string;
  if (pointPosition <= 0) {
    whole = '0';
    fraction = '0'.repeat(-pointPosition) + digits;
  } else if (pointPosition >= digits.length) {
    whole = digits + '0'.repeat(pointPosition - digits.length);
    fraction = '';
  } else {
    whole = digits.slice(0, pointPosition);
    fraction = digits.slice(pointPosition);
  }
  const kept = fraction.slice(0, DECIMAL_SCALE);
  if (/[1-9]/.test(fraction.slice(DECIMAL_SCALE))) {
    throw new RangeError(`decimal amount has more than ${DECIMAL_SCALE} decimal places: ${JSON.stringify(text)}`);
  }
  const magnitude = BigInt(whole || '0') * SCALE_FACTOR + BigInt(kept.padEnd(DECIMAL_SCALE, '0'));
  return match[1] === '-' ? -magnitude : magnitude;
}

/** Renders units as the canonical decimal string: no exponent, no trailing zeros, "0" for zero. */
export function formatUnits(units: bigint): string {
  if (units === 0n) return '0';
  const negative = units < 0n;
  // One conversion to digits (no leading zeros), then the point placed by slicing.
  const digits = (negative ? -units : units).toString();
  const pointAt = digits.length - DECIMAL_SCALE;
  let end = digits.length;
  while (end > pointAt && digits.charCodeAt(end - 1) === 48) end--;
  let body: string;
  if (pointAt <= 0) body = `0.${ZEROS.slice(0, -pointAt)}${digits.slice(0, end)}`;
  else if (end === pointAt) body = digits.slice(0, pointAt);
  else body = `${digits.slice(0, pointAt)}.${digits.slice(pointAt, end)}`;
  return negative ? `-${body}` : body;
}

/** Canonical form of a decimal string ("0.50" -> "0.5", "3e-6" -> "0.000003"). */
export function normalizeDecimal(text: string): string {
  return formatUnits(parseUnits(text));
}

/** Exact sum of decimal strings, canonical. `addDecimals()` is "0". */
export function addDecimals(...values: string[]): string {
  let total = 0n;
  for (const value of values) total += parseUnits(value);
  return formatUnits(total);
}

/** Exact `minuend - subtrahend`, canonical. */
export function subtractDecimals(minuend: string, subtrahend: string): string {
  return formatUnits(parseUnits(minuend) - parseUnits(subtrahend));
}

/** -1, 0 or 1 as `left` is less than, equal to or greater than `right`. */
export function compareDecimals(left: string, right: string): -1 | 0 | 1 {
  const difference = parseUnits(left) - parseUnits(right);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

/** Exact `price * count` where count is a whole number (tokens, images, requests). */
export function multiplyUnits(price: bigint, count: number): bigint {
  if (!Number.isSafeInteger(count)) throw new RangeError(`count must be a whole number, got ${count}`);
  return count === 0 || price === 0n ? 0n : price * BigInt(count);
}

/**
 * Nearest float, for places that take numbers (the engine snapshot, OpenRouter's wire `cost`).
 * Never feed the result back into a ledger.
 */
export function decimalToNumber(text: string): number {
  return Number(normalizeDecimal(text));
}

/** Converts a float USD amount (a policy budget limit) to units; the float's shortest decimal form is taken as meant. */
export function numberToUnits(value: number): bigint {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite amount: ${value}`);
  return parseUnits(String(value));
}
