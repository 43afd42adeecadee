/**
 * Budgets and rate limits in Redis, shared by every replica. Each operation is one Lua script,
 * so reserve/settle/check are atomic across replicas. A request costs two round trips: `admit`
 * (rate check + hold) before the call, and `settle` (release + spend + token count) after it;
 * settlements started in the same event-loop turn share one script call.
 *
 * Exact money in Redis: Lua has only doubles, exact for integers below 2^53. An amount is kept as
 * two integer fields, micro-dollars (`*_m`) and the remainder in 10^-18 USD below a micro-dollar
 * (`*_a`, 0 <= a < 10^12), with carries done in the script: exact to 10^-18 USD up to about
 * $9 billion per counter.
 *
 * Key layout (prefix default `switchyard:`; `<scope>` is the scope key verbatim):
 * - `<prefix>scope:<scope>`   HASH spent_m, spent_a, reserved_m, reserved_a, alert:<fraction> = 1
 * - `<prefix>holds:<scope>`   HASH reservation id -> "<m>:<a>" (the amount it holds)
 * - `<prefix>expiry:<scope>`  ZSET reservation id scored by hold expiry (epoch ms)
 * - `<prefix>rate:<subject>:<window start ms>:requests|tokens`  integer counters, expire after the window
 * Scope keys expire one day after their period ends (`periodEndsAt`, as a TTL from the injected clock); without it they are kept.
 * Holds expire after `holdTtlMs` (a crashed replica's holds stop counting).
 *
 * Scripts receive every key in KEYS, so they are correct on a single Redis or a Sentinel set; on
 * Redis Cluster every key of one request would have to share a hash slot, which this layout does
 * not arrange (not supported).
 */
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Redis, RedisOptions } from 'ioredis';
import { formatUnits, parseUnits } from '../accounting/decimal.ts';
import {
  DEFAULT_HOLD_TTL_MS,
  PERIOD_GRACE_MS,
  rateWindow,
  type AccountingState,
  type AdmitResult,
  type AlertEvent,
  type FailMode,
  type RateLimits,
  type RateResult,
  type Reservation,
  type ReserveResult,
  type ScopeHeadroom,
  type ScopeLimit,
  type SettleResult,
  type TokenCount,
} from './accounting-state.ts';
import { describeWindows } from './memory-state.ts';
import { amountUnits, headroomOf, snapshotNumber, thresholdsOf } from './scope-math.ts';

const MICRO = 10n ** 12n;

/** Units as the [micro, remainder] pair of decimal integer strings the scripts take. */
function toPair(units: bigint): [string, string] {
  return [(units / MICRO).toString(), (units % MICRO).toString()];
}

function fromPair(micro: string | null | undefined, remainder: string | null | undefined): bigint {
  return BigInt(micro ?? '0') * MICRO + BigInt(remainder ?? '0');
}

/** Pair arithmetic shared by the scripts. `fmt` renders an integer-valued double without exponent. */
const LUA_PAIRS = `
local BASE = 1000000000000
local function fmt(x) return string.format('%.0f', x) end
local function get(key, field)
  local values = redis.call('HMGET', key, field .. '_m', field .. '_a')
  return tonumber(values[1] or '0'), tonumber(values[2] or '0')
end
local function put(key, field, m, a)
  redis.call('HSET', key, field .. '_m', fmt(m), field .. '_a', fmt(a))
end
local function add(m1, a1, m2, a2)
  local m, a = m1 + m2, a1 + a2
  if a >= BASE then a = a - BASE; m = m + 1 end
  return m, a
end
local function sub(m1, a1, m2, a2)
  local m, a = m1 - m2, a1 - a2
  if a < 0 then a = a + BASE; m = m - 1 end
  if m < 0 then return 0, 0 end
  return m, a
end
local function less(m1, a1, m2, a2)
  return m1 < m2 or (m1 == m2 and a1 < a2)
end
local function parse(text)
  local m, a = string.match(text, '^(%d+):(%d+)$')
  return tonumber(m), tonumber(a)
end
-- Drops expired holds of one scope, releasing what they held.
local function purge(scope, holds, expiry, now)
  local expired = redis.call('ZRANGEBYSCORE', expiry, '-inf', now)
  for _, id in ipairs(expired) do
    local held = redis.call('HGET', holds, id)
    if held then
      local hm, ha = parse(held)
      local rm, ra = get(scope, 'reserved')
      rm, ra = sub(rm, ra, hm, ha)
      put(scope, 'reserved', rm, ra)
      redis.call('HDEL', holds, id)
    end
    redis.call('ZREM', expiry, id)
  end
end
local function keep(keys, ttl_ms)
  if ttl_ms > 0 then
    for _, key in ipairs(keys) do redis.call('PEXPIRE', key, ttl_ms) end
  end
end
`;

