/**
 * Gateway API keys: `sk-sy-v1-<64 hex>`, shown once at creation, stored only as their sha256.
 *
 * The sha256 hex is the key's public id (`hash`, as OpenRouter names it in `/api/v1/keys/{hash}`)
 * and what generation records, budgets and rate limits count under. It reveals nothing about the
 * key: the key is 256 random bits, so no salt or slow hash is needed.
 *
 * Lookup: the store finds candidate rows by the hash's first 16 hex characters (an index lookup
 * that may leak timing about those), then compares the full hash with `timingSafeEqual`.
 */
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { decimalToNumber, formatUnits, parseUnits } from '../accounting/decimal.ts';
import { type LimitReset } from '../accounting/periods.ts';
import { canonicalTime } from './generation-backend.ts';

export const KEY_PREFIX = 'sk-sy-v1-';
const KEY_PATTERN = /^sk-sy-v1-[0-9a-f]{64}$/;
/** Characters of the hash used as the lookup index. */
export const LOOKUP_LENGTH = 16;

/**
 * A stored key's own per-minute rate limits (fixed UTC minutes, as `accounting.rate_limits`).
 * Per kind: absent = the config-wide default applies; null = no limit of that kind; else a
 * positive whole number.
 */
export interface KeyRateLimit {
  requests_per_minute?: number | null;
  tokens_per_minute?: number | null;
}

/** A change to `KeyRateLimit`: a kind absent keeps its value; `'default'` goes back to the config-wide default. */
export interface KeyRateLimitPatch {
  requests_per_minute?: number | null | 'default';
  tokens_per_minute?: number | null | 'default';
}

/** The per-minute limits of a kind that applies to a request: a positive whole number, or none. */
export interface EffectiveRateLimits {
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
}

/** A stored key. Never contains the plaintext. */
export interface ApiKeyRecord {
  /** sha256 hex of the plaintext key; the key's id. */
  hash: string;
  name: string;
  /** Masked form for display, e.g. `sk-sy-v1-3fa...9c1`. */
  label: string;
  /** USD credit limit as an exact decimal string; null = unlimited. */
  limit: string | null;
  /** Window the limit applies to; null = lifetime. */
  limit_reset: LimitReset | null;
  /** May call the key-management API. */
  is_management_key: boolean;
  disabled: boolean;
  /** Who the key belongs to, for user/team budgets. */
  user: string | null;
  team: string | null;
  /** ISO 8601. */
  created_at: string;
  updated_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  /**
   * The key's own rate limits; null (or absent) = the config-wide defaults apply to both kinds.
   * The stores always set it; never an empty object.
   */
  rate_limit?: KeyRateLimit | null;
}

export interface CreateKeyInput {
  name: string;
  limit?: string | null;
  limit_reset?: LimitReset | null;
  is_management_key?: boolean;
  user?: string | null;
  team?: string | null;
  /** ISO 8601. */
  expires_at?: string | null;
  rate_limit?: KeyRateLimit | null;
}

/** What may change after creation. */
export interface UpdateKeyInput {
  name?: string;
  limit?: string | null;
  limit_reset?: LimitReset | null;
  disabled?: boolean;
  expires_at?: string | null;
  /** Merged kind by kind into the key's limits; null = back to the config-wide defaults for both. */
  rate_limit?: KeyRateLimitPatch | null;
}

/** Where keys live; SQLite and Postgres implement it. `now` is passed in for testability. */
export interface KeyStore {
  /** Creates a key; the plaintext is in the result and nowhere else, ever. */
  create(input: CreateKeyInput, now: Date): Promise<{ key: string; record: ApiKeyRecord }>;
  /** Revoked keys are left out unless asked for. */
  list(options?: { includeRevoked?: boolean }): Promise<ApiKeyRecord[]>;
  get(hash: string): Promise<ApiKeyRecord | null>;
  update(hash: string, patch: UpdateKeyInput, now: Date): Promise<ApiKeyRecord | null>;
  /** False when there was no such (unrevoked) key. */
  revoke(hash: string, now: Date): Promise<boolean>;
  /** The key a plaintext belongs to when it is usable (known, not revoked, disabled or expired); else null. */
  authenticate(plaintext: string, now: Date): Promise<ApiKeyRecord | null>;
}

/** Spend of one key, USD exact decimal strings (from generation records). */
export interface KeyUsage {
  usage: string;
  usage_daily: string;
  usage_weekly: string;
  usage_monthly: string;
}

/** A fresh plaintext key. */
export function generateKey(): string {
  return KEY_PREFIX + randomBytes(32).toString('hex');
}

