import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { periodEnd, periodStart } from '../../sidecar/accounting/periods.ts';
import { BatchingGenerationStore } from '../../sidecar/store/batching-generation-store.ts';
import { keyUsage } from '../../sidecar/store/key-usage.ts';
import { hashKey, hashesEqual, keyInfo, looksLikeKey, maskKey, type ApiKeyRecord, type KeyStore } from '../../sidecar/store/keys.ts';
import { MemoryGenerationBackend, MemoryKeyStore } from '../../sidecar/store/memory-backend.ts';
import { openPostgresPool, PostgresKeyStore } from '../../sidecar/store/postgres.ts';
import { openSqliteDatabase, SqliteKeyStore } from '../../sidecar/store/sqlite.ts';
import { DATABASE_URL, dropSchema, makeRecord, requirePostgres, uniqueName } from './fixtures/services.ts';

const NOW = new Date('2026-11-25T11:30:00.000Z'); // a Wednesday

describe('periods (UTC)', () => {
  it('starts days at midnight, weeks on Monday, months on the 1st', () => {
    expect(periodStart('daily', NOW).toISOString()).toBe('2026-11-25T00:00:00.000Z');
    expect(periodStart('weekly', NOW).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(periodStart('monthly', NOW).toISOString()).toBe('2026-11-01T00:00:00.000Z');
    // A Sunday belongs to the week that started the Monday before.
    expect(periodStart('weekly', new Date('2026-11-29T23:59:59.999Z')).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    // A Monday starts its own week.
    expect(periodStart('weekly', new Date('2026-11-30T00:00:00.000Z')).toISOString()).toBe('2026-11-30T00:00:00.000Z');
    // Across a year boundary.
    expect(periodStart('weekly', new Date('2027-01-01T08:00:00Z')).toISOString()).toBe('2026-12-28T00:00:00.000Z');
    expect(periodEnd('monthly', new Date('2026-12-15T00:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(periodEnd('weekly', NOW).toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(periodEnd('daily', NOW).toISOString()).toBe('2026-11-26T00:00:00.000Z');
  });
});

describe('key format', () => {
  it('masks, hashes and checks shape', () => {
    const key = `sk-sy-v1-${'ab'.repeat(31)}cd`;
    expect(looksLikeKey(key)).toBe(true);
    expect(looksLikeKey(key.toUpperCase())).toBe(false);
    expect(looksLikeKey('sk-or-v1-' + 'a'.repeat(64))).toBe(false);
    expect(maskKey(key)).toBe('sk-sy-v1-aba...bcd');
    expect(hashKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashesEqual(hashKey(key), hashKey(key))).toBe(true);
    expect(hashesEqual(hashKey(key), hashKey(key + 'x'))).toBe(false);
    expect(hashesEqual('abc', 'abcd')).toBe(false);
  });
});

describe('GET /api/v1/key data', () => {
  const record: ApiKeyRecord = {
    hash: 'h',
    name: 'ci',
    label: 'sk-sy-v1-abc...xyz',
    limit: '10',
    limit_reset: 'weekly',
    is_management_key: false,
    disabled: false,
    user: null,
    team: null,
    created_at: NOW.toISOString(),
    updated_at: NOW.toISOString(),
    expires_at: null,
    revoked_at: null,
  };
  const usage = { usage: '25.5', usage_daily: '0.1', usage_weekly: '3.3', usage_monthly: '12' };

  it('reports the remaining limit of the reset window', () => {
    const info = keyInfo(record, usage);
    // 10 - 3.3 = 6.7 (exact, then one conversion to a number)
    expect(info.limit_remaining).toBe(6.7);
    expect(info).toMatchObject({ label: 'sk-sy-v1-abc...xyz', limit: 10, limit_reset: 'weekly', usage: 25.5, usage_daily: 0.1, usage_weekly: 3.3, usage_monthly: 12, is_management_key: false, expires_at: null });
  });

  it('counts lifetime usage when the limit never resets, and never goes below 0', () => {
    expect(keyInfo({ ...record, limit_reset: null }, usage).limit_remaining).toBe(0);
    expect(keyInfo({ ...record, limit_reset: 'monthly', limit: '12.000001' }, usage).limit_remaining).toBe(0.000001);
    expect(keyInfo({ ...record, limit_reset: 'daily' }, usage).limit_remaining).toBe(9.9);
  });

  it('has no remaining figure without a limit', () => {
    const info = keyInfo({ ...record, limit: null, is_management_key: true }, usage);
    expect(info.limit).toBeNull();
    expect(info.limit_remaining).toBeNull();
    expect(info.is_management_key).toBe(true);
    expect(info.is_provisioning_key).toBe(true);
  });

  it('computes usage per window from generation records, exactly', async () => {
    const generations = await BatchingGenerationStore.open(new MemoryGenerationBackend(), { flushIntervalMs: 3_600_000 });
    const key = 'key-usage';
    const add = (iso: string, cost: string) => generations.append(makeRecord({ key, created_at: iso, total_cost: cost }));
    add('2026-10-31T23:59:59.999Z', '1'); // last month
    add('2026-11-22T12:00:00.000Z', '0.2'); // this month, Sunday of last week
    add('2026-11-23T00:00:00.000Z', '0.03'); // Monday: this week
    add('2026-11-25T00:00:00.000Z', '0.004'); // today
    add('2026-11-25T11:00:00.000Z', '0.0005'); // today
    expect(await keyUsage(generations, key, NOW)).toEqual({ usage: '1.2345', usage_monthly: '0.2345', usage_weekly: '0.0345', usage_daily: '0.0045' });
    await generations.close();
  });
});

function keyStoreConformance(name: string, open: () => Promise<KeyStore>): void {
  describe(`key store on ${name}`, () => {
    it('creates a key shown once, stores only its hash, and authenticates it', async () => {
      const keys = await open();
      const { key, record } = await keys.create({ name: 'ci', limit: '5.50', limit_reset: 'daily' }, NOW);
      expect(looksLikeKey(key)).toBe(true);
      expect(record.hash).toBe(hashKey(key));
      expect(record.limit).toBe('5.5');
      expect(record.label).toBe(maskKey(key));
      expect(JSON.stringify(await keys.list())).not.toContain(key.slice(9));
      expect((await keys.authenticate(key, NOW))?.hash).toBe(record.hash);
      expect(await keys.authenticate(key.slice(0, -1) + (key.endsWith('0') ? '1' : '0'), NOW)).toBeNull();
      expect(await keys.authenticate('Bearer nonsense', NOW)).toBeNull();
    });

    it('updates the limit and reset, and revokes', async () => {
      const keys = await open();
      const { key, record } = await keys.create({ name: 'team', is_management_key: true, team: 'ml' }, NOW);
      const later = new Date(NOW.getTime() + 60_000);
      const updated = await keys.update(record.hash, { limit: '100', limit_reset: 'monthly' }, later);
      expect(updated).toMatchObject({ limit: '100', limit_reset: 'monthly', is_management_key: true, team: 'ml', updated_at: later.toISOString() });
      expect(await keys.get(record.hash)).toEqual(updated);
      expect(await keys.revoke(record.hash, later)).toBe(true);
      expect(await keys.revoke(record.hash, later)).toBe(false);
      expect(await keys.authenticate(key, later)).toBeNull();
      expect(await keys.update(record.hash, { name: 'again' }, later)).toBeNull();
      expect((await keys.list()).map((item) => item.hash)).not.toContain(record.hash);
      expect((await keys.list({ includeRevoked: true })).map((item) => item.hash)).toContain(record.hash);
    });

    it('refuses disabled and expired keys', async () => {
      const keys = await open();
      const expiring = await keys.create({ name: 'temp', expires_at: '2026-11-25T12:00:00Z' }, NOW);
      expect(expiring.record.expires_at).toBe('2026-11-25T12:00:00.000Z');
      expect(await keys.authenticate(expiring.key, NOW)).not.toBeNull();
      expect(await keys.authenticate(expiring.key, new Date('2026-11-25T12:00:00Z'))).toBeNull();
      const disabled = await keys.create({ name: 'off' }, NOW);
      await keys.update(disabled.record.hash, { disabled: true }, NOW);
      expect(await keys.authenticate(disabled.key, NOW)).toBeNull();
      await keys.update(disabled.record.hash, { disabled: false }, NOW);
      expect(await keys.authenticate(disabled.key, NOW)).not.toBeNull();
    });

    it('rejects a malformed limit', async () => {
      const keys = await open();
      await expect(keys.create({ name: 'bad', limit: 'ten dollars' }, NOW)).rejects.toThrow(RangeError);
    });
  });
}

keyStoreConformance('memory', async () => new MemoryKeyStore());

const directory = mkdtempSync(join(tmpdir(), 'switchyard-keys-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
keyStoreConformance('sqlite', async () => new SqliteKeyStore(openSqliteDatabase(join(directory, 'keys.db'))));

describe('postgres', () => {
  const schema = uniqueName('sy_keys');
  const pools: Array<{ end(): Promise<void> }> = [];
  beforeAll(async () => {
    await requirePostgres();
  });
  afterAll(async () => {
    await Promise.all(pools.map((pool) => pool.end()));
    await dropSchema(schema);
  });
  keyStoreConformance('postgres', async () => {
    const pool = await openPostgresPool({ connectionString: DATABASE_URL, schema });
    pools.push(pool);
    return new PostgresKeyStore(pool);
  });
});