/**
 * The hold, shared by the reserve and admit scripts. Scopes are the KEYS after the first
 * `key_offset` (scope/holds/expiry each); ARGV from `argument_offset + 1`: now, id, amount_m,
 * amount_a, hold_until, then per scope limit_m, limit_a, keep_ttl in ms (0 = keep).
 * Returns {1} or {0, index, spent_m, spent_a, reserved_m, reserved_a}.
 */
const LUA_RESERVE = `
local function reserve(key_offset, argument_offset)
  local now = tonumber(ARGV[argument_offset + 1])
  local id = ARGV[argument_offset + 2]
  local am, aa = tonumber(ARGV[argument_offset + 3]), tonumber(ARGV[argument_offset + 4])
  local hold_until = tonumber(ARGV[argument_offset + 5])
  local count = (#KEYS - key_offset) / 3
  local base = argument_offset + 5
  for i = 1, count do
    local scope, holds, expiry = KEYS[key_offset + 3 * i - 2], KEYS[key_offset + 3 * i - 1], KEYS[key_offset + 3 * i]
    purge(scope, holds, expiry, now)
    local lm, la = tonumber(ARGV[base + 3 * i - 2]), tonumber(ARGV[base + 3 * i - 1])
    local sm, sa = get(scope, 'spent')
    local rm, ra = get(scope, 'reserved')
    local tm, ta = add(sm, sa, rm, ra)
    tm, ta = add(tm, ta, am, aa)
    if not less(sm, sa, lm, la) or less(lm, la, tm, ta) then
      return {0, i, fmt(sm), fmt(sa), fmt(rm), fmt(ra)}
    end
  end
  for i = 1, count do
    local scope, holds, expiry = KEYS[key_offset + 3 * i - 2], KEYS[key_offset + 3 * i - 1], KEYS[key_offset + 3 * i]
    local rm, ra = get(scope, 'reserved')
    rm, ra = add(rm, ra, am, aa)
    put(scope, 'reserved', rm, ra)
    redis.call('HSET', holds, id, fmt(am) .. ':' .. fmt(aa))
    redis.call('ZADD', expiry, hold_until, id)
    keep({scope, holds, expiry}, tonumber(ARGV[base + 3 * i]))
  end
  return {1}
end
`;

/**
 * The rate check, shared by the rate and admit scripts. ARGV: requests limit (-1 none), tokens
 * limit (-1 none), time to live (ms). Returns {allowed 1|0, limited ('requests'|'tokens'|''), requests, tokens}.
 */
const LUA_RATE = `
local function check_rate(requests_key, tokens_key)
  local requests = tonumber(redis.call('GET', requests_key) or '0')
  local tokens = tonumber(redis.call('GET', tokens_key) or '0')
  local request_limit, token_limit = tonumber(ARGV[1]), tonumber(ARGV[2])
  if request_limit >= 0 and requests + 1 > request_limit then return {0, 'requests', requests, tokens} end
  if token_limit >= 0 and tokens >= token_limit then return {0, 'tokens', requests, tokens} end
  requests = redis.call('INCR', requests_key)
  redis.call('PEXPIRE', requests_key, ARGV[3])
  return {1, '', requests, tokens}
end
`;

/** KEYS: per scope, scope/holds/expiry. ARGV and reply: see LUA_RESERVE. */
const RESERVE_SCRIPT = `${LUA_PAIRS}${LUA_RESERVE}
return reserve(0, 0)
`;

/**
 * KEYS: requests counter, tokens counter, then per scope scope/holds/expiry. ARGV: the rate
 * script's three, then the reserve script's. Returns {rate reply} when rate-limited, else {rate reply, reserve reply}.
 */
const ADMIT_SCRIPT = `${LUA_PAIRS}${LUA_RESERVE}${LUA_RATE}
local rate = check_rate(KEYS[1], KEYS[2])
if rate[1] == 0 then return {rate} end
return {rate, reserve(2, 3)}
`;

