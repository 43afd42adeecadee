/**
 * The embedded default: one SQLite file (better-sqlite3) in WAL mode for the generation log and
 * the keys. WAL with `synchronous = NORMAL` keeps every committed transaction across a process
 * crash (a power loss may drop the last ones); the journal covers what is not yet committed.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { addDecimals, normalizeDecimal } from '../accounting/decimal.ts';
import { isLimitReset } from '../accounting/periods.ts';
import { canonicalDecimal, canonicalTime, generationRow, SPEND_PAGE, type GenerationBackend, type PageCursor, type SpendOptions, type SpendRow, type TimeRange } from './generation-backend.ts';
import type { GenerationRecord } from './generation-record.ts';
import {
  hashKey,
  hashesEqual,
  isUsable,
  looksLikeKey,
  LOOKUP_LENGTH,
  newKeyRecord,
  patchKeyRecord,
  rateColumn,
  rateLimitFromColumns,
  type ApiKeyRecord,
  type CreateKeyInput,
  type KeyStore,
  type UpdateKeyInput,
} from './keys.ts';
import { readMigrations } from './migrations.ts';
import { INSERT_SQL, isThreadFailure, SqliteWriterThread } from './sqlite-writer.ts';

/** Where `npm start` keeps its data when nothing is configured. */
export const DEFAULT_SQLITE_PATH = '.data/switchyard.db';

export type SqliteDatabase = Database.Database;

/** Opens (creating if needed) the database file, in WAL mode, with every migration applied. */
export function openSqliteDatabase(path: string = DEFAULT_SQLITE_PATH): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const database = new Database(path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  // Several processes may share the file: wait for the writer lock instead of failing.
  database.pragma('busy_timeout = 5000');
  database.aggregate('decimal_sum', {
    start: '0',
    step: (total: string, value: string | null) => (value === null ? total : addDecimals(total, value)),
  });
  migrate(database);
  return database;
}

function migrate(database: SqliteDatabase): void {
  database.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
  // IMMEDIATE takes the write lock first, so two processes starting together apply each migration once.
  const apply = database.transaction(() => {
    const applied = new Set((database.prepare('SELECT version FROM schema_migrations').all() as Array<{ version: number }>).map((row) => row.version));
    for (const migration of readMigrations('sqlite')) {
      if (applied.has(migration.version)) continue;
      database.exec(migration.sql);
      database.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, new Date().toISOString());
    }
  });
  apply.immediate();
}

interface GenerationRow {
  record: string;
}

interface SpendSqlRow {
  id: string;
  created_at: string;
  key_hash: string | null;
  user_id: string | null;
  team_id: string | null;
  total_cost: string;
  tags?: string | null;
  budgets?: string | null;
}

/** A record's `tags` (JSON text of an array of strings); anything else counts as none. */
/** The strings of a JSON array column (tags, budgets); anything else: none. */
function stringsOf(json: string): string[] {
  if (json === '[]') return [];
  const values: unknown = JSON.parse(json);
  return Array.isArray(values) ? values.filter((value): value is string => typeof value === 'string') : [];
}

export class SqliteGenerationBackend implements GenerationBackend {
  readonly kind = 'sqlite';
  readonly #database: SqliteDatabase;
  readonly #ownsDatabase: boolean;
  readonly #insert: Database.Statement;
  readonly #insertAll: (records: readonly GenerationRecord[], json: readonly (string | undefined)[] | undefined) => void;
  readonly #get: Database.Statement;
  #writer: SqliteWriterThread | null;
  /** Told when the writer thread fails and inserts move back to this thread. */
  readonly #onThreadFailure: (error: unknown) => void;

