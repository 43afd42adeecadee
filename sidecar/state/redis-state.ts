/**
 * Budgets and rate limits in Redis, shared by every replica. Each operation runs inside a Lua
 * script, so reserve/settle/check are atomic across replicas. A request takes part in two round
 * trips: `admit` (rate check + hold) before the call, and `settle` (release + spend + token count)
 * after it. Every admit, reserve, rate check and settlement started in the same event-loop turn
 * goes in one script call (`BATCH_SCRIPT`, at most `MAX_BATCH_OPERATIONS`), each answered on its
 * own: under load the socket writes, commands and script runs are shared by a turn's requests.
 *
 * Exact money in Redis: Lua has only doubles, exact for integers below 2^53. An amount is kept as
 * two integer fields, micro-dollars (`*_m`) and the remainder in 10^-18 USD below a micro-dollar
 * (`*_a`, 0 <= a < 10^12), with carries done in the script: exact to 10^-18 USD up to about
 * $9 billion per counter.
 *
 * Key layout (prefix default `switchyard:`; `<scope>` is the scope key verbatim):
 * - `<prefix>scope:<scope>`   HASH spent_m, spent_a, reserved_m, reserved_a, alert:<fraction> = 1
 * - `<prefix>holds:<scope>`   HASH reservation id -> "<m>:<a>" (the amount it holds); `_` = 1 when the key has its time to live
 * - `<prefix>expiry:<scope>`  ZSET reservation id scored by hold expiry (epoch ms); `_` scored +inf, as in holds
 * - `<prefix>rate:<subject>:<window start ms>:requests|tokens`  integer counters, expire after the window
 * Scope keys expire one day after their period ends (`periodEndsAt`, as a TTL from the injected clock); without it they are kept.
 * Holds expire after `holdTtlMs` (a crashed replica's holds stop counting): a hold that would not
 * fit drops the scope's expired holds first, and so does every read.
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
import { amountUnits, headroomOf, ScopeCache, snapshotNumber, termsOf } from './scope-math.ts';

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
local function keep(keys, ttl_ms)
  if ttl_ms > 0 then
    for _, key in ipairs(keys) do redis.call('PEXPIRE', key, ttl_ms) end
  end
end
`;

/**
 * Every reserve, admit, rate check and settlement started in one turn of the event loop, in one
 * script call: each operation is still atomic (the whole call is) and runs in the order started,
 * and each gets its own reply. Amounts travel as integer strings of 10^-18 USD, split into pairs
 * by `units`; replies give totals the same way (`total`). An operation is one argument, its
 * fields separated by spaces, and its reply one line: fewer, larger strings cost less to send and
 * to read on both sides than one per field.
 *
 * Redis commands are what a call costs (each `redis.call` a few microseconds of Redis CPU), so a
 * call reads each scope's counters and each rate counter once, when an operation first needs them,
 * keeps them in the script while its operations run, and writes each changed one back once at the
 * end (one HSET per scope, one INCRBY per rate counter). Per operation only the hold itself is
 * written (HSET holds, ZADD expiry) or removed (HDEL, ZREM). Time to live is set when it can have
 * changed: a rate counter's when the INCRBY created it, a scope hash's when this call created it,
 * holds' and expiry's when a hold's HSET or ZADD added their `_` marker (a scope that expires keeps
 * them, marker and all, until then; without the marker they would be deleted with their last hold
 * and come back without a time to live).
 *
 * KEYS: the keys of the batch, each once. ARGV[1]: number of scopes; then one argument per scope:
 * index in KEYS of its scope key (holds and expiry follow it), limit, keep_ttl in ms (0 = keep),
 * then per alert threshold its label and amount. Then one argument per operation, a code and its
 * fields (scopes as positions in the scope list):
 * - `h` hold: now, id, amount, hold_until, scopes... Reply `1`, or `0 <position> <spent> <reserved>`.
 * - `r` rate: requests key, tokens key, requests limit (-1 none), tokens limit (-1 none), time to
 *   live (ms). Reply `<allowed 1|0> <limited requests|tokens|-> <requests> <tokens>`.
 * - `a` admit: the rate fields, then the hold's. Reply: the rate reply, followed by the hold's when
 *   the rate allowed the request.
 * - `s` settle: tokens key (0 none), tokens, tokens time to live (ms), id, the amount the hold
 *   holds, actual, scopes... Reply per scope: spent after it, and the labels of the thresholds it
 *   crossed ("0.5,0.8", or "-").
 * Returns the replies, one line each. An operation that fails (a key of the wrong type) answers
 * `!<error>` and the others go on, as separate calls would.
 */