/**
 * Several settlements, one after the other. Per settlement, KEYS: tokens counter (or '' for
 * none), then per scope scope/holds/expiry; ARGV: scope count, tokens, tokens time to live (ms),
 * id, actual_m, actual_a, then per scope a JSON {keep = ms|0, thresholds = {{label, m, a}, ...}}.
 * Returns per settlement, per scope {spent_m, spent_a, {fired labels}}.
 */
const SETTLE_SCRIPT = `${LUA_PAIRS}
local k, a = 0, 0
local settlements = {}
while a < #ARGV do
local count, tokens = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
if KEYS[k + 1] ~= '' and tokens > 0 then
  redis.call('INCRBY', KEYS[k + 1], tokens)
  redis.call('PEXPIRE', KEYS[k + 1], ARGV[a + 3])
end
local id = ARGV[a + 4]
local am, aa = tonumber(ARGV[a + 5]), tonumber(ARGV[a + 6])
local results = {}
for i = 1, count do
  local scope, holds, expiry = KEYS[k + 3 * i - 1], KEYS[k + 3 * i], KEYS[k + 3 * i + 1]
  local config = cjson.decode(ARGV[a + 6 + i])
  local held = redis.call('HGET', holds, id)
  if held then
    local hm, ha = parse(held)
    local rm, ra = get(scope, 'reserved')
    rm, ra = sub(rm, ra, hm, ha)
    put(scope, 'reserved', rm, ra)
    redis.call('HDEL', holds, id)
    redis.call('ZREM', expiry, id)
  end
  local sm, sa = get(scope, 'spent')
  sm, sa = add(sm, sa, am, aa)
  put(scope, 'spent', sm, sa)
  keep({scope, holds, expiry}, config.keep)
  local fired = {}
  for _, threshold in ipairs(config.thresholds) do
    local label, tm, ta = threshold[1], tonumber(threshold[2]), tonumber(threshold[3])
    if not less(sm, sa, tm, ta) and redis.call('HSETNX', scope, 'alert:' .. label, '1') == 1 then
      table.insert(fired, label)
    end
  end
  table.insert(results, {fmt(sm), fmt(sa), fired})
end
table.insert(settlements, results)
k = k + 1 + 3 * count
a = a + 6 + count
end
return settlements
`;

/** KEYS: scope, holds, expiry. ARGV: spent_m, spent_a, keep_ttl (ms). Returns 1 when it seeded, 0 when a counter existed. */
const SEED_SCRIPT = `${LUA_PAIRS}
if redis.call('HEXISTS', KEYS[1], 'spent_m') == 1 then return 0 end
put(KEYS[1], 'spent', tonumber(ARGV[1]), tonumber(ARGV[2]))
keep({KEYS[1]}, tonumber(ARGV[3]))
return 1
`;

/** KEYS: scope/holds/expiry per scope. ARGV: now. Returns per scope {spent_m, spent_a, reserved_m, reserved_a}. */
const READ_SCRIPT = `${LUA_PAIRS}
local now = tonumber(ARGV[1])
local results = {}
for i = 1, #KEYS / 3 do
  local scope, holds, expiry = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  purge(scope, holds, expiry, now)
  local sm, sa = get(scope, 'spent')
  local rm, ra = get(scope, 'reserved')
  table.insert(results, {fmt(sm), fmt(sa), fmt(rm), fmt(ra)})
end
return results
`;

/** KEYS: requests counter, tokens counter. ARGV and reply: see LUA_RATE. */
const RATE_SCRIPT = `${LUA_RATE}
return check_rate(KEYS[1], KEYS[2])
`;

export interface RedisStateOptions {
  url: string;
  /** Prepended to every key; default `switchyard:`. Tests use a unique one per run. */
  prefix?: string;
  /** See `FailMode`; default `closed`. */
  fail?: FailMode;
  holdTtlMs?: number;
  /** Epoch ms; injectable for tests. Replicas' clocks should agree to well under a minute. */
  clock?: () => number;
  /** How long one command may take before it counts as unreachable; default 1000 ms. */
  commandTimeoutMs?: number;
  /** Hears every Redis failure (log it); the operation then follows `fail`. */
  onError?: (error: unknown) => void;
  /** Extra ioredis options. */
  redis?: RedisOptions;
}

type ScriptName = 'reserve' | 'settle' | 'seed' | 'read' | 'rate' | 'admit';
const SCRIPTS: Record<ScriptName, string> = { reserve: RESERVE_SCRIPT, settle: SETTLE_SCRIPT, seed: SEED_SCRIPT, read: READ_SCRIPT, rate: RATE_SCRIPT, admit: ADMIT_SCRIPT };

