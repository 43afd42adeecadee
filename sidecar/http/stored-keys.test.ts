import { describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.ts';
import { MemoryKeyStore } from '../store/memory-backend.ts';
import { createKeyVerifier, sha256Hex } from './auth.ts';
import { createStoredKeyVerifier } from './stored-keys.ts';

const START = Date.UTC(2026, 10, 25, 12);

async function setUp(expiresAt: string | null = null) {
  const store = new MemoryKeyStore();
  const { key, record } = await store.create({ name: 'k', team: 'search', expires_at: expiresAt }, new Date(START));
  let now = START;
  const verifier = await createStoredKeyVerifier({
    configKeys: createKeyVerifier([{ sha256: sha256Hex('sk-config'), name: 'config' }]),
    store,
    refreshMs: 3_600_000,
    logger: silentLogger,
    now: () => new Date(now),
  });
  return { store, key, record, verifier, setNow: (at: number) => void (now = at) };
}

describe('createStoredKeyVerifier', () => {
  it('answers a header it accepted before the same way, and a stored key as its record', async () => {
    const { key, record, verifier } = await setUp();
    const first = verifier.verify(`Bearer ${key}`);
    expect(first).toEqual({ key: record.hash, team: 'search' });
    expect(verifier.verify(`Bearer ${key}`)).toBe(first);
    expect(verifier.storedKeyOf(first ?? {})?.hash).toBe(record.hash);
    expect(verifier.verify('Bearer sk-config')).toEqual({ key: 'config' });
    expect(verifier.verify('Bearer sk-config')).toEqual({ key: 'config' });
    expect(verifier.verify(`Bearer ${key.slice(0, -1)}x`)).toBeUndefined();
    verifier.close();
  });

  it('stops accepting a revoked key once the mirror is re-read, remembered or not', async () => {
    const { store, key, record, verifier } = await setUp();
    expect(verifier.verify(`Bearer ${key}`)).toBeDefined();
    await store.revoke(record.hash, new Date(START));
    await verifier.refresh();
    expect(verifier.verify(`Bearer ${key}`)).toBeUndefined();
    verifier.close();
  });

  it('stops accepting a remembered key when it expires, without a re-read', async () => {
    const { key, verifier, setNow } = await setUp(new Date(START + 60_000).toISOString());
    expect(verifier.verify(`Bearer ${key}`)).toBeDefined();
    setNow(START + 60_000);
    expect(verifier.verify(`Bearer ${key}`)).toBeUndefined();
    verifier.close();
  });
});
