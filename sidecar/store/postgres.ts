/**
 * PostgreSQL backends (used when `DATABASE_URL` is set): the generation log and keys shared by
 * every replica. Money columns are NUMERIC(38,18), so sums are exact in the database.
 * Migrations run at open under an advisory lock, so replicas starting together apply each once.
 */
import type pg from 'pg';
import { normalizeDecimal } from '../accounting/decimal.ts';
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

export interface PostgresOptions {
  connectionString: string;
  /** Schema holding the tables (created if missing); default `public`. Tests use a unique one. */
  schema?: string;
  /** Pool size; default 10. */
  maxConnections?: number;
  /** Hears errors of idle connections (a restarted server); without a listener they would crash the process. */
  onError?: (error: unknown) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
/** Records per INSERT statement (9 parameters each, well under Postgres's 65535). */
const WRITE_CHUNK = 1000;

/** A pool whose connections see `schema` first, with every migration applied. */
export async function openPostgresPool(options: PostgresOptions): Promise<pg.Pool> {
  const schema = options.schema ?? 'public';
  if (!SCHEMA_NAME.test(schema)) throw new RangeError(`invalid schema name: ${schema}`);
  // Loaded here, not at import: only a Postgres deployment pays its memory (~10 MB of RSS).
  const { default: postgres } = await import('pg');
  const pool = new postgres.Pool({
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5000,
  });
  pool.on('error', (error) => options.onError?.(error));
  try {
    await migrate(pool, schema);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return pool;
}

async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`switchyard-migrations:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
    const applied = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((row) => row.version));
    for (const migration of readMigrations('postgres')) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** The strings of a JSONB array (tags, budgets); anything else: none. */
function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((entry): entry is string => typeof entry === 'string') : [];
}

interface SpendPgRow {
  id: string;
  created_at: Date;
  key_hash: string | null;
  user_id: string | null;
  team_id: string | null;
  /** NUMERIC: a string from pg. */
  total_cost: string;
  tags?: unknown;
  budgets?: unknown;
}

export class PostgresGenerationBackend implements GenerationBackend {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #ownsPool: boolean;

  /** `ownsPool`: end the pool with the backend (false when the key store shares it). */
  constructor(pool: pg.Pool, ownsPool = true) {
    this.#pool = pool;
    this.#ownsPool = ownsPool;
  }

  async write(records: readonly GenerationRecord[], json?: readonly (string | undefined)[]): Promise<void> {
    // An upsert may not touch one row twice: the last record of an id wins, as in the other backends.
    const last = new Map<string, number>();
    records.forEach((record, index) => last.set(record.id, index));
    const unique = [...last.values()].map((index) => ({ record: records[index] as GenerationRecord, json: json?.[index] }));
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      for (let start = 0; start < unique.length; start += WRITE_CHUNK) await this.#upsert(client, unique.slice(start, start + WRITE_CHUNK));
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /** One multi-row upsert: a single round trip for up to WRITE_CHUNK records. */
  async #upsert(client: pg.PoolClient, records: ReadonlyArray<{ record: GenerationRecord; json: string | undefined }>): Promise<void> {
    const values: unknown[] = [];
    const rows = records.map(({ record, json }, index) => {
      const base = index * 9;
      values.push(...generationRow(record, json));
      return `($${base + 1}, $${base + 2}, $${base + 3}, $${base + 4}, $${base + 5}, $${base + 6}, $${base + 7}, $${base + 8}, $${base + 9}::jsonb)`;
    });
    await client.query(
      `INSERT INTO generations (id, created_at, key_hash, user_id, team_id, model, status, total_cost, record) VALUES ${rows.join(', ')}
       ON CONFLICT (id) DO UPDATE SET created_at = EXCLUDED.created_at, key_hash = EXCLUDED.key_hash, user_id = EXCLUDED.user_id,
         team_id = EXCLUDED.team_id, model = EXCLUDED.model, status = EXCLUDED.status, total_cost = EXCLUDED.total_cost, record = EXCLUDED.record`,
      values,
    );
  }

  async get(id: string): Promise<GenerationRecord | null> {
    const result = await this.#pool.query<{ record: GenerationRecord }>('SELECT record FROM generations WHERE id = $1', [id]);
    return result.rows[0]?.record ?? null;
  }

  async list(options: { limit: number; since?: string }): Promise<GenerationRecord[]> {
    const result =
      options.since === undefined
        ? await this.#pool.query<{ record: GenerationRecord }>('SELECT record FROM generations ORDER BY created_at DESC, id DESC LIMIT $1', [options.limit])
        : await this.#pool.query<{ record: GenerationRecord }>('SELECT record FROM generations WHERE created_at >= $1 ORDER BY created_at DESC, id DESC LIMIT $2', [
            canonicalTime(options.since),
            options.limit,
          ]);
    return result.rows.map((row) => row.record);
  }

  async page(range: TimeRange, cursor: PageCursor | null, limit: number): Promise<GenerationRecord[]> {
    const conditions: string[] = [];
    const parameters: unknown[] = [];
    const parameter = (value: unknown): string => {
      parameters.push(value);
      return `$${parameters.length}`;
    };
    if (range.since !== undefined) conditions.push(`created_at >= ${parameter(canonicalTime(range.since))}`);
    if (range.until !== undefined) conditions.push(`created_at < ${parameter(canonicalTime(range.until))}`);
    if (cursor) conditions.push(`(created_at, id) > (${parameter(canonicalTime(cursor.created_at))}::timestamptz, ${parameter(cursor.id)})`);
    const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    const result = await this.#pool.query<{ record: GenerationRecord }>(
      `SELECT record FROM generations ${where} ORDER BY created_at ASC, id ASC LIMIT ${parameter(limit)}`,
      parameters,
    );
    return result.rows.map((row) => row.record);
  }

  async sumCost(key: string, range: TimeRange): Promise<string> {
    const result = await this.#pool.query<{ total: string | null }>(
      `SELECT sum(total_cost) AS total FROM generations
       WHERE key_hash = $1 AND ($2::timestamptz IS NULL OR created_at >= $2) AND ($3::timestamptz IS NULL OR created_at < $3)`,
      [key, range.since === undefined ? null : canonicalTime(range.since), range.until === undefined ? null : canonicalTime(range.until)],
    );
    return normalizeDecimal(result.rows[0]?.total ?? '0');
  }

  async *spendSince(since: string, options: SpendOptions = {}): AsyncIterable<SpendRow[]> {
    const pageSize = options.pageSize ?? SPEND_PAGE;
    const columns = `id, created_at, key_hash, user_id, team_id, total_cost, record->'budgets' AS budgets${options.tags ? ", record->'tags' AS tags" : ''}`;
    let cursor: { created_at: string; id: string } | null = null;
    for (;;) {
      // Keyset pages over the (created_at, id) index.
      const result: pg.QueryResult<SpendPgRow> = await this.#pool.query<SpendPgRow>(
        cursor === null
          ? `SELECT ${columns} FROM generations WHERE created_at >= $1 AND total_cost <> 0 ORDER BY created_at ASC, id ASC LIMIT $2`
          : `SELECT ${columns} FROM generations WHERE (created_at, id) > ($1::timestamptz, $3) AND total_cost <> 0 ORDER BY created_at ASC, id ASC LIMIT $2`,
        cursor === null ? [canonicalTime(since), pageSize] : [cursor.created_at, pageSize, cursor.id],
      );
      const rows = result.rows;
      if (rows.length === 0) return;
      yield rows.map((row) => ({
        created_at: row.created_at.toISOString(),
        key: row.key_hash,
        user: row.user_id,
        team: row.team_id,
        tags: stringsOf(row.tags),
        total_cost: canonicalDecimal(row.total_cost),
        ...(Array.isArray(row.budgets) ? { budgets: stringsOf(row.budgets) } : {}),
      }));
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1] as SpendPgRow;
      cursor = { created_at: last.created_at.toISOString(), id: last.id };
    }
  }

  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.end();
  }
}

interface KeyRow {
  hash: string;
  name: string;
  label: string;
  limit_usd: string | null;
  limit_reset: string | null;
  is_management_key: boolean;
  disabled: boolean;
  user_id: string | null;
  team_id: string | null;
  created_at: Date;
  updated_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  /** BIGINT: strings from pg. */
  rate_limit_rpm: string | null;
  rate_limit_tpm: string | null;
}

function keyFromRow(row: KeyRow): ApiKeyRecord {
  return {
    hash: row.hash,
    name: row.name,
    label: row.label,
    limit: row.limit_usd === null ? null : normalizeDecimal(row.limit_usd),
    limit_reset: isLimitReset(row.limit_reset) ? row.limit_reset : null,
    is_management_key: row.is_management_key,
    disabled: row.disabled,
    user: row.user_id,
    team: row.team_id,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    rate_limit: rateLimitFromColumns(row.rate_limit_rpm, row.rate_limit_tpm),
  };
}

export class PostgresKeyStore implements KeyStore {
  readonly #pool: pg.Pool;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async create(input: CreateKeyInput, now: Date): Promise<{ key: string; record: ApiKeyRecord }> {
    const created = newKeyRecord(input, now);
    const record = created.record;
    await this.#pool.query(
      `INSERT INTO api_keys (hash, lookup, name, label, limit_usd, limit_reset, is_management_key, disabled, user_id, team_id, created_at, updated_at, expires_at, revoked_at, rate_limit_rpm, rate_limit_tpm)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
      [
        record.hash,
        record.hash.slice(0, LOOKUP_LENGTH),
        record.name,
        record.label,
        record.limit,
        record.limit_reset,
        record.is_management_key,
        record.disabled,
        record.user,
        record.team,
        record.created_at,
        record.updated_at,
        record.expires_at,
        record.revoked_at,
        rateColumn(record.rate_limit, 'requests_per_minute'),
        rateColumn(record.rate_limit, 'tokens_per_minute'),
      ],
    );
    // Read back so both backends return timestamps in the same canonical form.
    const stored = await this.get(record.hash);
    return { key: created.key, record: stored ?? record };
  }

  async list(options: { includeRevoked?: boolean } = {}): Promise<ApiKeyRecord[]> {
    const where = options.includeRevoked ? '' : 'WHERE revoked_at IS NULL';
    const result = await this.#pool.query<KeyRow>(`SELECT * FROM api_keys ${where} ORDER BY created_at, hash`);
    return result.rows.map(keyFromRow);
  }

  async get(hash: string): Promise<ApiKeyRecord | null> {
    const result = await this.#pool.query<KeyRow>('SELECT * FROM api_keys WHERE hash = $1', [hash]);
    const row = result.rows[0];
    return row ? keyFromRow(row) : null;
  }

  async update(hash: string, patch: UpdateKeyInput, now: Date): Promise<ApiKeyRecord | null> {
    const current = await this.get(hash);
    if (!current || current.revoked_at !== null) return null;
    const next = patchKeyRecord(current, patch, now);
    await this.#pool.query(
      'UPDATE api_keys SET name = $2, limit_usd = $3, limit_reset = $4, disabled = $5, expires_at = $6, updated_at = $7, rate_limit_rpm = $8, rate_limit_tpm = $9 WHERE hash = $1',
      [
        hash,
        next.name,
        next.limit,
        next.limit_reset,
        next.disabled,
        next.expires_at,
        next.updated_at,
        rateColumn(next.rate_limit, 'requests_per_minute'),
        rateColumn(next.rate_limit, 'tokens_per_minute'),
      ],
    );
    return next;
  }

  async revoke(hash: string, now: Date): Promise<boolean> {
    const result = await this.#pool.query('UPDATE api_keys SET revoked_at = $2, updated_at = $2 WHERE hash = $1 AND revoked_at IS NULL', [hash, now.toISOString()]);
    return (result.rowCount ?? 0) > 0;
  }

  async authenticate(plaintext: string, now: Date): Promise<ApiKeyRecord | null> {
    if (!looksLikeKey(plaintext)) return null;
    const hash = hashKey(plaintext);
    const result = await this.#pool.query<KeyRow>('SELECT * FROM api_keys WHERE lookup = $1', [hash.slice(0, LOOKUP_LENGTH)]);
    const found = result.rows.map(keyFromRow).find((record) => hashesEqual(record.hash, hash));
    return found && isUsable(found, now) ? found : null;
  }
}