export class RedisAccountingState implements AccountingState {
  readonly kind = 'redis';
  readonly redis: Redis;
  readonly #prefix: string;
  readonly #fail: FailMode;
  readonly #holdTtlMs: number;
  readonly #clock: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #pendingSettles: Array<{ keys: string[]; argumentsList: string[]; resolve: (reply: Array<[string, string, string[]]>) => void; reject: (error: unknown) => void }> = [];

  constructor(options: RedisStateOptions) {
    this.#prefix = options.prefix ?? 'switchyard:';
    this.#fail = options.fail ?? 'closed';
    this.#holdTtlMs = options.holdTtlMs ?? DEFAULT_HOLD_TTL_MS;
    this.#clock = options.clock ?? Date.now;
    this.#onError = options.onError ?? (() => {});
    // Fail fast while disconnected instead of queueing requests behind a dead connection.
    // Loaded on first use, not at import: only a Redis deployment pays its memory (~15 MB of RSS).
    const { Redis: RedisClient } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
    this.redis = new RedisClient(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      ...options.redis,
    });
    this.redis.on('error', (error) => this.#onError(error));
    for (const [name, source] of Object.entries(SCRIPTS)) this.redis.defineCommand(`switchyard_${name}`, { lua: source });
  }

  /** Resolves once connected (rejects if Redis cannot be reached now). */
  async ready(): Promise<void> {
    if (this.redis.status === 'ready') return;
    if (this.redis.status === 'end') throw new Error('Redis connection is closed');
    await new Promise<void>((resolve, reject) => {
      const onReady = (): void => {
        this.redis.off('error', onError);
        resolve();
      };
      const onError = (error: Error): void => {
        this.redis.off('ready', onReady);
        reject(error);
      };
      this.redis.once('ready', onReady);
      this.redis.once('error', onError);
    });
  }

