/**
 * What a database does for the generation log. `BatchingGenerationStore` puts the buffering,
 * journal and read-your-writes on top; backends (SQLite, Postgres, memory) only store and query.
 */
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

export interface GenerationBackend {
  readonly kind: 'sqlite' | 'postgres' | 'memory';
  /** Inserts or replaces (same id) every record, in one transaction. */
  write(records: readonly GenerationRecord[]): Promise<void>;
  get(id: string): Promise<GenerationRecord | null>;
  /** Most recent first. */
  list(options: { limit: number; since?: string }): Promise<GenerationRecord[]>;
  /** Oldest first within the range, after `cursor`, at most `limit`. */
  page(range: TimeRange, cursor: PageCursor | null, limit: number): Promise<GenerationRecord[]>;
  /** Exact sum of `total_cost` of one key's records in the range, canonical decimal string. */
  sumCost(key: string, range: TimeRange): Promise<string>;
  close(): Promise<void>;
}

/** `created_at` as stored and compared: UTC ISO 8601 with milliseconds, so text order is time order. */
export function canonicalTime(iso: string): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) throw new RangeError(`not an ISO 8601 time: ${JSON.stringify(iso)}`);
  return new Date(time).toISOString();
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