  /**
   * `ownsDatabase`: close the database with the backend (false when the key store shares it).
   * `writerThread`: insert on a worker thread with its own connection (a file database only).
   */
  constructor(database: SqliteDatabase, ownsDatabase = true, options: { writerThread?: boolean; onError?: (error: unknown) => void } = {}) {
    this.#database = database;
    this.#ownsDatabase = ownsDatabase;
    this.#onThreadFailure = options.onError ?? (() => {});
    this.#writer = options.writerThread && !database.memory ? new SqliteWriterThread(database.name) : null;
    // Positional parameters: binding by name costs a property lookup per column.
    this.#insert = database.prepare(INSERT_SQL);
    this.#insertAll = database.transaction((records: readonly GenerationRecord[], json: readonly (string | undefined)[] | undefined) => {
      for (let index = 0; index < records.length; index += 1) {
        const record = records[index] as GenerationRecord;
        this.#insert.run(...generationRow(record, json?.[index]));
      }
    });
    this.#get = database.prepare('SELECT record FROM generations WHERE id = ?');
  }

  async write(records: readonly GenerationRecord[], json?: readonly (string | undefined)[]): Promise<void> {
    if (!this.#writer) {
      this.#insertAll(records, json);
      return;
    }
    const values: unknown[] = [];
    for (let index = 0; index < records.length; index += 1) values.push(...generationRow(records[index] as GenerationRecord, json?.[index]));
    try {
      await this.#writer.write(values);
    } catch (error) {
      if (!isThreadFailure(error) || !this.#writer) throw error;
      // The thread died or never started: insert here from now on (INSERT OR REPLACE, so a batch
      // it may have committed before dying is written again unchanged).
      this.#onThreadFailure(error);
      const writer = this.#writer;
      this.#writer = null;
      await writer.close();
      this.#insertAll(records, json);
    }
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const row = this.#get.get(id) as GenerationRow | undefined;
    return row ? (JSON.parse(row.record) as GenerationRecord) : null;
  }

  async list(options: { limit: number; since?: string }): Promise<GenerationRecord[]> {
    const rows = (
      options.since === undefined
        ? this.#database.prepare('SELECT record FROM generations ORDER BY created_at DESC, id DESC LIMIT ?').all(options.limit)
        : this.#database
            .prepare('SELECT record FROM generations WHERE created_at >= ? ORDER BY created_at DESC, id DESC LIMIT ?')
            .all(canonicalTime(options.since), options.limit)
    ) as GenerationRow[];
    return rows.map((row) => JSON.parse(row.record) as GenerationRecord);
  }

  async page(range: TimeRange, cursor: PageCursor | null, limit: number): Promise<GenerationRecord[]> {
    const conditions: string[] = [];
    const parameters: Array<string | number> = [];
    if (range.since !== undefined) {
      conditions.push('created_at >= ?');
      parameters.push(canonicalTime(range.since));
    }
    if (range.until !== undefined) {
      conditions.push('created_at < ?');
      parameters.push(canonicalTime(range.until));
    }
    if (cursor) {
      conditions.push('(created_at > ? OR (created_at = ? AND id > ?))');
      const after = canonicalTime(cursor.created_at);
      parameters.push(after, after, cursor.id);
    }
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const rows = this.#database
      .prepare(`SELECT record FROM generations ${where} ORDER BY created_at ASC, id ASC LIMIT ?`)
      .all(...parameters, limit) as GenerationRow[];
    return rows.map((row) => JSON.parse(row.record) as GenerationRecord);
  }

  async sumCost(key: string, range: TimeRange): Promise<string> {
    const row = this.#database
      .prepare('SELECT decimal_sum(total_cost) AS total FROM generations WHERE key_hash = ? AND created_at >= ? AND created_at < ?')
      .get(key, range.since === undefined ? '' : canonicalTime(range.since), range.until === undefined ? '\uffff' : canonicalTime(range.until)) as {
      total: string;
    };
    return normalizeDecimal(row.total);
  }

  async *spendSince(since: string, options: SpendOptions = {}): AsyncIterable<SpendRow[]> {
    const pageSize = options.pageSize ?? SPEND_PAGE;
    // Keyset pages: a row-value comparison is a SEARCH of the (created_at, id) index (an OR of
    // the two columns would scan it from the start for every page). The first cursor is
    // (since, ''): every id is greater than '', so the first page starts at `since` inclusive.
    const statement = this.#database.prepare(
      `SELECT id, created_at, key_hash, user_id, team_id, total_cost, json_extract(record, '$.budgets') AS budgets${options.tags ? ", json_extract(record, '$.tags') AS tags" : ''} FROM generations
       WHERE (created_at, id) > (?, ?) AND total_cost <> '0' ORDER BY created_at ASC, id ASC LIMIT ?`,
    );
    let after = canonicalTime(since);
    let afterId = '';
    for (;;) {
      const rows = statement.all(after, afterId, pageSize) as SpendSqlRow[];
      if (rows.length === 0) return;
      yield rows.map((row) => ({
        created_at: row.created_at,
        key: row.key_hash,
        user: row.user_id,
        team: row.team_id,
        tags: typeof row.tags === 'string' ? stringsOf(row.tags) : [],
        total_cost: row.total_cost,
        ...(typeof row.budgets === 'string' ? { budgets: stringsOf(row.budgets) } : {}),
      }));
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1] as SpendSqlRow;
      after = last.created_at;
      afterId = last.id;
    }
  }

  async close(): Promise<void> {
    await this.#writer?.close();
    if (this.#ownsDatabase && this.#database.open) this.#database.close();
  }
}