  async reserve(scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<ReserveResult> {
    const hold = this.#holdRequest(scopes, worstCaseUsd);
    // Nothing to hold against: no round trip, and no outage can refuse it.
    if (scopes.length === 0) return hold.reply([1]);
    try {
      return hold.reply((await this.#run('reserve', this.#scopeKeys(scopes), hold.argumentsList)) as unknown[]);
    } catch (error) {
      this.#onError(error);
      return hold.unreachable(error);
    }
  }

  async admit(subject: string, limits: RateLimits, scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<AdmitResult> {
    if (scopes.length === 0) {
      const checked = await this.checkRate(subject, limits);
      return checked.ok ? { rate: checked, hold: await this.reserve(scopes, worstCaseUsd) } : { rate: checked };
    }
    const rate = this.#rateRequest(subject, limits);
    const hold = this.#holdRequest(scopes, worstCaseUsd);
    let reply: [unknown[], unknown[]?];
    try {
      reply = (await this.#run('admit', [...rate.keys, ...this.#scopeKeys(scopes)], [...rate.argumentsList, ...hold.argumentsList])) as [unknown[], unknown[]?];
    } catch (error) {
      this.#onError(error);
      const refused = rate.unreachable(error);
      return refused.ok ? { rate: refused, hold: hold.unreachable(error) } : { rate: refused };
    }
    const [rateReply, holdReply] = reply;
    const checked = rate.reply(rateReply);
    return checked.ok ? { rate: checked, hold: hold.reply(holdReply ?? [1]) } : { rate: checked };
  }

  /** The reserve script's arguments for a hold, and how to read its reply or an outage. */
  #holdRequest(scopes: readonly ScopeLimit[], worstCaseUsd: string | number) {
    const amount = amountUnits(worstCaseUsd);
    const id = randomUUID();
    const now = this.#clock();
    const argumentsList: string[] = [String(now), id, ...toPair(amount), String(now + this.#holdTtlMs)];
    for (const scope of scopes) argumentsList.push(...toPair(parseUnits(scope.limit)), String(this.#keepTtl(scope)));
    const reservation = (enforced: boolean): ReserveResult => ({ ok: true, reservation: { id, amount: formatUnits(amount), scopes: [...scopes], enforced } });
    return {
      argumentsList,
      reply: (reply: unknown[]): ReserveResult => {
        if (Number(reply[0]) === 1) return reservation(true);
        const scope = scopes[Number(reply[1]) - 1] as ScopeLimit;
        const [spentMicro, spentRemainder, reservedMicro, reservedRemainder] = reply.slice(2).map(String);
        return {
          ok: false,
          reason: 'limit_exceeded',
          exceeded: headroomOf(scope.scopeKey, parseUnits(scope.limit), fromPair(spentMicro, spentRemainder), fromPair(reservedMicro, reservedRemainder)),
        };
      },
      unreachable: (error: unknown): ReserveResult =>
        this.#fail === 'open' ? reservation(false) : { ok: false, reason: 'state_unavailable', message: `budget state unreachable: ${(error as Error).message}` },
    };
  }

  /** The rate script's keys and arguments, and how to read its reply or an outage. */
  #rateRequest(subject: string, limits: RateLimits) {
    const now = this.#clock();
    const window = rateWindow(now);
    return {
      keys: this.#rateKeys(subject, window.start),
      argumentsList: [String(limits.requestsPerMinute ?? -1), String(limits.tokensPerMinute ?? -1), String(window.end + 1000 - now)],
      reply: (reply: unknown[]): RateResult => {
        const [allowed, limited, requests, tokens] = reply;
        const windows = describeWindows(limits, Number(requests), Number(tokens), window.end);
        if (Number(allowed) === 1) return { ok: true, ...windows };
        return {
          ok: false,
          reason: 'rate_limited',
          limited: limited === 'tokens' ? 'tokens' : 'requests',
          retryAfterSeconds: Math.max(1, Math.ceil((window.end - now) / 1000)),
          ...windows,
        };
      },
      unreachable: (error: unknown): RateResult =>
        this.#fail === 'open' ? { ok: true } : { ok: false, reason: 'state_unavailable', message: `rate-limit state unreachable: ${(error as Error).message}` },
    };
  }

  async settle(reservation: Reservation, actualUsd: string, tokens?: TokenCount): Promise<SettleResult> {
    const actual = amountUnits(actualUsd);
    if (reservation.scopes.length === 0) {
      if (tokens) await this.recordTokens(tokens.subject, tokens.tokens);
      return { recorded: true, spent: {}, alerts: [] };
    }
    let tokensKey = '';
    let tokensTtl = 0;
    if (tokens) {
      checkTokens(tokens.tokens);
      const now = this.#clock();
      const window = rateWindow(now);
      tokensKey = this.#rateKeys(tokens.subject, window.start)[1];
      tokensTtl = window.end + 1000 - now;
    }
    const argumentsList: string[] = [String(reservation.scopes.length), String(tokens?.tokens ?? 0), String(tokensTtl), reservation.id, ...toPair(actual)];
    const thresholds = reservation.scopes.map((scope) => thresholdsOf(scope));
    reservation.scopes.forEach((scope, index) => {
      const list = (thresholds[index] ?? []).map((threshold) => [String(threshold.fraction), ...toPair(threshold.units)]);
      argumentsList.push(JSON.stringify({ keep: this.#keepTtl(scope), thresholds: list }));
    });
    let reply: Array<[string, string, string[]]>;
    try {
      reply = await this.#settleBatched([tokensKey, ...this.#scopeKeys(reservation.scopes)], argumentsList);
    } catch {
      return { recorded: false, spent: {}, alerts: [] };
    }
    const spent: Record<string, string> = {};
    const alerts: AlertEvent[] = [];
    reservation.scopes.forEach((scope, index) => {
      const [micro, remainder, fired] = reply[index] ?? ['0', '0', []];
      const total = formatUnits(fromPair(micro, remainder));
      spent[scope.scopeKey] = total;
      for (const label of fired) alerts.push({ scopeKey: scope.scopeKey, threshold: Number(label), spent: total, limit: scope.limit });
    });
    return { recorded: true, spent, alerts };
  }

  /**
   * Settlements started in the same turn of the event loop go to Redis in one script call (each
   * still atomic, in order): settling is off the response path, so waiting one turn costs no
   * latency and saves a round trip per request under load.
   */
  #settleBatched(keys: string[], argumentsList: string[]): Promise<Array<[string, string, string[]]>> {
    return new Promise((resolve, reject) => {
      this.#pendingSettles.push({ keys, argumentsList, resolve, reject });
      if (this.#pendingSettles.length === 1) setImmediate(() => this.#flushSettles());
    });
  }

  #flushSettles(): void {
    const batch = this.#pendingSettles.splice(0);
    this.#run('settle', batch.flatMap((settlement) => settlement.keys), batch.flatMap((settlement) => settlement.argumentsList)).then(
      (reply) => batch.forEach((settlement, index) => settlement.resolve((reply as Array<Array<[string, string, string[]]>>)[index] ?? [])),
      (error: unknown) => {
        this.#onError(error);
        for (const settlement of batch) settlement.reject(error);
      },
    );
  }

  async seedSpend(scope: ScopeLimit, spentUsd: string): Promise<boolean> {
    const spent = amountUnits(spentUsd);
    try {
      const reply = await this.#run('seed', this.#keysOf(scope.scopeKey), [...toPair(spent), String(this.#keepTtl(scope))]);
      return Number(reply) === 1;
    } catch (error) {
      this.#onError(error);
      return false;
    }
  }

  async headroom(scopes: readonly ScopeLimit[]): Promise<ScopeHeadroom[]> {
    const counters = await this.#read(scopes.map((scope) => scope.scopeKey));
    return scopes.map((scope, index) => {
      const counter = counters[index] ?? { spent: 0n, reserved: 0n };
      return headroomOf(scope.scopeKey, parseUnits(scope.limit), counter.spent, counter.reserved);
    });
  }

  async snapshotSpend(scopeKeys: readonly string[]): Promise<Record<string, number>> {
    const counters = await this.#read(scopeKeys);
    const spend: Record<string, number> = {};
    scopeKeys.forEach((scopeKey, index) => {
      const counter = counters[index] ?? { spent: 0n, reserved: 0n };
      spend[scopeKey] = snapshotNumber(counter.spent, counter.reserved);
    });
    return spend;
  }

  async checkRate(subject: string, limits: RateLimits): Promise<RateResult> {
    const rate = this.#rateRequest(subject, limits);
    try {
      return rate.reply((await this.#run('rate', rate.keys, rate.argumentsList)) as unknown[]);
    } catch (error) {
      this.#onError(error);
      return rate.unreachable(error);
    }
  }

  async recordTokens(subject: string, tokens: number): Promise<void> {
    checkTokens(tokens);
    const now = this.#clock();
    const window = rateWindow(now);
    const [, tokensKey] = this.#rateKeys(subject, window.start);
    try {
      await this.redis.multi().incrby(tokensKey, tokens).pexpire(tokensKey, window.end + 1000 - now).exec();
    } catch (error) {
      this.#onError(error);
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  async #read(scopeKeys: readonly string[]): Promise<Array<{ spent: bigint; reserved: bigint }>> {
    if (scopeKeys.length === 0) return [];
    const keys = scopeKeys.flatMap((scopeKey) => this.#keysOf(scopeKey));
    const reply = (await this.#run('read', keys, [String(this.#clock())])) as Array<[string, string, string, string]>;
    return reply.map(([spentMicro, spentRemainder, reservedMicro, reservedRemainder]) => ({
      spent: fromPair(spentMicro, spentRemainder),
      reserved: fromPair(reservedMicro, reservedRemainder),
    }));
  }

  #run(name: ScriptName, keys: string[], argumentsList: string[]): Promise<unknown> {
    const command = (this.redis as unknown as Record<string, (count: number, ...values: string[]) => Promise<unknown>>)[`switchyard_${name}`];
    if (!command) throw new Error(`script ${name} is not defined`);
    return command.call(this.redis, keys.length, ...keys, ...argumentsList);
  }

  #keysOf(scopeKey: string): [string, string, string] {
    return [`${this.#prefix}scope:${scopeKey}`, `${this.#prefix}holds:${scopeKey}`, `${this.#prefix}expiry:${scopeKey}`];
  }

  #scopeKeys(scopes: readonly ScopeLimit[]): string[] {
    return scopes.flatMap((scope) => this.#keysOf(scope.scopeKey));
  }

  #rateKeys(subject: string, windowStart: number): [string, string] {
    const base = `${this.#prefix}rate:${subject}:${windowStart}`;
    return [`${base}:requests`, `${base}:tokens`];
  }

  /**
   * Time to live of a scope's keys, relative to the injected clock (not Redis's own), so a replica
   * whose clock is the authority and a test clock agree; 0 keeps the keys.
   */
  #keepTtl(scope: ScopeLimit): number {
    return scope.periodEndsAt === undefined ? 0 : Math.max(1, scope.periodEndsAt + PERIOD_GRACE_MS - this.#clock());
  }
}

function checkTokens(tokens: number): void {
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`tokens must be a whole number, got ${tokens}`);
}
