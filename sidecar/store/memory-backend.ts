/**
 * In-process backends: generation log and keys with no database, for tests and `--no-store` runs.
 * Same semantics as SQLite/Postgres (the shared store tests run against them too).
 */
import { addDecimals } from '../accounting/decimal.ts';
import { canonicalDecimal, canonicalTime, compareOldestFirst, inRange, SPEND_PAGE, type GenerationBackend, type PageCursor, type SpendOptions, type SpendRow, type TimeRange } from './generation-backend.ts';
import type { GenerationRecord } from './generation-record.ts';
import {
  hashKey,
  hashesEqual,
  isUsable,
  looksLikeKey,
  newKeyRecord,
  patchKeyRecord,
  type ApiKeyRecord,
  type CreateKeyInput,
  type KeyStore,
  type UpdateKeyInput,
} from './keys.ts';

export class MemoryGenerationBackend implements GenerationBackend {
  readonly kind = 'memory';
  readonly #records = new Map<string, GenerationRecord>();

  async write(records: readonly GenerationRecord[]): Promise<void> {
    for (const record of records) {
      canonicalTime(record.created_at);
      this.#records.set(record.id, record);
    }
  }

  async get(id: string): Promise<GenerationRecord | null> {
    return this.#records.get(id) ?? null;
  }

  async list(options: { limit: number; since?: string }): Promise<GenerationRecord[]> {
    return this.#sorted()
      .filter((record) => inRange(record, { since: options.since }))
      .reverse()
      .slice(0, options.limit);
  }

  async page(range: TimeRange, cursor: PageCursor | null, limit: number): Promise<GenerationRecord[]> {
    return this.#sorted()
      .filter((record) => inRange(record, range) && (cursor === null || compareOldestFirst(record, cursor) > 0))
      .slice(0, limit);
  }

  async sumCost(key: string, range: TimeRange): Promise<string> {
    const costs = [...this.#records.values()].filter((record) => record.key === key && inRange(record, range)).map((record) => record.total_cost);
    return addDecimals(...costs);
  }

  async *spendSince(since: string, options: SpendOptions = {}): AsyncIterable<SpendRow[]> {
    const pageSize = options.pageSize ?? SPEND_PAGE;
    const rows: SpendRow[] = [];
    for (const record of this.#sorted()) {
      if (!inRange(record, { since })) continue;
      const cost = canonicalDecimal(record.total_cost);
      if (cost === '0') continue;
      rows.push({
        created_at: canonicalTime(record.created_at),
        key: record.key,
        user: record.user,
        team: record.team,
        tags: options.tags ? [...record.tags] : [],
        total_cost: cost,
        ...(record.budgets ? { budgets: [...record.budgets] } : {}),
      });
    }
    for (let start = 0; start < rows.length; start += pageSize) yield rows.slice(start, start + pageSize);
  }

  async close(): Promise<void> {}

  #sorted(): GenerationRecord[] {
    return [...this.#records.values()].sort(compareOldestFirst);
  }
}

export class MemoryKeyStore implements KeyStore {
  readonly #keys = new Map<string, ApiKeyRecord>();

  async create(input: CreateKeyInput, now: Date): Promise<{ key: string; record: ApiKeyRecord }> {
    const created = newKeyRecord(input, now);
    this.#keys.set(created.record.hash, created.record);
    return created;
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<ApiKeyRecord[]> {
    return [...this.#keys.values()].filter((record) => options.includeRevoked || record.revoked_at === null);
  }

  async get(hash: string): Promise<ApiKeyRecord | null> {
    return this.#keys.get(hash) ?? null;
  }

  async update(hash: string, patch: UpdateKeyInput, now: Date): Promise<ApiKeyRecord | null> {
    const current = this.#keys.get(hash);
    if (!current || current.revoked_at !== null) return null;
    const next = patchKeyRecord(current, patch, now);
    this.#keys.set(hash, next);
    return next;
  }

  async revoke(hash: string, now: Date): Promise<boolean> {
    const current = this.#keys.get(hash);
    if (!current || current.revoked_at !== null) return false;
    this.#keys.set(hash, { ...current, revoked_at: now.toISOString(), updated_at: now.toISOString() });
    return true;
  }

  async authenticate(plaintext: string, now: Date): Promise<ApiKeyRecord | null> {
    if (!looksLikeKey(plaintext)) return null;
    const hash = hashKey(plaintext);
    const found = [...this.#keys.values()].find((record) => hashesEqual(record.hash, hash));
    return found && isUsable(found, now) ? found : null;
  }
}