export function hashKey(plaintext: string): string {
  // One-shot: no Hash object per call (about 2.5x faster than createHash here, and it runs per request).
  return hash('sha256', plaintext, 'hex');
}

/** Cheap shape check, done before any lookup. */
export function looksLikeKey(text: string): boolean {
  return KEY_PATTERN.test(text);
}

export function maskKey(plaintext: string): string {
  const secret = plaintext.slice(KEY_PREFIX.length);
  return `${KEY_PREFIX}${secret.slice(0, 3)}...${secret.slice(-3)}`;
}

/** Constant-time equality of two hex hashes. */
export function hashesEqual(left: string, right: string): boolean {
  const leftBytes = Buffer.from(left, 'utf8');
  const rightBytes = Buffer.from(right, 'utf8');
  return leftBytes.length === rightBytes.length && timingSafeEqual(leftBytes, rightBytes);
}

/** Whether a found key may be used at `now`. */
export function isUsable(record: ApiKeyRecord, now: Date): boolean {
  if (record.revoked_at !== null || record.disabled) return false;
  return record.expires_at === null || Date.parse(record.expires_at) > now.getTime();
}

const RATE_KINDS = ['requests_per_minute', 'tokens_per_minute'] as const;

/** Throws a RangeError unless `value` is null or a positive whole number. */
function checkRateValue(kind: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw new RangeError(`rate_limit.${kind} must be a positive whole number or null`);
  return value;
}

/** Validated, canonical limits: only the kinds set, or null when none is (the defaults apply). */
export function normalizeKeyRateLimit(input: KeyRateLimit | null | undefined): KeyRateLimit | null {
  if (input === undefined || input === null) return null;
  const result: KeyRateLimit = {};
  for (const kind of RATE_KINDS) {
    const value = input[kind];
    if (value !== undefined) result[kind] = checkRateValue(kind, value);
  }
  return RATE_KINDS.some((kind) => kind in result) ? result : null;
}

/** `current` with `patch` merged in, kind by kind (see `KeyRateLimitPatch`). */
export function mergeKeyRateLimit(current: KeyRateLimit | null | undefined, patch: KeyRateLimitPatch | null): KeyRateLimit | null {
  if (patch === null) return null;
  const next: KeyRateLimit = { ...current };
  for (const kind of RATE_KINDS) {
    const value = patch[kind];
    if (value === undefined) continue;
    if (value === 'default') delete next[kind];
    else next[kind] = checkRateValue(kind, value);
  }
  return normalizeKeyRateLimit(next);
}

/** The limits that apply to a key: each kind its own when set, else the config-wide default's. */
export function effectiveRateLimits(own: KeyRateLimit | null | undefined, defaults: { requestsPerMinute?: number; tokensPerMinute?: number }): EffectiveRateLimits {
  const requests = own?.requests_per_minute;
  const tokens = own?.tokens_per_minute;
  return {
    requests_per_minute: requests === undefined ? (defaults.requestsPerMinute ?? null) : requests,
    tokens_per_minute: tokens === undefined ? (defaults.tokensPerMinute ?? null) : tokens,
  };
}

/** Storage form of one kind: NULL = the default applies, 0 = no limit, else the limit. */
export function rateColumn(own: KeyRateLimit | null | undefined, kind: keyof KeyRateLimit): number | null {
  const value = own?.[kind];
  return value === undefined ? null : (value ?? 0);
}

/** Back from the two storage columns (numbers, or Postgres BIGINT strings). */
export function rateLimitFromColumns(requests: number | string | null, tokens: number | string | null): KeyRateLimit | null {
  if (requests === null && tokens === null) return null;
  const result: KeyRateLimit = {};
  if (requests !== null) result.requests_per_minute = Number(requests) === 0 ? null : Number(requests);
  if (tokens !== null) result.tokens_per_minute = Number(tokens) === 0 ? null : Number(tokens);
  return result;
}

/** Builds the stored record for a new key (shared by the backends so both store the same thing). */
export function newKeyRecord(input: CreateKeyInput, now: Date): { key: string; record: ApiKeyRecord } {
  if (input.name.trim() === '') throw new TypeError('a key needs a name');
  const key = generateKey();
  const created = now.toISOString();
  return {
    key,
    record: {
      hash: hashKey(key),
      name: input.name,
      label: maskKey(key),
      limit: input.limit === undefined || input.limit === null ? null : formatUnits(parseUnits(input.limit)),
      limit_reset: input.limit_reset ?? null,
      is_management_key: input.is_management_key ?? false,
      disabled: false,
      user: input.user ?? null,
      team: input.team ?? null,
      created_at: created,
      updated_at: created,
      expires_at: input.expires_at === undefined || input.expires_at === null ? null : canonicalTime(input.expires_at),
      revoked_at: null,
      rate_limit: normalizeKeyRateLimit(input.rate_limit),
    },
  };
}

