/**
 * What a database does for the generation log. `BatchingGenerationStore` puts the buffering,
 * journal and read-your-writes on top; backends (SQLite, Postgres, memory) only store and query.
 */
import { normalizeDecimal } from '../accounting/decimal.ts';
import type { GenerationRecord } from './generation-record.ts';

/** A time window over `created_at`: `since` inclusive, `until` exclusive, ISO 8601. */
export interface TimeRange {
  since?: string;
  until?: string;
}

/** Where a page of the oldest-first scan resumes: after this (created_at, id). */
export interface PageCursor {
  created_at: string;
  id: string;
}

/**
 * What start-up needs of a record to count its spend again (memory state, see
 * `state/seed-spend.ts`): when, who it counted against, and what it cost.
 */
export interface SpendRow {
  /** Canonical (`canonicalTime`). */
  created_at: string;
  key: string | null;
  user: string | null;
  team: string | null;
  /** Empty unless asked for (`tags: true`): reading them means reading the record's JSON. */
  tags: string[];
  /** Canonical decimal, never "0". */
  total_cost: string;
  /** The record's `budgets` (scope keys it was settled against), when it has them. */
  budgets?: string[];
}

export interface GenerationBackend {
  readonly kind: 'sqlite' | 'postgres' | 'memory';
  /**
   * Inserts or replaces (same id) every record, in one transaction. `json[i]`, when given, is
   * `JSON.stringify(records[i])` already made (the journal line), to store instead of serialising again.
   */
  write(records: readonly GenerationRecord[], json?: readonly (string | undefined)[]): Promise<void>;
  get(id: string): Promise<GenerationRecord | null>;
  /** Most recent first. */
  list(options: { limit: number; since?: string }): Promise<GenerationRecord[]>;
  /** Oldest first within the range, after `cursor`, at most `limit`. */
  page(range: TimeRange, cursor: PageCursor | null, limit: number): Promise<GenerationRecord[]>;
  /** Exact sum of `total_cost` of one key's records in the range, canonical decimal string. */
  sumCost(key: string, range: TimeRange): Promise<string>;
  /**
   * The spend of every record created at or after `since` whose `total_cost` is not zero, in
   * pages (oldest first) of at most `pageSize` rows, so a large log is never loaded at once.
   */
  spendSince(since: string, options?: SpendOptions): AsyncIterable<SpendRow[]>;
  close(): Promise<void>;
}

export interface SpendOptions {
  /** Read each record's tags too (needed by tag budgets only). Default false. */
  tags?: boolean;
  /** Default `SPEND_PAGE`. */
  pageSize?: number;
}

/**
 * The column values of one `generations` row, in table order (id, created_at, key_hash, user_id,
 * team_id, model, status, total_cost, record): what both SQL backends insert. `json` is the
 * record's JSON when the journal already made it.
 */
export function generationRow(record: GenerationRecord, json: string | undefined): unknown[] {
  return [record.id, canonicalTime(record.created_at), record.key, record.user, record.team, record.model, record.status, canonicalDecimal(record.total_cost), json ?? JSON.stringify(record)];
}

/** Rows per page of `spendSince`. */
export const SPEND_PAGE = 10_000;

/** `created_at` as stored and compared: UTC ISO 8601 with milliseconds, so text order is time order. */
export function canonicalTime(iso: string): string {
  // What the gateway writes is canonical already: checked by hand, as parsing and formatting cost ~1 us.
  if (isCanonicalTime(iso)) return iso;
  const time = Date.parse(iso);
  if (Number.isNaN(time)) throw new RangeError(`not an ISO 8601 time: ${JSON.stringify(iso)}`);
  return new Date(time).toISOString();
}

/** A canonical decimal as `formatUnits` renders it: no sign on zero, no leading or trailing zeros, at most 18 decimals. */
const CANONICAL_DECIMAL = /^-?(?:0|[1-9]\d*)(?:\.\d{0,17}[1-9])?$/;

/** `normalizeDecimal` (a stored `total_cost`), without the BigInt round trip when it is canonical already. */
export function canonicalDecimal(text: string): string {
  return CANONICAL_DECIMAL.test(text) && text !== '-0' ? text : normalizeDecimal(text);
}

const ZERO = 48;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `at` as a number, or -1. */
function twoDigits(text: string, at: number): number {
  const high = text.charCodeAt(at) - ZERO;
  const low = text.charCodeAt(at + 1) - ZERO;
  return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : -1;
}

/**
 * Whether `iso` is exactly what `new Date(Date.parse(iso)).toISOString()` returns:
 * `YYYY-MM-DDTHH:MM:SS.mmmZ` naming a real calendar time (no Feb 30, no 24:00).
 */
function isCanonicalTime(iso: string): boolean {
  if (iso.length !== 24 || iso.charCodeAt(4) !== 45 || iso.charCodeAt(7) !== 45 || iso.charCodeAt(10) !== 84) return false;
  if (iso.charCodeAt(13) !== 58 || iso.charCodeAt(16) !== 58 || iso.charCodeAt(19) !== 46 || iso.charCodeAt(23) !== 90) return false;
  const century = twoDigits(iso, 0);
  const yearOfCentury = twoDigits(iso, 2);
  const month = twoDigits(iso, 5);
  const day = twoDigits(iso, 8);
  const millisecondsHigh = twoDigits(iso, 20);
  const millisecondsLow = iso.charCodeAt(22) - ZERO;
  if (century < 0 || yearOfCentury < 0 || millisecondsHigh < 0 || millisecondsLow < 0 || millisecondsLow > 9) return false;
  const hour = twoDigits(iso, 11);
  const minute = twoDigits(iso, 14);
  const second = twoDigits(iso, 17);
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59 || month < 1 || month > 12 || day < 1) return false;
  const year = century * 100 + yearOfCentury;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number));
}

/** Whether a record falls in a range (same rule the SQL queries apply). */
export function inRange(record: GenerationRecord, range: TimeRange): boolean {
  const created = canonicalTime(record.created_at);
  if (range.since !== undefined && created < canonicalTime(range.since)) return false;
  if (range.until !== undefined && created >= canonicalTime(range.until)) return false;
  return true;
}

/** Oldest-first order used by `page`: created_at, then id. */
export function compareOldestFirst(left: PageCursor, right: PageCursor): number {
  const leftTime = canonicalTime(left.created_at);
  const rightTime = canonicalTime(right.created_at);
  if (leftTime !== rightTime) return leftTime < rightTime ? -1 : 1;
  return left.id < right.id ? -1 : left.id > right.id ? 1 : 0;
}
