/**
 * Per-key rate limits (issue #6): a stored key's own `rate_limit` in the stores (SQLite, Postgres,
 * memory), migration 0002 on databases made by the previous schema, and the effective limits.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { effectiveRateLimits, keyInfo, mergeKeyRateLimit, normalizeKeyRateLimit, type KeyStore } from '../../sidecar/store/keys.ts';
import { MemoryKeyStore } from '../../sidecar/store/memory-backend.ts';
import { openPostgresPool, PostgresKeyStore } from '../../sidecar/store/postgres.ts';
import { openSqliteDatabase, SqliteKeyStore } from '../../sidecar/store/sqlite.ts';
import { DATABASE_URL, dropSchema, requirePostgres, uniqueName } from './fixtures/services.ts';

const NOW = new Date('2026-11-25T11:30:00.000Z');
const MIGRATIONS = fileURLToPath(new URL('../../sidecar/store/migrations/', import.meta.url));
const NO_USAGE = { usage: '0', usage_daily: '0', usage_weekly: '0', usage_monthly: '0' };

describe('rate_limit values', () => {
  it('keeps only the kinds set; null is no limit; nothing set is the default', () => {
    expect(normalizeKeyRateLimit(undefined)).toBeNull();
    expect(normalizeKeyRateLimit({})).toBeNull();
    expect(normalizeKeyRateLimit({ requests_per_minute: 2 })).toEqual({ requests_per_minute: 2 });
    expect(normalizeKeyRateLimit({ requests_per_minute: null, tokens_per_minute: 500 })).toEqual({ requests_per_minute: null, tokens_per_minute: 500 });
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 60, '5']) expect(() => normalizeKeyRateLimit({ requests_per_minute: bad as number })).toThrow(RangeError);
  });

  it('merges an update kind by kind; default drops a kind; null clears all', () => {
    expect(mergeKeyRateLimit({ requests_per_minute: 2 }, { tokens_per_minute: 100 })).toEqual({ requests_per_minute: 2, tokens_per_minute: 100 });
    expect(mergeKeyRateLimit({ requests_per_minute: 2, tokens_per_minute: 100 }, { requests_per_minute: null })).toEqual({ requests_per_minute: null, tokens_per_minute: 100 });
    expect(mergeKeyRateLimit({ requests_per_minute: 2 }, { requests_per_minute: 'default' })).toBeNull();
    expect(mergeKeyRateLimit({ requests_per_minute: 2 }, null)).toBeNull();
  });

  it('applies the config default to each kind the key does not set', () => {
    const defaults = { requestsPerMinute: 60, tokensPerMinute: 10_000 };
    expect(effectiveRateLimits(null, defaults)).toEqual({ requests_per_minute: 60, tokens_per_minute: 10_000 });
    expect(effectiveRateLimits({ requests_per_minute: 2 }, defaults)).toEqual({ requests_per_minute: 2, tokens_per_minute: 10_000 });
    expect(effectiveRateLimits({ tokens_per_minute: null }, defaults)).toEqual({ requests_per_minute: 60, tokens_per_minute: null });
    expect(effectiveRateLimits(undefined, {})).toEqual({ requests_per_minute: null, tokens_per_minute: null });
  });
});

function conformance(name: string, open: () => Promise<KeyStore>): void {
  describe(`rate_limit on the ${name} key store`, () => {
    it('stores, updates, clears and lists a key\'s own limits', async () => {
      const keys = await open();
      const plain = await keys.create({ name: 'plain' }, NOW);
      expect(plain.record.rate_limit).toBeNull();
      const { key, record } = await keys.create({ name: 'capped', rate_limit: { requests_per_minute: 2, tokens_per_minute: null } }, NOW);
      expect(record.rate_limit).toEqual({ requests_per_minute: 2, tokens_per_minute: null });
      expect((await keys.get(record.hash))?.rate_limit).toEqual({ requests_per_minute: 2, tokens_per_minute: null });
      expect((await keys.authenticate(key, NOW))?.rate_limit).toEqual({ requests_per_minute: 2, tokens_per_minute: null });

      const merged = await keys.update(record.hash, { rate_limit: { tokens_per_minute: 3_000_000_000 } }, NOW);
      expect(merged?.rate_limit).toEqual({ requests_per_minute: 2, tokens_per_minute: 3_000_000_000 });
      expect((await keys.get(record.hash))?.rate_limit).toEqual(merged?.rate_limit);
      // Another change leaves the limits alone.
      await keys.update(record.hash, { name: 'renamed' }, NOW);
      expect((await keys.get(record.hash))?.rate_limit).toEqual(merged?.rate_limit);
      const reset = await keys.update(record.hash, { rate_limit: { requests_per_minute: 'default' } }, NOW);
      expect(reset?.rate_limit).toEqual({ tokens_per_minute: 3_000_000_000 });
      expect((await keys.get(record.hash))?.rate_limit).toEqual({ tokens_per_minute: 3_000_000_000 });
      await keys.update(record.hash, { rate_limit: null }, NOW);
      expect((await keys.get(record.hash))?.rate_limit).toBeNull();

      const listed = await keys.list();
      expect(listed.find((item) => item.hash === plain.record.hash)?.rate_limit).toBeNull();
      await expect(keys.create({ name: 'bad', rate_limit: { requests_per_minute: 0 } }, NOW)).rejects.toThrow(RangeError);
      await expect(keys.update(record.hash, { rate_limit: { tokens_per_minute: -5 } }, NOW)).rejects.toThrow(RangeError);
    });
  });
}

conformance('memory', async () => new MemoryKeyStore());

const directory = mkdtempSync(join(tmpdir(), 'switchyard-key-rates-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
conformance('sqlite', async () => new SqliteKeyStore(openSqliteDatabase(join(directory, 'keys.db'))));

/** An api_keys row as the previous schema (migration 0001 only) stored it. */
const OLD_ROW = {
  hash: 'a'.repeat(64),
  lookup: 'a'.repeat(16),
  name: 'from-before',
  label: 'sk-sy-v1-aaa...aaa',
  limit_reset: null,
  created_at: '2026-11-01T00:00:00.000Z',
  updated_at: '2026-11-01T00:00:00.000Z',
};