interface KeyRow {
  hash: string;
  name: string;
  label: string;
  limit_usd: string | null;
  limit_reset: string | null;
  is_management_key: number;
  disabled: number;
  user_id: string | null;
  team_id: string | null;
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  rate_limit_rpm: number | null;
  rate_limit_tpm: number | null;
}

function keyFromRow(row: KeyRow): ApiKeyRecord {
  return {
    hash: row.hash,
    name: row.name,
    label: row.label,
    limit: row.limit_usd,
    limit_reset: isLimitReset(row.limit_reset) ? row.limit_reset : null,
    is_management_key: row.is_management_key === 1,
    disabled: row.disabled === 1,
    user: row.user_id,
    team: row.team_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
    expires_at: row.expires_at,
    revoked_at: row.revoked_at,
    rate_limit: rateLimitFromColumns(row.rate_limit_rpm, row.rate_limit_tpm),
  };
}

function rowFromKey(record: ApiKeyRecord): Record<string, string | number | null> {
  return {
    hash: record.hash,
    lookup: record.hash.slice(0, LOOKUP_LENGTH),
    name: record.name,
    label: record.label,
    limit_usd: record.limit,
    limit_reset: record.limit_reset,
    is_management_key: record.is_management_key ? 1 : 0,
    disabled: record.disabled ? 1 : 0,
    user_id: record.user,
    team_id: record.team,
    created_at: record.created_at,
    updated_at: record.updated_at,
    expires_at: record.expires_at,
    revoked_at: record.revoked_at,
    rate_limit_rpm: rateColumn(record.rate_limit, 'requests_per_minute'),
    rate_limit_tpm: rateColumn(record.rate_limit, 'tokens_per_minute'),
  };
}

export class SqliteKeyStore implements KeyStore {
  readonly #database: SqliteDatabase;

  constructor(database: SqliteDatabase) {
    this.#database = database;
  }

  async create(input: CreateKeyInput, now: Date): Promise<{ key: string; record: ApiKeyRecord }> {
    const created = newKeyRecord(input, now);
    this.#database
      .prepare(
        `INSERT INTO api_keys (hash, lookup, name, label, limit_usd, limit_reset, is_management_key, disabled, user_id, team_id, created_at, updated_at, expires_at, revoked_at, rate_limit_rpm, rate_limit_tpm)
         VALUES (@hash, @lookup, @name, @label, @limit_usd, @limit_reset, @is_management_key, @disabled, @user_id, @team_id, @created_at, @updated_at, @expires_at, @revoked_at, @rate_limit_rpm, @rate_limit_tpm)`,
      )
      .run(rowFromKey(created.record));
    return created;
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<ApiKeyRecord[]> {
    const where = options.includeRevoked ? '' : 'WHERE revoked_at IS NULL';
    return (this.#database.prepare(`SELECT * FROM api_keys ${where} ORDER BY created_at, hash`).all() as KeyRow[]).map(keyFromRow);
  }

  async get(hash: string): Promise<ApiKeyRecord | null> {
    const row = this.#database.prepare('SELECT * FROM api_keys WHERE hash = ?').get(hash) as KeyRow | undefined;
    return row ? keyFromRow(row) : null;
  }

  async update(hash: string, patch: UpdateKeyInput, now: Date): Promise<ApiKeyRecord | null> {
    const current = await this.get(hash);
    if (!current || current.revoked_at !== null) return null;
    const next = patchKeyRecord(current, patch, now);
    this.#database
      .prepare(
        `UPDATE api_keys SET name = @name, limit_usd = @limit_usd, limit_reset = @limit_reset, disabled = @disabled, expires_at = @expires_at, updated_at = @updated_at,
         rate_limit_rpm = @rate_limit_rpm, rate_limit_tpm = @rate_limit_tpm WHERE hash = @hash`,
      )
      .run(rowFromKey(next));
    return next;
  }

  async revoke(hash: string, now: Date): Promise<boolean> {
    const iso = now.toISOString();
    const result = this.#database.prepare('UPDATE api_keys SET revoked_at = ?, updated_at = ? WHERE hash = ? AND revoked_at IS NULL').run(iso, iso, hash);
    return result.changes > 0;
  }

  async authenticate(plaintext: string, now: Date): Promise<ApiKeyRecord | null> {
    if (!looksLikeKey(plaintext)) return null;
    const hash = hashKey(plaintext);
    const rows = this.#database.prepare('SELECT * FROM api_keys WHERE lookup = ?').all(hash.slice(0, LOOKUP_LENGTH)) as KeyRow[];
    const found = rows.map(keyFromRow).find((record) => hashesEqual(record.hash, hash));
    return found && isUsable(found, now) ? found : null;
  }
}
