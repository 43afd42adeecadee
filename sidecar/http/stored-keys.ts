/**
 * Gateway authentication over both kinds of keys: the config's (`gateway_keys`, by digest) and the
 * stored ones (`switchyard keys create`, `/api/v1/keys`), which live in the key store hashed.
 *
 * Stored keys are mirrored in memory so the request path checks them synchronously: a lookup by
 * the hash's first 16 hex characters, then `timingSafeEqual` of the whole hash (as the store does).
 * The mirror is re-read every `refreshMs`, so a key revoked on another replica stops working
 * within that interval (at once on the replica that revoked it). A well-formed key the mirror does
 * not know yet (created moments ago elsewhere) is looked up in the store before being refused.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Identity } from '../../engine/index.ts';
import type { Logger } from '../logger.ts';
import { hashKey, isUsable, looksLikeKey, LOOKUP_LENGTH, type ApiKeyRecord, type KeyStore } from '../store/keys.ts';
import type { GatewayKeyVerifier } from './auth.ts';

export interface StoredKeyVerifier extends GatewayKeyVerifier {
  /** Looks an unknown but well-formed key up in the store (a key created on another replica). */
  lookup(authorization: string | undefined): Promise<Identity | undefined>;
  /** The stored key behind an identity this verifier produced; undefined for config keys. */
  storedKeyOf(identity: Identity): ApiKeyRecord | undefined;
  /** Re-reads the store now (after a create, update or revoke on this replica). */
  refresh(): Promise<void>;
  close(): void;
}

interface MirroredKey {
  digest: Buffer;
  record: ApiKeyRecord;
  identity: Identity;
}

function bearer(authorization: string | undefined): string | undefined {
  if (!authorization || !authorization.startsWith('Bearer ')) return undefined;
  return authorization.slice(7).trim();
}

/** Identity of a stored key: its hash is the `key` that records, budgets and rate limits count under. */
export function storedKeyIdentity(record: ApiKeyRecord): Identity {
  return { key: record.hash, ...(record.user ? { user: record.user } : {}), ...(record.team ? { team: record.team } : {}) };
}

export async function createStoredKeyVerifier(options: {
  configKeys: GatewayKeyVerifier;
  store: KeyStore;
  refreshMs: number;
  logger: Logger;
  now?: () => Date;
}): Promise<StoredKeyVerifier> {
  const { configKeys, store, logger } = options;
  const now = options.now ?? (() => new Date());
  let byLookup = new Map<string, MirroredKey[]>();
  let storedCount = 0;
  const records = new WeakMap<Identity, ApiKeyRecord>();

  function mirror(record: ApiKeyRecord): MirroredKey {
    const identity = storedKeyIdentity(record);
    records.set(identity, record);
    return { digest: Buffer.from(record.hash, 'hex'), record, identity };
  }

  async function refresh(): Promise<void> {
    const all = await store.list();
    const next = new Map<string, MirroredKey[]>();
    for (const record of all) {
      const prefix = record.hash.slice(0, LOOKUP_LENGTH);
      const bucket = next.get(prefix) ?? [];
      bucket.push(mirror(record));
      next.set(prefix, bucket);
    }
    byLookup = next;
    storedCount = all.length;
  }

  function findStored(token: string): Identity | undefined {
    const hash = hashKey(token);
    const digest = Buffer.from(hash, 'hex');
    const at = now();
    let found: Identity | undefined;
    for (const entry of byLookup.get(hash.slice(0, LOOKUP_LENGTH)) ?? []) {
      if (timingSafeEqual(digest, entry.digest) && isUsable(entry.record, at)) found = entry.identity;
    }
    return found;
  }

  await refresh();
  const timer = setInterval(() => {
    refresh().catch((error: unknown) => logger.warn({ err: error }, 'could not re-read the stored gateway keys'));
  }, options.refreshMs);
  timer.unref();

  return {
    get required() {
      return configKeys.required || storedCount > 0;
    },
    verify(authorization) {
      const token = bearer(authorization);
      if (token !== undefined && looksLikeKey(token)) {
        const stored = findStored(token);
        if (stored) return stored;
      }
      // Without any key at all the config verifier accepts everyone (loopback only).
      if (!configKeys.required && storedCount > 0) return undefined;
      return configKeys.verify(authorization);
    },
    async lookup(authorization) {
      const token = bearer(authorization);
      if (token === undefined || !looksLikeKey(token)) return undefined;
      const record = await store.authenticate(token, now());
      if (!record) return undefined;
      await refresh();
      return findStored(token);
    },
    storedKeyOf(identity) {
      return records.get(identity);
    },
    refresh,
    close() {
      clearInterval(timer);
    },
  };
}