/** Applies a patch (validating the limit) and returns the new record. */
export function patchKeyRecord(record: ApiKeyRecord, patch: UpdateKeyInput, now: Date): ApiKeyRecord {
  const next: ApiKeyRecord = { ...record, updated_at: now.toISOString() };
  if (patch.name !== undefined) next.name = patch.name;
  if (patch.limit !== undefined) next.limit = patch.limit === null ? null : formatUnits(parseUnits(patch.limit));
  if (patch.limit_reset !== undefined) next.limit_reset = patch.limit_reset;
  if (patch.disabled !== undefined) next.disabled = patch.disabled;
  if (patch.expires_at !== undefined) next.expires_at = patch.expires_at === null ? null : canonicalTime(patch.expires_at);
  if (patch.rate_limit !== undefined) next.rate_limit = mergeKeyRateLimit(record.rate_limit, patch.rate_limit);
  else next.rate_limit = record.rate_limit ?? null;
  return next;
}

/** The `data` of `GET /api/v1/key` (and `/api/v1/auth/key`), numbers in USD as OpenRouter sends them. */
export interface KeyInfo {
  label: string;
  name: string;
  limit: number | null;
  limit_remaining: number | null;
  limit_reset: LimitReset | null;
  include_byok_in_limit: boolean;
  usage: number;
  usage_daily: number;
  usage_weekly: number;
  usage_monthly: number;
  is_free_tier: boolean;
  is_management_key: boolean;
  /** Legacy name of `is_management_key`. */
  is_provisioning_key: boolean;
  expires_at: string | null;
  rate_limit: KeyInfoRateLimit;
}

/**
 * `rate_limit` of `GET /api/v1/key`: OpenRouter's (deprecated) `{requests, interval, note}`, with
 * `requests` the key's requests per minute or -1 for none, plus the effective limits of each kind.
 */
export interface KeyInfoRateLimit extends EffectiveRateLimits {
  requests: number;
  interval: string;
  note: string;
}

export function keyInfoRateLimit(limits: EffectiveRateLimits): KeyInfoRateLimit {
  return {
    requests: limits.requests_per_minute ?? -1,
    interval: '1m',
    note: 'Per fixed UTC minute; requests -1 means no request limit. requests_per_minute and tokens_per_minute are the limits that apply to this key (null = none).',
    requests_per_minute: limits.requests_per_minute,
    tokens_per_minute: limits.tokens_per_minute,
  };
}

/** The usage counted against a key's limit: the reset window's, or lifetime usage. */
export function usageAgainstLimit(record: ApiKeyRecord, usage: KeyUsage): string {
  switch (record.limit_reset) {
    case 'daily':
      return usage.usage_daily;
    case 'weekly':
      return usage.usage_weekly;
    case 'monthly':
      return usage.usage_monthly;
    case null:
      return usage.usage;
  }
}

/** Exact remaining credit (never negative), or null when the key has no limit. */
export function limitRemaining(record: ApiKeyRecord, usage: KeyUsage): string | null {
  if (record.limit === null) return null;
  const remaining = parseUnits(record.limit) - parseUnits(usageAgainstLimit(record, usage));
  return formatUnits(remaining > 0n ? remaining : 0n);
}

/**
 * Pure: the `GET /api/v1/key` data from a key and its usage; `rateDefaults` are the config-wide
 * rate limits (`accounting.rate_limits`), which apply where the key has none of its own.
 */
export function keyInfo(record: ApiKeyRecord, usage: KeyUsage, rateDefaults: { requestsPerMinute?: number; tokensPerMinute?: number } = {}): KeyInfo {
  const remaining = limitRemaining(record, usage);
  return {
    label: record.label,
    name: record.name,
    limit: record.limit === null ? null : decimalToNumber(record.limit),
    limit_remaining: remaining === null ? null : decimalToNumber(remaining),
    limit_reset: record.limit_reset,
    // Every call is billed through the operator's own provider keys; there is no separate BYOK usage.
    include_byok_in_limit: true,
    usage: decimalToNumber(usage.usage),
    usage_daily: decimalToNumber(usage.usage_daily),
    usage_weekly: decimalToNumber(usage.usage_weekly),
    usage_monthly: decimalToNumber(usage.usage_monthly),
    is_free_tier: false,
    is_management_key: record.is_management_key,
    is_provisioning_key: record.is_management_key,
    expires_at: record.expires_at,
    rate_limit: keyInfoRateLimit(effectiveRateLimits(record.rate_limit, rateDefaults)),
  };
}