const BATCH_SCRIPT = `${LUA_PAIRS}
local function units(text)
  local length = #text
  if length <= 12 then return 0, tonumber(text) end
  return tonumber(string.sub(text, 1, length - 12)), tonumber(string.sub(text, length - 11))
end
local function total(m, a)
  if m == 0 then return fmt(a) end
  return fmt(m) .. string.format('%012.0f', a)
end
local find, substring = string.find, string.sub
local function split(text)
  local fields, n, from = {}, 0, 1
  while true do
    local space = find(text, ' ', from, true)
    n = n + 1
    if space == nil then
      fields[n] = substring(text, from)
      return fields
    end
    fields[n] = substring(text, from, space - 1)
    from = space + 1
  end
end
local scopes = {}
local count = tonumber(ARGV[1])
for d = 1, count do
  local f = split(ARGV[1 + d])
  local k = tonumber(f[1])
  local lm, la = units(f[2])
  local thresholds = {}
  local fields = {'spent_m', 'spent_a', 'reserved_m', 'reserved_a'}
  for t = 4, #f, 2 do
    local tm, ta = units(f[t + 1])
    local field = 'alert:' .. f[t]
    thresholds[#thresholds + 1] = {f[t], tm, ta, field}
    fields[#fields + 1] = field
  end
  scopes[d] = {key = KEYS[k], holds = KEYS[k + 1], expiry = KEYS[k + 2], lm = lm, la = la, ttl = tonumber(f[3]), thresholds = thresholds, fields = fields, loaded = false, purged = -1}
end
-- A scope's counters and fired alerts, read on first use; written back at the end.
local function load(s)
  if s.loaded then return end
  local values = redis.call('HMGET', s.key, unpack(s.fields))
  s.sm, s.sa = tonumber(values[1] or '0'), tonumber(values[2] or '0')
  s.rm, s.ra = tonumber(values[3] or '0'), tonumber(values[4] or '0')
  s.created = not values[1] and not values[3]
  s.alerted = {}
  for t = 1, #s.thresholds do s.alerted[t] = values[4 + t] and true or false end
  s.fired = {}
  s.spent_changed, s.reserved_changed, s.expire_holds, s.expire_expiry = false, false, false, false
  s.loaded = true
end
-- Drops expired holds of a loaded scope, releasing what they held.
local function purge(s, now)
  local expired = redis.call('ZRANGEBYSCORE', s.expiry, '-inf', now)
  for _, id in ipairs(expired) do
    local held = redis.call('HGET', s.holds, id)
    if held then
      local hm, ha = parse(held)
      s.rm, s.ra = sub(s.rm, s.ra, hm, ha)
      s.reserved_changed = true
      redis.call('HDEL', s.holds, id)
    end
    redis.call('ZREM', s.expiry, id)
  end
end
-- Rate counters by index in KEYS, read on first use; the increments are written at the end.
local counters = {}
local counted = {}
local function counter(k, value)
  local c = counters[k]
  if c == nil then
    if value == nil then value = redis.call('GET', KEYS[k]) end
    local n = tonumber(value or '0')
    if n == nil then error('ERR value is not an integer') end
    c = {value = n, delta = 0, ttl = 0}
    counters[k] = c
    counted[#counted + 1] = k
  end
  return c
end
-- As scope-math.ts \`fits\`: spent below the limit, and spent + reserved + amount within it.
local function fits(s, am, aa)
  local tm, ta = add(s.sm, s.sa, s.rm, s.ra)
  tm, ta = add(tm, ta, am, aa)
  return less(s.sm, s.sa, s.lm, s.la) and not less(s.lm, s.la, tm, ta)
end
local function hold(f, o)
  local now, id = tonumber(f[o]), f[o + 1]
  local am, aa = units(f[o + 2])
  local hold_until = tonumber(f[o + 3])
  -- Every scope is checked against its counters before this hold: a scope named twice is held twice.
  for i = o + 4, #f do
    local s = scopes[tonumber(f[i])]
    load(s)
    -- Expired holds are dropped only when the hold does not fit without that: dropping them can
    -- only make it fit (reads drop them too, so what headroom reports is the same). Purging twice
    -- at the same instant finds nothing more.
    if not fits(s, am, aa) and s.purged ~= now then
      purge(s, now)
      s.purged = now
    end
    if not fits(s, am, aa) then
      return '0 ' .. (i - o - 3) .. ' ' .. total(s.sm, s.sa) .. ' ' .. total(s.rm, s.ra)
    end
  end
  local held = fmt(am) .. ':' .. fmt(aa)
  for i = o + 4, #f do
    local s = scopes[tonumber(f[i])]
    if s.ttl > 0 then
      -- With the marker field/member '_': 2 answers that the marker is new, so the key was made now and needs its time to live.
      if redis.call('HSET', s.holds, id, held, '_', '1') == 2 then s.expire_holds = true end
      if redis.call('ZADD', s.expiry, hold_until, id, 'inf', '_') == 2 then s.expire_expiry = true end
    else
      redis.call('HSET', s.holds, id, held)
      redis.call('ZADD', s.expiry, hold_until, id)
    end
    s.rm, s.ra = add(s.rm, s.ra, am, aa)
    s.reserved_changed = true
    if hold_until <= now then s.purged = -1 end
  end
  return '1'
end
local function rate(f)
  local requests_index, tokens_index = tonumber(f[2]), tonumber(f[3])
  if counters[requests_index] == nil and counters[tokens_index] == nil then
    local values = redis.call('MGET', KEYS[requests_index], KEYS[tokens_index])
    counter(requests_index, values[1])
    counter(tokens_index, values[2])
  end
  local requests, tokens = counter(requests_index), counter(tokens_index)
  local request_limit, token_limit = tonumber(f[4]), tonumber(f[5])
  if request_limit >= 0 and requests.value + 1 > request_limit then return false, '0 requests ' .. fmt(requests.value) .. ' ' .. fmt(tokens.value) end
  if token_limit >= 0 and tokens.value >= token_limit then return false, '0 tokens ' .. fmt(requests.value) .. ' ' .. fmt(tokens.value) end
  requests.value, requests.delta, requests.ttl = requests.value + 1, requests.delta + 1, f[6]
  return true, '1 - ' .. fmt(requests.value) .. ' ' .. fmt(tokens.value)
end
local function settle(f)
  local tokens_index, tokens = tonumber(f[2]), tonumber(f[3])
  if tokens_index > 0 and tokens > 0 then
    local c = counter(tokens_index)
    c.value, c.delta, c.ttl = c.value + tokens, c.delta + tokens, f[4]
  end
  local id = f[5]
  local hm, ha = units(f[6])
  local am, aa = units(f[7])
  local reply = {}
  for i = 8, #f do
    local s = scopes[tonumber(f[i])]
    load(s)
    -- The hold is released only while it is held (not expired and purged meanwhile).
    if redis.call('HDEL', s.holds, id) == 1 then
      redis.call('ZREM', s.expiry, id)
      s.rm, s.ra = sub(s.rm, s.ra, hm, ha)
      s.reserved_changed = true
    end
    s.sm, s.sa = add(s.sm, s.sa, am, aa)
    s.spent_changed = true
    local fired = '-'
    for t, threshold in ipairs(s.thresholds) do
      if not s.alerted[t] and not less(s.sm, s.sa, threshold[2], threshold[3]) then
        s.alerted[t] = true
        s.fired[#s.fired + 1] = threshold[4]
        fired = fired == '-' and threshold[1] or fired .. ',' .. threshold[1]
      end
    end
    reply[#reply + 1] = total(s.sm, s.sa)
    reply[#reply + 1] = fired
  end
  return table.concat(reply, ' ')
end
local function run(text)
  local f = split(text)
  local code = f[1]
  if code == 'h' then return hold(f, 2) end
  if code == 's' then return settle(f) end
  local allowed, reply = rate(f)
  if code == 'a' and allowed then return reply .. ' ' .. hold(f, 7) end
  return reply
end
local replies = {}
for i = 2 + count, #ARGV do
  local ok, reply = pcall(run, ARGV[i])
  if not ok then reply = '!' .. string.gsub(type(reply) == 'table' and reply.err or tostring(reply), '\\n', ' ') end
  replies[#replies + 1] = reply
end
-- What changed, written back once.
for _, s in ipairs(scopes) do
  if s.loaded then
    local values = {}
    if s.spent_changed then
      values[#values + 1] = 'spent_m'; values[#values + 1] = fmt(s.sm)
      values[#values + 1] = 'spent_a'; values[#values + 1] = fmt(s.sa)
    end
    if s.reserved_changed then
      values[#values + 1] = 'reserved_m'; values[#values + 1] = fmt(s.rm)
      values[#values + 1] = 'reserved_a'; values[#values + 1] = fmt(s.ra)
    end
    for _, field in ipairs(s.fired) do
      values[#values + 1] = field; values[#values + 1] = '1'
    end
    if #values > 0 then
      redis.call('HSET', s.key, unpack(values))
      if s.created then keep({s.key}, s.ttl) end
    end
    if s.expire_holds then redis.call('PEXPIRE', s.holds, s.ttl) end
    if s.expire_expiry then redis.call('PEXPIRE', s.expiry, s.ttl) end
  end
end
for _, k in ipairs(counted) do
  local c = counters[k]
  if c.delta > 0 and redis.call('INCRBY', KEYS[k], c.delta) == c.delta then redis.call('PEXPIRE', KEYS[k], c.ttl) end
end
return table.concat(replies, '\\n')
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

type ScriptName = 'batch' | 'seed' | 'read';
const SCRIPTS: Record<ScriptName, string> = { batch: BATCH_SCRIPT, seed: SEED_SCRIPT, read: READ_SCRIPT };

/** What the batch script needs of a scope, derived once per scope key and limit (see `ScopeCache`). */
interface ScopeEntry {
  /** scope, holds, expiry. */
  keys: [string, string, string];
  limit: bigint;
  limitArgument: string;
  /** ` <label> <amount>` per threshold, in order. */
  thresholdArguments: string;
}

/** The operations of one event-loop turn, sent as one script call (see `BATCH_SCRIPT`). */
interface Batch {
  keys: string[];
  /** Rate counter key -> its index in `keys` (1-based, as in Lua). */
  keyIndex: Map<string, number>;
  /** Scope key -> its index in the scope list (1-based), with the entry it was described from. */
  scopeIndex: Map<string, { index: number; entry: ScopeEntry }>;
  /** One argument per scope, then one per operation (after the scope count, see `BATCH_SCRIPT`). */
  scopeArguments: string[];
  operations: string[];
  /** Reply lines in operation order; rejects when the call failed as a whole. */
  replies: Promise<string[]>;
}

/** A rate counter pair of one subject in one window. */
interface RateKeys {
  windowStart: number;
  requests: string;
  tokens: string;
}

/**
 * Operations per script call at most: one call blocks Redis while it runs (about 10 us per
 * operation), so a burst goes as several calls that other clients' commands can come between.
 */
const MAX_BATCH_OPERATIONS = 32;

/** Entries kept before a key cache starts over. */
const KEY_CACHE_SIZE = 10_000;

export class RedisAccountingState implements AccountingState {
  readonly kind = 'redis';
  readonly redis: Redis;
  readonly #prefix: string;
  readonly #fail: FailMode;
  readonly #holdTtlMs: number;
  readonly #clock: () => number;
  readonly #onError: (error: unknown) => void;
  readonly #scopes = new ScopeCache<ScopeEntry>((scope) => this.#scopeEntry(scope));
  readonly #rateKeys = new Map<string, RateKeys>();
  #batch: Batch | undefined;

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
    const amount = amountUnits(worstCaseUsd);
    const id = randomUUID();
    // Nothing to hold against: no round trip, and no outage can refuse it.
    if (scopes.length === 0) return held(id, amount, scopes, true);
    const batch = this.#currentBatch();
    const operation = batch.operations.push(`h${this.#holdFields(batch, scopes, amount, id)}`) - 1;
    try {
      return this.#holdReply(await this.#replyOf(batch, operation), 0, scopes, amount, id);
    } catch (error) {
      return this.#holdUnreachable(error, scopes, amount, id);
    }
  }

  async admit(subject: string, limits: RateLimits, scopes: readonly ScopeLimit[], worstCaseUsd: string | number): Promise<AdmitResult> {
    if (scopes.length === 0) {
      const checked = await this.checkRate(subject, limits);
      return checked.ok ? { rate: checked, hold: await this.reserve(scopes, worstCaseUsd) } : { rate: checked };
    }
    const amount = amountUnits(worstCaseUsd);
    const id = randomUUID();
    const now = this.#clock();
    const batch = this.#currentBatch();
    const operation = batch.operations.push(`a${this.#rateFields(batch, subject, limits, now)}${this.#holdFields(batch, scopes, amount, id)}`) - 1;
    let reply: string[];
    try {
      reply = await this.#replyOf(batch, operation);
    } catch (error) {
      const refused = this.#rateUnreachable(error);
      return refused.ok ? { rate: refused, hold: this.#holdUnreachable(error, scopes, amount, id) } : { rate: refused };
    }
    const checked = this.#rateReply(reply, limits, now);
    return checked.ok ? { rate: checked, hold: this.#holdReply(reply, 4, scopes, amount, id) } : { rate: checked };
  }

  async checkRate(subject: string, limits: RateLimits): Promise<RateResult> {
    const now = this.#clock();
    const batch = this.#currentBatch();
    const operation = batch.operations.push(`r${this.#rateFields(batch, subject, limits, now)}`) - 1;
    try {
      return this.#rateReply(await this.#replyOf(batch, operation), limits, now);
    } catch (error) {
      return this.#rateUnreachable(error);
    }
  }

  async settle(reservation: Reservation, actualUsd: string, tokens?: TokenCount): Promise<SettleResult> {
    const actual = amountUnits(actualUsd);
    const scopes = reservation.scopes;
    if (scopes.length === 0) {
      if (tokens) await this.recordTokens(tokens.subject, tokens.tokens);
      return { recorded: true, spent: {}, alerts: [] };
    }
    if (tokens) checkTokens(tokens.tokens);
    const batch = this.#currentBatch();
    let fields = 's 0 0 0';
    if (tokens) {
      const now = this.#clock();
      const window = rateWindow(now);
      fields = `s ${this.#keyIndex(batch, this.#rateKeysOf(tokens.subject, window.start).tokens)} ${tokens.tokens} ${window.end + 1000 - now}`;
    }
    fields += ` ${reservation.id} ${parseUnits(reservation.amount)} ${actual}`;
    for (const scope of scopes) fields += ` ${this.#scopeIndex(batch, scope)}`;
    const operation = batch.operations.push(fields) - 1;
    let reply: string[];
    try {
      reply = await this.#replyOf(batch, operation);
    } catch {
      return { recorded: false, spent: {}, alerts: [] };
    }
    const spent: Record<string, string> = {};
    const alerts: AlertEvent[] = [];
    for (let index = 0; index < scopes.length; index += 1) {
      const scope = scopes[index] as ScopeLimit;
      const total = formatUnits(BigInt(reply[2 * index] ?? '0'));
      spent[scope.scopeKey] = total;
      const fired = reply[2 * index + 1] ?? '-';
      if (fired === '-') continue;
      for (const label of fired.split(',')) alerts.push({ scopeKey: scope.scopeKey, threshold: Number(label), spent: total, limit: scope.limit });
    }
    return { recorded: true, spent, alerts };
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

  async recordTokens(subject: string, tokens: number): Promise<void> {
    checkTokens(tokens);
    const now = this.#clock();
    const window = rateWindow(now);
    const tokensKey = this.#rateKeysOf(subject, window.start).tokens;
    try {
      await this.redis.multi().incrby(tokensKey, tokens).pexpire(tokensKey, window.end + 1000 - now).exec();
    } catch (error) {
      this.#onError(error);
    }
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  /**
   * The batch of this event-loop turn, sent once the turn's I/O callbacks have run: the request
   * path waits one turn at most, and under load a whole turn's requests share one round trip
   * (one socket write, one script call) instead of costing one each.
   */
  #currentBatch(): Batch {
    if (this.#batch !== undefined && this.#batch.operations.length < MAX_BATCH_OPERATIONS) return this.#batch;
    const batch: Batch = {
      keys: [],
      keyIndex: new Map(),
      scopeIndex: new Map(),
      scopeArguments: [],
      operations: [],
      replies: new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#send(batch)),
    };
    this.#batch = batch;
    return batch;
  }

  async #send(batch: Batch): Promise<string[]> {
    if (this.#batch === batch) this.#batch = undefined;
    try {
      // One array: ioredis flattens it into the command (no copy per spread).
      const reply = await this.#command('batch').call(this.redis, [batch.keys.length, ...batch.keys, batch.scopeArguments.length, ...batch.scopeArguments, ...batch.operations]);
      return String(reply).split('\n');
    } catch (error) {
      this.#onError(error);
      throw error;
    }
  }

  /** One operation's reply fields; throws when the call failed, or this operation did (after reporting it). */
  async #replyOf(batch: Batch, operation: number): Promise<string[]> {
    const reply = (await batch.replies)[operation];
    if (reply !== undefined && !reply.startsWith('!')) return reply.split(' ');
    const error = new Error(reply === undefined ? 'no reply from Redis for this operation' : reply.slice(1));
    this.#onError(error);
    throw error;
  }

  /** ` now id amount hold_until scopes...` of a hold. */
  #holdFields(batch: Batch, scopes: readonly ScopeLimit[], amount: bigint, id: string): string {
    const now = this.#clock();
    let fields = ` ${now} ${id} ${amount} ${now + this.#holdTtlMs}`;
    for (const scope of scopes) fields += ` ${this.#scopeIndex(batch, scope)}`;
    return fields;
  }

  /** ` requests_key tokens_key requests_limit tokens_limit ttl` of a rate check. */
  #rateFields(batch: Batch, subject: string, limits: RateLimits, now: number): string {
    const window = rateWindow(now);
    const keys = this.#rateKeysOf(subject, window.start);
    return ` ${this.#keyIndex(batch, keys.requests)} ${this.#keyIndex(batch, keys.tokens)} ${limits.requestsPerMinute ?? -1} ${limits.tokensPerMinute ?? -1} ${window.end + 1000 - now}`;
  }

  /** Reads a hold's reply, found at `offset` in `reply`. */
  #holdReply(reply: string[], offset: number, scopes: readonly ScopeLimit[], amount: bigint, id: string): ReserveResult {
    if (reply[offset] === '1') return held(id, amount, scopes, true);
    const scope = scopes[Number(reply[offset + 1]) - 1] as ScopeLimit;
    return {
      ok: false,
      reason: 'limit_exceeded',
      exceeded: headroomOf(scope.scopeKey, this.#scopes.get(scope).limit, BigInt(reply[offset + 2] ?? '0'), BigInt(reply[offset + 3] ?? '0')),
    };
  }

  #holdUnreachable(error: unknown, scopes: readonly ScopeLimit[], amount: bigint, id: string): ReserveResult {
    return this.#fail === 'open' ? held(id, amount, scopes, false) : { ok: false, reason: 'state_unavailable', message: `budget state unreachable: ${(error as Error).message}` };
  }

  #rateReply(reply: string[], limits: RateLimits, now: number): RateResult {
    const windowEnd = rateWindow(now).end;
    const windows = describeWindows(limits, Number(reply[2]), Number(reply[3]), windowEnd);
    if (reply[0] === '1') return { ok: true, ...windows };
    return {
      ok: false,
      reason: 'rate_limited',
      limited: reply[1] === 'tokens' ? 'tokens' : 'requests',
      retryAfterSeconds: Math.max(1, Math.ceil((windowEnd - now) / 1000)),
      ...windows,
    };
  }

  #rateUnreachable(error: unknown): RateResult {
    return this.#fail === 'open' ? { ok: true } : { ok: false, reason: 'state_unavailable', message: `rate-limit state unreachable: ${(error as Error).message}` };
  }

  /** The scope's index in the batch's scope list, describing it there on first use. */
  #scopeIndex(batch: Batch, scope: ScopeLimit): number {
    const entry = this.#scopes.get(scope);
    const described = batch.scopeIndex.get(scope.scopeKey);
    if (described !== undefined && described.entry === entry) return described.index;
    const keyIndex = batch.keys.push(entry.keys[0], entry.keys[1], entry.keys[2]) - 2;
    const index = batch.scopeArguments.push(`${keyIndex} ${entry.limitArgument} ${this.#keepTtl(scope)}${entry.thresholdArguments}`);
    batch.scopeIndex.set(scope.scopeKey, { index, entry });
    return index;
  }

  #scopeEntry(scope: ScopeLimit): ScopeEntry {
    const terms = termsOf(scope);
    let thresholdArguments = '';
    for (const threshold of terms.thresholds) thresholdArguments += ` ${threshold.fraction} ${threshold.units}`;
    return { keys: this.#keysOf(scope.scopeKey), limit: terms.limit, limitArgument: terms.limit.toString(), thresholdArguments };
  }

  #keyIndex(batch: Batch, key: string): number {
    let index = batch.keyIndex.get(key);
    if (index === undefined) {
      index = batch.keys.push(key);
      batch.keyIndex.set(key, index);
    }
    return index;
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
    return this.#command(name).call(this.redis, keys.length, ...keys, ...argumentsList);
  }

  #command(name: ScriptName): (...values: unknown[]) => Promise<unknown> {
    const command = (this.redis as unknown as Record<string, (...values: unknown[]) => Promise<unknown>>)[`switchyard_${name}`];
    if (!command) throw new Error(`script ${name} is not defined`);
    return command;
  }

  #keysOf(scopeKey: string): [string, string, string] {
    return [`${this.#prefix}scope:${scopeKey}`, `${this.#prefix}holds:${scopeKey}`, `${this.#prefix}expiry:${scopeKey}`];
  }

  #rateKeysOf(subject: string, windowStart: number): RateKeys {
    let keys = this.#rateKeys.get(subject);
    if (keys === undefined || keys.windowStart !== windowStart) {
      const base = `${this.#prefix}rate:${subject}:${windowStart}`;
      keys = { windowStart, requests: `${base}:requests`, tokens: `${base}:tokens` };
      if (this.#rateKeys.size >= KEY_CACHE_SIZE) this.#rateKeys.clear();
      this.#rateKeys.set(subject, keys);
    }
    return keys;
  }

  /**
   * Time to live of a scope's keys, relative to the injected clock (not Redis's own), so a replica
   * whose clock is the authority and a test clock agree; 0 keeps the keys.
   */
  #keepTtl(scope: ScopeLimit): number {
    return scope.periodEndsAt === undefined ? 0 : Math.max(1, scope.periodEndsAt + PERIOD_GRACE_MS - this.#clock());
  }
}

function held(id: string, amount: bigint, scopes: readonly ScopeLimit[], enforced: boolean): ReserveResult {
  return { ok: true, reservation: { id, amount: formatUnits(amount), scopes: [...scopes], enforced } };
}

function checkTokens(tokens: number): void {
  if (!Number.isSafeInteger(tokens) || tokens < 0) throw new RangeError(`tokens must be a whole number, got ${tokens}`);
}