describe('migration 0002 on a SQLite database made by the previous schema', () => {
  it('adds the columns; existing keys keep the config default and can be given limits', async () => {
    const path = join(directory, 'old.db');
    const old = new Database(path);
    old.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    old.exec(readFileSync(join(MIGRATIONS, 'sqlite/0001-initial.sql'), 'utf8'));
    old.prepare('INSERT INTO schema_migrations VALUES (1, ?, ?)').run('initial', OLD_ROW.created_at);
    old
      .prepare('INSERT INTO api_keys (hash, lookup, name, label, limit_reset, created_at, updated_at) VALUES (@hash, @lookup, @name, @label, @limit_reset, @created_at, @updated_at)')
      .run(OLD_ROW);
    old.close();

    const database = openSqliteDatabase(path);
    const versions = (database.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as Array<{ version: number }>).map((row) => row.version);
    expect(versions).toContain(2);
    const keys = new SqliteKeyStore(database);
    const record = await keys.get(OLD_ROW.hash);
    expect(record).toMatchObject({ name: 'from-before', rate_limit: null });
    expect(keyInfo(record!, NO_USAGE, { requestsPerMinute: 30 }).rate_limit).toMatchObject({ requests: 30, requests_per_minute: 30, tokens_per_minute: null });
    const updated = await keys.update(OLD_ROW.hash, { rate_limit: { requests_per_minute: 2 } }, NOW);
    expect(updated?.rate_limit).toEqual({ requests_per_minute: 2 });
    database.close();
    // Opening again applies nothing twice.
    const again = openSqliteDatabase(path);
    expect((await new SqliteKeyStore(again).get(OLD_ROW.hash))?.rate_limit).toEqual({ requests_per_minute: 2 });
    again.close();
  });
});

describe('postgres', () => {
  const schema = uniqueName('sy_key_rates');
  const oldSchema = uniqueName('sy_key_rates_old');
  const pools: Array<{ end(): Promise<void> }> = [];
  beforeAll(async () => {
    await requirePostgres();
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await dropSchema(schema);
    await dropSchema(oldSchema);
  });
  conformance('postgres', async () => {
    const pool = await openPostgresPool({ connectionString: DATABASE_URL, schema });
    pools.push(pool);
    return new PostgresKeyStore(pool);
  });

  it('migration 0002 applies on a schema made by the previous one', async () => {
    const client = new pg.Client({ connectionString: DATABASE_URL });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${oldSchema}`);
      await client.query(`SET search_path TO ${oldSchema}`);
      await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      await client.query(readFileSync(join(MIGRATIONS, 'postgres/0001-initial.sql'), 'utf8'));
      await client.query("INSERT INTO schema_migrations (version, name) VALUES (1, 'initial')");
      await client.query('INSERT INTO api_keys (hash, lookup, name, label, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)', [
        OLD_ROW.hash,
        OLD_ROW.lookup,
        OLD_ROW.name,
        OLD_ROW.label,
        OLD_ROW.created_at,
      ]);
    } finally {
      await client.end();
    }
    const pool = await openPostgresPool({ connectionString: DATABASE_URL, schema: oldSchema });
    pools.push(pool);
    const keys = new PostgresKeyStore(pool);
    expect(await keys.get(OLD_ROW.hash)).toMatchObject({ name: 'from-before', rate_limit: null });
    const updated = await keys.update(OLD_ROW.hash, { rate_limit: { requests_per_minute: 7, tokens_per_minute: null } }, NOW);
    expect(updated?.rate_limit).toEqual({ requests_per_minute: 7, tokens_per_minute: null });
    expect((await keys.get(OLD_ROW.hash))?.rate_limit).toEqual({ requests_per_minute: 7, tokens_per_minute: null });
    const versions = (await pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((row) => row.version);
    expect(versions).toContain(2);
  });
});
